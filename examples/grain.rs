//! Granularity: how short a task can be before scheduling eats the work.
//!
//! ```sh
//! cargo run --release --example grain [-- --workers N] [--lengths 1,10,100,1000] [--runs 5]
//! ```
//!
//! (`--only-workers N` runs only the pool of N workers: for profiling one case.)
//!
//! The workload of Taskflow's anchor, `benches/taskflow/grain.cpp`, task for
//! task: for each task length (1, 10, 100 and 1,000 µs of calibrated CPU work, the
//! same xorshift spin and the same calibration), `n = min(100000, max(1000, 200000 /
//! µs))` independent tasks, then a tree reduction with fan-in 8 over their results,
//! on a `ThreadPool` of 1 to N workers (default: one per core). Timed: one whole
//! `compute` of the graph's root (core's cull and order included), the graph built
//! beforehand as Taskflow's is; one untimed warm-up run per pool, then `--runs`
//! timed runs.
//!
//! Efficiency = ideal ÷ measured, with ideal = `n × length ÷ workers` (the spin alone,
//! perfectly divided: the reduction's xors count as overhead), as grain.cpp computes
//! it. The headline statistic is the best of the runs, as grain.cpp reports; the
//! median is printed beside it. `serial_s` is the spin of the `n` leaves timed in a
//! plain loop on this thread, just before, to show how far the calibration drifted
//! (another process on the machine, frequency changes): `efficiency_serial_*` divide
//! that instead of the nominal ideal.
//!
//! One JSON line per (length, workers):
//! `{"system", "executor", "task_us", "tasks", "graph_tasks", "workers", "iterations",
//!   "runs", "best_s", "median_s", "ideal_s", "serial_s", "efficiency_best",
//!   "efficiency_median", "efficiency_serial_best", "efficiency_serial_median"}`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use taskloom::{Graph, Handle, Scheduler};

/// The spin of grain.cpp: `iterations` rounds of a xorshift generator (pure
/// computation, no memory traffic, no syscalls).
fn work(seed: u64, iterations: u64) -> u64 {
    let mut x = seed | 1;
    for _ in 0..iterations {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    x
}

/// Iterations of [`work`] that take about `target`, as grain.cpp calibrates: double
/// from 1,000 until one call takes at least 50 ms, then scale. One difference: the
/// 50 ms call is timed three times and the fastest counts, so that another process
/// taking the core during calibration does not make every task shorter than its
/// nominal length (which would flatter the efficiency).
fn calibrate(target: Duration) -> u64 {
    let time = |iterations| {
        let start = Instant::now();
        black_box(work(black_box(7), iterations));
        start.elapsed().as_secs_f64()
    };
    let mut iterations: u64 = 1_000;
    loop {
        if time(iterations) >= 0.05 {
            let took = (0..3).map(|_| time(iterations)).fold(f64::MAX, f64::min);
            return (iterations as f64 * target.as_secs_f64() / took) as u64;
        }
        iterations *= 2;
    }
}

/// Leaves of grain.cpp for a task length: 200 ms of serial work, at least 1,000 and
/// at most 100,000 tasks.
fn leaves(task_us: u64) -> usize {
    (200_000 / task_us as usize).clamp(1_000, 100_000)
}

/// `n` spin tasks and the tree that xors their results, eight at a time, level by
/// level, down to one root.
fn graph(n: usize, iterations: u64) -> Result<(Graph, Handle<u64>), Box<dyn std::error::Error>> {
    let mut g = Graph::with_capacity(n + n / 7 + 8, n + n / 7 + 8);
    let mut layer: Vec<Handle<u64>> = (0..n)
        .map(|i| g.add(("leaf", i), (), move || work(i as u64, iterations)))
        .collect::<Result<_, _>>()?;
    let mut level = 0_usize;
    while layer.len() > 1 {
        level += 1;
        layer = layer
            .chunks(8)
            .enumerate()
            .map(|(j, inputs)| {
                g.add(("sum", level, j), inputs, |xs: &[&u64]| {
                    xs.iter().fold(0, |a, x| a ^ **x)
                })
            })
            .collect::<Result<_, _>>()?;
    }
    Ok((g, layer[0]))
}

struct Args {
    workers: usize,
    /// Only this many workers (for profiling one configuration).
    only_workers: Option<usize>,
    lengths: Vec<u64>,
    runs: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        workers: std::thread::available_parallelism().map_or(1, usize::from),
        only_workers: None,
        lengths: vec![1, 10, 100, 1000],
        runs: 5,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--workers" => {
                args.workers = value("--workers")?
                    .parse()
                    .map_err(|e| format!("--workers: {e}"))?;
            }
            "--only-workers" => {
                args.only_workers = Some(
                    value("--only-workers")?
                        .parse()
                        .map_err(|e| format!("--only-workers: {e}"))?,
                );
            }
            "--runs" => {
                args.runs = value("--runs")?
                    .parse()
                    .map_err(|e| format!("--runs: {e}"))?;
            }
            "--lengths" => {
                args.lengths = value("--lengths")?
                    .split(',')
                    .map(|s| s.trim().parse().map_err(|e| format!("--lengths: {e}")))
                    .collect::<Result<_, _>>()?;
            }
            other => {
                return Err(format!(
                    "unknown argument {other}\nusage: grain [--workers N | --only-workers N] [--lengths 1,10,100,1000] [--runs 5]"
                ));
            }
        }
    }
    if let Some(n) = args.only_workers {
        args.workers = n;
    }
    if args.workers == 0 || args.runs == 0 || args.lengths.contains(&0) {
        return Err("--workers, --runs and every length must be positive".into());
    }
    Ok(args)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    for &task_us in &args.lengths {
        let iterations = calibrate(Duration::from_micros(task_us));
        let n = leaves(task_us);
        let (g, root) = graph(n, iterations)?;
        let first = args.only_workers.unwrap_or(1);
        for workers in first..=args.workers {
            let scheduler = Scheduler::threads(workers)?;
            let expected = black_box(scheduler.compute(&g, &root).await?); // warm-up
            // The leaves alone, serially, here and now: the calibration's drift.
            let start = Instant::now();
            for i in 0..n {
                black_box(work(black_box(i as u64), iterations));
            }
            let serial_s = start.elapsed().as_secs_f64();
            let mut times = Vec::with_capacity(args.runs);
            for _ in 0..args.runs {
                let start = Instant::now();
                let out = scheduler.compute(&g, &root).await?;
                times.push(start.elapsed().as_secs_f64());
                assert_eq!(out, expected);
            }
            times.sort_by(f64::total_cmp);
            let (best, median) = (times[0], times[times.len() / 2]);
            let ideal = n as f64 * task_us as f64 * 1e-6 / workers as f64;
            let serial_ideal = serial_s / workers as f64;
            println!(
                "{}",
                serde_json::json!({
                    "system": format!("taskloom {}", env!("CARGO_PKG_VERSION")),
                    "executor": "threads",
                    "task_us": task_us,
                    "tasks": n,
                    "graph_tasks": g.len(),
                    "workers": workers,
                    "iterations": iterations,
                    "runs": times.len(),
                    "best_s": best,
                    "median_s": median,
                    "ideal_s": ideal,
                    "serial_s": serial_s,
                    "efficiency_best": ideal / best,
                    "efficiency_median": ideal / median,
                    "efficiency_serial_best": serial_ideal / best,
                    "efficiency_serial_median": serial_ideal / median,
                })
            );
        }
    }
    Ok(())
}
