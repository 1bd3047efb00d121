//! Memory under real data: how many results a computation holds at once, and the
//! process's peak RSS, when every task makes a buffer of M MiB.
//!
//! ```sh
//! cargo run --release --example memory -- [--executor current-thread|threads] \
//!     [--workers N] [--mib M] [--memory-limit-mib L] GRAPH.json...
//! ```
//!
//! Every task of a graph in the shared JSON format becomes a blocking task that
//! takes its inputs by reference (reading a byte of each), and returns a new buffer
//! of `M` MiB (default 1) whose every page is written, so it is resident. A gauge
//! counts the buffers alive: one more when a task makes one, one fewer when the
//! buffer is dropped (the scheduler released it, or the output was dropped). Its peak
//! is the most results held at once, inputs of running tasks and requested results
//! included. This is the example's own count; the scheduling loop's counter, and the
//! byte budget behind `--memory-limit-mib`, come later (the flag is accepted and
//! refused with a message until then).
//!
//! One JSON line per graph, the schema of `scripts/dask_memory.py`:
//! `{"graph", "executor", "workers", "tasks", "peak_held", "peak_held_bytes",
//! "peak_rss_bytes", "seconds"}`, plus `mib` and `base_rss_bytes` (the RSS when the
//! computation started). Peak RSS is the kernel's high-water mark (`VmHWM`), reset
//! before each graph through `/proc/self/clear_refs`; memory the allocator kept from
//! an earlier graph still counts, so `scripts/memory_compare.py` runs one graph per
//! process. `seconds` covers building the typed graph and the whole `compute`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use taskloom::taskloom_core::file::{LoadedGraph, load_json};
use taskloom::taskloom_runtime::{Graph, Handle, Scheduler};

type BoxError = Box<dyn std::error::Error>;

/// Why the command line was refused.
#[derive(Debug)]
enum UsageError {
    /// An option the example does not know, or one without its value.
    Bad(String),
    /// `--memory-limit-mib`: the byte budget is not implemented yet.
    MemoryLimitNotImplemented,
}

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UsageError::Bad(msg) => write!(
                f,
                "{msg}\nusage: memory [--executor current-thread|threads] [--workers N] \
                 [--mib M] [--memory-limit-mib L] GRAPH.json..."
            ),
            UsageError::MemoryLimitNotImplemented => f.write_str(
                "--memory-limit-mib is not implemented yet: the scheduling loop has no byte \
                 budget so far (issue 12, item 3). Run without it for the baseline.",
            ),
        }
    }
}

impl std::error::Error for UsageError {}

struct Args {
    executor: String,
    workers: usize,
    mib: f64,
    graphs: Vec<String>,
}

fn parse_args() -> Result<Args, UsageError> {
    let mut args = Args {
        executor: "threads".into(),
        workers: std::thread::available_parallelism().map_or(1, usize::from),
        mib: 1.0,
        graphs: Vec::new(),
    };
    let mut limit = false;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .ok_or_else(|| UsageError::Bad(format!("{name} needs a value")))
        };
        let bad = |name: &str, e: &dyn std::fmt::Display| UsageError::Bad(format!("{name}: {e}"));
        match arg.as_str() {
            "--executor" => args.executor = value("--executor")?,
            "--workers" => {
                args.workers = value("--workers")?
                    .parse()
                    .map_err(|e| bad("--workers", &e))?;
            }
            "--mib" => {
                args.mib = value("--mib")?.parse().map_err(|e| bad("--mib", &e))?;
                if !(args.mib > 0.0 && args.mib.is_finite()) {
                    return Err(UsageError::Bad("--mib must be a positive number".into()));
                }
            }
            "--memory-limit-mib" => {
                let _: f64 = value("--memory-limit-mib")?
                    .parse()
                    .map_err(|e| bad("--memory-limit-mib", &e))?;
                limit = true;
            }
            flag if flag.starts_with("--") => {
                return Err(UsageError::Bad(format!("unknown option {flag}")));
            }
            path => args.graphs.push(path.to_owned()),
        }
    }
    if limit {
        return Err(UsageError::MemoryLimitNotImplemented);
    }
    if args.graphs.is_empty() {
        return Err(UsageError::Bad("no graph given".into()));
    }
    Ok(args)
}

