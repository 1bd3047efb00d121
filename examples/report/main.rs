//! Pictures of the seed's sum, `da.ones(1000, chunks=2).sum()` (1,168 tasks): the
//! graph before it runs, coloured by static order, and a report of it running on
//! threads and then on a process pool.
//!
//! ```sh
//! cargo run --release --example report -- --out DIR
//! ```
//!
//! writes `DIR/graph.svg` and `DIR/report.html` (one file, opened from disk with no
//! network).
//!
//! ```sh
//! cargo run --release --example report -- --cost 200 [--json docs/bench/report-cost.jsonl]
//! ```
//!
//! measures what recording a report costs instead: the sum on two threads plain, with
//! a callback that only asks for task events, and with a [`Report`], alternated for
//! the given number of rounds; prints the medians and, with `--json`, appends them as
//! one JSON line. `--only plain|events|report` runs that way alone (no medians): for
//! counting instructions, `valgrind --tool=callgrind`, where a loaded machine makes
//! wall-clock times useless.

mod cost;
mod seed_sum;

use std::path::PathBuf;
use std::sync::Arc;

use taskloom::diagnostics::Report;
use taskloom::diagnostics::picture::DotOptions;
use taskloom::process::ProcessPool;
use taskloom::{ComputeOptions, Scheduler, remote};

type BoxError = Box<dyn std::error::Error>;

const USAGE: &str =
    "usage: report --out DIR | report --cost ROUNDS [--json FILE | --only plain|events|report]";

enum Mode {
    Pictures(PathBuf),
    Cost {
        rounds: usize,
        json: Option<PathBuf>,
        only: Option<cost::Kind>,
    },
}

fn parse_args() -> Result<Mode, String> {
    let (mut out, mut rounds, mut json, mut only) = (None, None, None, None);
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--out" => out = Some(PathBuf::from(value("--out")?)),
            "--cost" => {
                let n = value("--cost")?;
                rounds = Some(n.parse().map_err(|e| format!("--cost {n}: {e}"))?);
            }
            "--json" => json = Some(PathBuf::from(value("--json")?)),
            "--only" => {
                let kind = value("--only")?;
                only = Some(cost::Kind::parse(&kind).ok_or(format!("--only {kind}; {USAGE}"))?);
            }
            other => return Err(format!("unknown argument {other}; {USAGE}")),
        }
    }
    match (out, rounds) {
        (Some(dir), None) => Ok(Mode::Pictures(dir)),
        (None, Some(rounds)) => Ok(Mode::Cost { rounds, json, only }),
        _ => Err(USAGE.to_owned()),
    }
}

fn main() -> Result<(), BoxError> {
    let (registry, fns) = seed_sum::registry()?;
    remote::init(&registry); // a worker serves here and never returns
    let dir = match parse_args()? {
        Mode::Pictures(dir) => dir,
        Mode::Cost {
            rounds,
            only: Some(kind),
            ..
        } => return cost::only(&fns, rounds, kind),
        Mode::Cost { rounds, json, .. } => return cost::measure(&fns, rounds, json.as_deref()),
    };
    std::fs::create_dir_all(&dir)?;
    let (graph, total) = seed_sum::graph(&fns)?;

    // The graph before it runs, coloured by the order taskloom will follow.
    let options = DotOptions::new().title("da.ones(1000, chunks=2).sum(): static order");
    std::fs::write(dir.join("graph.svg"), graph.to_svg(&options)?)?;
    println!("{} tasks: {}", graph.len(), dir.join("graph.svg").display());

    // The run: on two threads, then on a pool of two worker processes.
    let report = Arc::new(Report::new());
    report.title("da.ones(1000, chunks=2).sum() on threads, then on processes");
    report.graph(&graph);
    let runtime = tokio::runtime::Runtime::new()?;
    let threads = Scheduler::threads(2)?;
    let processes = Scheduler::builder()
        .executor(ProcessPool::builder().workers(2).build()?)
        .build()?;
    for (name, scheduler) in [("threads", threads), ("processes", processes)] {
        let options = ComputeOptions::new().shared_callback(report.clone());
        let sum = runtime.block_on(scheduler.compute_with(&graph, &total, options))?;
        println!("{name}: sum = {sum}");
        assert_eq!(sum, 1000.0);
    }
    report.save(dir.join("report.html"))?;
    println!("report: {}", dir.join("report.html").display());
    Ok(())
}
