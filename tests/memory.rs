//! The `memory` example's measurement (`examples/memory/bench.rs`) on real graphs of
//! the corpus, with small buffers: the loop's own count of results and bytes held,
//! checked against a gauge of the buffers alive.
//!
//! - On the inline executor one task runs at a time in the order of core's `State`
//!   (the static order), so the peak must be exactly what driving a `State` by hand
//!   holds, counted when a task finishes (its result, its inputs, every requested
//!   result): by the loop and by the gauge alike, and the bytes are that many
//!   buffers.
//! - On two threads the peak can differ, but no schedule runs a task of `k` inputs
//!   with fewer than `k + 1` results alive, nor holds more results than there are
//!   tasks; the gauge sees at least what the loop counts.
//! - Every buffer is dropped once the results are (the measurement checks it).
#![allow(clippy::unwrap_used)] // tests panic on unexpected errors by design

#[path = "../examples/memory/bench.rs"]
#[allow(
    dead_code,
    reason = "the example uses all of the module; this test a part"
)]
mod bench;

use std::path::PathBuf;

use taskloom::Scheduler;
use taskloom::core::file::{LoadedGraph, load_json};
use taskloom::core::{State, Status};

const GRAPHS: &[&str] = &[
    "array_sum_split_every",
    "array_concatenate",
    "array_rechunk",
    "bag_foldby",
    "df_rolling",
    "delayed_etl",
];

fn load(name: &str) -> LoadedGraph {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("corpus/dask/{name}.json"));
    load_json(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The most results held when one worker drives a `State`, counted after each
/// completion and before its releases are dropped.
fn state_one_worker(file: &LoadedGraph) -> usize {
    let mut state = State::new(&file.graph, &file.targets).unwrap();
    let mut max = 0;
    while let Some(task) = state.pop_ready() {
        state.finish(task).unwrap();
        max = max.max(state.counts().held);
        while state.pop_release().is_some() {}
    }
    assert_eq!(state.status(), Status::Done);
    max
}

#[tokio::test(flavor = "current_thread")]
async fn inline_runs_hold_exactly_what_the_state_machine_holds() {
    let scheduler = Scheduler::current_thread();
    for name in GRAPHS {
        let file = load(name);
        let m = bench::measure(&scheduler, &file, 4096, bench::Sizes::Declared, None)
            .await
            .unwrap();
        let expected = state_one_worker(&file);
        assert_eq!(m.memory.peak_results, expected, "{name}");
        assert_eq!(m.gauge_peak, expected, "{name}");
        let buffer = 4096 + std::mem::size_of::<bench::Buffer>() as u64;
        assert_eq!(m.memory.peak_bytes, expected as u64 * buffer, "{name}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn threaded_runs_hold_a_possible_number_of_results() {
    let scheduler = Scheduler::threads(2).unwrap();
    for name in GRAPHS {
        let file = load(name);
        let widest = file
            .graph
            .ids()
            .map(|t| file.graph.deps(t).len())
            .max()
            .unwrap();
        let m = bench::measure(&scheduler, &file, 4096, bench::Sizes::Declared, None)
            .await
            .unwrap();
        let held = m.memory.peak_results;
        assert!(held > widest, "{name}: {held} held");
        assert!(held <= file.graph.len(), "{name}: {held} held");
        assert!(
            m.gauge_peak >= held,
            "{name}: gauge {} < {held}",
            m.gauge_peak
        );
        assert!(m.seconds > 0.0);
        if bench::reset_peak_rss() {
            // Linux: both figures read. (Not compared: the kernel counts RSS per CPU
            // in batches, a few hundred KiB off, more than these 4 KiB buffers make.)
            assert!(m.peak_rss > 0 && m.base_rss > 0, "{name}: {m:?}");
        }
    }
}

/// The example's `gen:slow_param`: while the param sleeps, a free worker makes every
/// load, and nothing the order does can stop it (each map's result is held until the
/// sum). The byte budget can: the loads wait at the limit until maps free them.
#[tokio::test(flavor = "current_thread")]
async fn the_byte_budget_holds_back_loads_a_slow_task_would_let_pile_up() {
    const LOADS: usize = 24;
    const LEN: usize = 64 * 1024;
    let scheduler = Scheduler::threads(2).unwrap();
    let free = bench::measure_with(&scheduler, None, |g| bench::slow_param(LOADS, LEN, g))
        .await
        .unwrap();
    // The loop counts bytes only of results it holds; every load is held at once.
    assert!(
        free.memory.peak_bytes >= (LOADS * LEN) as u64,
        "without a budget: {free:?}"
    );
    let limit = 6 * LEN as u64;
    let held = bench::measure_with(&scheduler, Some(limit), |g| {
        bench::slow_param(LOADS, LEN, g)
    })
    .await
    .unwrap();
    assert_eq!(held.memory.limit, Some(limit));
    assert!(
        held.memory.peak_bytes <= limit + 2 * (LEN as u64 + 2048),
        "with a budget of 6 loads: {held:?}"
    );
}

/// Results of a type that owns heap memory, added with plain `Graph::add` (no size
/// declared, as most users write them): the scheduler cannot tell a 1 MiB buffer
/// from a small one, so two workers hold the run to the static order's count. Live
/// buffers, counted by their `Drop`, stay within the plan (what one worker running
/// the static order holds: its max pressure, and the result being made) plus one
/// per worker, plus the requested results. Without the plan's count, batches
/// started producers long before their consumers could run: 60 to 93 buffers on
/// `array_sum_split_every`, whose plan holds 14.
#[tokio::test(flavor = "current_thread")]
async fn two_workers_hold_undeclared_results_to_the_plan() {
    const WORKERS: usize = 2;
    let scheduler = Scheduler::threads(WORKERS).unwrap();
    for name in ["array_sum_split_every", "bag_foldby", "array_x_plus_xT"] {
        let file = load(name);
        let plan = State::new(&file.graph, &file.targets)
            .unwrap()
            .planned_pressure() as usize
            + 1;
        let m = bench::measure(&scheduler, &file, 1 << 20, bench::Sizes::Undeclared, None)
            .await
            .unwrap();
        let bound = plan + WORKERS + file.targets.len();
        assert!(
            m.gauge_peak <= bound,
            "{name}: {} buffers alive at once, plan {plan}, bound {bound}",
            m.gauge_peak
        );
    }
}
