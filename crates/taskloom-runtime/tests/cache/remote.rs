//! Remote tasks on the process pool: their values come back to the parent, which
//! stores them (a cached remote task neither stays in its worker nor runs inside a
//! chain but last); a rerun loads them and runs nothing in the workers.
//!
//! Each remote function leaves a marker file in a directory its value carries, so
//! that the test counts the calls made in the workers.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use taskloom::cache::{Cache, Cached};
use taskloom::inputs::Many;
use taskloom::process::ProcessPool;
use taskloom::remote::{Registry, Remote};
use taskloom::{ComputeOptions, Graph, Handle, Scheduler};

use crate::support::{Events, entry_files, runtime, scratch};

pub(crate) const TESTS: &[crate::Test] = &[(
    "remote::remote_results_are_stored_by_the_parent_and_a_rerun_runs_nothing_remotely",
    remote_results_are_stored_by_the_parent_and_a_rerun_runs_nothing_remotely,
)];

/// A part: the directory of the markers, and its bytes.
type Part = (PathBuf, Vec<u8>);

/// The remote functions of these tests.
pub(crate) struct Fns {
    /// Part `i`: 10 kB.
    part: Remote<(PathBuf, u32), Part>,
    /// A part with one more byte.
    grow: Remote<(Part,), Part>,
    /// The parts' lengths, summed.
    total: Remote<Many<Part>, u64>,
}

static FNS: OnceLock<Fns> = OnceLock::new();

/// Registers the functions, and serves them if this process is a pool's worker.
pub(crate) fn init() {
    let mut r = Registry::new();
    let fns = Fns {
        part: r
            .register("cache_part", |dir: &PathBuf, i: &u32| {
                mark(dir, "part");
                (dir.clone(), vec![*i as u8; 10_000])
            })
            .unwrap(),
        grow: r
            .register("cache_grow", |p: &Part| {
                mark(&p.0, "grow");
                let mut bytes = p.1.clone();
                bytes.push(b'+');
                (p.0.clone(), bytes)
            })
            .unwrap(),
        total: r
            .register("cache_total", |ps: &[&Part]| {
                if let Some(p) = ps.first() {
                    mark(&p.0, "total");
                }
                ps.iter().map(|p| p.1.len() as u64).sum::<u64>()
            })
            .unwrap(),
    };
    taskloom::remote::init(&r); // in a worker, serves and never returns
    let _ = FNS.set(fns);
}

/// Leaves a marker of one call of `name` in `dir`.
fn mark(dir: &Path, name: &str) {
    static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    std::fs::write(dir.join(format!("{name}-{}-{n}", std::process::id())), b"").unwrap();
}

/// The calls made in the workers, by function name, sorted.
fn calls(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter_map(|f| {
            let name = f.file_name().to_string_lossy().into_owned();
            name.split('-').next().map(str::to_owned)
        })
        .collect();
    names.sort();
    names
}

/// Four parts made remotely, each grown remotely (a linear chain a worker would run
/// as one call), their total made remotely: every task cached.
fn graph(marks: &Path) -> (Graph, Handle<u64>) {
    let f = FNS.get().expect("remote::init ran");
    let mut g = Graph::new();
    let dir = marks.to_owned();
    let at = g.add("marks", (), move || dir.clone()).unwrap();
    g.cached(&at, "v1").unwrap();
    let grown: Vec<_> = (0..4_u32)
        .map(|i| {
            let n = g.add(("n", i), (), move || i).unwrap();
            let part = g.add_remote(("part", i), (&at, &n), &f.part).unwrap();
            let grow = g.add_remote(("grow", i), &part, &f.grow).unwrap();
            g.cached(&n, "v1").unwrap();
            g.cached(&part, "v1").unwrap();
            g.cached(&grow, Cached::new("v1")).unwrap();
            grow
        })
        .collect();
    let total = g.add_remote("total", &grown[..], &f.total).unwrap();
    g.cached(&total, "v1").unwrap();
    (g, total)
}

fn remote_results_are_stored_by_the_parent_and_a_rerun_runs_nothing_remotely(_: &()) {
    let dir = scratch("remote");
    let marks = scratch("remote-marks");
    std::fs::create_dir_all(&marks).unwrap();
    let cache = Cache::open(&dir).unwrap();
    let rt = runtime();
    let pool = ProcessPool::builder().workers(2).build().unwrap();
    let s = Scheduler::builder().executor(pool.clone()).build().unwrap();
    let (g, total) = graph(&marks);
    let compute = || {
        let events = Events::default();
        let options = ComputeOptions::new()
            .cache(cache.clone())
            .callback(events.clone());
        let got = rt.block_on(s.compute_with(&g, &total, options)).unwrap();
        assert_eq!(got, 4 * 10_001);
        events
    };

    let events = compute();
    let remote = ["grow", "part"]
        .iter()
        .flat_map(|k| (0..4).map(move |i| format!("('{k}', {i})")));
    let mut stored: Vec<String> = remote.collect();
    stored.extend((0..4).map(|i| format!("('n', {i})")));
    stored.extend(["marks".to_owned(), "total".to_owned()]);
    stored.sort();
    assert_eq!(events.keys("stored"), stored, "{:?}", events.all());
    assert_eq!(entry_files(&dir).len(), 14);
    let ran = calls(&marks);
    assert_eq!(ran.len(), 9, "four parts, four grown, one total: {ran:?}");

    // Again: the total is loaded, nothing runs in a worker.
    let events = compute();
    assert_eq!(events.all(), [("total".to_owned(), "hit".to_owned())]);
    assert_eq!(calls(&marks), ran, "no remote call");

    // The small entries gone (the total's, and the inputs of the parts): the total
    // runs again in a worker, on the grown parts, loaded.
    for small in entry_files(&dir) {
        if std::fs::metadata(&small).unwrap().len() < 1000 {
            std::fs::remove_file(small).unwrap();
        }
    }
    let events = compute();
    let grown: Vec<String> = (0..4).map(|i| format!("('grow', {i})")).collect();
    assert_eq!(events.keys("hit"), grown, "{:?}", events.all());
    assert_eq!(events.keys("stored"), ["total"]);
    assert_eq!(calls(&marks).len(), 10, "the total alone ran");
    drop(pool);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&marks);
}
