//! From Python, on processes: `taskloom.multiprocessing.get` against Dask's process
//! scheduler and the threaded schedulers, the records of
//! `scripts/bench_processes.py --json` (`docs/bench/python-processes.jsonl`, one line
//! per workload and run of the script: `seed`, `matmul`, `bag`); medians across the
//! runs recorded, as `bench_processes.py --tables` prints them.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::{Figure, data_error, jsonl};
use crate::Error;
use crate::markdown::{median, table, thousands};

const DATA: &str = "docs/bench/python-processes.jsonl";

#[derive(Debug, Deserialize)]
struct Record {
    workload: String,
    seconds: BTreeMap<String, f64>,
    /// `seed`: tasks in the graph.
    tasks: Option<u64>,
    /// `matmul`: the bytes taskloom's tasks made and moved.
    traffic: Option<Traffic>,
    /// `matmul`: the array's side and its chunks'.
    n: Option<u64>,
    chunks: Option<u64>,
    /// `bag`: items, loop steps per item, partitions.
    items: Option<u64>,
    steps: Option<u64>,
    partitions: Option<u64>,
    runs: u32,
    workers: u32,
    load: Option<Vec<f64>>,
}

#[derive(Debug, Deserialize, Clone, Copy)]
struct Traffic {
    produced: u64,
    to_parent: u64,
    from_parent: u64,
}

/// `python-processes.md`: the three workloads' tables.
pub(crate) fn tables(root: &Path) -> Result<Figure, Error> {
    let records: Vec<Record> = jsonl(root, DATA)?;
    let of = |w: &str| -> Vec<&Record> { records.iter().filter(|r| r.workload == w).collect() };
    let med = |rs: &[&Record], col: &str| -> Result<f64, Error> {
        median(rs.iter().filter_map(|r| r.seconds.get(col).copied()))
            .ok_or_else(|| data_error(root, DATA, format!("no `{col}` time")))
    };
    let (seed, matmul, bag) = (of("seed"), of("matmul"), of("bag"));
    let (Some(s0), Some(m0), Some(b0)) = (seed.first(), matmul.first(), bag.first()) else {
        return Err(data_error(
            root,
            DATA,
            "needs records of seed, matmul and bag",
        ));
    };
    let loads: Vec<f64> = records
        .iter()
        .filter_map(|r| r.load.as_ref()?.first().copied())
        .collect();
    let lo = loads.iter().copied().fold(f64::MAX, f64::min);
    let hi = loads.iter().copied().fold(f64::MIN, f64::max);
    let mut out = format!(
        "Medians of {} run{} of `scripts/bench_processes.py`, each the median of {} \
         interleaved round{}; {} workers; load average {lo:.1}–{hi:.1}.\n\n",
        seed.len(),
        if seed.len() > 1 { "s" } else { "" },
        s0.runs,
        if s0.runs > 1 { "s" } else { "" },
        s0.workers,
    );

    let n = s0
        .tasks
        .ok_or_else(|| data_error(root, DATA, "a seed record without `tasks`"))?;
    let bare = med(&seed, "bare")?;
    let over = |col: &str| -> Result<f64, Error> { Ok((med(&seed, col)? - bare) / n as f64 * 1e6) };
    let ours = over("taskloom processes")?;
    out += &format!(
        "Overhead µs per task on the seed's example, `da.ones(1000, chunks=2).sum()` ({n} \
         tasks), over a bare loop calling every node:\n\n"
    );
    let mut rows = Vec::new();
    for col in [
        "taskloom processes",
        "dask processes",
        "dask processes, pool kept",
    ] {
        let o = over(col)?;
        rows.push(vec![
            col.to_owned(),
            format!("{:.1}", o),
            if col == "taskloom processes" {
                "1×".to_owned()
            } else {
                format!("{:.0}×", o / ours)
            },
        ]);
    }
    out += &table(&["scheduler", "µs per task", "of taskloom's"], 1, &rows);

    let traffic = m0
        .traffic
        .ok_or_else(|| data_error(root, DATA, "a matmul record without `traffic`"))?;
    let through = traffic.to_parent + traffic.from_parent;
    out += &format!(
        "\n`(x @ x.T).sum()`, `x = da.random.random(({0}, {0}), chunks={1})`, on \
         processes:\n\n",
        m0.n.unwrap_or(0),
        m0.chunks.unwrap_or(0)
    );
    let rows = vec![
        vec![
            "taskloom processes".to_owned(),
            format!("{:.2}", med(&matmul, "taskloom processes")?),
            thousands(traffic.produced),
            thousands(through),
            format!(
                "{:.1} %",
                through as f64 / traffic.produced.max(1) as f64 * 100.0
            ),
        ],
        vec![
            "dask processes".to_owned(),
            format!("{:.2}", med(&matmul, "dask processes")?),
            "".into(),
            "every result".into(),
            "".into(),
        ],
    ];
    out += &table(
        &[
            "scheduler",
            "seconds",
            "bytes produced",
            "bytes through the parent",
            "share",
        ],
        1,
        &rows,
    );

    out += &format!(
        "\nPure-Python dask.bag, the GIL held throughout: {} items, a {}-step loop each, \
         {} partitions:\n\n",
        b0.items.unwrap_or(0),
        thousands(b0.steps.unwrap_or(0)),
        b0.partitions.unwrap_or(0)
    );
    let fastest = med(&bag, "taskloom processes")?;
    let mut rows = Vec::new();
    for col in [
        "taskloom processes",
        "dask processes",
        "taskloom.get",
        "dask threads",
    ] {
        let t = med(&bag, col)?;
        rows.push(vec![
            col.to_owned(),
            format!("{t:.2}"),
            format!("{:.2}×", t / fastest),
        ]);
    }
    out += &table(
        &["scheduler", "seconds", "of taskloom processes'"],
        1,
        &rows,
    );
    Ok(Figure {
        name: "python-processes.md",
        sources: vec![DATA],
        body: out,
    })
}
