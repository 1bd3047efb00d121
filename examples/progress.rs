//! Progress bars for computations running at the same time, one line each, in one
//! terminal area (`Progress`, on indicatif). Needs the `progress` feature, which the
//! examples have.
//!
//! ```sh
//! cargo run --release --example progress
//! ```
//!
//! Four computations share one `Scheduler`: a long sum of 2,000 busy tasks, a chain of
//! slow steps, one that fails half way, and a quick one that finishes under the
//! minimum duration (1 s) and so prints nothing.

use std::time::{Duration, Instant};

use taskloom::diagnostics::Progress;
use taskloom::{ComputeOptions, Graph, Handle, Scheduler};

/// Keeps the core busy for `d`.
fn spin(d: Duration) {
    let end = Instant::now() + d;
    while Instant::now() < end {
        std::hint::spin_loop();
    }
}

/// `n` tasks of `each` of CPU work, summed.
fn busy_sum(n: i64, each: Duration) -> Result<(Graph, Handle<u64>), Box<dyn std::error::Error>> {
    let mut g = Graph::new();
    let parts: Vec<Handle<u64>> = (0..n)
        .map(|i| {
            g.add(("work", i), (), move || {
                spin(each);
                1_u64
            })
        })
        .collect::<Result<_, _>>()?;
    let total = g.add("total", &parts, |xs: &[&u64]| xs.iter().copied().sum())?;
    Ok((g, total))
}

/// A chain of `n` steps sleeping `each`; step `fail_at` fails, if given.
fn chain(
    n: i64,
    each: Duration,
    fail_at: Option<i64>,
) -> Result<(Graph, Handle<u64>), Box<dyn std::error::Error>> {
    let mut g = Graph::new();
    let mut last = g.add(("step", 0), (), || 0_u64)?;
    for i in 1..n {
        last = g.try_add(("step", i), &last, move |x: &u64| {
            std::thread::sleep(each);
            if Some(i) == fail_at {
                Err(format!("step {i} lost its input file"))
            } else {
                Ok(x + 1)
            }
        })?;
    }
    Ok((g, last))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let scheduler = Scheduler::threads(2)?;
    let progress = Progress::new();
    let jobs = [
        ("busy-sum", busy_sum(2000, Duration::from_millis(2))?),
        ("slow-chain", chain(30, Duration::from_millis(100), None)?),
        ("doomed", chain(40, Duration::from_millis(60), Some(25))?),
        ("quick", busy_sum(100, Duration::from_micros(10))?),
    ];
    let mut running = tokio::task::JoinSet::new();
    for (label, (graph, target)) in jobs {
        let options = ComputeOptions::new().callback(progress.bar(label));
        let compute = scheduler.compute_with(&graph, &target, options);
        running.spawn(async move { (label, compute.await) });
    }
    let mut results = Vec::new();
    while let Some(done) = running.join_next().await {
        results.push(done?);
    }
    // Every bar has ended: print below them (`progress.multi().println` would wipe
    // the ended bars, whose lines indicatif no longer owns).
    for (label, result) in results {
        match result {
            Ok(value) => println!("{label}: {value}"),
            Err(e) => println!("{label}: error: {e}"),
        }
    }
    Ok(())
}
