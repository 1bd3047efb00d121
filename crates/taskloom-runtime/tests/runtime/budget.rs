//! The byte budget (`ComputeOptions::memory_limit`) and the memory figures: results
//! report their sizes, the loop counts them, holds back tasks that would add memory
//! while over the budget, and never deadlocks when the graph needs more.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use taskloom::callbacks::{Callback, FinishInfo, MemoryStats, TaskFinish};
use taskloom::{ComputeOptions, Graph, GraphError, Handle, Scheduler};

use crate::support::LIMIT;

const LOAD: usize = 64 * 1024;
const LOADS: usize = 64;

/// Keeps what `on_finish` says about memory, and the most bytes any `on_task_finish`
/// reported (when asked for task events).
#[derive(Default)]
struct Figures {
    memory: Mutex<Option<MemoryStats>>,
    tasks: bool,
    most_bytes: Mutex<u64>,
}

impl Figures {
    fn new(tasks: bool) -> Arc<Self> {
        Arc::new(Figures {
            tasks,
            ..Figures::default()
        })
    }

    fn memory(&self) -> MemoryStats {
        self.memory.lock().unwrap().expect("on_finish was called")
    }
}

impl Callback for Figures {
    fn task_events(&self) -> bool {
        self.tasks
    }

    fn on_task_finish(&self, event: &TaskFinish<'_>) {
        let mut most = self.most_bytes.lock().unwrap();
        *most = (*most).max(event.held_bytes);
    }

    fn on_finish(&self, info: &FinishInfo) {
        *self.memory.lock().unwrap() = Some(info.memory);
    }
}

/// A wide map → reduce: `LOADS` loads of `LOAD` bytes each, a map per load that also
/// needs a shared `param`, and a sum of the maps. The param task is slow: it waits
/// until every load was made, or for `patience` if they stop coming. Without a
/// budget the free worker makes every load meanwhile; with one, the loads stop at
/// the budget until the param is done and the maps free them.
fn map_reduce(patience: Duration) -> (Graph, Handle<u64>) {
    let made = Arc::new(AtomicUsize::new(0));
    let mut g = Graph::new();
    let seen = Arc::clone(&made);
    let param = g
        .add_sized("param", (), move || {
            let deadline = Instant::now() + patience;
            while seen.load(Ordering::SeqCst) < LOADS && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            3_u64
        })
        .unwrap();
    let maps: Vec<Handle<u64>> = (0..LOADS)
        .map(|i| {
            let made = Arc::clone(&made);
            let load = g
                .add_sized(("load", i), (), move || {
                    made.fetch_add(1, Ordering::SeqCst);
                    vec![i as u8; LOAD]
                })
                .unwrap();
            g.add_sized(("map", i), (&load, &param), |v: &Vec<u8>, p: &u64| {
                v[0] as u64 * p
            })
            .unwrap()
        })
        .collect();
    let total = g
        .add("total", &maps, |xs: &[&u64]| {
            xs.iter().copied().sum::<u64>()
        })
        .unwrap();
    (g, total)
}

const EXPECTED: u64 = 3 * (LOADS as u64 * (LOADS as u64 - 1) / 2);

