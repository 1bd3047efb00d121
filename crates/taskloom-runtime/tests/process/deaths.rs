//! Workers that die while idle are noticed and replaced at once: the next
//! computation never meets them, and no task is blamed for them. A replacement that
//! cannot start is surfaced, never a hang.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use taskloom::process::{ProcessPool, ProcessPoolBuilder};
use taskloom::{ComputeError, Graph, Scheduler, TaskErrorKind};

use crate::failures::{eventually, still_serves};
use crate::functions::Fns;
use crate::roundtrip::runtime;

pub(crate) const TESTS: &[crate::Test] = &[
    (
        "deaths::idle_death_blames_no_task",
        idle_death_blames_no_task,
    ),
    (
        "deaths::idle_death_in_a_lazy_pool",
        idle_death_in_a_lazy_pool,
    ),
    (
        "deaths::failed_replacement_is_surfaced",
        failed_replacement_is_surfaced,
    ),
    (
        "deaths::broken_slot_leaves_batches_to_others",
        broken_slot_leaves_batches_to_others,
    ),
];

/// Sends `signal` to `pid` with kill(1).
pub(crate) fn signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

/// The state letter of process `pid` (`R`, `S`, `T` stopped, `Z` zombie...), if it
/// exists.
pub(crate) fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The state follows the command name, which is in parentheses.
    let (_, rest) = stat.rsplit_once(')')?;
    rest.trim_start().chars().next()
}

/// Whether `pid` is a running process (not gone, not a zombie).
pub(crate) fn running(pid: u32) -> bool {
    state(pid).is_some_and(|state| state != 'Z' && state != 'X')
}

/// Every warning logged in this process (from any thread, the pool's supervisor
/// included), as `message field=value...` lines: a global subscriber that only
/// listens to warnings and errors, installed on first use. If another global
/// subscriber was installed first, nothing is captured (the caller's assertion
/// says so).
pub(crate) fn warnings() -> Arc<Mutex<Vec<String>>> {
    use tracing_subscriber::layer::SubscriberExt;
    static CAPTURED: OnceLock<Arc<Mutex<Vec<String>>>> = OnceLock::new();
    Arc::clone(CAPTURED.get_or_init(|| {
        let captured = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry()
            .with(Capture(Arc::clone(&captured)))
            .with(tracing_subscriber::filter::LevelFilter::WARN);
        let _ = tracing::subscriber::set_global_default(subscriber);
        captured
    }))
}

struct Capture(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Line(String);
        impl tracing::field::Visit for Line {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0.insert_str(0, &format!("{value:?}"));
                } else {
                    self.0.push_str(&format!(" {}={value:?}", field.name()));
                }
            }
        }
        let mut line = Line(String::new());
        event.record(&mut line);
        self.0.lock().unwrap().push(line.0);
    }
}

