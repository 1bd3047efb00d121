//! The seed's sum, `da.ones(1000, chunks=2).sum()`, on cluster workers: local
//! processes over loopback, or Slurm jobs.
//!
//! ```sh
//! cargo run --release --example cluster -- --local --workers 2 [--tls]
//! scripts/slurm-dev-cluster.sh start    # two Slurm nodes, n1 and n2, on this host
//! cargo run --release --example cluster -- --slurm --workers 2 [--partition ci] [--tls]
//! # The door's figures (JSON lines on standard output, for docs/bench/cluster-door.jsonl):
//! cargo run --release --example cluster -- --handshakes 5 --workers 4
//! cargo run --release --example cluster -- --flood idle|slow|garbage \
//!     [--flood-connections 500] [--flood-sources 1] [--rounds 3] [--tls] [--workers 2]
//! ```
//!
//! Every task is remote (a registered function: the 500 chunks of two ones, their
//! sums, and the tree of partial sums), so each runs on a worker; the workers are
//! this very program, started by the launcher with two variables set, connecting
//! back and proving they know the cluster's secret. The last line printed is one
//! JSON object: the sum, the number of tasks, the workers, and how many tasks ran on
//! each node (Slurm's node names, or the host name for `--local`). `--tls` makes the
//! workers use TLS (as they must off loopback).
//!
//! Two measurements of the cluster's door, each printing one JSON line per run:
//!
//! - `--handshakes R`: R rounds of a plain and a TLS cluster of `--workers` local
//!   workers, alternated; each line has the cluster's start (its certificate
//!   included) and every worker's handshake, from the accepted connection to its
//!   welcome.
//! - `--flood KIND`: R rounds (`--rounds`) of the seed sum on workers started by
//!   hand, alternately without and under a flood (`flood.rs`: idle, slow or garbage
//!   connections, reopened as they close, from `--flood-sources` loopback
//!   addresses); each line has how long the workers took to join and the median
//!   time of five computations.

#[path = "flood.rs"]
#[allow(dead_code)] // what the cluster's tests use of it too
mod flood;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flood::{Flood, FloodKind, loopback_sources};

use taskloom::callbacks::{Callback, TaskFinish};
use taskloom::cluster::{CLUSTER_ADDR_ENV, Cluster, ClusterBuilder, Local, SECRET_FILE_ENV, Slurm};
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

/// What to run.
enum Mode {
    /// The seed sum on local or Slurm workers.
    Run { slurm: bool },
    /// Handshake times, plain and TLS.
    Handshakes,
    /// The seed sum without and under a flood.
    Flood(FloodKind),
}

struct Args {
    mode: Mode,
    workers: usize,
    partition: Option<String>,
    tls: bool,
    rounds: usize,
    flood_connections: usize,
    flood_sources: usize,
}

fn parse_args() -> Result<Args, String> {
    let usage = "usage: cluster --local|--slurm [--workers N] [--partition P] [--tls] | \
                 --handshakes ROUNDS [--workers N] | --flood idle|slow|garbage \
                 [--flood-connections N] [--flood-sources N] [--rounds N] [--tls] [--workers N]";
    let mut args = Args {
        mode: Mode::Handshakes,
        workers: 2,
        partition: None,
        tls: false,
        rounds: 3,
        flood_connections: 500,
        flood_sources: 1,
    };
    let mut mode = None;
    let mut it = std::env::args().skip(1);
    let number = |name: &str, text: String| -> Result<usize, String> {
        text.parse().map_err(|e| format!("{name}: {e}"))
    };
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--local" => mode = Some(Mode::Run { slurm: false }),
            "--slurm" => mode = Some(Mode::Run { slurm: true }),
            "--handshakes" => {
                args.rounds = number("--handshakes", value("--handshakes")?)?;
                mode = Some(Mode::Handshakes);
            }
            "--flood" => {
                let kind = value("--flood")?;
                let kind = FloodKind::parse(&kind)
                    .ok_or(format!("--flood: {kind} is not idle, slow or garbage"))?;
                mode = Some(Mode::Flood(kind));
            }
            "--workers" => args.workers = number("--workers", value("--workers")?)?,
            "--rounds" => args.rounds = number("--rounds", value("--rounds")?)?,
            "--flood-connections" => {
                args.flood_connections =
                    number("--flood-connections", value("--flood-connections")?)?;
            }
            "--flood-sources" => {
                args.flood_sources = number("--flood-sources", value("--flood-sources")?)?;
            }
            "--partition" => args.partition = Some(value("--partition")?),
            "--tls" => args.tls = true,
            other => return Err(format!("unknown argument {other}; {usage}")),
        }
    }
    args.mode = mode.ok_or(usage)?;
    Ok(args)
}

