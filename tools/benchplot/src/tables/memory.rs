//! Memory under real data: `scripts/memory_compare.py --out` runs
//! (`docs/bench/memory.jsonl`, and `docs/bench/memory-trim.jsonl` with glibc's trim
//! threshold at 0) on the corpus, against `dask.order`'s pressure in
//! `corpus/dask.json`; and the `memory` example on `gen:slow_param`
//! (`docs/bench/slow-param.jsonl`, its JSON lines).
//!
//! The corpus tables are those `memory_compare.py --from` prints: medians over the
//! repetitions, taskloom against Dask per configuration, and per configuration the
//! graphs where taskloom holds no more than Dask, has no higher RSS, and stays within
//! (workers + 1) results of its static order's plan. A configuration `X undeclared`
//! is taskloom told nothing of the results' sizes, set against Dask's run of `X`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::{Figure, data_error, jsonl, read};
use crate::Error;
use crate::markdown::{median, table};

const MEMORY: &str = "docs/bench/memory.jsonl";
const TRIM: &str = "docs/bench/memory-trim.jsonl";
const MANIFEST: &str = "corpus/dask.json";
const SLOW_PARAM: &str = "docs/bench/slow-param.jsonl";

/// The seven real array and bag graphs the memory work started from.
const SEVEN: [&str; 7] = [
    "array_sum_split_every",
    "array_anomaly",
    "array_matmul",
    "array_map_overlap",
    "array_svd",
    "bag_foldby",
    "bag_groupby",
];
/// The summary's graphs: the seven, and three where the orders or the runs differ most.
const SUMMARY: [&str; 3] = ["array_cumsum_blelloch", "delayed_stencil", "df_merge"];

/// One line of memory_compare.py's output: a `static` plan, a `load` average, the
/// `env`, or a `run` of one system (the `memory` example's or `dask_memory.py`'s line).
#[derive(Debug, Clone, Deserialize)]
struct Row {
    /// memory_compare.py's tag; absent in the `memory` example's own lines.
    #[serde(default)]
    kind: String,
    graph: Option<String>,
    tasks: Option<u64>,
    max_pressure: Option<u64>,
    one_worker_held: Option<u64>,
    /// What older runs called `one_worker_held`.
    lifo_one_worker_held: Option<u64>,
    loadavg: Option<String>,
    glibc_tunables: Option<String>,
    system: Option<String>,
    config: Option<String>,
    who: Option<String>,
    repeat: Option<u32>,
    workers: Option<u32>,
    mib: Option<f64>,
    peak_held: Option<f64>,
    peak_held_bytes: Option<f64>,
    peak_rss_bytes: Option<f64>,
    base_rss_bytes: Option<f64>,
    gauge_peak_held: Option<f64>,
    overruns: Option<f64>,
    memory_limit_bytes: Option<f64>,
    seconds: Option<f64>,
}

/// `corpus/dask.json`: `dask.order`'s max pressure at its best seed, per graph.
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

fn manifest(root: &Path) -> Result<BTreeMap<String, (u64, u64)>, Error> {
    let m: Manifest = serde_json::from_str(&read(root, MANIFEST)?)
        .map_err(|e| data_error(root, MANIFEST, e.to_string()))?;
    Ok(m.graphs
        .into_iter()
        .map(|g| (g.name, (g.dask_max_pressure, g.dask_max_pressure_worst)))
        .collect())
}

fn fmt(x: Option<f64>, digits: usize) -> String {
    x.map_or("–".into(), |x| format!("{x:.digits$}"))
}

/// One memory_compare.py output file, indexed.
struct Runs {
    rows: Vec<Row>,
    /// The static plans, in file order (a later line for a graph replaces it in place).
    plans: Vec<Row>,
    /// Configurations in order of first appearance.
    configs: Vec<String>,
    runs: BTreeMap<(String, String, String), Vec<Row>>,
}

