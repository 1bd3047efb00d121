//! What the test process holds: threads, file descriptors, child processes, memory.

use std::time::{Duration, Instant};

/// The resources of this process at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Snapshot {
    pub(crate) threads: usize,
    pub(crate) fds: usize,
    pub(crate) children: usize,
    pub(crate) rss_mib: usize,
}

/// RSS may grow this much over the soak (allocator caches, tracing, lazy statics).
const RSS_SLACK_MIB: usize = 128;

impl Snapshot {
    pub(crate) fn take() -> Snapshot {
        Snapshot {
            threads: count("/proc/self/task"),
            fds: count("/proc/self/fd"),
            children: children(),
            rss_mib: rss_mib(),
        }
    }

    /// What `after` holds beyond this snapshot.
    pub(crate) fn leaks(&self, after: &Snapshot) -> Vec<String> {
        let mut out = Vec::new();
        if after.threads > self.threads {
            out.push(format!("threads {} -> {}", self.threads, after.threads));
        }
        if after.fds > self.fds {
            out.push(format!("open fds {} -> {}", self.fds, after.fds));
        }
        if after.children > self.children {
            out.push(format!(
                "child processes {} -> {}",
                self.children, after.children
            ));
        }
        if after.rss_mib > self.rss_mib + RSS_SLACK_MIB {
            out.push(format!("RSS {} MiB -> {} MiB", self.rss_mib, after.rss_mib));
        }
        out
    }
}

/// A snapshot once nothing leaks against `baseline` any more, or after `wait`:
/// replacement workers and short-lived threads take a moment to settle.
pub(crate) fn settled(baseline: &Snapshot, wait: Duration) -> Snapshot {
    let deadline = Instant::now() + wait;
    loop {
        let now = Snapshot::take();
        if baseline.leaks(&now).is_empty() || Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn count(dir: &str) -> usize {
    std::fs::read_dir(dir).map_or(0, Iterator::count)
}

/// Live processes whose parent is this one (zombies included: a child not reaped
/// is a leak too).
fn children() -> usize {
    let me = std::process::id().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            // pid (comm) state ppid ...: the comm may hold spaces, so split after ')'.
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1).map(|p| p == me))
                .unwrap_or(false)
        })
        .count()
}

fn rss_mib() -> usize {
    let pages: usize = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse().ok()))
        .unwrap_or(0);
    pages * 4096 / (1024 * 1024)
}
