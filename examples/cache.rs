//! The result cache on a computation of 1,000 tasks of 1 ms with 1 MiB results.
//!
//! ```sh
//! cargo run --release --example cache [-- --tasks 1000] [--mib 1] [--ms 1] [--work sleep|spin]
//!     [--rounds 3] [--dir PATH] [--out FILE]
//! ```
//!
//! Each task waits `--ms` and makes a result of `--mib` MiB; a total sums a digest of
//! every result. Every task and the total are cached. What the wait is matters:
//!
//! - `--work sleep` (the default) sleeps: an I/O-bound step (a query, a download),
//!   during which the core is free. The cache's own work (encoding, checksumming,
//!   writing 1 MiB per task) can then run beside the tasks, on the cache's writer
//!   thread, and the cold run's cost is what it still adds to the wall clock.
//! - `--work spin` spins: a CPU-bound step on every worker's core. The cache's work
//!   then competes with the tasks for the cores, and its cost is its CPU time per
//!   result over the tasks' (at 1 ms per task and 1 MiB per result, tens of per
//!   cent: the bandwidth of encoding and writing the result is the floor).
//!
//! On a thread pool of one worker per core, in order:
//!
//! 1. `uncached` and `first`, interleaved `--rounds` times (uncached, cold, uncached,
//!    cold, ...): the graph without a cache, and cold with an empty cache (every task
//!    runs and is stored); their medians give `cache_cost`;
//! 2. `cached`: again on the last cold run's cache: the total's entry is loaded,
//!    nothing else is read or run;
//! 3. `resumed`: a child process (this program again) runs the graph with a fresh
//!    cache and is killed with SIGKILL once about half the tasks are stored; the
//!    rerun loads those and runs only the others;
//! 4. `corrupt`: one task's entry gets a flipped bit and the total's entry is
//!    removed: the damaged entry is detected, reported and recomputed, and the
//!    total comes out right.
//!
//! The last line is one JSON object: `{"tasks", "work", "rounds", "first_s",
//! "cached_s", "resumed_tasks_run", "corrupt_detected", "uncached_s", "cache_cost",
//! "cached_speedup", "resumed_s", "killed_after_stored", "mib", "ms", "workers",
//! "load", "uncached_cpu_s", "first_cpu_s"}` (`first_s` and `uncached_s` are medians,
//! `*_cpu_s` the medians of the process's CPU time in those runs, which the machine's
//! other work does not inflate, and `load` the one-minute load average before and
//! after); `--out FILE` also appends it to FILE
//! (docs/bench/cache.jsonl, from which the guide's table is made). The cache
//! directories (about (rounds + 1) × tasks × MiB on disk: each cold run has a fresh
//! one, and `sync` writes them out between rounds) are removed at the end.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use taskloom::cache::Cache;
use taskloom::callbacks::{CacheEvent, CacheEventKind, Callback};
use taskloom::{ComputeOptions, Graph, Handle, Scheduler};

/// A task's result: bytes, serialized as one byte string (serde's `Vec<u8>` is a
/// sequence of numbers, encoded byte by byte).
struct Blob(Vec<u8>);

impl Serialize for Blob {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Bytes;
        impl serde::de::Visitor<'_> for Bytes {
            type Value = Blob;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Blob, E> {
                Ok(Blob(v.to_vec()))
            }
        }
        d.deserialize_bytes(Bytes)
    }
}

/// What a task does while it takes its time.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Work {
    /// Sleeps: the core is free meanwhile (I/O-bound).
    Sleep,
    /// Spins: the core is busy (CPU-bound).
    Spin,
}

impl Work {
    fn name(self) -> &'static str {
        match self {
            Work::Sleep => "sleep",
            Work::Spin => "spin",
        }
    }

    fn run(self, d: Duration) {
        match self {
            Work::Sleep => std::thread::sleep(d),
            Work::Spin => {
                let start = Instant::now();
                while start.elapsed() < d {
                    std::hint::spin_loop();
                }
            }
        }
    }
}

/// What one run is.
#[derive(Clone, Copy)]
struct Shape {
    tasks: usize,
    bytes: usize,
    ms: u64,
    work: Work,
}

/// The graph: `tasks` cached tasks and their cached total; counts the tasks run.
fn graph(
    shape: Shape,
    ran: &Arc<AtomicUsize>,
) -> Result<(Graph, Handle<u64>), Box<dyn std::error::Error>> {
    let mut g = Graph::new();
    let mut parts = Vec::with_capacity(shape.tasks);
    for i in 0..shape.tasks {
        let ran = Arc::clone(ran);
        let h = g.add(("chunk", i as u64), (), move || {
            ran.fetch_add(1, Ordering::Relaxed);
            shape.work.run(Duration::from_millis(shape.ms));
            let mut v = vec![(i % 251) as u8; shape.bytes];
            v[..8].copy_from_slice(&(i as u64).to_le_bytes());
            Blob(v)
        })?;
        g.cached(&h, "v1")?;
        parts.push(h);
    }
    let total = g.add("total", &parts[..], |parts: &[&Blob]| {
        parts
            .iter()
            .map(|p| p.0.iter().step_by(4096).map(|&b| u64::from(b)).sum::<u64>())
            .sum::<u64>()
    })?;
    g.cached(&total, "v1")?;
    Ok((g, total))
}

