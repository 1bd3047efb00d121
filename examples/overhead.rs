//! Per-task overhead on the benchmark graphs (`benches/graphs`), in the schema of
//! `scripts/dask_overhead.py`, so `scripts/compare.py` can put taskloom and Dask side
//! by side.
//!
//! ```sh
//! cargo run --release --example overhead -- --executor current-thread|threads|processes|cluster|cluster-tls \
//!     [--workers N] [--budget-s S] [--runs N] [--pause-us U] [--result unit|vec] [--phases] GRAPH.json...
//! cargo run --release --example overhead -- --executor threads benches/graphs/chains_10k.json
//! ```
//!
//! `cluster` runs the remote no-ops on N local cluster workers over TCP on loopback
//! (the analogue of dask.distributed's `LocalCluster`, which `compare.py` runs
//! beside it); `cluster-tls` the same over TLS, as a cluster off loopback runs.
//!
//! Every task is a no-op that takes its dependencies' values and returns `()` (`--result
//! unit`, the default), or an empty `Vec<u8>` (`--result vec`: a result whose type may
//! own heap memory, of a size the scheduler is not told, so it keeps the run to the
//! static order's count of results; threads and current-thread only). Timed together, as
//! Dask's `get` does its own conversion and ordering: building the typed graph from
//! the loaded file and the whole `compute` of its targets. At least 3 runs, then more
//! while the budget lasts (at most 50), or exactly `--runs` (for small graphs, whose
//! median needs many); one JSON line per graph. `--pause-us` sleeps between runs, so
//! the pool's threads are parked when the next run starts, as they are when a
//! program computes now and then.
//!
//! `--phases` (with `--result unit`) adds where a computation's time goes, as medians
//! over as many runs again (µs, `phases` in the JSON line): `build_us` (the typed graph from the
//! loaded file), `state_us` (core's `State::new` on it: cull, order, ready set, as
//! `compute` builds it first) and `drop_us` (dropping the graph). What is left of
//! `median_s` is the run: handing tasks out, running them, their completions and
//! result drops, and on a pool the wake-ups.

use std::time::Instant;

use taskloom::cluster::{Cluster, Local};
use taskloom::core::file::{LoadedGraph, load_json};
use taskloom::inputs::Many;
use taskloom::process::ProcessPool;
use taskloom::remote::{self, Registry, Remote};
use taskloom::{Graph, Handle, Scheduler};

/// The no-op as a remote function, for `--executor processes` and `cluster` (a
/// closure cannot cross into a worker process; a registered name can).
type Noop = Remote<Many<()>, ()>;

struct Args {
    executor: String,
    workers: usize,
    budget_s: f64,
    /// Exactly this many timed runs, whatever the budget.
    runs: Option<usize>,
    /// Sleep between two runs (µs).
    pause_us: u64,
    /// Whether each task returns an empty `Vec<u8>` instead of `()`.
    vec_results: bool,
    /// Whether to time the phases of a computation apart too.
    phases: bool,
    graphs: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        executor: "threads".into(),
        workers: std::thread::available_parallelism().map_or(1, usize::from),
        budget_s: 10.0,
        runs: None,
        pause_us: 0,
        vec_results: false,
        phases: false,
        graphs: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--executor" => args.executor = value("--executor")?,
            "--workers" => {
                args.workers = value("--workers")?
                    .parse()
                    .map_err(|e| format!("--workers: {e}"))?;
            }
            "--budget-s" => {
                args.budget_s = value("--budget-s")?
                    .parse()
                    .map_err(|e| format!("--budget-s: {e}"))?;
            }
            "--runs" => {
                args.runs = Some(
                    value("--runs")?
                        .parse()
                        .map_err(|e| format!("--runs: {e}"))?,
                );
            }
            "--pause-us" => {
                args.pause_us = value("--pause-us")?
                    .parse()
                    .map_err(|e| format!("--pause-us: {e}"))?;
            }
            "--result" => {
                args.vec_results = match value("--result")?.as_str() {
                    "unit" => false,
                    "vec" => true,
                    other => return Err(format!("--result: {other} (unit or vec)")),
                };
            }
            "--phases" => args.phases = true,
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            path => args.graphs.push(path.to_owned()),
        }
    }
    if args.graphs.is_empty() {
        return Err("usage: overhead --executor current-thread|threads|processes|cluster|cluster-tls [--workers N] [--budget-s S] [--runs N] [--pause-us U] [--result unit|vec] [--phases] GRAPH.json...".into());
    }
    Ok(args)
}

type BoxError = Box<dyn std::error::Error>;

/// Builds the typed graph of no-op tasks; ids of the loaded graph are topological.
fn build_graph(
    file: &LoadedGraph,
    remote: Option<&Noop>,
) -> Result<(Graph, Vec<Handle<()>>), BoxError> {
    let core = &file.graph;
    let mut g = Graph::with_capacity(core.len(), core.edge_count());
    let mut handles: Vec<Handle<()>> = Vec::with_capacity(core.len());
    let mut inputs: Vec<Handle<()>> = Vec::new();
    for id in core.ids() {
        inputs.clear();
        inputs.extend(core.deps(id).iter().map(|d| handles[d.index()]));
        let key = core.key(id).clone();
        handles.push(match remote {
            Some(noop) => g.add_remote(key, &inputs[..], noop)?,
            None => g.add(key, &inputs[..], |_: &[&()]| ())?,
        });
    }
    let targets = file.targets.iter().map(|t| handles[t.index()]).collect();
    Ok((g, targets))
}

/// A typed graph and its requested results.
type Built<T> = (Graph, Vec<Handle<T>>);

