//! Per-task overhead, taskloom against Dask: `scripts/compare.py`'s pairs
//! (`docs/bench/compare.jsonl`), the scaling figures' data (`docs/bench/taskloom.jsonl`,
//! `docs/bench/dask.jsonl`), the granularity benchmark (`docs/bench/grain/`), and the
//! README's table at a glance.

use std::path::Path;

use serde::Deserialize;

use super::{Figure, data_error, jsonl, read};
use crate::Error;
use crate::markdown::{median, table, times};

/// One line of `scripts/compare.py --out`: one graph on one executor, both systems.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Pair {
    pub(crate) graph: String,
    pub(crate) executor: String,
    pub(crate) tasks: u64,
    /// Dependency edges; absent in lines from before compare.py wrote it.
    pub(crate) edges: Option<u64>,
    pub(crate) taskloom_us_per_task: f64,
    pub(crate) dask_us_per_task: f64,
    pub(crate) ratio: f64,
    /// `taskloom 0.1.0`; absent in lines from before compare.py wrote it.
    pub(crate) taskloom: Option<String>,
    /// `dask 2026.8.0`; absent likewise.
    pub(crate) dask: Option<String>,
    pub(crate) workers: Option<u32>,
    pub(crate) budget_s: Option<f64>,
    /// The 1-minute load average when the run started and when this pair was done.
    pub(crate) load_before: Option<f64>,
    pub(crate) load_after: Option<f64>,
}

/// taskloom's executor with the Dask scheduler it is measured against.
pub(crate) fn with_dask(executor: &str) -> String {
    match executor {
        "current-thread" => "current-thread (sync)".into(),
        "threads" => "threads (threads)".into(),
        "processes" => "processes (multiprocessing)".into(),
        "cluster" => "cluster (distributed `LocalCluster`)".into(),
        other => other.into(),
    }
}

/// The table of pairs, in the file's order, and a line saying what was measured.
pub(crate) fn pairs(pairs: &[Pair]) -> String {
    let rows: Vec<Vec<String>> = pairs
        .iter()
        .map(|p| {
            vec![
                p.graph.clone(),
                with_dask(&p.executor),
                p.tasks.to_string(),
                format!("{:.3}", p.taskloom_us_per_task),
                format!("{:.1}", p.dask_us_per_task),
                times(p.ratio),
            ]
        })
        .collect();
    let mut out = table(
        &[
            "graph",
            "executor (Dask's)",
            "tasks",
            "taskloom µs/task",
            "Dask µs/task",
            "Dask / taskloom",
        ],
        2,
        &rows,
    );
    let mut about = Vec::new();
    let systems: Vec<&str> = first_of(pairs, |p| p.taskloom.as_deref())
        .into_iter()
        .chain(first_of(pairs, |p| p.dask.as_deref()))
        .collect();
    if !systems.is_empty() {
        about.push(systems.join(" and "));
    }
    if let Some(w) = pairs.iter().filter_map(|p| p.workers).max() {
        about.push(format!("{w} workers but for `current-thread`"));
    }
    if let Some(b) = pairs.iter().find_map(|p| p.budget_s) {
        about.push(format!(
            "median of at least 3 runs within {b} s per graph and system"
        ));
    }
    let before = pairs.iter().filter_map(|p| p.load_before).reduce(f64::min);
    let after = pairs.iter().filter_map(|p| p.load_after).reduce(f64::max);
    if let (Some(b), Some(a)) = (before, after) {
        about.push(format!("1-minute load average {b:.2} before, {a:.2} after"));
    }
    if !about.is_empty() {
        out += &format!("\n{}.\n", about.join("; "));
    }
    out
}

/// Graphs this small are left out of the ratio targets: a computation's fixed cost
/// is most of theirs.
const TARGET_TASKS: u64 = 100;

