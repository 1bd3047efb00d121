//! taskloom-core with no executor: how fast `State` drains, how fast graphs are built
//! and ordered, and how many bytes the scheduler keeps per task.
//!
//! Run: `cargo bench -p taskloom-benches --bench core_state` (all graphs) or
//! `cargo bench -p taskloom-benches --bench core_state -- chain_1m` (a filter).
//!
//! Graphs: every file of the benchmark set in `benches/graphs` (or the folder named by
//! `TASKLOOM_GRAPHS`; a missing file stops the run with its path), plus two generated
//! million-task graphs: `chain_1m`
//! (one chain) and `wide_1m` (1,000 groups of 999 independent leaves, each group
//! summed by one task). Before the timings, a table gives the bytes of scheduler state
//! per task and the drain cost per extra edge (crosstalk k=16 against k=1).
#![allow(missing_docs, clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Instant;

use divan::counter::ItemsCount;
use divan::{Bencher, black_box};
use taskloom::core::file::load_json;
use taskloom::core::{Graph, GraphBuilder, Key, State, TaskId, cull, order};

const GENERATED: &[&str] = &["chain_1m", "wide_1m"];
const ALL: &[&str] = &[
    "seed_sum",
    "seed_sum_optimized",
    "seed_sum_small",
    "chains_1k",
    "chains_10k",
    "chains_100k",
    "crosstalk_10k_k1",
    "crosstalk_10k_k2",
    "crosstalk_10k_k4",
    "crosstalk_10k_k8",
    "crosstalk_10k_k16",
    "tree_1024",
    "tree_16384",
    "chain_1m",
    "wide_1m",
];

/// A benchmark graph as plain data: keys and dependency positions in a topological
/// order, so building can be timed without JSON parsing.
struct Spec {
    keys: Vec<Key>,
    /// Dependencies of task `i`: `deps[offsets[i]..offsets[i + 1]]`.
    offsets: Vec<usize>,
    deps: Vec<TaskId>,
    targets: Vec<TaskId>,
}

impl Spec {
    fn new() -> Self {
        Spec {
            keys: Vec::new(),
            offsets: vec![0],
            deps: Vec::new(),
            targets: Vec::new(),
        }
    }

    fn push(&mut self, key: Key, deps: impl IntoIterator<Item = usize>) -> usize {
        self.keys.push(key);
        self.deps.extend(deps.into_iter().map(TaskId::from_index));
        self.offsets.push(self.deps.len());
        self.keys.len() - 1
    }

    fn deps(&self, i: usize) -> &[TaskId] {
        &self.deps[self.offsets[i]..self.offsets[i + 1]]
    }

    fn edges(&self) -> usize {
        self.deps.len()
    }

    /// Builds the graph by id (the path of the runtime's typed graphs).
    fn build(&self) -> (Graph<()>, Vec<TaskId>) {
        let mut g = Graph::with_capacity(self.keys.len(), self.edges());
        for (i, key) in self.keys.iter().enumerate() {
            g.push(key.clone(), self.deps(i), ()).unwrap();
        }
        (g, self.targets.clone())
    }

    /// Builds the graph by key in reverse order (the path of a Dask dict or JSON file,
    /// with the worst insertion order for a topological sort).
    fn build_by_key(&self) -> Graph<()> {
        let mut b = GraphBuilder::with_capacity(self.keys.len(), self.edges());
        for (i, key) in self.keys.iter().enumerate().rev() {
            b.add(
                key.clone(),
                self.deps(i).iter().map(|d| &self.keys[d.index()]),
                (),
            )
            .unwrap();
        }
        b.build().unwrap()
    }
}

/// `benches/graphs` in this repository, or the folder named by `TASKLOOM_GRAPHS`.
fn graphs_dir() -> PathBuf {
    std::env::var_os("TASKLOOM_GRAPHS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("graphs"))
}

/// Loads (or generates) a benchmark graph. A graph file that cannot be read or parsed
/// stops the run naming its path: a benchmark that silently registered nothing would
/// look like a fast one.
fn load(name: &str) -> Spec {
    if GENERATED.contains(&name) {
        return if name == "chain_1m" {
            chain(1_000_000)
        } else {
            wide(1000, 999)
        };
    }
    let path = graphs_dir().join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "benchmark graph {}: {e} (the graphs are in benches/graphs; \
             TASKLOOM_GRAPHS names another folder)",
            path.display()
        )
    });
    let loaded = load_json(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let g = loaded.graph;
    let mut spec = Spec::new();
    for id in g.ids() {
        spec.push(g.key(id).clone(), g.deps(id).iter().map(|d| d.index()));
    }
    spec.targets = loaded.targets;
    spec
}

fn chain(n: usize) -> Spec {
    let name: std::sync::Arc<str> = "chain".into();
    let mut spec = Spec::new();
    for i in 0..n {
        spec.push(Key::tuple(name.clone(), [i as i64]), i.checked_sub(1));
    }
    spec.targets = vec![TaskId::from_index(n - 1)];
    spec
}