impl Runs {
    fn load(root: &Path, rel: &str) -> Result<Runs, Error> {
        let rows: Vec<Row> = jsonl(root, rel)?;
        let mut plans: Vec<Row> = Vec::new();
        let mut configs = Vec::new();
        let mut runs: BTreeMap<(String, String, String), Vec<Row>> = BTreeMap::new();
        for r in &rows {
            match r.kind.as_str() {
                "static" => match plans.iter_mut().find(|p| p.graph == r.graph) {
                    Some(p) => *p = r.clone(),
                    None => plans.push(r.clone()),
                },
                "run" => {
                    let (Some(g), Some(c), Some(who)) = (&r.graph, &r.config, &r.who) else {
                        return Err(data_error(root, rel, "a run without graph, config or who"));
                    };
                    if !configs.contains(c) {
                        configs.push(c.clone());
                    }
                    runs.entry((g.clone(), c.clone(), who.clone()))
                        .or_default()
                        .push(r.clone());
                }
                _ => {}
            }
        }
        if runs.is_empty() {
            return Err(data_error(root, rel, "no run"));
        }
        Ok(Runs {
            rows,
            plans,
            configs,
            runs,
        })
    }

    fn of(&self, graph: &str, config: &str, who: &str) -> Option<&Vec<Row>> {
        // An undeclared run (taskloom told nothing of the sizes) is set against Dask's
        // run of the same configuration.
        let config = match who {
            "dask" => config.strip_suffix(" undeclared").unwrap_or(config),
            _ => config,
        };
        self.runs
            .get(&(graph.to_owned(), config.to_owned(), who.to_owned()))
    }

    /// Median of a field over the runs (a missing field counts as 0, as in the script).
    fn med(
        &self,
        graph: &str,
        config: &str,
        who: &str,
        field: fn(&Row) -> Option<f64>,
    ) -> Option<f64> {
        median(
            self.of(graph, config, who)?
                .iter()
                .map(|r| field(r).unwrap_or(0.0)),
        )
    }

    /// Median of peak RSS above the RSS at the start, MiB.
    fn rss(&self, graph: &str, config: &str, who: &str) -> Option<f64> {
        median(self.of(graph, config, who)?.iter().map(|r| {
            (r.peak_rss_bytes.unwrap_or(0.0) - r.base_rss_bytes.unwrap_or(0.0)) / 1048576.0
        }))
    }

    fn plan(&self, graph: &str) -> Option<&Row> {
        self.plans
            .iter()
            .find(|p| p.graph.as_deref() == Some(graph))
    }

    /// The graphs: the seven first, in their order, then the others by name.
    fn graphs(&self) -> Vec<String> {
        let mut graphs: Vec<String> = if self.plans.is_empty() {
            let mut g: Vec<String> = self.runs.keys().map(|k| k.0.clone()).collect();
            g.sort();
            g.dedup();
            g
        } else {
            self.plans.iter().filter_map(|p| p.graph.clone()).collect()
        };
        graphs.sort_by_key(|g| {
            let seven = SEVEN.iter().position(|s| s == g);
            (seven.is_none(), seven.unwrap_or(0), g.clone())
        });
        graphs
    }

    fn budgeted(&self) -> Vec<&str> {
        self.configs
            .iter()
            .filter(|c| c.contains("budget"))
            .map(String::as_str)
            .collect()
    }

    fn compared(&self) -> Vec<&str> {
        self.configs
            .iter()
            .filter(|c| !c.contains("budget"))
            .map(String::as_str)
            .collect()
    }

    fn workers(&self, graph: &str, config: &str) -> u32 {
        self.of(graph, config, "taskloom")
            .and_then(|r| r.first())
            .and_then(|r| r.workers)
            .unwrap_or(1)
    }

    fn loads(&self) -> Vec<&str> {
        self.rows
            .iter()
            .filter(|r| r.kind == "load")
            .filter_map(|r| r.loadavg.as_deref())
            .collect()
    }

    fn repetitions(&self) -> u32 {
        self.runs
            .values()
            .flatten()
            .filter_map(|r| r.repeat)
            .max()
            .map_or(0, |r| r + 1)
    }

    fn mib(&self) -> f64 {
        self.runs
            .values()
            .flatten()
            .find_map(|r| r.mib)
            .unwrap_or(1.0)
    }

    fn dask_system(&self) -> Option<&str> {
        self.runs
            .values()
            .flatten()
            .filter(|r| r.who.as_deref() == Some("dask"))
            .find_map(|r| r.system.as_deref())
    }
}

