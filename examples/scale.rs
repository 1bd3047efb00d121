//! Cost per task as graphs grow to millions of tasks, and the scheduler's own memory
//! per task.
//!
//! ```sh
//! cargo run --release --example scale -- [--executor current-thread|threads] \
//!     [--workers N] [--budget-s S] SHAPE...
//! cargo run --release --example scale -- chains:100x100 chains:1000x1000 tree:13 tree:20
//! ```
//!
//! Shapes are generated here, no file loaded: `chains:CxL` is `C` independent chains
//! of `L` no-op tasks (every chain's end requested); `tree:K` a binary tree of `2^K`
//! leaves summed pairwise to one root. Every task is a no-op that takes its
//! dependencies' values and returns `()`. Timed as the `overhead` example times: the
//! typed graph's building and the whole `compute`, at least 3 runs then more while the
//! budget lasts (at most 20), the median.
//!
//! Memory, the scheduler's own (there is no loader): `state_bytes`, the heap of core's
//! `State` for the graph (per-task arrays and the dependency and dependent lists),
//! and `graph_bytes`, the core graph's own arrays (keys, dependencies; not the task
//! bodies); `peak_rss_bytes` and `base_rss_bytes`, the process's RSS at its peak
//! during one building and computation, and before it, so `(peak - base) / tasks` is
//! everything a task costs at once: typed graph, task bodies, state, results.
//!
//! One JSON line per shape: `{"system", "shape", "executor", "workers", "tasks",
//! "edges", "runs", "median_s", "min_s", "us_per_task", "state_bytes", "graph_bytes",
//! "base_rss_bytes", "peak_rss_bytes", "load"}` (`load`: the 1-minute load average
//! when the shape was done). RSS is the process's: run one shape per process for
//! figures of its own (memory an earlier shape left with the allocator hides a later
//! one's growth). The figures of the guide (`docs/bench/scale.jsonl`):
//!
//! ```sh
//! cargo build --release --example scale
//! for ex in current-thread threads; do
//!   for s in chains:100x100 chains:316x316 chains:1000x1000 tree:13 tree:16 tree:20; do
//!     target/release/examples/scale --executor $ex --workers 2 --budget-s 5 $s
//!   done
//! done > docs/bench/scale.jsonl
//! ```

use std::time::Instant;

use taskloom::core::State;
use taskloom::{Graph, Handle, Scheduler};

type BoxError = Box<dyn std::error::Error>;

/// A generated shape.
#[derive(Clone, Copy, Debug)]
enum Shape {
    /// `chains` chains of `length` tasks.
    Chains { chains: usize, length: usize },
    /// A binary tree of `2^levels` leaves.
    Tree { levels: u32 },
}

impl Shape {
    fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("{text}: a shape is chains:CxL or tree:K");
        let (kind, size) = text.split_once(':').ok_or_else(bad)?;
        match kind {
            "chains" => {
                let (c, l) = size.split_once('x').ok_or_else(bad)?;
                let chains = c.parse().map_err(|_| bad())?;
                let length = l.parse().map_err(|_| bad())?;
                if chains == 0 || length == 0 {
                    return Err(bad());
                }
                Ok(Shape::Chains { chains, length })
            }
            "tree" => {
                let levels: u32 = size.parse().map_err(|_| bad())?;
                if levels > 26 {
                    return Err(format!("{text}: at most tree:26"));
                }
                Ok(Shape::Tree { levels })
            }
            _ => Err(bad()),
        }
    }

    fn name(self) -> String {
        match self {
            Shape::Chains { chains, length } => format!("chains:{chains}x{length}"),
            Shape::Tree { levels } => format!("tree:{levels}"),
        }
    }

    /// The typed graph of no-op tasks and its requested results.
    fn build(self) -> Result<(Graph, Vec<Handle<()>>), BoxError> {
        match self {
            Shape::Chains { chains, length } => {
                let n = chains * length;
                let mut g = Graph::with_capacity(n, n);
                let mut ends = Vec::with_capacity(chains);
                for c in 0..chains {
                    let mut prev = g.add(("c", c as i64, 0), (), || ())?;
                    for i in 1..length {
                        prev = g.add(("c", c as i64, i as i64), &prev, |_: &()| ())?;
                    }
                    ends.push(prev);
                }
                Ok((g, ends))
            }
            Shape::Tree { levels } => {
                let leaves = 1_usize << levels;
                let mut g = Graph::with_capacity(2 * leaves, 2 * leaves);
                let mut layer: Vec<Handle<()>> = (0..leaves)
                    .map(|i| g.add(("t", 0, i as i64), (), || ()))
                    .collect::<Result<_, _>>()?;
                let mut level = 0_i64;
                while layer.len() > 1 {
                    level += 1;
                    layer = layer
                        .chunks(2)
                        .enumerate()
                        .map(|(j, pair)| {
                            g.add(
                                ("t", level, j as i64),
                                (&pair[0], &pair[1]),
                                |_: &(), _: &()| (),
                            )
                        })
                        .collect::<Result<_, _>>()?;
                }
                Ok((g, layer))
            }
        }
    }
}

