//! Quickstart: the graph of Dask's `da.ones(1000, chunks=2).sum()`, built in code and
//! driven through taskloom-core's `State` with no executor.
//!
//! 500 chunks of ones, a sum per chunk, then a tree reduction 32 at a time. The loop
//! below is the whole driving contract: pop ready tasks, feed completions, drain
//! releases. Run: `cargo run --release --example quickstart`.

use std::time::Instant;

use taskloom::taskloom_core::{Graph, GraphError, State, Status, TaskId};

const CHUNKS: i64 = 500;
const SPLIT_EVERY: usize = 32;

fn seed_sum_graph() -> Result<(Graph<()>, TaskId), GraphError> {
    let mut g = Graph::new();
    let mut level: Vec<TaskId> = Vec::new();
    for i in 0..CHUNKS {
        let ones = g.push(("ones", i), &[], ())?;
        level.push(g.push(("sum-chunk", i), &[ones], ())?);
    }
    let mut depth = 0;
    while level.len() > 1 {
        depth += 1;
        let mut next = Vec::new();
        for (i, group) in level.chunks(SPLIT_EVERY).enumerate() {
            next.push(g.push(("sum-aggregate", depth, i as i64), group, ())?);
        }
        level = next;
    }
    Ok((g, level[0]))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let (graph, total) = seed_sum_graph()?;
    let mut state = State::new(&graph, &[total])?;
    let (mut ran, mut released, mut peak_held) = (0, 0, 0);
    while let Some(task) = state.pop_ready() {
        ran += 1; // a runtime would run the task here
        state.finish(task)?;
        peak_held = peak_held.max(state.counts().held);
        while state.pop_release().is_some() {
            released += 1;
        }
    }
    assert_eq!(state.status(), Status::Done);
    println!(
        "graph: {} tasks, {} edges; target {}",
        graph.len(),
        graph.edge_count(),
        graph.key(total)
    );
    println!(
        "ran {ran} tasks, released {released} intermediate results, held at most {peak_held} at once"
    );
    println!("built, ordered and drained in {:?}", start.elapsed());
    Ok(())
}
