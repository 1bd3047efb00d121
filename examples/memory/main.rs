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

mod bench;

use bench::BoxError;
use taskloom::taskloom_core::file::load_json;
use taskloom::taskloom_runtime::Scheduler;

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
        let m = bench::measure(&scheduler, &file, len)
            .await
            .map_err(|e| format!("{path}: {e}"))?;
        println!(
            "{}",
            serde_json::json!({
                "system": format!("taskloom {}", env!("CARGO_PKG_VERSION")),
                "graph": file.name,
                "executor": args.executor,
                "workers": workers,
                "tasks": file.graph.len(),
                "mib": args.mib,
                "peak_held": m.peak_held,
                "peak_held_bytes": m.peak_held * len,
                "peak_rss_bytes": m.peak_rss,
                "base_rss_bytes": m.base_rss,
                "seconds": m.seconds,
            })
        );
    }
    Ok(())
}
