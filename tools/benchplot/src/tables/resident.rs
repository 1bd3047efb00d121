//! Data where it was made: the `resident` example's JSON lines (residency on and off,
//! per executor, fused or not) and `scripts/dask_resident.py`'s, in
//! `docs/bench/resident.jsonl`.

use std::path::Path;

use serde::Deserialize;

use super::{Figure, data_error, jsonl};
use crate::Error;
use crate::markdown::{table, thousands};

const DATA: &str = "docs/bench/resident.jsonl";

#[derive(Debug, Deserialize)]
struct Run {
    executor: String,
    /// taskloom's lines: results kept in the worker that made them, or not.
    resident: Option<bool>,
    /// taskloom's lines: chains of remote tasks run as one call.
    fused: Option<bool>,
    /// Dask's lines: `optimize_graph`.
    optimize: Option<bool>,
    workers: u32,
    bytes_produced: u64,
    /// taskloom's lines only: Dask routes every result through the parent.
    bytes_through_parent: Option<u64>,
    seconds: f64,
}

/// A percentage: whole above 1 %, four decimals below (a few bytes in gigabytes).
fn share(percent: f64) -> String {
    if percent >= 1.0 {
        format!("{percent:.0} %")
    } else {
        format!("{percent:.4} %")
    }
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// `resident.md`: bytes through the parent and time, residency on and off.
pub(crate) fn figure(root: &Path) -> Result<Figure, Error> {
    let runs: Vec<Run> = jsonl(root, DATA)?;
    if runs.is_empty() {
        return Err(data_error(root, DATA, "no run"));
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| match (r.resident, r.bytes_through_parent) {
            (Some(resident), Some(through)) => vec![
                r.executor.clone(),
                if resident { "on" } else { "off" }.into(),
                yes(r.fused.unwrap_or(false)).into(),
                thousands(r.bytes_produced),
                thousands(through),
                share(through as f64 / r.bytes_produced.max(1) as f64 * 100.0),
                format!("{:.2}", r.seconds),
            ],
            _ => vec![
                format!(
                    "Dask `{}`{}",
                    match r.executor.as_str() {
                        "dask-processes" => "multiprocessing",
                        other => other,
                    },
                    if r.optimize == Some(true) {
                        ", `optimize_graph=True`"
                    } else {
                        ""
                    }
                ),
                "–".into(),
                "–".into(),
                thousands(r.bytes_produced),
                "all of it".into(),
                "–".into(),
                format!("{:.2}", r.seconds),
            ],
        })
        .collect();
    let mut body = table(
        &[
            "executor",
            "resident",
            "fused",
            "bytes produced",
            "bytes through the parent",
            "share",
            "seconds",
        ],
        3,
        &rows,
    );
    let workers = runs.iter().map(|r| r.workers).max().unwrap_or(0);
    body += &format!(
        "\nOne run each, {workers} workers (`cluster`: local workers over TCP); bytes are \
         encoded sizes, and \"produced\" counts every step's result.\n"
    );
    Ok(Figure {
        name: "resident.md",
        sources: vec![DATA],
        body,
    })
}