/// Per configuration, what the summary lines count.
#[derive(Default)]
struct Counts {
    n: usize,
    held_le: usize,
    rss_le: usize,
    plan: usize,
    held_le7: usize,
    n7: usize,
    held_miss: Vec<String>,
    rss_miss: Vec<String>,
    plan_miss: Vec<String>,
    gauge: f64,
}

fn peak_held(r: &Row) -> Option<f64> {
    r.peak_held
}

fn overruns(r: &Row) -> Option<f64> {
    r.overruns
}

/// The whole table of one output file and its summary lines, as `memory_compare.py
/// --from` prints them.
fn corpus_table(runs: &Runs, dask_order: &BTreeMap<String, (u64, u64)>) -> String {
    let compared = runs.compared();
    let budgeted = runs.budgeted();
    let mut head: Vec<String> = [
        "graph",
        "tasks",
        "static order (taskloom)",
        "dask.order (best seed)",
        "one worker driving State",
    ]
    .map(String::from)
    .to_vec();
    for c in &compared {
        head.extend([
            format!("{c}: held taskloom"),
            format!("{c}: held Dask"),
            format!("{c}: RSS MiB taskloom"),
            format!("{c}: RSS MiB Dask"),
        ]);
    }
    for c in &budgeted {
        head.extend([
            format!("{c}: held"),
            format!("{c}: RSS MiB"),
            format!("{c}: overruns"),
        ]);
    }
    let mut counts: BTreeMap<&str, Counts> = BTreeMap::new();
    let mut rows = Vec::new();
    for g in runs.graphs() {
        let plan = runs.plan(&g);
        let seven = SEVEN.contains(&g.as_str());
        let one_worker = plan
            .and_then(|p| p.one_worker_held.or(p.lifo_one_worker_held))
            .map_or("–".into(), |n| n.to_string());
        let mut cells = vec![
            if seven { format!("{g} *") } else { g.clone() },
            plan.and_then(|p| p.tasks)
                .map_or("–".into(), |n| n.to_string()),
            plan.and_then(|p| p.max_pressure)
                .map_or("–".into(), |n| n.to_string()),
            dask_order.get(&g).map_or("–".into(), |d| d.0.to_string()),
            one_worker,
        ];
        for c in compared.iter().chain(&budgeted) {
            let is_budget = budgeted.contains(c);
            let ht = runs.med(&g, c, "taskloom", peak_held);
            let rt = runs.rss(&g, c, "taskloom");
            let Some(ht) = ht else {
                cells.extend(std::iter::repeat_n(
                    "–".to_owned(),
                    if is_budget { 3 } else { 4 },
                ));
                continue;
            };
            let sm = counts.entry(c).or_default();
            if let Some(trs) = runs.of(&g, c, "taskloom") {
                for r in trs {
                    let held = r.peak_held.unwrap_or(0.0);
                    sm.gauge = sm.gauge.max(r.gauge_peak_held.unwrap_or(held) - held);
                }
            }
            if let Some(mp) = plan.and_then(|p| p.max_pressure) {
                let bound = mp + u64::from(runs.workers(&g, c)) + 1;
                if ht <= bound as f64 {
                    sm.plan += 1;
                } else {
                    sm.plan_miss.push(format!("{g} {ht:.0} > {bound}"));
                }
            }
            if is_budget {
                cells.extend([
                    fmt(Some(ht), 0),
                    fmt(rt, 1),
                    fmt(runs.med(&g, c, "taskloom", overruns), 0),
                ]);
                sm.n += 1;
                continue;
            }
            let (hd, rd) = (runs.med(&g, c, "dask", peak_held), runs.rss(&g, c, "dask"));
            cells.extend([fmt(Some(ht), 0), fmt(hd, 0), fmt(rt, 1), fmt(rd, 1)]);
            if let Some(hd) = hd {
                sm.n += 1;
                if ht <= hd {
                    sm.held_le += 1;
                    sm.held_le7 += usize::from(seven);
                } else {
                    sm.held_miss.push(format!("{g} {ht:.0} / {hd:.0}"));
                }
                let (rt, rd) = (rt.unwrap_or(0.0), rd.unwrap_or(0.0));
                if rt <= rd {
                    sm.rss_le += 1;
                } else {
                    sm.rss_miss.push(format!("{g} {rt:.1} / {rd:.1}"));
                }
                sm.n7 += usize::from(seven);
            }
        }
        rows.push(cells);
    }
    let head: Vec<&str> = head.iter().map(String::as_str).collect();
    let mut out = table(&head, 1, &rows);
    out.push('\n');
    for c in compared.iter().chain(&budgeted) {
        let Some(sm) = counts.get(c) else { continue };
        let plan = format!(
            "within (workers + 1) of its static order's pressure on {} of {}{}",
            sm.plan,
            sm.n,
            if sm.plan_miss.is_empty() {
                String::new()
            } else {
                format!(" (not: {})", sm.plan_miss.join("; "))
            }
        );
        if budgeted.contains(c) {
            let all: Vec<&Row> = runs
                .runs
                .iter()
                .filter(|(k, _)| k.1 == *c)
                .flat_map(|(_, v)| v)
                .collect();
            let clean: Vec<&&Row> = all
                .iter()
                .filter(|r| r.overruns.unwrap_or(0.0) == 0.0)
                .collect();
            let within = clean
                .iter()
                .filter(|r| {
                    r.peak_held_bytes.unwrap_or(0.0)
                        <= r.memory_limit_bytes.unwrap_or(0.0)
                            + r.mib.unwrap_or(1.0) * 1048576.0
                            + 64.0
                })
                .count();
            let mut over: Vec<&str> = all
                .iter()
                .filter(|r| r.overruns.unwrap_or(0.0) > 0.0)
                .filter_map(|r| r.graph.as_deref())
                .collect();
            over.sort_unstable();
            over.dedup();
            out += &format!(
                "- {c}: no overrun in {} of {} runs, and in {within} of those the bytes held \
                 stayed within the budget plus one result; overruns on {} graphs whose plan \
                 needs more at once (they proceed one task at a time while over it); {plan}.\n",
                clean.len(),
                all.len(),
                over.len()
            );
            continue;
        }
        let held = format!(
            "taskloom holds no more than Dask on {} of {} graphs ({} of {} of the seven *){}",
            sm.held_le,
            sm.n,
            sm.held_le7,
            sm.n7,
            if sm.held_miss.is_empty() {
                String::new()
            } else {
                format!(" (more: {})", sm.held_miss.join("; "))
            }
        );
        let rss = format!(
            "peak RSS above start no more than Dask's on {}{}",
            sm.rss_le,
            if sm.rss_miss.is_empty() {
                String::new()
            } else {
                format!(" (more, MiB: {})", sm.rss_miss.join("; "))
            }
        );
        out += &format!("- {c}: {held}; {rss}; {plan}.\n");
    }
    let gauge = counts.values().map(|c| c.gauge).fold(0.0, f64::max);
    out += &format!(
        "- taskloom's held figures are its loop's own count; the live-buffer gauge saw at \
         most {gauge:.0} more in any run (results made by a worker and not yet received by \
         the loop).\n"
    );
    let mut base: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for r in runs.runs.values().flatten() {
        if let (Some(who), Some(b)) = (r.who.as_deref(), r.base_rss_bytes) {
            base.entry(who).or_default().push(b / 1048576.0);
        }
    }
    if !base.is_empty() {
        let held: Vec<String> = base
            .iter()
            .map(|(who, v)| format!("{who} {:.0} MiB", median(v.iter().copied()).unwrap_or(0.0)))
            .collect();
        out += &format!(
            "- RSS columns: peak RSS above the RSS when the computation started; at the start \
             the processes held (median) {} (Dask's with the interpreter, NumPy and pandas \
             loaded).\n",
            held.join(", ")
        );
    }
    if let Some(t) = runs
        .rows
        .iter()
        .find(|r| r.kind == "env")
        .and_then(|r| r.glibc_tunables.as_deref())
        .filter(|t| !t.is_empty())
    {
        out += &format!("- both systems ran with GLIBC_TUNABLES={t}.\n");
    }
    out += &format!(
        "- medians of {} runs, every task a {} MiB buffer; load average (1, 5, 15 min) at \
         start and end: {}.\n",
        runs.repetitions(),
        runs.mib(),
        runs.loads().join(" / ")
    );
    out
}

