//! The profiler records each task once, with its worker and times; the resource
//! profiler samples while computations run; the Chrome trace holds both, one track
//! per worker.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value as Json;
use taskloom::callbacks::Outcome;
use taskloom::diagnostics::{ChromeTrace, Profiler, ResourceProfiler};
use taskloom::{ComputeOptions, Graph, Scheduler};

use crate::support::{LIMIT, block_until, tree};

/// Task events of a trace, by name.
fn task_events(trace: &Json) -> HashMap<String, Vec<Json>> {
    let mut by_name: HashMap<String, Vec<Json>> = HashMap::new();
    for e in trace["traceEvents"].as_array().unwrap() {
        if e["cat"] == "task" {
            let name = e["name"].as_str().unwrap().to_owned();
            by_name.entry(name).or_default().push(e.clone());
        }
    }
    by_name
}

#[tokio::test]
async fn every_task_is_recorded_once_on_its_worker() {
    for scheduler in [Scheduler::current_thread(), Scheduler::threads(2).unwrap()] {
        let (g, root) = tree("prof", 50);
        let profiler = Arc::new(Profiler::new());
        let options = ComputeOptions::new().shared_callback(profiler.clone());
        assert_eq!(
            scheduler.compute_with(&g, &root, options).await.unwrap(),
            50
        );

        let records = profiler.records();
        let mut keys: Vec<String> = records.iter().map(|r| r.key.to_string()).collect();
        keys.sort();
        let mut expected: Vec<String> = g.core().keys().iter().map(ToString::to_string).collect();
        expected.sort();
        assert_eq!(keys, expected);
        let computes = profiler.computes();
        assert_eq!(computes.len(), 1);
        let (end, outcome) = computes[0].end.clone().unwrap();
        assert_eq!(outcome, Outcome::Done);
        for r in &records {
            assert!(r.ok());
            assert!(computes[0].start <= r.start && r.start <= r.end && r.end <= end);
            let worker = r.worker.to_string();
            let expected = if scheduler.executor().is_inline() {
                "inline"
            } else {
                "thread-"
            };
            assert!(worker.starts_with(expected), "{worker}");
        }
    }
}

