//! CPU-bound scaling: 2,000 tasks of about 1 ms of pure computation each, on a
//! `ThreadPool` with 1 worker and then with 2, and the speed-up between them.
//!
//! Dask's threaded scheduler gets about 1× on pure-Python work because of the GIL;
//! taskloom's workers are OS threads running Rust, so the speed-up should approach
//! the number of cores. Run on an otherwise idle machine:
//!
//! ```sh
//! cargo run --release --example cpu_scaling [-- --tasks 2000 --runs 5]
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use taskloom::{Graph, Handle, Scheduler};

/// Spins for about `iterations` rounds of a xorshift generator (pure computation,
/// no memory traffic, no syscalls).
fn work(seed: u64, iterations: u64) -> u64 {
    let mut x = seed | 1;
    for _ in 0..iterations {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    x
}

/// Iterations of [`work`] that take about `target` on this machine.
fn calibrate(target: Duration) -> u64 {
    let mut iterations = 1_000;
    loop {
        let start = Instant::now();
        black_box(work(black_box(7), iterations));
        let took = start.elapsed();
        if took >= Duration::from_millis(20) {
            return (iterations as f64 * target.as_secs_f64() / took.as_secs_f64()) as u64;
        }
        iterations *= 2;
    }
}

fn graph(tasks: u64, iterations: u64) -> Result<(Graph, Handle<u64>), Box<dyn std::error::Error>> {
    let mut g = Graph::new();
    let parts: Vec<Handle<u64>> = (0..tasks)
        .map(|i| g.add(("work", i as i64), (), move || work(i, iterations)))
        .collect::<Result<_, _>>()?;
    let total = g.add("total", &parts, |xs: &[&u64]| {
        xs.iter().fold(0, |a, x| a ^ **x)
    })?;
    Ok((g, total))
}

async fn median_time(
    scheduler: &Scheduler,
    g: &Graph,
    total: &Handle<u64>,
    runs: usize,
) -> Result<f64, Box<dyn std::error::Error>> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        black_box(scheduler.compute(g, total).await?);
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok(times[runs / 2])
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (mut tasks, mut runs) = (2000_u64, 5_usize);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--tasks" => tasks = args.next().ok_or("--tasks needs a value")?.parse()?,
            "--runs" => runs = args.next().ok_or("--runs needs a value")?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let iterations = calibrate(Duration::from_millis(1));
    let (g, total) = graph(tasks, iterations)?;
    let one = median_time(&Scheduler::threads(1)?, &g, &total, runs).await?;
    let two = median_time(&Scheduler::threads(2)?, &g, &total, runs).await?;
    println!("{tasks} tasks of ~1 ms ({iterations} iterations), median of {runs} runs");
    println!("threads, 1 worker : {:.3} s", one);
    println!("threads, 2 workers: {:.3} s", two);
    println!("speed-up          : {:.2}x (target >= 1.9x)", one / two);
    Ok(())
}