/// Counts the cache's events.
#[derive(Default)]
struct Counts {
    hits: AtomicUsize,
    corrupt: AtomicUsize,
}

impl Callback for Counts {
    fn task_events(&self) -> bool {
        false
    }
    fn on_cache(&self, event: &CacheEvent<'_>) {
        match event.kind {
            CacheEventKind::Hit => self.hits.fetch_add(1, Ordering::Relaxed),
            CacheEventKind::Corrupt { .. } => self.corrupt.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
    }
}

/// One timed computation of the total.
struct Ran {
    seconds: f64,
    /// CPU time of this process meanwhile (user and system, every thread).
    cpu_seconds: f64,
    /// Tasks that ran (not loaded).
    tasks: usize,
    counts: Arc<Counts>,
    value: u64,
}

/// Computes the total, timed.
fn run(shape: Shape, cache: Option<&Cache>) -> Result<Ran, Box<dyn std::error::Error>> {
    let ran = Arc::new(AtomicUsize::new(0));
    let (g, total) = graph(shape, &ran)?;
    let counts = Arc::new(Counts::default());
    let mut options = ComputeOptions::new().shared_callback(counts.clone());
    if let Some(cache) = cache {
        options = options.cache(cache.clone());
    }
    let scheduler = Scheduler::new()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (start, cpu) = (Instant::now(), cpu_seconds());
    let value = runtime.block_on(scheduler.compute_with(&g, &total, options))?;
    Ok(Ran {
        seconds: start.elapsed().as_secs_f64(),
        cpu_seconds: cpu_seconds() - cpu,
        tasks: ran.load(Ordering::Relaxed),
        counts,
        value,
    })
}

/// Entry files under a cache directory, with their sizes.
fn entries(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut found = Vec::new();
    for shard in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        for file in std::fs::read_dir(shard.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = file.file_name();
            if !name.to_string_lossy().starts_with('.') {
                let len = file.metadata().map_or(0, |m| m.len());
                found.push((file.path(), len));
            }
        }
    }
    found
}

/// The median of some timings.
fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    match xs.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => xs[n / 2],
        n => (xs[n / 2 - 1] + xs[n / 2]) / 2.0,
    }
}

/// This process's CPU time so far, user and system, all threads (Linux, in clock
/// ticks of 10 ms; NaN elsewhere): what the cache costs whatever else the machine
/// runs.
fn cpu_seconds() -> f64 {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // After the command's name (in parentheses, maybe with spaces): the state,
            // then ten fields, then utime and stime.
            let fields: Vec<&str> = s.rsplit_once(')')?.1.split_whitespace().collect();
            let user: f64 = fields.get(11)?.parse().ok()?;
            let system: f64 = fields.get(12)?.parse().ok()?;
            Some(user + system)
        });
    ticks.map_or(f64::NAN, |t| t / 100.0)
}

/// Writes what the page cache holds to disk (`sync`; nothing where there is no
/// such command).
fn settle() {
    let _ = Command::new("sync").status();
}