/// The targets the figures are held to, each with where it stands: the worst ratio
/// per executor over the graphs of [`TARGET_TASKS`] tasks or more (named), a
/// computation of 3 tasks on threads, and the cost of an extra dependency edge on
/// threads (crosstalk with two inputs per task against one, and the slope over two
/// to sixteen, where no chain is fused).
fn targets(pairs: &[Pair]) -> Vec<String> {
    let mut lines = Vec::new();
    for (executor, goal) in [
        ("current-thread", 100.0),
        ("threads", 100.0),
        ("processes", 50.0),
    ] {
        let of: Vec<&Pair> = pairs
            .iter()
            .filter(|p| p.executor == executor && p.tasks >= TARGET_TASKS)
            .collect();
        let Some(worst) = of.iter().min_by(|a, b| a.ratio.total_cmp(&b.ratio)) else {
            continue;
        };
        let met = of.iter().filter(|p| p.ratio >= goal).count();
        lines.push(format!(
            "- {executor}, graphs of {TARGET_TASKS} tasks or more: at least {} below Dask on \
             {met} of {} graphs; worst {} (`{}`).",
            times(goal),
            of.len(),
            times(worst.ratio),
            worst.graph
        ));
    }
    let find = |graph: &str| {
        pairs
            .iter()
            .find(|p| p.executor == "threads" && p.graph == graph)
    };
    if let Some(small) = find("seed_sum_small") {
        lines.push(format!(
            "- threads, a computation of {} tasks (`seed_sum_small`): {:.1} µs end to end \
             (target ≤ 15 µs).",
            small.tasks,
            small.taskloom_us_per_task * small.tasks as f64
        ));
    }
    if let (Some(one), Some(two)) = (find("crosstalk_10k_k1"), find("crosstalk_10k_k2")) {
        if let (Some(e1), Some(e2)) = (one.edges, two.edges) {
            let extra = e2.saturating_sub(e1).max(1) as f64;
            let ns = (two.taskloom_us_per_task * two.tasks as f64
                - one.taskloom_us_per_task * one.tasks as f64)
                * 1e3
                / extra;
            lines.push(format!(
                "- threads, each extra dependency edge (`crosstalk_10k_k1` → `k2`): {ns:.0} ns \
                 (target ≤ 50 ns)."
            ));
        }
    }
    // k1's chains are fused, k2's and up are not: the step from k1 counts fusion
    // lost as well. The slope over k2 to k16 counts edges alone.
    let points: Vec<(f64, f64)> = ["k2", "k4", "k8", "k16"]
        .iter()
        .filter_map(|k| find(&format!("crosstalk_10k_{k}")))
        .filter_map(|p| Some((p.edges? as f64, p.taskloom_us_per_task * p.tasks as f64)))
        .collect();
    if let Some(ns) = slope(&points).map(|s| s * 1e3) {
        lines.push(format!(
            "- threads, each extra dependency edge where no chain is fused (least-squares \
             slope over `crosstalk_10k_k2` to `k16`): {ns:.0} ns (target ≤ 50 ns)."
        ));
    }
    lines
}

/// The least-squares slope of `y` on `x`, from two points or more.
fn slope(points: &[(f64, f64)]) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let (mx, my) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x / n, b + y / n));
    let (sxy, sxx) = points.iter().fold((0.0, 0.0), |(a, b), (x, y)| {
        (a + (x - mx) * (y - my), b + (x - mx) * (x - mx))
    });
    (sxx > 0.0).then(|| sxy / sxx)
}

fn first_of<'a>(pairs: &'a [Pair], f: impl Fn(&'a Pair) -> Option<&'a str>) -> Option<&'a str> {
    pairs.iter().find_map(f)
}

const COMPARE: &str = "docs/bench/compare.jsonl";
const CLUSTER_COMPARE: &str = "docs/bench/cluster-compare.jsonl";

/// `compare.md`: every graph on every executor, both systems, one run of compare.py.
pub(crate) fn compare(root: &Path) -> Result<Figure, Error> {
    let data: Vec<Pair> = jsonl(root, COMPARE)?;
    if data.is_empty() {
        return Err(data_error(root, COMPARE, "no measurement"));
    }
    let mut body = pairs(&data);
    let targets = targets(&data);
    if !targets.is_empty() {
        body += &format!("\n{}\n", targets.join("\n"));
    }
    Ok(Figure {
        name: "compare.md",
        sources: vec![COMPARE],
        body,
    })
}

