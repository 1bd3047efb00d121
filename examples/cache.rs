//! The result cache on a computation of 1,000 tasks of 1 ms with 1 MiB results.
//!
//! ```sh
//! cargo run --release --example cache [-- --tasks 1000] [--mib 1] [--ms 1] [--dir PATH] [--out FILE]
//! ```
//!
//! Each task sleeps `--ms` (an I/O-bound step: a query, a download) and makes a
//! result of `--mib` MiB; a total sums a digest of every result. Every task and the
//! total are cached. In order, on a thread pool of one worker per core:
//!
//! 1. `uncached`: the graph without a cache (the baseline of the cache's cost);
//! 2. `first`: cold, with an empty cache: every task runs and is stored;
//! 3. `cached`: again: the total's entry is loaded, nothing else is read or run;
//! 4. `resumed`: a child process (this program again) runs the graph with a fresh
//!    cache and is killed with SIGKILL once about half the tasks are stored; the
//!    rerun loads those and runs only the others;
//! 5. `corrupt`: one task's entry gets a flipped bit and the total's entry is
//!    removed: the damaged entry is detected, reported and recomputed, and the
//!    total comes out right.
//!
//! The last line is one JSON object: `{"tasks", "first_s", "cached_s",
//! "resumed_tasks_run", "corrupt_detected", "uncached_s", "cache_cost",
//! "cached_speedup", "resumed_s", "killed_after_stored", "mib", "ms", "workers"}`;
//! `--out FILE` also appends it to FILE (docs/bench/cache.jsonl for the guide's
//! figures). The cache directories (about 2 × tasks × MiB on disk) are removed at
//! the end.

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

/// What one run is.
#[derive(Clone, Copy)]
struct Shape {
    tasks: usize,
    bytes: usize,
    ms: u64,
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
            std::thread::sleep(Duration::from_millis(shape.ms));
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
    let start = Instant::now();
    let value = runtime.block_on(scheduler.compute_with(&g, &total, options))?;
    Ok(Ran {
        seconds: start.elapsed().as_secs_f64(),
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
    };
    if let Some(dir) = arg("--child") {
        // The run that gets killed: computes into `dir` until the parent stops it.
        run(shape, Some(&Cache::open(dir)?))?;
        return Ok(());
    }
    let base = arg("--dir").map_or_else(
        || std::env::temp_dir().join(format!("taskloom-cache-example-{}", std::process::id())),
        PathBuf::from,
    );
    let (cold_dir, resume_dir) = (base.join("cold"), base.join("resume"));
    let _ = std::fs::remove_dir_all(&base);

    let Ran {
        seconds: uncached_s,
        value: expected,
        ..
    } = run(shape, None)?;
    eprintln!("uncached: {uncached_s:.3} s");
    let cache = Cache::open(&cold_dir)?;
    let first = run(shape, Some(&cache))?;
    let (first_s, ran) = (first.seconds, first.tasks);
    assert_eq!((first.value, ran), (expected, shape.tasks));
    eprintln!("first (cold): {first_s:.3} s, {ran} tasks run");
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

    let line = format!(
        concat!(
            r#"{{"tasks": {}, "first_s": {:.4}, "cached_s": {:.5}, "resumed_tasks_run": {}, "#,
            r#""corrupt_detected": {}, "uncached_s": {:.4}, "cache_cost": {:.4}, "#,
            r#""cached_speedup": {:.1}, "resumed_s": {:.4}, "killed_after_stored": {}, "#,
            r#""mib": {}, "ms": {}, "workers": {}}}"#
        ),
        shape.tasks,
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
