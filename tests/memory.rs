//! The `memory` example's measurement (`examples/memory/bench.rs`) on real graphs of
//! the corpus, with small buffers: its gauge counts what the scheduler holds.
//!
//! - On the inline executor one task runs at a time in the order of core's `State`,
//!   so the peak must be exactly what driving a `State` by hand holds, counted when
//!   a task finishes (its result, its inputs, every requested result).
//! - On two threads the peak can differ, but no schedule runs a task of `k` inputs
//!   with fewer than `k + 1` results alive, nor holds more results than there are
//!   tasks.
//! - Every buffer is dropped once the results are (the measurement checks it).
#![allow(clippy::unwrap_used)] // tests panic on unexpected errors by design

#[path = "../examples/memory/bench.rs"]
mod bench;

use std::path::PathBuf;

use taskloom::taskloom_core::file::{LoadedGraph, load_json};
use taskloom::taskloom_core::{State, Status};
use taskloom::taskloom_runtime::Scheduler;

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
        let m = bench::measure(&scheduler, &file, 4096).await.unwrap();
        assert_eq!(m.peak_held, state_one_worker(&file), "{name}");
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
        let m = bench::measure(&scheduler, &file, 4096).await.unwrap();
        assert!(m.peak_held > widest, "{name}: {} held", m.peak_held);
        assert!(
            m.peak_held <= file.graph.len(),
            "{name}: {} held",
            m.peak_held
        );
        assert!(m.seconds > 0.0);
        if bench::reset_peak_rss() {
            // Linux: both figures read. (Not compared: the kernel counts RSS per CPU
            // in batches, a few hundred KiB off, more than these 4 KiB buffers make.)
            assert!(m.peak_rss > 0 && m.base_rss > 0, "{name}: {m:?}");
        }
    }
}
