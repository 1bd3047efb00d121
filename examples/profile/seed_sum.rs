//! The seed's computation, Dask's `da.ones(1000, chunks=2).sum()`, profiled: the graph
//! and a run that writes its Chrome trace. Shared by the `profile` example and the test
//! that checks the file it writes (`tests/profile.rs`).

use std::error::Error;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use taskloom::diagnostics::{ChromeTrace, Profiler, ResourceProfiler};
use taskloom::{ComputeOptions, Graph, GraphError, Handle, Scheduler};

/// Chunks of two ones: 1000 ones in all.
const CHUNKS: i64 = 500;
/// Partial sums per aggregate (Dask's `split_every` for this sum).
const SPLIT_EVERY: usize = 32;

/// The graph of `da.ones(1000, chunks=2).sum()`: 500 `ones` chunks, 500 `sum-chunk`
/// tasks, then `sum-aggregate` tasks 32 at a time (1017 tasks). Each `sum-chunk` also
/// keeps its core busy for `work`, so the trace shows parallel work and CPU use.
pub(crate) fn graph(work: Duration) -> Result<(Graph, Handle<f64>), GraphError> {
    let mut g = Graph::new();
    let mut level: Vec<Handle<f64>> = Vec::new();
    for i in 0..CHUNKS {
        let ones = g.add(("ones", i), (), || vec![1.0_f64; 2])?;
        level.push(g.add(("sum-chunk", i), &ones, move |chunk: &Vec<f64>| {
            spin(work);
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

/// Busy-waits (real CPU work, unlike a sleep) for `d`.
fn spin(d: Duration) {
    let end = Instant::now() + d;
    while Instant::now() < end {
        std::hint::spin_loop();
    }
}

/// What a profiled run measured.
#[derive(Debug)]
pub(crate) struct Profiled {
    /// The computed sum (1000).
    pub(crate) sum: f64,
    /// Tasks in the graph.
    pub(crate) tasks: usize,
    /// Task records in the trace.
    pub(crate) records: usize,
    /// Resource samples in the trace.
    pub(crate) samples: usize,
    /// Wall time of the computation.
    pub(crate) elapsed: Duration,
}

/// Computes the sum on `scheduler` with a profiler and a resource sampler, and writes
/// the Chrome trace to `path`.
pub(crate) async fn profile(
    scheduler: &Scheduler,
    work: Duration,
    path: &Path,
) -> Result<Profiled, Box<dyn Error>> {
    let (g, total) = graph(work)?;
    let profiler = Arc::new(Profiler::new());
    let resources = Arc::new(ResourceProfiler::with_interval(Duration::from_millis(5)));
    let options = ComputeOptions::new()
        .shared_callback(profiler.clone())
        .shared_callback(resources.clone());
    let start = Instant::now();
    let sum = scheduler.compute_with(&g, &total, options).await?;
    let elapsed = start.elapsed();
    let trace = ChromeTrace::new()
        .process_name("da.ones(1000, chunks=2).sum()")
        .tasks(&profiler)
        .resources(&resources);
    trace.save(path)?;
    Ok(Profiled {
        sum,
        tasks: g.len(),
        records: profiler.records().len(),
        samples: resources.samples().len(),
        elapsed,
    })
}