/// Builds the typed graph of no-op tasks that each return an empty `Vec<u8>`.
fn build_vec(file: &LoadedGraph) -> Result<Built<Vec<u8>>, BoxError> {
    let core = &file.graph;
    let mut g = Graph::with_capacity(core.len(), core.edge_count());
    let mut handles: Vec<Handle<Vec<u8>>> = Vec::with_capacity(core.len());
    let mut inputs: Vec<Handle<Vec<u8>>> = Vec::new();
    for id in core.ids() {
        inputs.clear();
        inputs.extend(core.deps(id).iter().map(|d| handles[d.index()]));
        let key = core.key(id).clone();
        handles.push(g.add(key, &inputs[..], |_: &[&Vec<u8>]| Vec::<u8>::new())?);
    }
    let targets = file.targets.iter().map(|t| handles[t.index()]).collect();
    Ok((g, targets))
}

/// Medians of a computation's phases apart, µs (see the module docs).
#[derive(serde::Serialize)]
struct Phases {
    build_us: f64,
    state_us: f64,
    drop_us: f64,
}

/// Sorts `xs` (seconds, at least one) and returns the middle one.
fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn phases(file: &LoadedGraph, remote: Option<&Noop>, runs: usize) -> Result<Phases, BoxError> {
    let (mut build, mut state, mut drops) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        let (g, targets) = build_graph(file, remote)?;
        build.push(start.elapsed().as_secs_f64());
        let ids: Vec<_> = targets.iter().map(Handle::id).collect();
        let start = Instant::now();
        let s = taskloom::core::State::new(g.core(), &ids)?;
        state.push(start.elapsed().as_secs_f64());
        std::hint::black_box(s);
        let start = Instant::now();
        std::mem::drop((g, targets));
        drops.push(start.elapsed().as_secs_f64());
    }
    Ok(Phases {
        build_us: median(&mut build) * 1e6,
        state_us: median(&mut state) * 1e6,
        drop_us: median(&mut drops) * 1e6,
    })
}

async fn run_once(
    scheduler: &Scheduler,
    file: &LoadedGraph,
    remote: Option<&Noop>,
    vec_results: bool,
) -> Result<f64, Box<dyn std::error::Error>> {
    let start = Instant::now();
    let results = if vec_results {
        let (g, targets) = build_vec(file)?;
        scheduler.compute(&g, &targets).await?.len()
    } else {
        let (g, targets) = build_graph(file, remote)?;
        scheduler.compute(&g, &targets).await?.len()
    };
    let elapsed = start.elapsed().as_secs_f64();
    assert_eq!(results, file.targets.len());
    Ok(elapsed)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    // `--executor processes` and `cluster` run this program as their workers: they
    // serve here.
    let mut registry = Registry::new();
    let noop: Noop = registry.register("noop", |_: &[&()]| ())?;
    remote::init(&registry);
    let args = parse_args()?;
    let (scheduler, workers) = match args.executor.as_str() {
        "current-thread" | "sync" => (Scheduler::current_thread(), 1),
        "threads" => (Scheduler::threads(args.workers)?, args.workers),
        "processes" => (
            Scheduler::builder()
                .executor(ProcessPool::new(args.workers)?)
                .build()?,
            args.workers,
        ),
        "cluster" | "cluster-tls" => {
            let mut builder = Cluster::builder()
                .launcher(Local::new())
                .workers(args.workers);
            if args.executor == "cluster-tls" {
                builder = builder.require_tls();
            }
            let cluster = builder.build()?;
            cluster
                .wait_for_workers(args.workers, std::time::Duration::from_secs(60))
                .await?;
            (
                Scheduler::builder().executor(cluster).build()?,
                args.workers,
            )
        }
        other => {
            return Err(format!(
                "unknown executor {other} (current-thread, threads, processes, cluster, \
                 cluster-tls)"
            )
            .into());
        }
    };
    for path in &args.graphs {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        let file = load_json(&text).map_err(|e| format!("{path}: {e}"))?;
        let remote = matches!(
            args.executor.as_str(),
            "processes" | "cluster" | "cluster-tls"
        )
        .then_some(&noop);
        if remote.is_some() && args.vec_results {
            return Err("--result vec runs on threads and current-thread only".into());
        }
        if args.phases && args.vec_results {
            return Err("--phases times the graph of `()` results only (--result unit)".into());
        }
        run_once(&scheduler, &file, remote, args.vec_results).await?; // warm-up
        let deadline = Instant::now() + std::time::Duration::from_secs_f64(args.budget_s);
        let mut times = Vec::new();
        let more = |done: usize| match args.runs {
            Some(runs) => done < runs,
            None => done < 3 || (Instant::now() < deadline && done < 50),
        };
        while more(times.len()) {
            if args.pause_us > 0 {
                std::thread::sleep(std::time::Duration::from_micros(args.pause_us));
            }
            times.push(run_once(&scheduler, &file, remote, args.vec_results).await?);
        }
        let median = median(&mut times); // sorted: the first is the fastest
        let tasks = file.graph.len();
        let phases = if args.phases {
            serde_json::to_value(phases(&file, remote, times.len())?)?
        } else {
            serde_json::Value::Null
        };
        println!(
            "{}",
            serde_json::json!({
                "system": format!("taskloom {}", env!("CARGO_PKG_VERSION")),
                "graph": file.name,
                "executor": args.executor,
                "result": if args.vec_results { "vec" } else { "unit" },
                "workers": workers,
                "tasks": tasks,
                "edges": file.graph.edge_count(),
                "runs": times.len(),
                "median_s": median,
                "min_s": times[0],
                "us_per_task": median / tasks as f64 * 1e6,
                "phases": phases,
            })
        );
    }
    Ok(())
}
