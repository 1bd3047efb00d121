//! The seed's computation as Dask builds it, `da.ones(1000, chunks=2).sum()`: 500
//! `ones_like` chunks, a `sum` of each, then `sum-partial` tasks four at a time
//! (125, 32, 8, 2) and one `sum-aggregate`: 1,168 tasks. Every task is a registered
//! remote function, so the same graph runs on threads (called in-process) and on a
//! process pool.

use taskloom::inputs::Many;
use taskloom::remote::{Registry, Remote};
use taskloom::{Graph, GraphError, Handle};

/// Chunks of two ones.
pub(crate) const CHUNKS: i64 = 500;
/// Partial sums per task (Dask's `split_every` for this array).
const SPLIT_EVERY: usize = 4;

/// The graph's functions, registered by name in the program and in every worker.
pub(crate) struct Fns {
    ones: Remote<(), Vec<f64>>,
    sum: Remote<(Vec<f64>,), f64>,
    partial: Remote<Many<f64>, f64>,
}

/// The registry of the graph's functions.
pub(crate) fn registry() -> Result<(Registry, Fns), Box<dyn std::error::Error>> {
    let mut registry = Registry::new();
    let fns = Fns {
        ones: registry.register("ones_like", || vec![1.0_f64; 2])?,
        sum: registry.register("sum", |chunk: &Vec<f64>| chunk.iter().sum())?,
        partial: registry.register("sum-partial", |parts: &[&f64]| parts.iter().copied().sum())?,
    };
    Ok((registry, fns))
}

/// The graph, with Dask's names (without their tokens), and its result.
pub(crate) fn graph(f: &Fns) -> Result<(Graph, Handle<f64>), GraphError> {
    let mut g = Graph::new();
    let mut level: Vec<Handle<f64>> = Vec::new();
    for i in 0..CHUNKS {
        let ones = g.add_remote(("ones_like", i), (), &f.ones)?;
        level.push(g.add_remote(("sum", i), &ones, &f.sum)?);
    }
    while level.len() > 2 {
        let depth = level.len();
        let mut next = Vec::new();
        for (i, group) in level.chunks(SPLIT_EVERY).enumerate() {
            let key = (format!("sum-partial-{depth}"), i as i64);
            next.push(g.add_remote(key, group, &f.partial)?);
        }
        level = next;
    }
    let total = g.add_remote("sum-aggregate", &level[..], &f.partial)?;
    Ok((g, total))
}