/// The README's table: per executor, the median over the graphs of each system's µs
/// per task, and the range of the ratios. The cluster's row comes from the cluster's
/// comparison run, the others from compare.py's run over every graph.
pub(crate) fn glance(root: &Path) -> Result<Figure, Error> {
    let mut data: Vec<Pair> = jsonl(root, COMPARE)?;
    data.retain(|p| p.executor != "cluster");
    data.extend(
        jsonl::<Pair>(root, CLUSTER_COMPARE)?
            .into_iter()
            .filter(|p| p.executor == "cluster"),
    );
    let mut rows = Vec::new();
    for executor in ["current-thread", "threads", "processes", "cluster"] {
        let of: Vec<&Pair> = data.iter().filter(|p| p.executor == executor).collect();
        let (Some(t), Some(d)) = (
            median(of.iter().map(|p| p.taskloom_us_per_task)),
            median(of.iter().map(|p| p.dask_us_per_task)),
        ) else {
            continue;
        };
        let lo = of.iter().map(|p| p.ratio).fold(f64::MAX, f64::min);
        let hi = of.iter().map(|p| p.ratio).fold(f64::MIN, f64::max);
        rows.push(vec![
            with_dask(executor),
            of.len().to_string(),
            format!("{t:.2}"),
            format!("{d:.0}"),
            format!("{lo:.0}–{}", times(hi)),
        ]);
    }
    if rows.is_empty() {
        return Err(data_error(root, COMPARE, "no measurement"));
    }
    let mut body = table(
        &[
            "executor (Dask's)",
            "graphs",
            "taskloom µs/task",
            "Dask µs/task",
            "Dask ÷ taskloom",
        ],
        1,
        &rows,
    );
    body += "\nEvery task a no-op: the schedulers' own cost per task, median over the \
             benchmark graphs (`benches/graphs`), 2 workers but for `current-thread`; \
             the ratio's range over the graphs.\n";
    Ok(Figure {
        name: "README.md",
        sources: vec![COMPARE, CLUSTER_COMPARE],
        body,
    })
}

/// `scaling.md`: µs per task against tasks and against dependencies, both systems.
pub(crate) fn scaling(root: &Path) -> Result<Figure, Error> {
    let data = crate::load(&root.join("docs/bench"))?;
    let mut systems: Vec<&str> = data.iter().map(|m| m.system.as_str()).collect();
    systems.sort_unstable();
    systems.dedup();
    let body = format!(
        "{}\n{} on the chains and crosstalk graphs of `benches/graphs` (and a generated \
         1,000,000-task chains graph, taskloom only), by `tools/benchplot/measure.sh`.\n",
        crate::scaling_tables(&data)?,
        systems.join(" and ")
    );
    Ok(Figure {
        name: "scaling.md",
        // crate::SCALING_FILES, in docs/bench.
        sources: vec!["docs/bench/taskloom.jsonl", "docs/bench/dask.jsonl"],
        body,
    })
}

const GRAIN: &str = "docs/bench/grain";

/// `grain.md`: efficiency against task length, taskloom, Taskflow and Dask.
pub(crate) fn grain(root: &Path) -> Result<Figure, Error> {
    let mut body = crate::grain::table_of(&root.join(GRAIN))?;
    let load = read(root, "docs/bench/grain/load.txt")?;
    let value = |what: &str| {
        load.lines()
            .find_map(|l| l.strip_prefix(what))
            .map(str::trim)
            .map(str::to_owned)
    };
    if let (Some(b), Some(a)) = (value("load before:"), value("load after:")) {
        body += &format!(
            "\nAll three in one run of `tools/benchplot/grain.sh`; 1-minute load average \
             {b} before, {a} after.\n"
        );
    }
    Ok(Figure {
        name: "grain.md",
        sources: vec!["docs/bench/grain/grain.jsonl", "docs/bench/grain/load.txt"],
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::slope;

    #[test]
    fn the_slope_of_points_on_a_line_is_its_gradient() {
        let points = [(10.0, 25.0), (20.0, 45.0), (40.0, 85.0), (80.0, 165.0)];
        let s = slope(&points).expect("four points");
        assert!((s - 2.0).abs() < 1e-12, "{s}");
    }

    #[test]
    fn one_point_or_one_abscissa_has_no_slope() {
        assert_eq!(slope(&[(1.0, 2.0)]), None);
        assert_eq!(slope(&[(1.0, 2.0), (1.0, 3.0)]), None);
    }
}