/// A fresh, empty directory for one test's files.
pub(crate) fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("taskloom-process-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The issue's reproduction: kill an idle worker, then compute. The slot replaces
/// the worker without waiting for a computation, and the next task is not blamed
/// for a worker it never reached (no retries: it must not need one).
fn idle_death_blames_no_task(f: &Fns) {
    let rt = runtime();
    let pool = ProcessPool::builder()
        .workers(1)
        .retries(0)
        .build()
        .unwrap();
    let s = Scheduler::builder().executor(pool.clone()).build().unwrap();
    let mut g = Graph::new();
    let x = g.add_remote("x", (), &f.one).unwrap();
    assert_eq!(rt.block_on(s.compute(&g, &x)).unwrap(), 1);
    let pid = pool.pids()[0].unwrap();
    signal(pid, "KILL");
    eventually("the idle worker to be replaced", || {
        pool.pids()[0].is_some_and(|p| p != pid)
    });
    assert!(!running(pid));
    let mut g = Graph::new();
    let y = g.add_remote("y", (), &f.one).unwrap();
    assert_eq!(rt.block_on(s.compute(&g, &y)).unwrap(), 1);
}

/// A lazy pool notices too (the dead worker is reaped at once), and starts the next
/// worker on use.
fn idle_death_in_a_lazy_pool(f: &Fns) {
    let rt = runtime();
    let pool = ProcessPool::builder()
        .workers(1)
        .eager(false)
        .retries(0)
        .build()
        .unwrap();
    let s = Scheduler::builder().executor(pool.clone()).build().unwrap();
    let mut g = Graph::new();
    let x = g.add_remote("x", (), &f.pid).unwrap();
    let pid = rt.block_on(s.compute(&g, &x)).unwrap();
    signal(pid, "KILL");
    eventually("the dead worker to be reaped", || {
        pool.pids()[0].is_none() && !crate::failures::process_exists(pid)
    });
    let y = {
        let mut g = Graph::new();
        let y = g.add_remote("y", (), &f.pid).unwrap();
        rt.block_on(s.compute(&g, &y)).unwrap()
    };
    assert_ne!(y, pid);
}

/// A pool of the tests' binary whose workers stop starting once `stop` exists:
/// `/bin/sh` runs the binary in its place until then, and exits with status 7 after.
fn breakable(workers: usize, stop: &Path) -> ProcessPoolBuilder {
    let exe = std::env::current_exe().unwrap();
    ProcessPool::builder()
        .workers(workers)
        .retries(0)
        .program("/bin/sh")
        .arg("-c")
        .arg(r#"if [ -e "$1" ]; then echo "no more workers" >&2; exit 7; fi; exec "$2""#)
        .arg("sh")
        .arg(stop)
        .arg(exe)
}

/// The replacement of a dead worker cannot start: the pool says so (start_errors,
/// and a warning in the log), the next computation fails at once with the start
/// error naming its task, and the slot recovers by itself once the program starts
/// again.
fn failed_replacement_is_surfaced(f: &Fns) {
    let warnings = warnings();
    let rt = runtime();
    let dir = scratch_dir("broken");
    let stop = dir.join("stop");
    let pool = breakable(1, &stop).build().unwrap();
    let s = Scheduler::builder().executor(pool.clone()).build().unwrap();
    let pid = pool.pids()[0].unwrap();
    std::fs::write(&stop, "").unwrap();
    signal(pid, "KILL");
    eventually("the failed replacement to be reported", || {
        pool.start_errors()[0].is_some()
    });
    let error = pool.start_errors()[0].clone().unwrap();
    assert!(
        error.to_string().contains("exited with status 7"),
        "{error}"
    );
    assert_eq!(pool.pids(), vec![None]);
    let logged = warnings.lock().unwrap().clone();
    assert!(
        logged.iter().any(|w| w.contains("could not start")
            && w.contains("exited with status 7")
            && w.contains("index=0")),
        "the failed start is logged as a warning: {logged:?}"
    );

    let mut g = Graph::new();
    let x = g.add_remote("needs-a-worker", (), &f.one).unwrap();
    match rt.block_on(s.compute(&g, &x)) {
        Err(ComputeError::Task { key, error }) => {
            assert_eq!(key.to_string(), "needs-a-worker");
            assert_eq!(error.kind(), TaskErrorKind::WorkerLost);
            assert!(error.message().contains("could not start"), "{error}");
            assert!(error.message().contains("exited with status 7"), "{error}");
        }
        other => panic!("expected the start error, got {other:?}"),
    }

    std::fs::remove_file(&stop).unwrap();
    eventually("the slot to recover", || pool.pids()[0].is_some());
    assert!(pool.start_errors()[0].is_none());
    still_serves(&s, f);
    let _ = std::fs::remove_dir_all(&dir);
}

/// One slot cannot start its worker: the other slot runs every batch, and nothing
/// fails or waits for the broken one.
fn broken_slot_leaves_batches_to_others(f: &Fns) {
    let rt = runtime();
    let dir = scratch_dir("half-broken");
    let stop = dir.join("stop");
    let pool = breakable(2, &stop).build().unwrap();
    let s = Scheduler::builder().executor(pool.clone()).build().unwrap();
    let pids = pool.pids();
    std::fs::write(&stop, "").unwrap();
    signal(pids[0].unwrap(), "KILL");
    eventually("slot 0's failed start", || pool.start_errors()[0].is_some());
    for i in 0..10 {
        let mut g = Graph::new();
        let xs: Vec<_> = (0..8)
            .map(|j| g.add_remote(format!("pid-{i}-{j}"), (), &f.pid).unwrap())
            .collect();
        let ran = rt.block_on(s.compute(&g, &xs)).unwrap();
        assert!(
            ran.iter().all(|&p| Some(p) == pids[1]),
            "{ran:?} vs {pids:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
