//! What recording a run report costs: the `report` example's `--cost` lines (the
//! seed's sum on threads plain, with a callback that only asks for task events, and
//! with a `Report` callback, medians of rounds run alternately), in `docs/bench/report-cost.jsonl`.

use std::path::Path;

use serde::Deserialize;

use super::{Figure, data_error, jsonl};
use crate::Error;
use crate::markdown::table;

const DATA: &str = "docs/bench/report-cost.jsonl";

#[derive(Debug, Deserialize)]
struct Run {
    graph: String,
    tasks: u64,
    executor: String,
    workers: u32,
    rounds: u64,
    plain_ms: f64,
    events_ms: f64,
    report_ms: f64,
    overhead_percent: f64,
}

/// `report-cost.md`: milliseconds with and without recording a report.
pub(crate) fn report_cost(root: &Path) -> Result<Figure, Error> {
    let runs: Vec<Run> = jsonl(root, DATA)?;
    if runs.is_empty() {
        return Err(data_error(root, DATA, "no run"));
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                r.graph.clone(),
                r.tasks.to_string(),
                format!("{} ({})", r.executor, r.workers),
                r.rounds.to_string(),
                format!("{:.3}", r.plain_ms),
                format!("{:.3}", r.events_ms),
                format!("{:.3}", r.report_ms),
                format!("{:+.1} %", r.overhead_percent),
            ]
        })
        .collect();
    let mut body = table(
        &[
            "graph",
            "tasks",
            "executor (workers)",
            "rounds",
            "ms, plain",
            "ms, with task events",
            "ms, recording a report",
            "cost",
        ],
        1,
        &rows,
    );
    body += "\nMedians of the rounds, each running the three ways in a rotated order; \
             \"with task events\": a callback that asks for them and does nothing (the \
             scheduling loop then times every task); measured \
             by `cargo run --release --example report -- --cost 400 --json \
             docs/bench/report-cost.jsonl`.\n";
    Ok(Figure {
        name: "report-cost.md",
        sources: vec![DATA],
        body,
    })
}