fn wide(groups: usize, leaves: usize) -> Spec {
    let (leaf, sum): (std::sync::Arc<str>, std::sync::Arc<str>) = ("leaf".into(), "sum".into());
    let mut spec = Spec::new();
    for g in 0..groups {
        let first = spec.keys.len();
        for l in 0..leaves {
            spec.push(Key::tuple(leaf.clone(), [g as i64, l as i64]), None);
        }
        let total = spec.push(Key::tuple(sum.clone(), [g as i64]), first..first + leaves);
        spec.targets.push(TaskId::from_index(total));
    }
    spec
}

/// A benchmark graph: its spec, the graph built from it and its targets.
type Loaded = (Spec, Graph<()>, Vec<TaskId>);

/// Graphs are loaded once per process and shared by all benchmarks.
fn spec(name: &str) -> &'static Loaded {
    static CACHE: OnceLock<Vec<(&'static str, Loaded)>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| {
        ALL.iter()
            .map(|&n| {
                let s = load(n);
                let (g, t) = s.build();
                (n, (s, g, t))
            })
            .collect()
    });
    cache
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| s)
        .unwrap_or_else(|| panic!("{name} is not one of the benchmark graphs"))
}

/// The driver loop with no executor: one task at a time, results dropped at once.
fn drain(state: &mut State) -> usize {
    let mut ran = 0;
    while let Some(task) = state.pop_ready() {
        state.finish(black_box(task)).unwrap();
        while let Some(r) = state.pop_release() {
            black_box(r);
        }
        ran += 1;
    }
    ran
}

#[divan::bench(args = ALL, sample_count = 20)]
fn drain_state(bencher: Bencher, name: &str) {
    let (_, g, targets) = spec(name);
    bencher
        .counter(ItemsCount::new(g.len()))
        .with_inputs(|| State::new(g, targets).unwrap())
        .bench_local_refs(drain);
}

#[divan::bench(args = ALL, sample_count = 20)]
fn build(bencher: Bencher, name: &str) {
    let (s, _, _) = spec(name);
    bencher
        .counter(ItemsCount::new(s.keys.len()))
        .bench_local(|| s.build());
}

#[divan::bench(args = ALL, sample_count = 10)]
fn build_by_key(bencher: Bencher, name: &str) {
    let (s, _, _) = spec(name);
    bencher
        .counter(ItemsCount::new(s.keys.len()))
        .bench_local(|| {
            let g = s.build_by_key();
            let targets = g
                .resolve(s.targets.iter().map(|t| &s.keys[t.index()]))
                .unwrap();
            (g, targets)
        });
}

/// `State::new`: cull, order and the state's own arrays.
#[divan::bench(args = ALL, sample_count = 20)]
fn cull_order_state(bencher: Bencher, name: &str) {
    let (_, g, targets) = spec(name);
    bencher
        .counter(ItemsCount::new(g.len()))
        .bench_local(|| State::new(g, targets).unwrap());
}

#[divan::bench(args = ALL, sample_count = 20)]
fn order_only(bencher: Bencher, name: &str) {
    let (_, g, targets) = spec(name);
    let culled = cull(g, targets).unwrap();
    bencher
        .counter(ItemsCount::new(g.len()))
        .bench_local(|| order(g, &culled));
}

/// Median of `runs` timings of `f`, in nanoseconds.
fn median_ns(runs: usize, mut f: impl FnMut() -> std::time::Duration) -> f64 {
    let mut t: Vec<f64> = (0..runs).map(|_| f().as_nanos() as f64).collect();
    t.sort_by(f64::total_cmp);
    t[runs / 2]
}

fn report() {
    println!("scheduler state per task (State::heap_bytes; graph arrays separately)");
    println!(
        "{:<20}{:>9}{:>9}{:>12}{:>12}{:>18}{:>14}",
        "graph", "tasks", "edges", "state B", "B/task", "(B-8/edge)/task", "graph B/task"
    );
    for &name in ALL {
        let (_, g, targets) = spec(name);
        let state = State::new(g, targets).unwrap();
        let bytes = state.heap_bytes();
        let (n, e) = (g.len() as f64, g.edge_count() as f64);
        println!(
            "{name:<20}{:>9}{:>9}{:>12}{:>12.1}{:>18.1}{:>14.1}",
            g.len(),
            g.edge_count(),
            bytes,
            bytes as f64 / n,
            (bytes as f64 - 8.0 * e) / n,
            g.heap_bytes() as f64 / n
        );
    }
    let ((_, g1, t1), (_, g16, t16)) = (spec("crosstalk_10k_k1"), spec("crosstalk_10k_k16"));
    let time = |g: &Graph<()>, t: &[TaskId]| {
        median_ns(31, || {
            let mut state = State::new(g, t).unwrap();
            let start = Instant::now();
            black_box(drain(&mut state));
            start.elapsed()
        })
    };
    let (a, b) = (time(g1, t1), time(g16, t16));
    let extra = (g16.edge_count() - g1.edge_count()) as f64;
    println!(
        "\ndrain per extra edge: crosstalk k16 {:.0} µs, k1 {:.0} µs -> {:.2} ns per extra edge\n",
        b / 1e3,
        a / 1e3,
        (b - a) / extra
    );
}

fn main() {
    report();
    divan::main();
}