/// Buffers alive now, and the most alive at once since the last [`Gauge::reset`].
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

struct Gauge;

impl Gauge {
    fn reset() {
        PEAK.store(LIVE.load(Ordering::SeqCst), Ordering::SeqCst);
    }

    fn peak() -> usize {
        PEAK.load(Ordering::SeqCst)
    }
}

/// A task's result: `len` bytes, every page written. Counted by the gauge from its
/// making to its drop.
struct Buffer {
    bytes: Vec<u8>,
}

impl Buffer {
    /// A new buffer whose first byte depends on the inputs, so they are really read.
    fn make(len: usize, inputs: &[&Buffer]) -> Buffer {
        let seed = inputs.iter().fold(1u8, |acc, b| {
            acc.wrapping_add(b.bytes.first().copied().unwrap_or(0))
        });
        // `vec![x; n]` with x != 0 writes every byte: the pages are resident, as the
        // chunks of a real computation are (a zeroed allocation may not touch them).
        let bytes = vec![seed | 1; len];
        let live = LIVE.fetch_add(1, Ordering::SeqCst) + 1;
        PEAK.fetch_max(live, Ordering::SeqCst);
        Buffer { bytes }
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Builds the typed graph: each task makes a buffer from its inputs. Ids of a loaded
/// graph are topological, so every input's handle exists when a task is added.
fn build(file: &LoadedGraph, len: usize) -> Result<(Graph, Vec<Handle<Buffer>>), BoxError> {
    let core = &file.graph;
    let mut g = Graph::with_capacity(core.len(), core.edge_count());
    let mut handles: Vec<Handle<Buffer>> = Vec::with_capacity(core.len());
    let mut inputs: Vec<Handle<Buffer>> = Vec::new();
    for id in core.ids() {
        inputs.clear();
        inputs.extend(core.deps(id).iter().map(|d| handles[d.index()]));
        let task = move |xs: &[&Buffer]| Buffer::make(len, xs);
        handles.push(g.add(core.key(id).clone(), &inputs[..], task)?);
    }
    let targets = file.targets.iter().map(|t| handles[t.index()]).collect();
    Ok((g, targets))
}

/// `VmRSS` or `VmHWM` of this process in bytes, from `/proc/self/status`.
fn proc_status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line
        .trim_start_matches(field)
        .trim_start_matches(':')
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Resets the kernel's peak RSS to the current RSS (Linux 4.0+); false where it cannot.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("memory: {e}");
            std::process::exit(2);
        }
    };
    let (scheduler, workers) = match args.executor.as_str() {
        "current-thread" | "sync" => (Scheduler::current_thread(), 1),
        "threads" => (Scheduler::threads(args.workers)?, args.workers),
        other => {
            return Err(format!("unknown executor {other} (current-thread, threads)").into());
        }
    };
    let len = (args.mib * 1024.0 * 1024.0).round() as usize;
    for path in &args.graphs {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        let file = load_json(&text).map_err(|e| format!("{path}: {e}"))?;
        drop(text);
        reset_peak_rss();
        let base_rss = proc_status_bytes("VmRSS").unwrap_or(0);
        Gauge::reset();
        let start = Instant::now();
        let (g, targets) = build(&file, len)?;
        let out = scheduler.compute(&g, &targets[..]).await?;
        let seconds = start.elapsed().as_secs_f64();
        let peak_held = Gauge::peak();
        let peak_rss = proc_status_bytes("VmHWM").unwrap_or(0);
        if out.len() != targets.len() {
            return Err(format!(
                "{path}: {} results for {} targets",
                out.len(),
                targets.len()
            )
            .into());
        }
        drop(out);
        drop(g);
        println!(
            "{}",
            serde_json::json!({
                "system": format!("taskloom {}", env!("CARGO_PKG_VERSION")),
                "graph": file.name,
                "executor": args.executor,
                "workers": workers,
                "tasks": file.graph.len(),
                "mib": args.mib,
                "peak_held": peak_held,
                "peak_held_bytes": peak_held * len,
                "peak_rss_bytes": peak_rss,
                "base_rss_bytes": base_rss,
                "seconds": seconds,
            })
        );
    }
    Ok(())
}
