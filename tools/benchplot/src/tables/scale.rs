//! Cost per task as graphs grow to millions of tasks: the `scale` example's lines
//! (`docs/bench/scale.jsonl`, one process per shape so each peak RSS is its own).
//!
//! Per executor and shape family (`chains`, `tree`), each size's µs per task against
//! the family's smallest, which the target holds within 1.5× at a million tasks; and
//! the scheduler's own memory per task: core's `State`, the core graph's arrays, and
//! the peak RSS of one building and computation above the RSS before it.

use std::path::Path;

use serde::Deserialize;

use super::{Figure, data_error, jsonl};
use crate::Error;
use crate::markdown::{table, thousands};

const SCALE: &str = "docs/bench/scale.jsonl";
/// The largest size may cost at most this much more per task than the smallest.
const TARGET: f64 = 1.5;

/// One line of the `scale` example.
#[derive(Debug, Clone, Deserialize)]
struct Line {
    system: Option<String>,
    shape: String,
    executor: String,
    workers: Option<u32>,
    tasks: u64,
    edges: u64,
    us_per_task: f64,
    state_bytes: u64,
    graph_bytes: u64,
    base_rss_bytes: Option<u64>,
    peak_rss_bytes: Option<u64>,
    /// The 1-minute load average when the line was measured, if the command that ran
    /// it recorded it.
    load: Option<f64>,
}

impl Line {
    /// `chains` or `tree`.
    fn family(&self) -> &str {
        self.shape.split(':').next().unwrap_or(&self.shape)
    }
}

/// `scale.md`: every shape on every executor, then the target per family.
pub(crate) fn figure(root: &Path) -> Result<Figure, Error> {
    let data: Vec<Line> = jsonl(root, SCALE)?;
    if data.is_empty() {
        return Err(data_error(root, SCALE, "no measurement"));
    }
    let per = |bytes: u64, n: u64| format!("{:.1}", bytes as f64 / n.max(1) as f64);
    let mut rows = Vec::new();
    let mut targets = Vec::new();
    let mut executors: Vec<&str> = data.iter().map(|l| l.executor.as_str()).collect();
    executors.dedup();
    for executor in executors {
        let mut families: Vec<&str> = data
            .iter()
            .filter(|l| l.executor == executor)
            .map(Line::family)
            .collect();
        families.sort_unstable();
        families.dedup();
        for family in families {
            let mut of: Vec<&Line> = data
                .iter()
                .filter(|l| l.executor == executor && l.family() == family)
                .collect();
            of.sort_by_key(|l| l.tasks);
            let (Some(small), Some(large)) = (of.first(), of.last()) else {
                continue;
            };
            for l in &of {
                let rss = match (l.base_rss_bytes, l.peak_rss_bytes) {
                    (Some(b), Some(p)) if p > b => per(p - b, l.tasks),
                    _ => "–".into(),
                };
                rows.push(vec![
                    format!("`{}`", l.shape),
                    l.executor.clone(),
                    thousands(l.tasks),
                    thousands(l.edges),
                    format!("{:.3}", l.us_per_task),
                    format!("{:.2}×", l.us_per_task / small.us_per_task),
                    per(l.state_bytes, l.tasks),
                    per(l.graph_bytes, l.tasks),
                    rss,
                ]);
            }
            let ratio = large.us_per_task / small.us_per_task;
            targets.push(format!(
                "- {executor}, {family}: {} tasks cost {ratio:.2}× per task what {} cost \
                 (target ≤ {TARGET}×){}.",
                thousands(large.tasks),
                thousands(small.tasks),
                if ratio <= TARGET { "" } else { ": missed" }
            ));
        }
    }
    let mut body = table(
        &[
            "shape",
            "executor",
            "tasks",
            "edges",
            "µs/task",
            "× smallest",
            "State B/task",
            "core graph B/task",
            "peak RSS B/task",
        ],
        2,
        &rows,
    );
    body += &format!("\n{}\n", targets.join("\n"));
    let mut about = Vec::new();
    if let Some(s) = data.iter().find_map(|l| l.system.as_deref()) {
        about.push(s.to_owned());
    }
    if let Some(w) = data.iter().filter_map(|l| l.workers).max() {
        about.push(format!("{w} workers but for `current-thread`"));
    }
    let loads: Vec<f64> = data.iter().filter_map(|l| l.load).collect();
    if let (Some(lo), Some(hi)) = (
        loads.iter().copied().reduce(f64::min),
        loads.iter().copied().reduce(f64::max),
    ) {
        about.push(format!("1-minute load average {lo:.2} to {hi:.2}"));
    }
    about.push(
        "`State` holds 26 bytes per task and 8 per edge (its dependency and dependent lists); \
         the peak RSS counts everything one computation holds at once: typed graph, task \
         bodies, keys, state, results"
            .into(),
    );
    body += &format!("\n{}.\n", about.join("; "));
    Ok(Figure {
        name: "scale.md",
        sources: vec![SCALE],
        body,
    })
}