/// The one-minute load average (Linux; NaN elsewhere): how busy the machine was.
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|l| l.parse().ok()))
        .unwrap_or(f64::NAN)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let shape = Shape {
        tasks: arg("--tasks").map_or(Ok(1000), |v| v.parse())?,
        bytes: arg("--mib")
            .map_or(Ok(1.0), |v| v.parse::<f64>())?
            .mul_add(1048576.0, 0.0) as usize,
        ms: arg("--ms").map_or(Ok(1), |v| v.parse())?,
        work: match arg("--work").as_deref() {
            None | Some("sleep") => Work::Sleep,
            Some("spin") => Work::Spin,
            Some(other) => return Err(format!("--work sleep|spin, not {other}").into()),
        },
    };
    let rounds: usize = arg("--rounds").map_or(Ok(3), |v| v.parse())?;
    if let Some(dir) = arg("--child") {
        // The run that gets killed: computes into `dir` until the parent stops it.
        run(shape, Some(&Cache::open(dir)?))?;
        return Ok(());
    }
    let base = arg("--dir").map_or_else(
        || std::env::temp_dir().join(format!("taskloom-cache-example-{}", std::process::id())),
        PathBuf::from,
    );
    let resume_dir = base.join("resume");
    let _ = std::fs::remove_dir_all(&base);
    let load_before = load_average();

    // Without a cache and cold, interleaved: the machine's drift falls on both.
    let (mut uncached, mut cold) = (Vec::new(), Vec::new());
    let (mut uncached_cpu, mut cold_cpu) = (Vec::new(), Vec::new());
    let mut expected = None;
    let mut cold_dir = base.join("cold-0");
    for round in 0..rounds.max(1) {
        // What earlier rounds wrote goes to disk first, outside the timings: a cold
        // run does not pay for another's write-back.
        settle();
        let plain = run(shape, None)?;
        if *expected.get_or_insert(plain.value) != plain.value {
            return Err("two runs without a cache disagree".into());
        }
        // A directory of its own, removed only at the end: on ext4, files created
        // right after thousands were deleted cost several times more to create (the
        // inode allocator steps over inodes deleted within the last minutes).
        cold_dir = base.join(format!("cold-{round}"));
        let first = run(shape, Some(&Cache::open(&cold_dir)?))?;
        assert_eq!((Some(first.value), first.tasks), (expected, shape.tasks));
        eprintln!(
            "round {round}: uncached {:.3} s ({:.2} s CPU), cold {:.3} s ({:.2} s CPU; {} tasks \
             run and stored)",
            plain.seconds, plain.cpu_seconds, first.seconds, first.cpu_seconds, first.tasks
        );
        uncached.push(plain.seconds);
        cold.push(first.seconds);
        uncached_cpu.push(plain.cpu_seconds);
        cold_cpu.push(first.cpu_seconds);
    }
    let expected = expected.ok_or("no run")?;
    let (uncached_s, first_s) = (median(&mut uncached), median(&mut cold));
    let (uncached_cpu_s, first_cpu_s) = (median(&mut uncached_cpu), median(&mut cold_cpu));
    let cache = Cache::open(&cold_dir)?;
    let cached = run(shape, Some(&cache))?;
    let cached_s = cached.seconds;
    assert_eq!((cached.value, cached.tasks), (expected, 0));
    eprintln!(
        "cached: {cached_s:.4} s, {} tasks run, {} entries loaded",
        cached.tasks,
        cached.counts.hits.load(Ordering::Relaxed)
    );

    // A child computes into a fresh cache and is killed once half is stored.
    let mut child = Command::new(std::env::current_exe()?)
        .args(["--tasks", &shape.tasks.to_string()])
        .args(["--mib", &(shape.bytes as f64 / 1048576.0).to_string()])
        .args(["--ms", &shape.ms.to_string()])
        .args(["--work", shape.work.name()])
        .arg("--child")
        .arg(&resume_dir)
        .stdout(Stdio::null())
        .spawn()?;
    let half = shape.tasks / 2;
    let deadline = Instant::now() + Duration::from_secs(600);
    while entries(&resume_dir).len() < half {
        if child.try_wait()?.is_some() || Instant::now() > deadline {
            return Err("the child ended before half of its tasks were stored".into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill()?; // SIGKILL
    child.wait()?;
    let killed_after_stored = entries(&resume_dir).len();
    let resumed = run(shape, Some(&Cache::open(&resume_dir)?))?;
    let (resumed_s, resumed_tasks_run) = (resumed.seconds, resumed.tasks);
    assert_eq!(resumed.value, expected);
    eprintln!(
        "resumed: killed with {killed_after_stored} entries stored; {resumed_tasks_run} of {} tasks run, {resumed_s:.3} s",
        shape.tasks
    );

    // One task's entry damaged (a bit flipped in its value), the total's removed.
    let mut found = entries(&cold_dir);
    found.sort_by_key(|(_, len)| *len);
    let (total_entry, _) = found.first().ok_or("no entry")?.clone();
    let (victim, _) = found.last().ok_or("no entry")?.clone();
    std::fs::remove_file(total_entry)?;
    let mut bytes = std::fs::read(&victim)?;
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&victim, bytes)?;
    let damaged = run(shape, Some(&cache))?;
    let corrupt_detected =
        damaged.counts.corrupt.load(Ordering::Relaxed) > 0 && damaged.value == expected;
    eprintln!(
        "corrupt: {:.3} s, {} task run again, detected: {corrupt_detected}",
        damaged.seconds, damaged.tasks
    );
    let _ = std::fs::remove_dir_all(&base);
    let load_after = load_average();

    let line = format!(
        concat!(
            r#"{{"tasks": {}, "work": "{}", "rounds": {}, "first_s": {:.4}, "cached_s": {:.5}, "#,
            r#""resumed_tasks_run": {}, "#,
            r#""corrupt_detected": {}, "uncached_s": {:.4}, "cache_cost": {:.4}, "#,
            r#""cached_speedup": {:.1}, "resumed_s": {:.4}, "killed_after_stored": {}, "#,
            r#""mib": {}, "ms": {}, "workers": {}, "load": [{:.2}, {:.2}], "#,
            r#""uncached_cpu_s": {:.2}, "first_cpu_s": {:.2}}}"#
        ),
        shape.tasks,
        shape.work.name(),
        rounds.max(1),
        first_s,
        cached_s,
        resumed_tasks_run,
        corrupt_detected,
        uncached_s,
        first_s / uncached_s - 1.0,
        first_s / cached_s,
        resumed_s,
        killed_after_stored,
        shape.bytes as f64 / 1048576.0,
        shape.ms,
        std::thread::available_parallelism().map_or(1, usize::from),
        load_before,
        load_after,
        uncached_cpu_s,
        first_cpu_s,
    );
    if let Some(out) = arg("--out") {
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(out)?;
        writeln!(file, "{line}")?;
    }
    println!("{line}");
    Ok(())
}
