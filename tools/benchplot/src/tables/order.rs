//! Ordering: taskloom's `order` against `dask.order`, on the benchmark graphs (the JSON
//! lines of the `order_pressure` example, `docs/bench/order-pressure-taskloom.jsonl`,
//! and of `scripts/dask_order_pressure.py`, `docs/bench/order-pressure-dask.jsonl`)
//! and on the corpus of real Dask graphs (`order_pressure --no-timing` over
//! `corpus/dask/*.json`, `docs/bench/corpus-order.jsonl`, against `dask.order`'s
//! pressure per hash seed in `corpus/dask.json`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::{Figure, data_error, jsonl, read};
use crate::Error;
use crate::markdown::{table, thousands};

const TASKLOOM: &str = "docs/bench/order-pressure-taskloom.jsonl";
const DASK: &str = "docs/bench/order-pressure-dask.jsonl";
const CORPUS: &str = "docs/bench/corpus-order.jsonl";
const MANIFEST: &str = "corpus/dask.json";

/// One line of either program (taskloom's carries the last two fields).
#[derive(Debug, Deserialize)]
struct Line {
    graph: String,
    tasks: u64,
    edges: u64,
    max_pressure: u64,
    order_ms: f64,
    /// Dask's: over how many hash seeds `max_pressure` is the best.
    seeds: Option<u32>,
    build_cull_order_ns_per_task: Option<f64>,
    fused_tasks: Option<u64>,
}

fn ms(x: f64) -> String {
    if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// `order-pressure.md`: max pressure, ordering time and what a computation pays
/// before its first task, per graph, both systems.
pub(crate) fn pressure(root: &Path) -> Result<Figure, Error> {
    let ours: Vec<Line> = jsonl(root, TASKLOOM)?;
    let dask: BTreeMap<String, Line> = jsonl::<Line>(root, DASK)?
        .into_iter()
        .map(|l| (l.graph.clone(), l))
        .collect();
    if ours.is_empty() {
        return Err(data_error(root, TASKLOOM, "no graph"));
    }
    let seeds = dask.values().filter_map(|l| l.seeds).max();
    let rows: Vec<Vec<String>> = ours
        .iter()
        .map(|t| {
            let d = dask.get(&t.graph);
            vec![
                t.graph.clone(),
                t.tasks.to_string(),
                t.edges.to_string(),
                t.max_pressure.to_string(),
                d.map_or("–".into(), |d| d.max_pressure.to_string()),
                ms(t.order_ms),
                d.map_or("–".into(), |d| ms(d.order_ms)),
                t.build_cull_order_ns_per_task
                    .map_or("–".into(), |n| format!("{n:.0}")),
                t.fused_tasks.map_or("–".into(), |n| n.to_string()),
            ]
        })
        .collect();
    let mut body = table(
        &[
            "graph",
            "tasks",
            "edges",
            "taskloom max pressure",
            "Dask max pressure",
            "taskloom order ms",
            "Dask order ms",
            "build+cull+order ns/task",
            "tasks after fuse",
        ],
        1,
        &rows,
    );
    body += &format!(
        "\nMax pressure: the most results one worker holds at once running that order (the \
         requested sinks not counted, as Dask counts). Dask's is its best over {} hash \
         seeds where it was run with several (one seed on the million-task graphs).\n",
        seeds.unwrap_or(1)
    );
    Ok(Figure {
        name: "order-pressure.md",
        sources: vec![TASKLOOM, DASK],
        body,
    })
}

#[derive(Debug, Deserialize)]
struct Manifest {
    graphs: Vec<ManifestGraph>,
}

#[derive(Debug, Deserialize)]
struct ManifestGraph {
    name: String,
    dask_max_pressure: u64,
    dask_max_pressure_worst: u64,
}

/// `corpus.md`: the real graphs where taskloom's max pressure and Dask's best seed's
/// differ (taskloom's in bold where it holds more), and the sums over all.
pub(crate) fn corpus(root: &Path) -> Result<Figure, Error> {
    let ours: BTreeMap<String, Line> = jsonl::<Line>(root, CORPUS)?
        .into_iter()
        .map(|l| (l.graph.clone(), l))
        .collect();
    let manifest: Manifest = serde_json::from_str(&read(root, MANIFEST)?)
        .map_err(|e| data_error(root, MANIFEST, e.to_string()))?;
    let (mut sum_ours, mut sum_dask, mut equal) = (0, 0, 0);
    let mut rows = Vec::new();
    for g in &manifest.graphs {
        let Some(t) = ours.get(&g.name) else {
            return Err(data_error(
                root,
                CORPUS,
                format!("no line for the corpus graph {}", g.name),
            ));
        };
        sum_ours += t.max_pressure;
        sum_dask += g.dask_max_pressure;
        if t.max_pressure == g.dask_max_pressure {
            equal += 1;
            continue;
        }
        let worse = t.max_pressure > g.dask_max_pressure;
        let bold = |s: String| if worse { format!("**{s}**") } else { s };
        rows.push(vec![
            bold(g.name.clone()),
            bold(t.max_pressure.to_string()),
            format!("{} ({})", g.dask_max_pressure, g.dask_max_pressure_worst),
        ]);
    }
    let mut body = table(&["graph", "taskloom", "Dask: best seed (worst)"], 1, &rows);
    body += &format!(
        "\nMax pressure where the two differ; equal on the {equal} others. Sum over the {} \
         graphs: taskloom {}, Dask {} (best seeds).\n",
        manifest.graphs.len(),
        thousands(sum_ours),
        thousands(sum_dask)
    );
    Ok(Figure {
        name: "corpus.md",
        sources: vec![CORPUS, MANIFEST],
        body,
    })
}
