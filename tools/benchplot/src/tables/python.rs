//! From Python: `taskloom.get` against Dask's schedulers on real Dask work, the records
//! of `scripts/bench_dask.py --json` (`docs/bench/python-dask.jsonl`, one line per
//! workload and run of the script); the tables are those `bench_dask.py --tables`
//! prints: medians across the runs recorded.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::{Figure, data_error, jsonl};
use crate::Error;
use crate::markdown::{median, table};

const DATA: &str = "docs/bench/python-dask.jsonl";
const SCHEDULERS: [&str; 4] = [
    "taskloom.get",
    "taskloom.get_sync",
    "dask threads",
    "dask sync",
];
/// The workload timed end to end (`x.compute()`), chunks=2 against chunks=1000.
const END_TO_END: &str = "seed end to end";

#[derive(Debug, Deserialize)]
struct Record {
    workload: String,
    tasks: u64,
    seconds: BTreeMap<String, f64>,
    runs: u32,
    workers: u32,
    load: Option<Vec<f64>>,
    versions: BTreeMap<String, String>,
}

/// `python-dask.md`: µs per task, overhead per task, and the seed's example end to end.
pub(crate) fn tables(root: &Path) -> Result<Figure, Error> {
    let records: Vec<Record> = jsonl(root, DATA)?;
    let Some(first) = records.first() else {
        return Err(data_error(root, DATA, "no record"));
    };
    // Workloads in order of first appearance, each with its records.
    let mut cells: Vec<(&str, Vec<&Record>)> = Vec::new();
    for r in &records {
        match cells.iter_mut().find(|c| c.0 == r.workload) {
            Some(c) => c.1.push(r),
            None => cells.push((&r.workload, vec![r])),
        }
    }
    let med = |rs: &[&Record], col: &str| -> Result<f64, Error> {
        median(rs.iter().filter_map(|r| r.seconds.get(col).copied()))
            .ok_or_else(|| data_error(root, DATA, format!("no `{col}` time")))
    };
    let n_runs = cells.iter().map(|c| c.1.len()).max().unwrap_or(0);
    let mut rounds: Vec<u32> = records.iter().map(|r| r.runs).collect();
    rounds.sort_unstable();
    rounds.dedup();
    let loads: Vec<f64> = records
        .iter()
        .filter_map(|r| r.load.as_ref()?.first().copied())
        .collect();
    let load = if loads.is_empty() {
        String::new()
    } else {
        let lo = loads.iter().copied().fold(f64::MAX, f64::min);
        let hi = loads.iter().copied().fold(f64::MIN, f64::max);
        format!("; load average {lo:.1}–{hi:.1}")
    };
    let rounds: Vec<String> = rounds.iter().map(u32::to_string).collect();
    let mut out = format!(
        "µs per task: medians of {n_runs} run{} of `scripts/bench_dask.py`, each the median \
         of {} interleaved rounds; {} workers for the pools{load}.\n\n",
        if n_runs > 1 { "s" } else { "" },
        rounds.join("/"),
        first.workers
    );
    let work: Vec<&(&str, Vec<&Record>)> = cells.iter().filter(|c| c.0 != END_TO_END).collect();
    let mut cols: Vec<&str> = SCHEDULERS.to_vec();
    cols.push("bare");
    let mut rows = Vec::new();
    for (name, rs) in &work {
        let n = rs[0].tasks as f64;
        let mut row = vec![(*name).to_owned(), rs[0].tasks.to_string()];
        for c in &cols {
            row.push(format!("{:.1}", med(rs, c)? / n * 1e6));
        }
        rows.push(row);
    }
    let mut head = vec!["workload", "tasks"];
    head.extend(&cols);
    out += &table(&head, 1, &rows);
    out += "\nOverhead µs per task (the scheduler's time minus bare's), and Dask threads' \
            overhead over taskloom.get's:\n\n";
    let mut rows = Vec::new();
    for (name, rs) in &work {
        let n = rs[0].tasks as f64;
        let bare = med(rs, "bare")?;
        let mut over = BTreeMap::new();
        for c in SCHEDULERS {
            over.insert(c, (med(rs, c)? - bare) / n * 1e6);
        }
        let mut row = vec![(*name).to_owned()];
        row.extend(SCHEDULERS.iter().map(|c| format!("{:.1}", over[c])));
        row.push(if over["taskloom.get"] > 0.0 {
            format!("{:.0}×", over["dask threads"] / over["taskloom.get"])
        } else {
            "(taskloom.get ≤ bare)".into()
        });
        rows.push(row);
    }
    let mut head = vec!["workload"];
    head.extend(SCHEDULERS);
    head.push("dask threads / taskloom.get");
    out += &table(&head, 1, &rows);
    if let Some((_, rs)) = cells.iter().find(|c| c.0 == END_TO_END) {
        let n = rs[0].tasks;
        out += &format!(
            "\n`da.ones(1000, chunks=2).sum()` end to end, `x.compute(scheduler=...)` ({n} \
             tasks before Dask optimizes the graph), against the same sum in one chunk \
             (chunks=1000):\n\n"
        );
        let mut rows = Vec::new();
        for s in SCHEDULERS {
            let big = med(rs, &format!("{s} chunks=2"))?;
            let small = med(rs, &format!("{s} chunks=1000"))?;
            rows.push(vec![
                s.to_owned(),
                format!("{:.1}", big * 1e3),
                format!("{:.2}", small * 1e3),
                format!("{:.1}", (big - small) / n as f64 * 1e6),
            ]);
        }
        out += &table(
            &[
                "scheduler",
                "chunks=2 ms",
                "chunks=1000 ms",
                "difference / tasks, µs",
            ],
            1,
            &rows,
        );
    }
    let v = |k: &str| first.versions.get(k).map_or("?", String::as_str);
    out += &format!(
        "\ndask {}, numpy {}, pandas {}, Python {}\n",
        v("dask"),
        v("numpy"),
        v("pandas"),
        v("python")
    );
    Ok(Figure {
        name: "python-dask.md",
        sources: vec![DATA],
        body: out,
    })
}
