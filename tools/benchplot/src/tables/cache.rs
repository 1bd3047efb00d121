//! The result cache: the `cache` example's JSON lines (`cargo run --release --example
//! cache -- --out docs/bench/cache.jsonl`), one per run of it, in
//! `docs/bench/cache.jsonl`.
//!
//! Each line gives the medians of interleaved runs without a cache and cold (every
//! task run and stored), a fully cached rerun, a run killed with SIGKILL halfway and
//! resumed, and a damaged entry; one row per line, in the file's order.

use std::path::Path;

use serde::Deserialize;

use super::{Figure, data_error, jsonl};
use crate::Error;
use crate::markdown::table;

const DATA: &str = "docs/bench/cache.jsonl";

#[derive(Debug, Deserialize)]
struct Run {
    tasks: u64,
    /// What a task did while it took its time: `sleep` (I/O-bound) or `spin`
    /// (CPU-bound). Lines from before the option slept.
    #[serde(default = "sleep")]
    work: String,
    /// Interleaved rounds of uncached and cold runs (lines from before: one).
    #[serde(default = "one")]
    rounds: u64,
    ms: f64,
    mib: f64,
    workers: u64,
    /// Medians, seconds.
    uncached_s: f64,
    first_s: f64,
    cached_s: f64,
    resumed_s: f64,
    resumed_tasks_run: u64,
    killed_after_stored: u64,
    corrupt_detected: bool,
    /// The one-minute load average before and after (lines from before: none).
    #[serde(default)]
    load: Option<(f64, f64)>,
    /// Medians of the process's CPU time in the uncached and cold runs (lines from
    /// before: none).
    #[serde(default)]
    uncached_cpu_s: Option<f64>,
    #[serde(default)]
    first_cpu_s: Option<f64>,
}

fn sleep() -> String {
    "sleep".to_owned()
}

fn one() -> u64 {
    1
}

/// A signed percentage: `+4 %`, `-2 %`.
fn cost(ratio: f64) -> String {
    format!("{:+.0} %", ratio * 100.0)
}

/// A size in MiB without trailing zeros: `1`, `0.125`.
fn mib(m: f64) -> String {
    let text = format!("{m:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// `cache.md`: what the cache costs cold, saves warm, and keeps when killed.
pub(crate) fn figure(root: &Path) -> Result<Figure, Error> {
    let runs: Vec<Run> = jsonl(root, DATA)?;
    if runs.is_empty() {
        return Err(data_error(root, DATA, "no run"));
    }
    let mut rows = Vec::with_capacity(runs.len());
    for r in &runs {
        if r.uncached_s <= 0.0 || r.cached_s <= 0.0 {
            return Err(data_error(
                root,
                DATA,
                format!("a run of {} tasks has a time of zero", r.tasks),
            ));
        }
        rows.push(vec![
            r.work.clone(),
            format!("{} × {} ms, {} MiB", r.tasks, r.ms, mib(r.mib)),
            r.workers.to_string(),
            r.rounds.to_string(),
            format!("{:.3}", r.uncached_s),
            format!("{:.3}", r.first_s),
            cost(r.first_s / r.uncached_s - 1.0),
            match (r.uncached_cpu_s, r.first_cpu_s) {
                (Some(u), Some(c)) if u > 0.0 => {
                    format!("{u:.2} → {c:.2} s ({})", cost(c / u - 1.0))
                }
                _ => "–".to_owned(),
            },
            format!("{:.4}", r.cached_s),
            format!("{:.0}×", r.first_s / r.cached_s),
            format!(
                "{} of {} ({} stored), {:.3} s",
                r.resumed_tasks_run, r.tasks, r.killed_after_stored, r.resumed_s
            ),
            if r.corrupt_detected { "yes" } else { "NO" }.to_owned(),
            r.load
                .map_or_else(|| "–".to_owned(), |(a, b)| format!("{a:.1} → {b:.1}")),
        ]);
    }
    let mut body = table(
        &[
            "task",
            "graph",
            "workers",
            "rounds",
            "uncached s",
            "cold s",
            "cold cost",
            "CPU, uncached → cold",
            "cached s",
            "cached speed-up",
            "resumed: tasks run",
            "damage caught",
            "load",
        ],
        2,
        &rows,
    );
    body += "\nA total of every task's result, every task cached. `uncached` and `cold` \
             (an empty cache: every task runs and is stored) are medians of runs \
             interleaved round by round; `cached` loads the total's entry alone; \
             `resumed` reruns a computation killed with SIGKILL once about half its \
             entries were stored; `damage caught`: a flipped bit in one entry was \
             reported and its task recomputed, the total right. `sleep` tasks leave \
             their core free (I/O-bound), `spin` tasks keep it busy (CPU-bound). \
             `CPU`: medians of the process's CPU time (all threads, user and system) \
             in the uncached and cold runs, which the machine's other work does not \
             inflate as it does the wall clock. `load`: the one-minute load average \
             before and after, on the machine's cores (`workers`).\n";
    Ok(Figure {
        name: "cache.md",
        sources: vec![DATA],
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_costs_read_as_written() {
        assert_eq!(mib(1.0), "1");
        assert_eq!(mib(0.125), "0.125");
        assert_eq!(cost(0.04), "+4 %");
        assert_eq!(cost(-0.02), "-2 %");
    }

    #[test]
    fn a_line_from_before_the_rounds_still_reads() {
        let line = r#"{"tasks": 1000, "first_s": 5.2470, "cached_s": 0.00093, "resumed_tasks_run": 499, "corrupt_detected": true, "uncached_s": 2.2258, "cache_cost": 1.3574, "cached_speedup": 5627.6, "resumed_s": 4.3807, "killed_after_stored": 501, "mib": 1, "ms": 1, "workers": 2}"#;
        let run: Run = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (run.work.as_str(), run.rounds, run.load),
            ("sleep", 1, None)
        );
    }
}