fn main() -> Result<(), BoxError> {
    let (registry, fns) = registry()?;
    remote::init(&registry); // a worker serves here and never returns

    let args = parse_args()?;
    match args.mode {
        Mode::Run { slurm } => run(&args, slurm, &fns),
        Mode::Handshakes => handshakes(&args),
        Mode::Flood(kind) => flooded(&args, kind, &fns),
    }
}

/// A cluster builder with `--tls` applied.
fn builder(args: &Args) -> ClusterBuilder {
    let builder = Cluster::builder().workers(args.workers);
    if args.tls {
        builder.require_tls()
    } else {
        builder
    }
}

/// The seed sum on `--workers` local or Slurm workers.
fn run(args: &Args, slurm: bool, fns: &Fns) -> Result<(), BoxError> {
    let builder = builder(args);
    let cluster = if slurm {
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
    let (graph, total) = seed_sum(fns)?;
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

/// `--handshakes`: plain and TLS clusters of local workers, alternated; one line
/// per cluster with its start and its workers' handshakes, in milliseconds.
fn handshakes(args: &Args) -> Result<(), BoxError> {
    let runtime = tokio::runtime::Runtime::new()?;
    for round in 0..args.rounds {
        for tls in [false, true] {
            let start = Instant::now();
            let mut builder = Cluster::builder()
                .launcher(Local::new())
                .workers(args.workers);
            if tls {
                builder = builder.require_tls();
            }
            let cluster = builder.build()?;
            let build_ms = start.elapsed().as_secs_f64() * 1e3;
            runtime.block_on(cluster.wait_for_workers(args.workers, Duration::from_secs(120)))?;
            let handshake_ms: Vec<f64> = cluster
                .status()
                .workers
                .iter()
                .map(|w| w.handshake.as_secs_f64() * 1e3)
                .collect();
            println!(
                "{}",
                serde_json::json!({
                    "measure": "handshake",
                    "round": round,
                    "tls": tls,
                    "workers": args.workers,
                    "build_ms": build_ms,
                    "handshake_ms": handshake_ms,
                })
            );
        }
    }
    Ok(())
}

/// A worker started by hand for `cluster` (as Kubernetes or a shell would).
fn worker_by_hand(cluster: &Cluster) -> Result<Child, BoxError> {
    Ok(Command::new(std::env::current_exe()?)
        .env(CLUSTER_ADDR_ENV, cluster.addr().to_string())
        .env(SECRET_FILE_ENV, cluster.secret_file())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?)
}

/// `--flood`: the seed sum on workers started by hand, without and under a flood,
/// alternated; one line per run.
fn flooded(args: &Args, kind: FloodKind, fns: &Fns) -> Result<(), BoxError> {
    const COMPUTATIONS: usize = 5;
    let runtime = tokio::runtime::Runtime::new()?;
    let (graph, total) = seed_sum(fns)?;
    let sources = loopback_sources(args.flood_sources);
    for round in 0..args.rounds {
        for under in [false, true] {
            let cluster = builder(args).build()?;
            let flood = if under {
                let flood = Flood::start(cluster.addr(), kind, args.flood_connections, &sources)?;
                if !flood.wait_opened(args.flood_connections as u64, Duration::from_secs(60)) {
                    return Err(format!(
                        "the flood opened only {} connections in 60 s",
                        flood.opened()
                    )
                    .into());
                }
                Some(flood)
            } else {
                None
            };
            let start = Instant::now();
            let mut workers = Vec::new();
            for _ in 0..args.workers {
                workers.push(worker_by_hand(&cluster)?);
            }
            runtime.block_on(cluster.wait_for_workers(args.workers, Duration::from_secs(120)))?;
            let join_s = start.elapsed().as_secs_f64();
            let scheduler = Scheduler::builder().executor(cluster.clone()).build()?;
            let mut times = Vec::with_capacity(COMPUTATIONS);
            for _ in 0..COMPUTATIONS {
                let start = Instant::now();
                let sum = runtime.block_on(scheduler.compute(&graph, &total))?;
                times.push(start.elapsed().as_secs_f64());
                assert_eq!(sum, CHUNKS * CHUNK_LEN as i64);
            }
            times.sort_by(f64::total_cmp);
            let status = cluster.status();
            let refused: u64 = status.refused.values().sum();
            let (opened, most_open) = flood
                .as_ref()
                .map_or((0, 0), |f| (f.opened(), f.most_open()));
            println!(
                "{}",
                serde_json::json!({
                    "measure": "flood",
                    "round": round,
                    "flood": kind.name(),
                    "flooded": under,
                    "connections": args.flood_connections,
                    "sources": args.flood_sources,
                    "tls": args.tls,
                    "workers": args.workers,
                    "join_s": join_s,
                    "compute_s": times[COMPUTATIONS / 2],
                    "refused": refused,
                    "flood_opened": opened,
                    "flood_most_open": most_open,
                })
            );
            drop(flood);
            drop(scheduler);
            drop(cluster);
            for mut worker in workers {
                let _ = worker.wait();
            }
        }
    }
    Ok(())
}
