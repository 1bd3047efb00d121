//! What keeping results in the workers that made them saves: a map → map →
//! tree-reduce pipeline over chunks of floats, run with residency on and off.
//!
//! ```sh
//! cargo run --release --example resident -- --executor processes|cluster \
//!     [--workers N] [--mib M] [--chunks C] [--fuse]
//! ```
//!
//! Each of the `C` chunks (default 1,000) holds `M` MiB of `f64` (default 1) and is
//! made in a worker (`make`), then mapped twice (`add_one`, `double`), then reduced
//! to its sum (`partial`); the sums are added up in a tree of fan-in 8 (`combine`),
//! the shape of Dask's `(x + 1) * 2).sum(split_every=8)` before its graph
//! optimisation. Every task is remote. With residency on, chunks stay in the worker
//! that made them and only the sums travel; off, every chunk comes back to the
//! parent and goes out again. Chains are not fused by default, so that each step's
//! result is one of its own and the two modes compare residency alone; `--fuse` runs
//! each chunk's four steps as one call in one worker (then only the sums leave a
//! worker in either mode). The last two lines are one JSON object per mode:
//! `{"executor", "resident", "fused", "chunks", "mib", "workers", "bytes_produced",
//! "bytes_through_parent", "bytes_moved", "seconds"}` (bytes as encoded).
//! `scripts/dask_resident.py` runs the same pipeline on Dask's multiprocessing
//! scheduler.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use taskloom::callbacks::{Callback, FinishInfo};
use taskloom::cluster::{Cluster, Local};
use taskloom::inputs::Many;
use taskloom::process::ProcessPool;
use taskloom::remote::{self, Registry, Remote};
use taskloom::traffic::Traffic;
use taskloom::{ComputeOptions, Graph, Handle, Scheduler};

type BoxError = Box<dyn std::error::Error>;

/// Fan-in of the reduction tree (Dask's `split_every`).
const FAN_IN: usize = 8;

/// The pipeline's functions, registered by name in the parent and in every worker.
struct Fns {
    make: Remote<(u64, u64), Vec<f64>>,
    add_one: Remote<(Vec<f64>,), Vec<f64>>,
    double: Remote<(Vec<f64>,), Vec<f64>>,
    partial: Remote<(Vec<f64>,), f64>,
    combine: Remote<Many<f64>, f64>,
}

fn registry() -> Result<(Registry, Fns), BoxError> {
    let mut r = Registry::new();
    let fns = Fns {
        make: r.register("make", |i: &u64, len: &u64| {
            (0..*len)
                .map(|j| (i * len + j) as f64)
                .collect::<Vec<f64>>()
        })?,
        add_one: r.register("add_one", |x: &Vec<f64>| {
            x.iter().map(|v| v + 1.0).collect::<Vec<f64>>()
        })?,
        double: r.register("double", |x: &Vec<f64>| {
            x.iter().map(|v| v * 2.0).collect::<Vec<f64>>()
        })?,
        partial: r.register("partial", |x: &Vec<f64>| x.iter().sum::<f64>())?,
        combine: r.register("combine", |xs: &[&f64]| xs.iter().copied().sum::<f64>())?,
    };
    Ok((r, fns))
}

struct Args {
    executor: String,
    workers: usize,
    mib: f64,
    chunks: u64,
    fuse: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        executor: "processes".into(),
        workers: 2,
        mib: 1.0,
        chunks: 1000,
        fuse: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--executor" => args.executor = value("--executor")?,
            "--workers" => {
                args.workers = value("--workers")?
                    .parse()
                    .map_err(|e| format!("--workers: {e}"))?;
            }
            "--mib" => args.mib = value("--mib")?.parse().map_err(|e| format!("--mib: {e}"))?,
            "--chunks" => {
                args.chunks = value("--chunks")?
                    .parse()
                    .map_err(|e| format!("--chunks: {e}"))?;
            }
            "--fuse" => args.fuse = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if !["processes", "cluster"].contains(&args.executor.as_str()) {
        return Err(format!(
            "--executor {}: processes or cluster",
            args.executor
        ));
    }
    if args.workers == 0 || args.chunks == 0 || args.mib <= 0.0 {
        return Err("--workers, --chunks and --mib must be positive".into());
    }
    Ok(args)
}

