//! The seed's sum, `da.ones(1000, chunks=2).sum()`, on cluster workers: local
//! processes over loopback, or Slurm jobs.
//!
//! ```sh
//! cargo run --release --example cluster -- --local --workers 2
//! scripts/slurm-dev-cluster.sh start    # two Slurm nodes, n1 and n2, on this host
//! cargo run --release --example cluster -- --slurm --workers 2 [--partition ci]
//! ```
//!
//! Every task is remote (a registered function: the 500 chunks of two ones, their
//! sums, and the tree of partial sums), so each runs on a worker; the workers are
//! this very program, started by the launcher with two variables set, connecting
//! back and proving they know the cluster's secret. The last line printed is one
//! JSON object: the sum, the number of tasks, the workers, and how many tasks ran on
//! each node (Slurm's node names, or the host name for `--local`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use taskloom::callbacks::{Callback, TaskFinish};
use taskloom::cluster::{Cluster, Local, Slurm};
use taskloom::executor::Worker;
use taskloom::inputs::Many;
use taskloom::remote::{self, Registry, Remote};
use taskloom::{ComputeOptions, Graph, Handle, Scheduler};

const CHUNKS: i64 = 500;
const CHUNK_LEN: usize = 2;
const SPLIT_EVERY: usize = 32;

type BoxError = Box<dyn std::error::Error>;

/// The graph's functions, registered by name in the scheduler and in every worker.
struct Fns {
    ones: Remote<(), Vec<i64>>,
    sum_chunk: Remote<(Vec<i64>,), i64>,
    aggregate: Remote<Many<i64>, i64>,
}

fn registry() -> Result<(Registry, Fns), BoxError> {
    let mut registry = Registry::new();
    let fns = Fns {
        ones: registry.register("ones", || vec![1_i64; CHUNK_LEN])?,
        sum_chunk: registry.register("sum-chunk", |chunk: &Vec<i64>| chunk.iter().sum())?,
        aggregate: registry.register("sum-aggregate", |parts: &[&i64]| {
            parts.iter().copied().sum()
        })?,
    };
    Ok((registry, fns))
}

/// The graph of `da.ones(1000, chunks=2).sum()` (as `examples/quickstart.rs`), every
/// task remote.
fn seed_sum(f: &Fns) -> Result<(Graph, Handle<i64>), BoxError> {
    let mut g = Graph::new();
    let mut level: Vec<Handle<i64>> = Vec::new();
    for i in 0..CHUNKS {
        let ones = g.add_remote(("ones", i), (), &f.ones)?;
        level.push(g.add_remote(("sum-chunk", i), &ones, &f.sum_chunk)?);
    }
    let mut depth = 0;
    while level.len() > 1 {
        depth += 1;
        let mut next = Vec::new();
        for (i, group) in level.chunks(SPLIT_EVERY).enumerate() {
            let key = ("sum-aggregate", depth, i as i64);
            next.push(g.add_remote(key, group, &f.aggregate)?);
        }
        level = next;
    }
    Ok((g, level[0]))
}

/// Counts finished tasks per node.
#[derive(Clone, Default)]
struct PerNode(Arc<Mutex<BTreeMap<String, usize>>>);

impl Callback for PerNode {
    fn on_task_finish(&self, event: &TaskFinish<'_>) {
        let node = match event.worker {
            Worker::Remote { node, .. } => node.as_str().to_owned(),
            other => format!("{other} (not a cluster worker)"),
        };
        if let Ok(mut counts) = self.0.lock() {
            *counts.entry(node).or_default() += 1;
        }
    }
}

struct Args {
    slurm: bool,
    workers: usize,
    partition: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let usage = "usage: cluster --local|--slurm [--workers N] [--partition P]";
    let mut args = Args {
        slurm: false,
        workers: 2,
        partition: None,
    };
    let mut launcher = None;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--local" => launcher = Some(false),
            "--slurm" => launcher = Some(true),
            "--workers" => {
                args.workers = value("--workers")?
                    .parse()
                    .map_err(|e| format!("--workers: {e}"))?;
            }
            "--partition" => args.partition = Some(value("--partition")?),
            other => return Err(format!("unknown argument {other}; {usage}")),
        }
    }
    args.slurm = launcher.ok_or(usage)?;
    Ok(args)
}

fn main() -> Result<(), BoxError> {
    let (registry, fns) = registry()?;
    remote::init(&registry); // a worker serves here and never returns

    let args = parse_args()?;
    let builder = Cluster::builder().workers(args.workers);
    let cluster = if args.slurm {
        let mut slurm = Slurm::new().cpus_per_worker(1);
        if let Some(partition) = &args.partition {
            slurm = slurm.partition(partition);
        }
        builder.launcher(slurm).build()?
    } else {
        builder.launcher(Local::new()).build()?
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let start = Instant::now();
    runtime.block_on(cluster.wait_for_workers(args.workers, Duration::from_secs(120)))?;
    for w in cluster.status().workers {
        println!("joined: {} from {}", w.worker, w.peer);
    }
    println!(
        "{} workers connected in {:.2} s",
        args.workers,
        start.elapsed().as_secs_f64()
    );

    let scheduler = Scheduler::builder().executor(cluster.clone()).build()?;
    let (graph, total) = seed_sum(&fns)?;
    let per_node = PerNode::default();
    let options = ComputeOptions::new().callback(per_node.clone());
    let start = Instant::now();
    let sum = runtime.block_on(scheduler.compute_with(&graph, &total, options))?;
    println!(
        "da.ones(1000, chunks=2).sum() = {sum}: {} tasks in {:.1} ms",
        graph.len(),
        start.elapsed().as_secs_f64() * 1e3
    );
    let nodes: Vec<String> = per_node
        .0
        .lock()
        .map_err(|_| "the per-node counts were poisoned")?
        .iter()
        .map(|(node, n)| format!("{}: {n}", serde_json::Value::from(node.as_str())))
        .collect();
    println!(
        "{{\"sum\": {sum}, \"tasks\": {}, \"workers\": {}, \"nodes\": {{{}}}}}",
        graph.len(),
        args.workers,
        nodes.join(", ")
    );
    Ok(())
}
