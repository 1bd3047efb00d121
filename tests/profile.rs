//! The `profile` example's run: the Chrome trace file it writes for the seed's sum
//! holds every task exactly once, with start <= end, on a named worker track.
#![allow(clippy::unwrap_used)] // tests panic on unexpected errors by design

#[path = "../examples/profile/seed_sum.rs"]
mod seed_sum;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use taskloom::Scheduler;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_json_holds_every_task_once() {
    for (name, scheduler) in [
        ("threads", Scheduler::threads(2).unwrap()),
        ("current-thread", Scheduler::current_thread()),
    ] {
        let path = std::env::temp_dir().join(format!(
            "taskloom-profile-{name}-{}.json",
            std::process::id()
        ));
        let run = seed_sum::profile(&scheduler, Duration::from_micros(20), &path)
            .await
            .unwrap();
        assert_eq!(run.sum, 1000.0);
        assert_eq!(
            run.tasks, 1017,
            "500 ones, 500 chunk sums, 16 + 1 aggregates"
        );
        assert_eq!(run.records, run.tasks);
        // Each of the 500 chunk sums kept a core busy for 20 µs.
        assert!(
            run.elapsed >= Duration::from_micros(20 * 500 / 2),
            "{run:?}"
        );
        if taskloom::diagnostics::ResourceProfiler::is_supported() {
            assert!(
                run.samples >= 1,
                "a last sample is taken when the computation ends"
            );
        }
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let trace: Value = serde_json::from_str(&text).unwrap();
        let events = trace["traceEvents"].as_array().unwrap();
        let counter = |name: &str, arg: &str| {
            events
                .iter()
                .filter(|e| e["ph"] == "C" && e["name"] == name && !e["args"][arg].is_null())
                .count()
        };
        assert_eq!(
            counter("CPU %", "cpu %"),
            run.samples,
            "a CPU counter per sample"
        );
        assert_eq!(
            counter("memory (MiB)", "rss"),
            run.samples,
            "RSS per sample"
        );
        assert_eq!(
            counter("memory (MiB)", "held"),
            run.tasks,
            "what the loop held, at each task's end"
        );
        assert_eq!(counter("results held", "results"), run.tasks);
        let counters = events.iter().filter(|e| e["ph"] == "C").count();
        assert_eq!(
            counters,
            2 * run.samples + 2 * run.tasks,
            "no other counter"
        );

        let (graph, _) = seed_sum::graph(Duration::ZERO).unwrap();
        let mut seen: HashMap<String, usize> = graph
            .core()
            .keys()
            .iter()
            .map(|k| (k.to_string(), 0))
            .collect();
        let tracks: HashMap<u64, &str> = events
            .iter()
            .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
            .map(|e| {
                (
                    e["tid"].as_u64().unwrap(),
                    e["args"]["name"].as_str().unwrap(),
                )
            })
            .collect();
        for e in events.iter().filter(|e| e["cat"] == "task") {
            let key = e["name"].as_str().unwrap();
            *seen
                .get_mut(key)
                .unwrap_or_else(|| panic!("{name}: unknown task {key}")) += 1;
            let (ts, dur) = (e["ts"].as_f64().unwrap(), e["dur"].as_f64().unwrap());
            assert!(
                ts >= 0.0 && dur >= 0.0,
                "{name}: {key} starts at {ts} for {dur} µs"
            );
            assert_eq!(e["ph"], "X");
            assert_eq!(e["args"]["ok"], true);
            let track = tracks[&e["tid"].as_u64().unwrap()];
            assert_eq!(
                track, e["args"]["worker"],
                "{name}: {key} on the wrong track"
            );
        }
        let wrong: Vec<_> = seen.iter().filter(|(_, n)| **n != 1).collect();
        assert!(
            wrong.is_empty(),
            "{name}: tasks not seen exactly once: {wrong:?}"
        );
    }
}