/// The pipeline over `chunks` chunks of `len` floats; the expected total.
fn pipeline(f: &Fns, chunks: u64, len: u64) -> Result<(Graph, Handle<f64>, f64), BoxError> {
    let mut g = Graph::new();
    let len_h = g.add("len", (), move || len)?;
    let mut level = Vec::with_capacity(chunks as usize);
    for i in 0..chunks {
        let index = g.add(("index", i), (), move || i)?;
        let x = g.add_remote(("make", i), (&index, &len_h), &f.make)?;
        let y = g.add_remote(("add_one", i), &x, &f.add_one)?;
        let z = g.add_remote(("double", i), &y, &f.double)?;
        level.push(g.add_remote(("partial", i), &z, &f.partial)?);
    }
    let mut depth = 0_u64;
    while level.len() > 1 {
        depth += 1;
        level = level
            .chunks(FAN_IN)
            .enumerate()
            .map(|(i, group)| g.add_remote(("combine", depth, i as u64), group, &f.combine))
            .collect::<Result<_, _>>()?;
    }
    // Σ 2·(v + 1) over v = 0 .. chunks·len - 1.
    let n = (chunks * len) as f64;
    let expected = (n - 1.0) * n + 2.0 * n;
    Ok((g, level[0], expected))
}

/// The traffic of the last computation that finished.
#[derive(Default)]
struct LastTraffic(Mutex<Traffic>);

impl Callback for LastTraffic {
    fn task_events(&self) -> bool {
        false // only the end's figures: chains stay fused
    }

    fn on_finish(&self, info: &FinishInfo) {
        if let Ok(mut t) = self.0.lock() {
            *t = info.traffic;
        }
    }
}

/// A scheduler on `workers` workers of `executor`, residency on or off; the cluster
/// handle is kept alive with it.
fn scheduler(
    rt: &tokio::runtime::Runtime,
    executor: &str,
    workers: usize,
    resident: bool,
) -> Result<(Scheduler, Option<Cluster>), BoxError> {
    if executor == "cluster" {
        let cluster = Cluster::builder()
            .workers(workers)
            .resident(resident)
            .max_frame_length(1 << 30)
            .launcher(Local::new())
            .build()?;
        rt.block_on(cluster.wait_for_workers(workers, Duration::from_secs(120)))?;
        let s = Scheduler::builder().executor(cluster.clone()).build()?;
        Ok((s, Some(cluster)))
    } else {
        let pool = ProcessPool::builder()
            .workers(workers)
            .resident(resident)
            .max_frame_length(1 << 30)
            .build()?;
        Ok((Scheduler::builder().executor(pool).build()?, None))
    }
}

fn main() -> Result<(), BoxError> {
    let (registry, fns) = registry()?;
    remote::init(&registry); // in a worker, serves and never returns
    let args = parse_args().map_err(|e| {
        format!(
            "{e}\nusage: resident --executor processes|cluster [--workers N] [--mib M] [--chunks C] [--fuse]"
        )
    })?;
    let len = ((args.mib * 1024.0 * 1024.0) / 8.0).round().max(1.0) as u64;
    let (g, total, expected) = pipeline(&fns, args.chunks, len)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut lines = Vec::new();
    for resident in [true, false] {
        let (s, _cluster) = scheduler(&rt, &args.executor, args.workers, resident)?;
        let traffic = Arc::new(LastTraffic::default());
        let options = ComputeOptions::new()
            .fuse(args.fuse)
            .shared_callback(traffic.clone());
        let started = Instant::now();
        let out = rt.block_on(s.compute_with(&g, &total, options))?;
        let seconds = started.elapsed().as_secs_f64();
        if (out - expected).abs() > expected.abs() * 1e-9 {
            return Err(format!("resident {resident}: total {out}, expected {expected}").into());
        }
        let t = *traffic.0.lock().map_err(|_| "poisoned")?;
        eprintln!(
            "resident {resident}: {seconds:.2} s, {:.1} MiB produced, {:.1} MiB through the \
             parent ({:.2} %), {:.1} MiB moved between workers",
            t.produced as f64 / 1048576.0,
            t.through_parent() as f64 / 1048576.0,
            100.0 * t.through_parent() as f64 / t.produced.max(1) as f64,
            t.moved as f64 / 1048576.0,
        );
        lines.push(format!(
            "{{\"executor\": \"{}\", \"resident\": {resident}, \"fused\": {}, \"chunks\": {}, \
             \"mib\": {}, \
             \"workers\": {}, \"bytes_produced\": {}, \"bytes_through_parent\": {}, \
             \"bytes_moved\": {}, \"seconds\": {seconds:.3}}}",
            args.executor,
            args.fuse,
            args.chunks,
            args.mib,
            args.workers,
            t.produced,
            t.through_parent(),
            t.moved,
        ));
    }
    for line in lines {
        println!("{line}");
    }
    Ok(())
}
