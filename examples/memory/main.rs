//! Memory under real data: how many results a computation holds at once, and the
//! process's peak RSS, when every task makes a buffer of M MiB.
//!
//! ```sh
//! cargo run --release --example memory -- [--executor current-thread|threads] \
//!     [--workers N] [--mib M] [--sizes declared|undeclared] [--memory-limit-mib L] \
//!     GRAPH.json...
//! ```
//!
//! Every task of a graph in the shared JSON format becomes a blocking task that
//! takes its inputs by reference (reading a byte of each), and returns a new buffer
//! of `M` MiB (default 1) whose every page is written, so it is resident. With
//! `--sizes declared` (the default) each result reports its size (`ResultSize`,
//! `Graph::add_sized`); with `--sizes undeclared` the tasks are added with plain
//! `Graph::add`, as most users write them, and the scheduler is told nothing of the
//! buffers' sizes. `peak_held` and
//! `peak_held_bytes` are the scheduling loop's own counts (`MemoryStats` from
//! `on_finish`): the most results held at once, requested results and inputs of
//! running tasks included. A gauge of the buffers alive (one more when a task makes
//! one, one fewer when it is dropped) checks them: `gauge_peak_held`, which can be a
//! little higher with workers (a result made and not yet received by the loop).
//! `--memory-limit-mib L` gives the computation a byte budget of `L` MiB
//! (`ComputeOptions::memory_limit`); `overruns` and `peak_over_limit_bytes` say
//! whether the graph needed more at once. Besides files, `gen:slow_param` is a
//! generated graph that shows the budget at work (256 loads of `M` MiB, a map of each
//! that also needs a shared parameter taking 200 ms, and a sum: see
//! `bench::slow_param`).
//!
//! One JSON line per graph, the schema of `scripts/dask_memory.py`:
//! `{"graph", "executor", "workers", "tasks", "peak_held", "peak_held_bytes",
//! "peak_rss_bytes", "seconds"}`, plus `mib`, `sizes`, `base_rss_bytes` (the RSS when the
//! computation started), `gauge_peak_held`, `memory_limit_bytes` (or null),
//! `overruns` and `peak_over_limit_bytes`. Peak RSS is the kernel's high-water mark
//! (`VmHWM`), reset before each graph through `/proc/self/clear_refs`; memory the
//! allocator kept from an earlier graph still counts, so `scripts/memory_compare.py`
//! runs one graph per process. `seconds` covers building the typed graph and the
//! whole `compute`.

mod bench;

use bench::{BoxError, Sizes};
use taskloom::Scheduler;
use taskloom::core::file::load_json;

/// Why the command line was refused: an option the example does not know, one
/// without its value, or a value out of range.
#[derive(Debug)]
struct UsageError(String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}\nusage: memory [--executor current-thread|threads] [--workers N] \
             [--mib M] [--sizes declared|undeclared] [--memory-limit-mib L] GRAPH.json...",
            self.0
        )
    }
}

impl std::error::Error for UsageError {}

struct Args {
    executor: String,
    workers: usize,
    mib: f64,
    /// Whether the results report their sizes.
    sizes: Sizes,
    /// The byte budget, from `--memory-limit-mib`.
    limit: Option<u64>,
    graphs: Vec<String>,
}

fn parse_args() -> Result<Args, UsageError> {
    let mut args = Args {
        executor: "threads".into(),
        workers: std::thread::available_parallelism().map_or(1, usize::from),
        mib: 1.0,
        sizes: Sizes::Declared,
        limit: None,
        graphs: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .ok_or_else(|| UsageError(format!("{name} needs a value")))
        };
        let bad = |name: &str, e: &dyn std::fmt::Display| UsageError(format!("{name}: {e}"));
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
                    return Err(UsageError("--mib must be a positive number".into()));
                }
            }
            "--sizes" => {
                args.sizes = match value("--sizes")?.as_str() {
                    "declared" => Sizes::Declared,
                    "undeclared" => Sizes::Undeclared,
                    other => {
                        return Err(UsageError(format!(
                            "--sizes: {other} (declared or undeclared)"
                        )));
                    }
                };
            }
            "--memory-limit-mib" => {
                let mib: f64 = value("--memory-limit-mib")?
                    .parse()
                    .map_err(|e| bad("--memory-limit-mib", &e))?;
                if !(mib >= 0.0 && mib.is_finite()) {
                    return Err(UsageError("--memory-limit-mib must be 0 or more".into()));
                }
                args.limit = Some((mib * 1024.0 * 1024.0).round() as u64);
            }
            flag if flag.starts_with("--") => {
                return Err(UsageError(format!("unknown option {flag}")));
            }
            path => args.graphs.push(path.to_owned()),
        }
    }
    if args.graphs.is_empty() {
        return Err(UsageError("no graph given".into()));
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
        let (name, tasks, m) = if path == "gen:slow_param" {
            let loads = 256;
            let m = bench::measure_with(&scheduler, args.limit, |gauge| {
                bench::slow_param(loads, len, gauge)
            })
            .await
            .map_err(|e| format!("{path}: {e}"))?;
            ("slow_param".to_owned(), 2 * loads + 2, m)
        } else {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
            let file = load_json(&text).map_err(|e| format!("{path}: {e}"))?;
            drop(text);
            let m = bench::measure(&scheduler, &file, len, args.sizes, args.limit)
                .await
                .map_err(|e| format!("{path}: {e}"))?;
            (file.name, file.graph.len(), m)
        };
        println!(
            "{}",
            serde_json::json!({
                "system": format!("taskloom {}", env!("CARGO_PKG_VERSION")),
                "graph": name,
                "executor": args.executor,
                "workers": workers,
                "tasks": tasks,
                "mib": args.mib,
                "sizes": args.sizes.name(),
                "peak_held": m.memory.peak_results,
                "peak_held_bytes": m.memory.peak_bytes,
                "gauge_peak_held": m.gauge_peak,
                "memory_limit_bytes": args.limit,
                "overruns": m.memory.overruns,
                "peak_over_limit_bytes": m.memory.peak_over_limit,
                "peak_rss_bytes": m.peak_rss,
                "base_rss_bytes": m.base_rss,
                "seconds": m.seconds,
            })
        );
    }
    Ok(())
}