#[tokio::test]
async fn failed_tasks_are_recorded_with_their_error() {
    let mut g = Graph::new();
    let a = g.add("a", (), || 1_u64).unwrap();
    let bad = g
        .try_add("bad \"one\"", &a, |_: &u64| Err::<u64, _>("it broke"))
        .unwrap();
    let profiler = Arc::new(Profiler::new());
    let options = ComputeOptions::new().shared_callback(profiler.clone());
    let err = Scheduler::current_thread()
        .compute_with(&g, &bad, options)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("it broke"));
    let records = profiler.records();
    let failed: Vec<_> = records.iter().filter(|r| !r.ok()).collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].error.as_deref(), Some("it broke"));

    // The trace is valid JSON even with quotes in keys, and carries the error.
    let trace: Json = serde_json::from_str(&ChromeTrace::new().tasks(&profiler).to_json()).unwrap();
    let events = task_events(&trace);
    let e = &events["bad \"one\""][0];
    assert_eq!(e["args"]["ok"], false);
    assert_eq!(e["args"]["error"], "it broke");
    let compute = trace["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["cat"] == "compute")
        .unwrap();
    assert!(
        compute["args"]["outcome"]
            .as_str()
            .unwrap()
            .starts_with("failed")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_computations_sharing_a_profiler_are_told_apart() {
    // `long` starts first and ends last, failing; `short` starts and ends while
    // `long` runs. Every task and each end is attributed to its own computation.
    let s = Scheduler::threads(2).unwrap();
    let profiler = Arc::new(Profiler::new());
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let started_tx = std::sync::Mutex::new(Some(started_tx));
    let go_rx = std::sync::Mutex::new(go_rx);
    let mut long = Graph::new();
    let first = long.add("long-first", (), || 1_u8).unwrap();
    let waits = long
        .try_add("long-waits", &first, move |_: &u8| {
            if let Some(tx) = started_tx.lock().unwrap().take() {
                let _ = tx.send(());
            }
            let _ = go_rx.lock().unwrap().recv_timeout(Duration::from_secs(30));
            Err::<u8, _>("long failed on purpose")
        })
        .unwrap();
    let options = ComputeOptions::new().shared_callback(profiler.clone());
    let long_run = {
        let s = s.clone();
        tokio::spawn(async move { s.compute_with(&long, &waits, options).await })
    };
    started_rx.await.unwrap();
    let (short, short_root) = tree("short", 8);
    let options = ComputeOptions::new().shared_callback(profiler.clone());
    s.compute_with(&short, &short_root, options).await.unwrap();
    go_tx.send(()).unwrap();
    assert!(long_run.await.unwrap().is_err());

    let computes = profiler.computes();
    assert_eq!(computes.len(), 2);
    let (long_c, short_c) = (&computes[0], &computes[1]);
    assert_ne!(long_c.computation, short_c.computation);
    assert!(
        matches!(&long_c.end, Some((_, Outcome::Failed(m))) if m.contains("on purpose")),
        "{:?}",
        long_c.end
    );
    assert!(
        matches!(&short_c.end, Some((_, Outcome::Done))),
        "{:?}",
        short_c.end
    );
    for r in profiler.records() {
        let expected = if r.key.to_string().starts_with("long") {
            long_c.computation
        } else {
            short_c.computation
        };
        assert_eq!(r.computation, expected, "{}", r.key);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_has_a_named_track_per_worker_and_resource_counters() {
    let scheduler = Scheduler::threads(2).unwrap();
    let (mut g, root) = tree("busy", 32);
    // Async tasks overlap on the one `tokio` worker: they need lanes. Each waits at a
    // barrier for all four, so all four are running at once, however slow the machine.
    let barrier = Arc::new(tokio::sync::Barrier::new(4));
    let waits: Vec<_> = (0..4)
        .map(|i| {
            let barrier = Arc::clone(&barrier);
            g.add_async(("wait", i), (), move || {
                let barrier = Arc::clone(&barrier);
                async move {
                    barrier.wait().await;
                    1_u64
                }
            })
            .unwrap()
        })
        .collect();
    let waited = g
        .add("waited", &waits, |xs: &[&u64]| {
            xs.iter().copied().sum::<u64>()
        })
        .unwrap();
    let total = g
        .add("total", (&root, &waited), |a: &u64, b: &u64| a + b)
        .unwrap();
    let profiler = Arc::new(Profiler::new());
    let resources = Arc::new(ResourceProfiler::with_interval(Duration::from_millis(5)));
    let options = ComputeOptions::new()
        .shared_callback(profiler.clone())
        .shared_callback(resources.clone());
    let computed = tokio::time::timeout(LIMIT, scheduler.compute_with(&g, &total, options))
        .await
        .expect("the four async tasks ran at once");
    assert_eq!(computed.unwrap(), 36);

    let path = std::env::temp_dir().join(format!("taskloom-trace-{}.json", std::process::id()));
    ChromeTrace::new()
        .tasks(&profiler)
        .resources(&resources)
        .save(&path)
        .unwrap();
    let trace: Json = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    std::fs::remove_file(&path).unwrap();
    let events = trace["traceEvents"].as_array().unwrap();

    let track_names: HashMap<u64, String> = events
        .iter()
        .filter(|e| e["name"] == "thread_name")
        .map(|e| {
            (
                e["tid"].as_u64().unwrap(),
                e["args"]["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let tasks = task_events(&trace);
    assert_eq!(tasks.len(), g.len());
    // Tasks on one track never overlap, and each track is named after its worker.
    let mut by_track: HashMap<u64, Vec<(f64, f64)>> = HashMap::new();
    for (name, list) in &tasks {
        assert_eq!(list.len(), 1, "{name} appears {} times", list.len());
        let e = &list[0];
        let tid = e["tid"].as_u64().unwrap();
        let track = &track_names[&tid];
        let worker = e["args"]["worker"].as_str().unwrap();
        assert!(
            track.starts_with(worker),
            "{name}: track {track} for worker {worker}"
        );
        let (ts, dur) = (e["ts"].as_f64().unwrap(), e["dur"].as_f64().unwrap());
        assert!(dur >= 0.0);
        by_track.entry(tid).or_default().push((ts, ts + dur));
    }
    for spans in by_track.values_mut() {
        spans.sort_by(|a, b| a.0.total_cmp(&b.0));
        for pair in spans.windows(2) {
            assert!(
                pair[0].1 <= pair[1].0 + 1e-3,
                "overlap on one track: {pair:?}"
            );
        }
    }
    assert!(
        track_names
            .values()
            .filter(|n| n.starts_with("tokio"))
            .count()
            > 1,
        "overlapping async tasks get lanes: {track_names:?}"
    );

    // What the loop held: a point per task, next to the sampled RSS.
    let held = events
        .iter()
        .filter(|e| e["name"] == "memory (MiB)" && !e["args"]["held"].is_null())
        .count();
    let results = events
        .iter()
        .filter(|e| e["name"] == "results held")
        .count();
    let tasks = events.iter().filter(|e| e["cat"] == "task").count();
    assert_eq!((held, results), (tasks, tasks));
    let rss = events
        .iter()
        .filter(|e| e["name"] == "memory (MiB)" && !e["args"]["rss"].is_null());
    if ResourceProfiler::is_supported() {
        let first = rss.clone().next().unwrap();
        assert!(first["args"]["rss"].as_f64().unwrap() > 0.0);
        assert!(events.iter().any(|e| e["name"] == "CPU %"));
    } else {
        assert_eq!(rss.count(), 0);
    }
}

#[test]
fn the_resource_profiler_samples_between_start_and_stop_only() {
    let resources = ResourceProfiler::with_interval(Duration::from_millis(2));
    resources.start();
    resources.start(); // two computations
    resources.stop();
    if ResourceProfiler::is_supported() {
        // One computation still runs: samples keep coming.
        assert!(
            block_until(|| resources.samples().len() >= 2),
            "fewer than 2 samples in {LIMIT:?}"
        );
    }
    resources.stop();
    let taken = resources.samples();
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(resources.samples(), taken, "no sample after the last stop");
    if ResourceProfiler::is_supported() {
        assert!(taken.len() >= 3, "two while running, one at the stop");
        assert!(taken.windows(2).all(|w| w[0].at <= w[1].at));
        assert!(
            taken
                .iter()
                .all(|s| s.cpu_percent >= 0.0 && s.rss_bytes > 0)
        );
    } else {
        assert!(taken.is_empty());
    }
}
