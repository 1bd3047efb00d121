//! Memory pressure and run time of taskloom's `order` on graphs in the JSON graph
//! format; the Rust half of `scripts/dask_order_pressure.py`.
//!
//! ```sh
//! cargo run --release -p taskloom-core --features serde --example order_pressure -- \
//!     benches/graphs/*.json
//! # side by side with Dask (a table in Markdown):
//! scripts/py scripts/dask_order_pressure.py --seeds 5 benches/graphs/*.json > /tmp/dask.jsonl
//! cargo run --release -p taskloom-core --features serde --example order_pressure -- \
//!     --dask /tmp/dask.jsonl benches/graphs/*.json
//! ```
//!
//! Besides files, `gen:chain_1m` (one chain of a million tasks) and `gen:wide_1m`
//! (1,000 sums of 999 leaves each) are generated, as in the `core_state` benchmark.
//!
//! For each graph: cull to its targets, time `order` (median of several runs), then
//! run `order::diagnostics` on that order. Also timed: what a computation pays before
//! its first task runs (building the graph by id, culling and ordering it, per
//! task), and counted: the tasks left after `fuse`. Prints one JSON line per graph
//! in the schema of the Python script (`graph`, `tasks`, `edges`, `max_pressure`,
//! `order_ms`, `ms_per_100k`, plus `build_cull_order_ns_per_task`, `fused_tasks`
//! and `one_worker_held`, the most results held when one worker drives a `State`,
//! counted as a run counts live results: the static order's pressure plus the result
//! being made, and requested results); with `--dask FILE` (that script's output) it
//! prints a Markdown table of both instead. `index.json` and files that are not graph files are
//! skipped. With `--no-timing` nothing is timed (the time fields are 0): the pressure
//! alone, at once, as `scripts/memory_compare.py` needs it.

use std::collections::HashMap;
use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use taskloom_core::file::{LoadedGraph, load_json};
use taskloom_core::order::diagnostics;
use taskloom_core::{Graph, Key, State, Status, TaskId, cull, fuse, order};

/// One graph's measurement.
struct Row {
    graph: String,
    tasks: usize,
    edges: usize,
    max_pressure: u32,
    order_ms: f64,
    /// Building the graph by id, culling and ordering it, per task.
    build_cull_order_ns: f64,
    /// Tasks after linear fusion.
    fused_tasks: usize,
    /// The most results held when one worker drives a [`State`], counted as a run
    /// counts live results.
    one_worker_held: usize,
}

/// Drives a [`State`] with one worker: each popped task runs and finishes before the
/// next is popped. Returns the most results held at once, counted the moment a task
/// finishes, before the results it released are dropped (its own result, its inputs
/// and every requested result included): what a live-buffer gauge sees when tasks
/// run inline, as with the `current-thread` executor.
fn one_worker(g: &Graph<()>, targets: &[TaskId]) -> Result<usize, Box<dyn Error>> {
    let mut state = State::new(g, targets)?;
    let mut max = 0;
    while let Some(task) = state.pop_ready() {
        state.finish(task)?;
        max = max.max(state.counts().held);
        while state.pop_release().is_some() {}
    }
    if state.status() != Status::Done {
        return Err(format!("the computation ended as {:?}", state.status()).into());
    }
    Ok(max)
}

