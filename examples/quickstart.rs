//! Quickstart: Dask's `da.ones(1000, chunks=2).sum()`, computed for real.
//!
//! 500 chunks of two ones, a sum per chunk, then a tree reduction 32 partial sums at a
//! time: the graph Dask builds for that expression. It is computed with each shipped
//! executor and must give 1000 every time.
//!
//! Run: `cargo run --release --example quickstart`.

use std::time::Instant;

use taskloom::{Graph, GraphError, Handle, Scheduler};

const CHUNKS: i64 = 500;
const CHUNK_LEN: usize = 2;
const SPLIT_EVERY: usize = 32;

/// The graph of `da.ones(1000, chunks=2).sum()`.
fn seed_sum() -> Result<(Graph, Handle<f64>), GraphError> {
    let mut g = Graph::new();
    let mut level: Vec<Handle<f64>> = Vec::new();
    for i in 0..CHUNKS {
        let ones = g.add(("ones", i), (), || vec![1.0_f64; CHUNK_LEN])?;
        level.push(g.add(("sum-chunk", i), &ones, |chunk: &Vec<f64>| {
            chunk.iter().sum()
        })?);
    }
    let mut depth = 0;
    while level.len() > 1 {
        depth += 1;
        let mut next = Vec::new();
        for (i, group) in level.chunks(SPLIT_EVERY).enumerate() {
            next.push(g.add(
                ("sum-aggregate", depth, i as i64),
                group,
                |parts: &[&f64]| parts.iter().copied().sum(),
            )?);
        }
        level = next;
    }
    Ok((g, level[0]))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (graph, total) = seed_sum()?;
    println!(
        "da.ones(1000, chunks=2).sum(): {} tasks, target {}",
        graph.len(),
        graph.key(&total)
    );
    let schedulers = [
        ("current-thread", Scheduler::current_thread()),
        ("threads", Scheduler::new()?),
    ];
    for (name, scheduler) in schedulers {
        let start = Instant::now();
        let sum = scheduler.compute(&graph, &total).await?;
        let elapsed = start.elapsed();
        let workers = scheduler.executor().num_workers();
        println!(
            "{name:>15} ({workers} worker{}): sum = {sum} in {:.3} ms ({:.2} µs per task)",
            if workers == 1 { "" } else { "s" },
            elapsed.as_secs_f64() * 1e3,
            elapsed.as_secs_f64() * 1e6 / graph.len() as f64
        );
        assert_eq!(sum, 1000.0);
    }
    Ok(())
}