struct Args {
    executor: String,
    workers: usize,
    budget_s: f64,
    shapes: Vec<Shape>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        executor: "threads".into(),
        workers: std::thread::available_parallelism().map_or(1, usize::from),
        budget_s: 10.0,
        shapes: Vec::new(),
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
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            shape => args.shapes.push(Shape::parse(shape)?),
        }
    }
    if args.shapes.is_empty() {
        return Err(
            "usage: scale [--executor current-thread|threads] [--workers N] \
                    [--budget-s S] chains:CxL|tree:K..."
                .into(),
        );
    }
    Ok(args)
}

/// Builds and computes `shape` once; the seconds it took.
async fn run_once(scheduler: &Scheduler, shape: Shape) -> Result<f64, BoxError> {
    let start = Instant::now();
    let (g, targets) = shape.build()?;
    let out = scheduler.compute(&g, &targets[..]).await?;
    let elapsed = start.elapsed().as_secs_f64();
    if out.len() != targets.len() {
        return Err(format!("{} results for {} targets", out.len(), targets.len()).into());
    }
    Ok(elapsed)
}

/// `VmRSS` or `VmHWM` of this process in bytes, from `/proc/self/status` (0 elsewhere).
fn proc_status_bytes(field: &str) -> u64 {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return 0;
    };
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| {
            l.trim_start_matches(field)
                .trim_start_matches(':')
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kib| kib * 1024)
}

/// The 1-minute load average (`None` without `/proc`).
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let args = parse_args().map_err(|e| format!("scale: {e}"))?;
    let (scheduler, workers) = match args.executor.as_str() {
        "current-thread" | "sync" => (Scheduler::current_thread(), 1),
        "threads" => (Scheduler::threads(args.workers)?, args.workers),
        other => return Err(format!("unknown executor {other} (current-thread, threads)").into()),
    };
    for &shape in &args.shapes {
        // The scheduler's own structures for this graph, measured apart.
        let (state_bytes, graph_bytes, tasks, edges) = {
            let (g, targets) = shape.build()?;
            let ids: Vec<_> = targets.iter().map(Handle::id).collect();
            let state = State::new(g.core(), &ids)?;
            (
                state.heap_bytes(),
                g.core().heap_bytes(),
                g.len(),
                g.core().edge_count(),
            )
        };
        // Memory of one building and computation, from the RSS before it.
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let base_rss = proc_status_bytes("VmRSS");
        run_once(&scheduler, shape).await?;
        let peak_rss = proc_status_bytes("VmHWM");
        let deadline = Instant::now() + std::time::Duration::from_secs_f64(args.budget_s);
        let mut times = Vec::new();
        while times.len() < 3 || (Instant::now() < deadline && times.len() < 20) {
            times.push(run_once(&scheduler, shape).await?);
        }
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        println!(
            "{}",
            serde_json::json!({
                "system": format!("taskloom {}", env!("CARGO_PKG_VERSION")),
                "shape": shape.name(),
                "executor": args.executor,
                "workers": workers,
                "tasks": tasks,
                "edges": edges,
                "runs": times.len(),
                "median_s": median,
                "min_s": times[0],
                "us_per_task": median / tasks as f64 * 1e6,
                "state_bytes": state_bytes,
                "graph_bytes": graph_bytes,
                "base_rss_bytes": base_rss,
                "peak_rss_bytes": peak_rss,
                "load": load_average(),
            })
        );
    }
    Ok(())
}