/// `memory-corpus.md`: every corpus graph, default allocator and glibc's trim at 0.
pub(crate) fn corpus(root: &Path) -> Result<Figure, Error> {
    let dask_order = manifest(root)?;
    let body = format!(
        "**Default allocator settings.** Graphs marked `*` are the seven array and bag \
         graphs the memory work started from.\n\n{}\n**Both systems with glibc's trim \
         threshold at 0** (freed memory goes back to the kernel at once).\n\n{}",
        corpus_table(&Runs::load(root, MEMORY)?, &dask_order),
        corpus_table(&Runs::load(root, TRIM)?, &dask_order)
    );
    Ok(Figure {
        name: "memory-corpus.md",
        sources: vec![MEMORY, TRIM, MANIFEST],
        body,
    })
}

/// `memory.md`: ten graphs at a glance, then the targets counted on every graph.
pub(crate) fn summary(root: &Path) -> Result<Figure, Error> {
    let runs = Runs::load(root, MEMORY)?;
    let dask_order = manifest(root)?;
    let compared = runs.compared();
    // The RSS and budget columns are of the last configuration taskloom ran with the
    // sizes declared.
    let Some(&last) = compared
        .iter()
        .rev()
        .find(|c| !c.ends_with(" undeclared"))
        .or(compared.last())
    else {
        return Err(data_error(
            root,
            MEMORY,
            "no configuration run on both systems",
        ));
    };
    let budget = runs
        .budgeted()
        .into_iter()
        .find(|b| b.starts_with(&format!("{last} ")));
    let pair = |a: Option<f64>, b: Option<f64>| format!("{} / {}", fmt(a, 0), fmt(b, 0));
    let mut head: Vec<String> = vec![
        "graph".into(),
        "tasks".into(),
        "static order: taskloom / Dask".into(),
    ];
    head.extend(
        compared
            .iter()
            .map(|c| format!("{c} held: taskloom / Dask")),
    );
    head.push(format!("{last} RSS MiB: taskloom / Dask"));
    if let Some(b) = budget {
        head.push(format!("{b}: held / overruns"));
    }
    let mut rows = Vec::new();
    for g in SEVEN.iter().chain(&SUMMARY) {
        let plan = runs.plan(g);
        let mut row = vec![
            (*g).to_owned(),
            plan.and_then(|p| p.tasks)
                .map_or("–".into(), |n| n.to_string()),
            format!(
                "{} / {}",
                plan.and_then(|p| p.max_pressure)
                    .map_or("–".into(), |n| n.to_string()),
                dask_order.get(*g).map_or("–".into(), |d| d.0.to_string())
            ),
        ];
        for c in &compared {
            row.push(pair(
                runs.med(g, c, "taskloom", peak_held),
                runs.med(g, c, "dask", peak_held),
            ));
        }
        row.push(pair(
            runs.rss(g, last, "taskloom"),
            runs.rss(g, last, "dask"),
        ));
        if let Some(b) = budget {
            row.push(pair(
                runs.med(g, b, "taskloom", peak_held),
                runs.med(g, b, "taskloom", overruns),
            ));
        }
        rows.push(row);
    }
    let head_ref: Vec<&str> = head.iter().map(String::as_str).collect();
    let mut body = table(&head_ref, 1, &rows);

    // The targets, on every graph.
    let graphs = runs.graphs();
    let mut held = Vec::new();
    let mut rss = Vec::new();
    let mut plan = Vec::new();
    for c in &compared {
        let (mut n, mut h, mut r, mut p) = (0, Vec::new(), Vec::new(), Vec::new());
        for g in &graphs {
            let (Some(ht), Some(hd)) = (
                runs.med(g, c, "taskloom", peak_held),
                runs.med(g, c, "dask", peak_held),
            ) else {
                continue;
            };
            n += 1;
            if ht > hd {
                h.push(format!("`{g}` {ht:.0} / {hd:.0}"));
            }
            let (rt, rd) = (
                runs.rss(g, c, "taskloom").unwrap_or(0.0),
                runs.rss(g, c, "dask").unwrap_or(0.0),
            );
            if rt > rd {
                r.push(format!("`{g}` {rt:.1} / {rd:.1} MiB"));
            }
            if let Some(mp) = runs.plan(g).and_then(|p| p.max_pressure) {
                let bound = mp + u64::from(runs.workers(g, c)) + 1;
                if ht > bound as f64 {
                    p.push(format!("`{g}` {ht:.0} > {bound}"));
                }
            }
        }
        let cell = |misses: &[String]| {
            let ok = n - misses.len();
            if misses.is_empty() {
                format!("{ok} / {n}")
            } else {
                format!("{ok} / {n} (not: {})", misses.join("; "))
            }
        };
        held.push(cell(&h));
        rss.push(cell(&r));
        plan.push(cell(&p));
    }
    let mut target_head = vec!["target".to_owned()];
    target_head.extend(compared.iter().map(|c| (*c).to_owned()));
    let target_rows = vec![
        [vec!["held ≤ Dask's".to_owned()], held].concat(),
        [vec!["peak RSS above start ≤ Dask's".to_owned()], rss].concat(),
        [
            vec!["held within (workers + 1) of the static order's max pressure".to_owned()],
            plan,
        ]
        .concat(),
    ];
    let loads = runs.loads();
    body += &format!(
        "\n{} under the interpreter's random hash seed, medians of {} runs, {} MiB buffers; \
         load average (1, 5, 15 min) {}. On all {} graphs of the corpus:\n\n",
        runs.dask_system().unwrap_or("Dask"),
        runs.repetitions(),
        runs.mib(),
        loads.join(" at the start, ") + if loads.len() > 1 { " at the end" } else { "" },
        graphs.len()
    );
    let target_head: Vec<&str> = target_head.iter().map(String::as_str).collect();
    body += &table(&target_head, target_head.len(), &target_rows);
    Ok(Figure {
        name: "memory.md",
        sources: vec![MEMORY, MANIFEST],
        body,
    })
}

