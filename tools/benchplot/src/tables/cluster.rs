//! The cluster's figures: against Dask's schedulers (`docs/bench/cluster-compare.jsonl`,
//! compare.py's pairs), against the process pool (`docs/bench/cluster-overhead.jsonl`,
//! the `overhead` example's lines), and the Slurm example's tasks per node
//! (`docs/bench/cluster-slurm.jsonl`, the last line the `cluster` example prints).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::overhead::{Pair, pairs};
use super::{Figure, data_error, jsonl};
use crate::markdown::{median, table};
use crate::{Error, Measurement};

const COMPARE: &str = "docs/bench/cluster-compare.jsonl";
const OVERHEAD: &str = "docs/bench/cluster-overhead.jsonl";
const SLURM: &str = "docs/bench/cluster-slurm.jsonl";

/// `cluster-compare.md`: the process pool and the cluster against Dask's
/// multiprocessing and distributed schedulers.
pub(crate) fn compare(root: &Path) -> Result<Figure, Error> {
    let data: Vec<Pair> = jsonl(root, COMPARE)?;
    if data.is_empty() {
        return Err(data_error(root, COMPARE, "no measurement"));
    }
    Ok(Figure {
        name: "cluster-compare.md",
        sources: vec![COMPARE],
        body: pairs(&data)
            + "\nOne run of `scripts/compare.py --executors processes,cluster`, 2 workers.\n",
    })
}

/// `cluster-overhead.md`: the cluster's µs per task against the process pool's, the
/// median of the runs of each (alternated by the measurement), per graph.
pub(crate) fn overhead(root: &Path) -> Result<Figure, Error> {
    let data: Vec<Measurement> = jsonl(root, OVERHEAD)?;
    let mut graphs: Vec<&str> = Vec::new();
    let mut runs: BTreeMap<(&str, &str), Vec<f64>> = BTreeMap::new();
    for m in &data {
        if !graphs.contains(&m.graph.as_str()) {
            graphs.push(&m.graph);
        }
        runs.entry((m.graph.as_str(), m.executor.as_str()))
            .or_default()
            .push(m.us_per_task);
    }
    let mut rows = Vec::new();
    let mut counts = Vec::new();
    for g in graphs {
        let (Some(p), Some(c)) = (runs.get(&(g, "processes")), runs.get(&(g, "cluster"))) else {
            continue;
        };
        counts.extend([p.len(), c.len()]);
        let (Some(p), Some(c)) = (median(p.iter().copied()), median(c.iter().copied())) else {
            continue;
        };
        rows.push(vec![
            g.to_owned(),
            format!("{p:.2}"),
            format!("{c:.2}"),
            format!("{:.2}", c / p),
        ]);
    }
    if rows.is_empty() {
        return Err(data_error(
            root,
            OVERHEAD,
            "no graph measured on both processes and cluster",
        ));
    }
    let workers = data.iter().map(|m| m.workers).max().unwrap_or(0);
    let (lo, hi) = (
        counts.iter().min().copied().unwrap_or(0),
        counts.iter().max().copied().unwrap_or(0),
    );
    let n = if lo == hi {
        lo.to_string()
    } else {
        format!("{lo}–{hi}")
    };
    let mut body = table(
        &[
            "graph",
            "processes µs/task",
            "cluster µs/task",
            "cluster / processes",
        ],
        1,
        &rows,
    );
    body += &format!(
        "\nMedians of {n} alternating runs of each executor (`overhead --executor processes` \
         and `--executor cluster`, {workers} workers).\n"
    );
    Ok(Figure {
        name: "cluster-overhead.md",
        sources: vec![OVERHEAD],
        body,
    })
}

/// The `cluster` example's summary line.
#[derive(Debug, Deserialize)]
struct Summary {
    sum: f64,
    tasks: u64,
    workers: u32,
    nodes: BTreeMap<String, u64>,
}

/// `cluster-slurm.md`: which node ran how many tasks, per run of the Slurm example.
pub(crate) fn slurm(root: &Path) -> Result<Figure, Error> {
    let data: Vec<Summary> = jsonl(root, SLURM)?;
    if data.is_empty() {
        return Err(data_error(root, SLURM, "no run"));
    }
    let mut nodes: Vec<&str> = data
        .iter()
        .flat_map(|s| s.nodes.keys().map(String::as_str))
        .collect();
    nodes.sort_unstable();
    nodes.dedup();
    let mut head = vec!["run", "sum", "tasks", "workers"];
    let labels: Vec<String> = nodes.iter().map(|n| format!("tasks on {n}")).collect();
    head.extend(labels.iter().map(String::as_str));
    let rows: Vec<Vec<String>> = data
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut row = vec![
                (i + 1).to_string(),
                s.sum.to_string(),
                s.tasks.to_string(),
                s.workers.to_string(),
            ];
            row.extend(
                nodes
                    .iter()
                    .map(|n| s.nodes.get(*n).map_or("–".into(), u64::to_string)),
            );
            row
        })
        .collect();
    let mut body = table(&head, 1, &rows);
    body += "\n`cargo run --release --example cluster -- --slurm --workers 2` on the two-node \
             dev cluster (`scripts/slurm-dev-cluster.sh`); the split between the nodes \
             changes from run to run.\n";
    Ok(Figure {
        name: "cluster-slurm.md",
        sources: vec![SLURM],
        body,
    })
}
