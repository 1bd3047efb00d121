//! The cluster's door: what TLS costs per task (`docs/bench/cluster-tls.jsonl`, the
//! `overhead` example's lines for `processes`, `cluster` and `cluster-tls`,
//! alternated), and the handshakes and floods the `cluster` example measures
//! (`docs/bench/cluster-door.jsonl`: `--handshakes` and `--flood` lines).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::{Figure, data_error, jsonl};
use crate::markdown::{median, table};
use crate::{Error, Measurement};

const TLS: &str = "docs/bench/cluster-tls.jsonl";
const DOOR: &str = "docs/bench/cluster-door.jsonl";

/// `cluster-tls.md`: µs per task of the process pool, the plain cluster and the TLS
/// cluster, the median of the runs of each, per graph.
pub(crate) fn tls(root: &Path) -> Result<Figure, Error> {
    let data: Vec<Measurement> = jsonl(root, TLS)?;
    let executors = ["processes", "cluster", "cluster-tls"];
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
        let mut medians = Vec::new();
        for e in executors {
            let Some(r) = runs.get(&(g, e)) else { break };
            counts.push(r.len());
            medians.extend(median(r.iter().copied()));
        }
        let [p, c, t] = medians[..] else { continue };
        rows.push(vec![
            g.to_owned(),
            format!("{p:.2}"),
            format!("{c:.2}"),
            format!("{t:.2}"),
            format!("{:.2}", t / p),
            format!("{:.2}", t / c),
        ]);
    }
    if rows.is_empty() {
        return Err(data_error(
            root,
            TLS,
            "no graph measured on processes, cluster and cluster-tls",
        ));
    }
    let workers = data.iter().map(|m| m.workers).max().unwrap_or(0);
    let mut body = table(
        &[
            "graph",
            "processes µs/task",
            "cluster µs/task",
            "cluster TLS µs/task",
            "TLS / processes",
            "TLS / plain",
        ],
        1,
        &rows,
    );
    body += &format!(
        "\nMedians of {} alternating runs of each executor (`overhead --executor processes`, \
         `cluster` and `cluster-tls`, {workers} workers).\n",
        span(&counts)
    );
    Ok(Figure {
        name: "cluster-tls.md",
        sources: vec![TLS],
        body,
    })
}

/// "3", or "3–5" when the counts differ.
fn span(counts: &[usize]) -> String {
    let lo = counts.iter().min().copied().unwrap_or(0);
    let hi = counts.iter().max().copied().unwrap_or(0);
    if lo == hi {
        lo.to_string()
    } else {
        format!("{lo}–{hi}")
    }
}

/// One line of the `cluster` example's door measurements.
#[derive(Debug, Deserialize)]
#[serde(tag = "measure", rename_all = "lowercase")]
enum Line {
    /// `--handshakes`: one cluster's start and its workers' handshakes.
    Handshake {
        tls: bool,
        build_ms: f64,
        handshake_ms: Vec<f64>,
    },
    /// `--flood`: one run of the seed sum, without or under a flood.
    Flood {
        flood: String,
        flooded: bool,
        connections: u64,
        sources: u64,
        tls: bool,
        join_s: f64,
        compute_s: f64,
    },
}

/// `cluster-door.md`: handshakes plain and TLS, and the seed sum under floods.
pub(crate) fn door(root: &Path) -> Result<Figure, Error> {
    let data: Vec<Line> = jsonl(root, DOOR)?;
    let mut builds: BTreeMap<bool, Vec<f64>> = BTreeMap::new();
    let mut shakes: BTreeMap<bool, Vec<f64>> = BTreeMap::new();
    // (kind, connections, sources, tls) -> (unflooded, flooded) runs of (join, compute)
    type Runs = (Vec<(f64, f64)>, Vec<(f64, f64)>);
    let mut floods: BTreeMap<(String, u64, u64, bool), Runs> = BTreeMap::new();
    for line in &data {
        match line {
            Line::Handshake {
                tls,
                build_ms,
                handshake_ms,
            } => {
                builds.entry(*tls).or_default().push(*build_ms);
                shakes.entry(*tls).or_default().extend(handshake_ms);
            }
            Line::Flood {
                flood,
                flooded,
                connections,
                sources,
                tls,
                join_s,
                compute_s,
            } => {
                let runs = floods
                    .entry((flood.clone(), *connections, *sources, *tls))
                    .or_default();
                let side = if *flooded { &mut runs.1 } else { &mut runs.0 };
                side.push((*join_s, *compute_s));
            }
        }
    }
    if shakes.is_empty() || floods.is_empty() {
        return Err(data_error(
            root,
            DOOR,
            "needs `--handshakes` lines and `--flood` lines",
        ));
    }
    let ms = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.1}"));
    let rows: Vec<Vec<String>> = [false, true]
        .iter()
        .map(|tls| {
            let shake = shakes.get(tls).map(Vec::as_slice).unwrap_or_default();
            let build = builds.get(tls).map(Vec::as_slice).unwrap_or_default();
            vec![
                if *tls { "TLS" } else { "plain TCP" }.to_owned(),
                ms(median(build.iter().copied())),
                ms(median(shake.iter().copied())),
                ms(shake.iter().copied().reduce(f64::max)),
                shake.len().to_string(),
            ]
        })
        .collect();
    let mut body = String::from("Handshakes on loopback (`cluster --handshakes`):\n\n");
    body += &table(
        &[
            "transport",
            "cluster start ms (median)",
            "handshake ms (median)",
            "handshake ms (max)",
            "handshakes",
        ],
        1,
        &rows,
    );
    body += "\nA handshake runs from the accepted connection to the worker's welcome; the \
             cluster's start includes making its certificate.\n\n";
    let rows: Vec<Vec<String>> = floods
        .iter()
        .map(|((kind, connections, sources, tls), (plain, flooded))| {
            let med =
                |runs: &[(f64, f64)], pick: fn(&(f64, f64)) -> f64| median(runs.iter().map(pick));
            let join = |runs: &[(f64, f64)]| ms(med(runs, |r| r.0).map(|s| s * 1e3));
            let compute = |runs: &[(f64, f64)]| ms(med(runs, |r| r.1).map(|s| s * 1e3));
            let ratio = match (med(flooded, |r| r.1), med(plain, |r| r.1)) {
                (Some(f), Some(p)) if p > 0.0 => format!("{:.2}", f / p),
                _ => "–".into(),
            };
            vec![
                kind.clone(),
                connections.to_string(),
                sources.to_string(),
                if *tls { "TLS" } else { "plain" }.to_owned(),
                join(plain),
                join(flooded),
                compute(plain),
                compute(flooded),
                ratio,
                format!("{}/{}", plain.len(), flooded.len()),
            ]
        })
        .collect();
    body += "The seed sum on two workers started by hand, without and under a flood \
             (`cluster --flood`):\n\n";
    body += &table(
        &[
            "flood",
            "connections",
            "sources",
            "transport",
            "join ms",
            "join ms, flooded",
            "compute ms",
            "compute ms, flooded",
            "flooded / not",
            "runs",
        ],
        1,
        &rows,
    );
    body += "\nMedians over alternating runs without and under the flood; each run's compute \
             time is the median of five computations.\n";
    Ok(Figure {
        name: "cluster-door.md",
        sources: vec![DOOR],
        body,
    })
}