/// Median of `f`'s timings in milliseconds: at least 5 runs, more while under ~1 s.
/// What `f` returns is dropped after its timing stops, as a benchmark harness does.
fn median_ms<R>(mut f: impl FnMut() -> R) -> f64 {
    let mut times = Vec::new();
    let budget = Instant::now();
    while times.len() < 5 || (times.len() < 50 && budget.elapsed() < Duration::from_secs(1)) {
        let start = Instant::now();
        let out = f();
        times.push(start.elapsed().as_secs_f64() * 1e3);
        drop(out);
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// The generated graphs of the `core_state` benchmark.
fn generate(name: &str) -> Result<LoadedGraph, Box<dyn Error>> {
    let mut graph = Graph::new();
    let mut targets = Vec::new();
    match name {
        "chain_1m" => {
            let chain: Arc<str> = "chain".into();
            let mut prev: Option<TaskId> = None;
            for i in 0..1_000_000 {
                let deps: Vec<TaskId> = prev.into_iter().collect();
                prev = Some(graph.push(Key::tuple(chain.clone(), [i]), &deps, ())?);
            }
            targets.extend(prev);
        }
        "wide_1m" => {
            let (leaf, sum): (Arc<str>, Arc<str>) = ("leaf".into(), "sum".into());
            for g in 0..1000 {
                let leaves = (0..999)
                    .map(|l| graph.push(Key::tuple(leaf.clone(), [g, l]), &[], ()))
                    .collect::<Result<Vec<_>, _>>()?;
                targets.push(graph.push(Key::tuple(sum.clone(), [g]), &leaves, ())?);
            }
        }
        _ => return Err(format!("unknown generated graph `{name}`").into()),
    }
    Ok(LoadedGraph {
        name: name.to_string(),
        graph,
        targets,
    })
}

fn measure(loaded: LoadedGraph, timing: bool) -> Result<Row, Box<dyn Error>> {
    let g = &loaded.graph;
    let culled = cull(g, &loaded.targets)?;
    let priorities = order(g, &culled);
    let order_ms = if timing {
        median_ms(|| order(g, &culled))
    } else {
        0.0
    };
    // What a computation pays before its first task runs: the graph built by id (as
    // the runtime's typed graphs are), culled and ordered.
    let build_cull_order_ms = if timing {
        median_ms(|| {
            let mut copy = Graph::with_capacity(g.len(), g.edge_count());
            for id in g.ids() {
                copy.push(g.key(id).clone(), g.deps(id), ())
                    .expect("a copy of a valid graph is valid");
            }
            let culled = cull(&copy, &loaded.targets).expect("same targets");
            let priorities = order(&copy, &culled);
            (copy, culled, priorities)
        })
    } else {
        0.0
    };
    let d = diagnostics(g, &culled, &priorities);
    Ok(Row {
        graph: loaded.name,
        tasks: g.len(),
        edges: g.edge_count(),
        max_pressure: d.max_pressure,
        order_ms,
        build_cull_order_ns: build_cull_order_ms * 1e6 / g.len().max(1) as f64,
        fused_tasks: fuse(g, &loaded.targets)?.graph().len(),
        one_worker_held: one_worker(g, &loaded.targets)?,
    })
}

/// `(max_pressure, order_ms)` by graph name, from the Python script's JSON lines.
fn read_dask(path: &str) -> Result<HashMap<String, (u64, f64)>, Box<dyn Error>> {
    let mut out = HashMap::new();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("{path}: {e}"))?;
        let field = |k: &str| {
            v.get(k)
                .ok_or_else(|| format!("{path}: no `{k}` in {line}"))
        };
        let name = field("graph")?.as_str().unwrap_or_default().to_string();
        let pressure = field("max_pressure")?.as_u64().unwrap_or_default();
        let ms = field("order_ms")?.as_f64().unwrap_or_default();
        out.insert(name, (pressure, ms));
    }
    Ok(out)
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let mut dask = None;
    let mut timing = true;
    let mut files = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--dask" => dask = Some(read_dask(&args.next().ok_or("--dask needs a file")?)?),
            "--no-timing" => timing = false,
            _ => files.push(arg),
        }
    }
    if files.is_empty() {
        return Err("usage: order_pressure [--dask DASK.jsonl] [--no-timing] GRAPH.json...".into());
    }
    let mut rows = Vec::new();
    for path in &files {
        let loaded = match path.strip_prefix("gen:") {
            Some(name) => generate(name)?,
            None => {
                let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
                if !text.contains("\"tasks\"")
                    || path.ends_with("/index.json")
                    || path == "index.json"
                {
                    continue;
                }
                load_json(&text).map_err(|e| format!("{path}: {e}"))?
            }
        };
        let row = measure(loaded, timing)?;
        if dask.is_none() {
            println!(
                "{{\"system\": \"taskloom\", \"graph\": \"{}\", \"tasks\": {}, \"edges\": {}, \
                 \"max_pressure\": {}, \"order_ms\": {:.4}, \"ms_per_100k\": {:.3}, \
                 \"build_cull_order_ns_per_task\": {:.1}, \"fused_tasks\": {}, \
                 \"one_worker_held\": {}}}",
                row.graph,
                row.tasks,
                row.edges,
                row.max_pressure,
                row.order_ms,
                row.order_ms / row.tasks.max(1) as f64 * 1e5,
                row.build_cull_order_ns,
                row.fused_tasks,
                row.one_worker_held
            );
        }
        rows.push(row);
    }
    if let Some(dask) = dask {
        println!(
            "| graph | tasks | edges | taskloom max pressure | Dask max pressure \
             | taskloom order ms | Dask order ms | build+cull+order ns/task | tasks after fuse |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for r in &rows {
            let (dp, dms) = match dask.get(&r.graph) {
                Some((p, ms)) => (p.to_string(), format!("{ms:.1}")),
                None => ("–".into(), "–".into()),
            };
            println!(
                "| {} | {} | {} | {} | {} | {:.2} | {} | {:.0} | {} |",
                r.graph,
                r.tasks,
                r.edges,
                r.max_pressure,
                dp,
                r.order_ms,
                dms,
                r.build_cull_order_ns,
                r.fused_tasks
            );
        }
    }
    Ok(())
}