/// `slow-param.md`: the byte budget where the plan cannot help, medians per setting.
pub(crate) fn slow_param(root: &Path) -> Result<Figure, Error> {
    let data: Vec<Row> = jsonl(root, SLOW_PARAM)?;
    let mut settings: Vec<(Option<u64>, Vec<&Row>)> = Vec::new();
    for r in &data {
        let limit = r.memory_limit_bytes.map(|b| b as u64);
        match settings.iter_mut().find(|s| s.0 == limit) {
            Some(s) => s.1.push(r),
            None => settings.push((limit, vec![r])),
        }
    }
    if settings.is_empty() {
        return Err(data_error(root, SLOW_PARAM, "no run"));
    }
    let mib = |b: f64| b / 1048576.0;
    let rows: Vec<Vec<String>> = settings
        .iter()
        .map(|(limit, rs)| {
            let med = |f: fn(&Row) -> Option<f64>| median(rs.iter().map(|r| f(r).unwrap_or(0.0)));
            vec![
                limit.map_or("none".into(), |b| format!("{:.0} MiB", mib(b as f64))),
                rs.len().to_string(),
                fmt(med(|r| r.peak_held), 0),
                fmt(med(|r| r.peak_held_bytes).map(mib), 0),
                fmt(med(|r| r.peak_rss_bytes).map(mib), 0),
                fmt(med(|r| r.seconds), 2),
                fmt(med(|r| r.overruns), 0),
            ]
        })
        .collect();
    let mut body = table(
        &[
            "memory limit",
            "runs",
            "peak held (results)",
            "peak held MiB",
            "peak RSS MiB",
            "seconds",
            "overruns",
        ],
        1,
        &rows,
    );
    let workers = data.iter().filter_map(|r| r.workers).max().unwrap_or(1);
    body += &format!(
        "\n`cargo run --release --example memory -- --executor threads --workers {workers} \
         [--memory-limit-mib L] gen:slow_param`: 256 loads of 1 MiB, each mapped with a \
         parameter that takes 200 ms, then a sum; medians of the runs.\n"
    );
    Ok(Figure {
        name: "slow-param.md",
        sources: vec![SLOW_PARAM],
        body,
    })
}