#[tokio::test]
async fn a_wide_map_stays_within_the_budget_plus_one_result() {
    let scheduler = Scheduler::threads(2).unwrap();
    let one = (LOAD + 24) as u64; // a load: Vec<u8> of LOAD bytes

    // No budget: every load is made while the param runs. (Not all are held at one
    // instant: the param sees the last loads start, and the maps of loads already
    // back may free theirs before a batch's last completions arrive.)
    let (g, total) = map_reduce(LIMIT);
    let figures = Figures::new(false);
    let options = ComputeOptions::new().shared_callback(figures.clone());
    assert_eq!(
        scheduler.compute_with(&g, &total, options).await.unwrap(),
        EXPECTED
    );
    let free = figures.memory();
    assert!(free.peak_bytes >= (LOADS / 2) as u64 * one, "{free:?}");
    assert!(free.peak_results > LOADS / 2, "{free:?}");
    assert_eq!((free.limit, free.overruns), (None, 0));

    // A budget of 8 loads: an eighth of that, plus at most one load.
    let limit = 8 * one;
    let (g, total) = map_reduce(Duration::from_millis(300));
    let figures = Figures::new(true);
    let options = ComputeOptions::new()
        .memory_limit(limit)
        .shared_callback(figures.clone());
    assert_eq!(
        scheduler.compute_with(&g, &total, options).await.unwrap(),
        EXPECTED
    );
    let kept = figures.memory();
    assert!(kept.peak_bytes <= limit + one, "{kept:?}");
    assert!(
        free.peak_bytes >= 4 * limit,
        "{free:?}: not many times the budget"
    );
    assert_eq!(kept.limit, Some(limit));
    assert_eq!(
        (kept.overruns, kept.peak_over_limit),
        (0, kept.peak_bytes.saturating_sub(limit))
    );
    // Each task's event saw at most the peak.
    assert_eq!(*figures.most_bytes.lock().unwrap(), kept.peak_bytes);
}

#[tokio::test]
async fn a_graph_that_needs_more_than_the_budget_proceeds_and_counts_the_overrun() {
    for scheduler in [Scheduler::current_thread(), Scheduler::threads(2).unwrap()] {
        // One reduction of 16 loads needs them all at once.
        let mut g = Graph::new();
        let loads: Vec<Handle<Vec<u8>>> = (0..16_u8)
            .map(|i| g.add_sized(("load", i), (), move || vec![i; LOAD]).unwrap())
            .collect();
        let total = g
            .add("total", &loads, |xs: &[&Vec<u8>]| {
                xs.iter().map(|x| u64::from(x[0])).sum::<u64>()
            })
            .unwrap();
        let figures = Figures::new(false);
        let limit = 4 * LOAD as u64;
        let options = ComputeOptions::new()
            .memory_limit(limit)
            .shared_callback(figures.clone());
        assert_eq!(
            scheduler.compute_with(&g, &total, options).await.unwrap(),
            120
        );
        let m = figures.memory();
        assert_eq!(m.peak_results, 17, "{m:?}");
        assert!(m.overruns >= 11, "{m:?}");
        assert_eq!(m.peak_over_limit, m.peak_bytes - limit, "{m:?}");
        assert!(m.peak_bytes >= 16 * LOAD as u64, "{m:?}");
    }
}

#[tokio::test]
async fn results_count_as_measured_declared_or_zero_bytes() {
    let mut g = Graph::new();
    let measured = g
        .add_sized("measured", (), || String::from("abcd"))
        .unwrap(); // 24 + 4
    let declared = g.add("declared", (), || 7_u8).unwrap();
    g.declare_size(&declared, 1000).unwrap();
    let unknown = g.add("unknown", (), || vec![0_u8; 4096]).unwrap(); // not told: 0
    let fallible = g
        .try_add("fallible", &measured, |s: &String| {
            Ok::<_, String>(s.clone())
        })
        .unwrap();
    g.measure(&fallible).unwrap();
    let all = g
        .add(
            "all",
            (&measured, &declared, &unknown, &fallible),
            |a: &String, _: &u8, c: &Vec<u8>, d: &String| a.len() + c.len() + d.len(),
        )
        .unwrap();
    for scheduler in [Scheduler::current_thread(), Scheduler::threads(2).unwrap()] {
        let figures = Figures::new(true);
        let options = ComputeOptions::new().shared_callback(figures.clone());
        let n = scheduler.compute_with(&g, &all, options).await.unwrap();
        assert_eq!(n, 4096 + 8);
        let m = figures.memory();
        // Everything is held when `all` finishes: 28 + 1000 + 0 + 28, and `all`'s own
        // result (unsized: 0).
        assert_eq!((m.peak_results, m.peak_bytes), (5, 1056));
        assert_eq!(*figures.most_bytes.lock().unwrap(), 1056);
    }

    let other = Graph::new().add("x", (), || 1_u8);
    let mut g = Graph::new();
    let x = other.unwrap();
    assert!(matches!(
        g.declare_size(&x, 1),
        Err(GraphError::InvalidTarget { .. })
    ));
}
