//! A task whose worker died while running it is run again on a fresh worker, up to
//! the pool's `retries`; tasks the dead worker never started are sent again without
//! counting an attempt.

use std::sync::Arc;

use taskloom::diagnostics::Report;
use taskloom::executor::{DEFAULT_RETRIES, Worker};
use taskloom::process::ProcessPool;
use taskloom::{ComputeError, ComputeOptions, Graph, Scheduler, TaskErrorKind};

use crate::deaths::{scratch_dir, signal, state};
use crate::failures::eventually;
use crate::functions::Fns;
use crate::roundtrip::runtime;

pub(crate) const TESTS: &[crate::Test] = &[
    (
        "retries::crash_is_retried_on_a_fresh_worker",
        crash_is_retried_on_a_fresh_worker,
    ),
    (
        "retries::report_marks_the_lost_worker_and_the_retry",
        report_marks_the_lost_worker_and_the_retry,
    ),
    (
        "retries::limit_names_every_attempt",
        limit_names_every_attempt,
    ),
    (
        "retries::zero_retries_fail_at_once",
        zero_retries_fail_at_once,
    ),
    (
        "retries::queued_calls_are_not_attempts",
        queued_calls_are_not_attempts,
    ),
    (
        "retries::unread_frame_is_not_an_attempt",
        unread_frame_is_not_an_attempt,
    ),
    (
        "retries::calls_unanswered_by_a_dead_worker_run_alone_to_find_the_killer",
        calls_unanswered_by_a_dead_worker_run_alone_to_find_the_killer,
    ),
];

/// A scheduler on a pool of one worker that allows one retry, handing out batches
/// of `chunksize` tasks (what is ready together goes in one batch).
fn one_worker_one_retry(chunksize: usize) -> Scheduler {
    let pool = ProcessPool::builder()
        .workers(1)
        .retries(1)
        .build()
        .unwrap();
    Scheduler::builder()
        .executor(pool)
        .chunksize(chunksize)
        .build()
        .unwrap()
}

/// The error of a computation, checked to be about `key`.
fn task_error<T: std::fmt::Debug>(
    result: Result<T, ComputeError>,
    key: &str,
) -> (TaskErrorKind, String) {
    match result {
        Err(ComputeError::Task { key: k, error }) => {
            assert_eq!(k.to_string(), key, "{error}");
            (error.kind(), error.message().to_owned())
        }
        other => panic!("expected a task error, got {other:?}"),
    }
}

fn crash_is_retried_on_a_fresh_worker(f: &Fns) {
    assert_eq!(DEFAULT_RETRIES, 3);
    let rt = runtime();
    let pool = ProcessPool::builder().workers(1).build().unwrap();
    let s = Scheduler::builder().executor(pool.clone()).build().unwrap();
    let first = pool.pids()[0].unwrap();
    let dir = scratch_dir("crash-once");
    let mut g = Graph::new();
    let d = g
        .add("dir", (), {
            let dir = dir.clone();
            move || dir.clone()
        })
        .unwrap();
    let c = g.add_remote("crashes-once", &d, &f.crash_once_a).unwrap();
    let ran_on = rt.block_on(s.compute(&g, &c)).unwrap();
    assert_ne!(ran_on, first, "the retry ran on the replacement");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The callbacks hear the lost run with the retried task's end, and the run report
/// names both workers as the events do and marks the loss.
fn report_marks_the_lost_worker_and_the_retry(f: &Fns) {
    let rt = runtime();
    let pool = ProcessPool::builder().workers(1).build().unwrap();
    let s = Scheduler::builder().executor(pool.clone()).build().unwrap();
    let first = pool.pids()[0].unwrap();
    let dir = scratch_dir("crash-once-report");
    let mut g = Graph::new();
    let d = g
        .add("dir", (), {
            let dir = dir.clone();
            move || dir.clone()
        })
        .unwrap();
    let c = g.add_remote("crashes-once", &d, &f.crash_once_a).unwrap();
    let report = Arc::new(Report::new());
    report.graph(&g);
    let options = ComputeOptions::new().shared_callback(report.clone());
    let second = rt.block_on(s.compute_with(&g, &c, options)).unwrap();
    let _ = std::fs::remove_dir_all(&dir);

    let records = report.profiler().records();
    let crashed = records
        .iter()
        .find(|r| r.key.to_string() == "crashes-once")
        .unwrap();
    assert_eq!(crashed.lost_runs.len(), 1);
    let lost = &crashed.lost_runs[0];
    assert_eq!(
        lost.worker,
        Worker::Process {
            index: 0,
            pid: first
        }
    );
    assert!(lost.at <= crashed.start, "lost before the retry started");
    assert_eq!(
        crashed.worker,
        Worker::Process {
            index: 0,
            pid: second
        }
    );

    let html = report.to_html();
    let start = html
        .find(r#"<script type="application/json" id="data">"#)
        .unwrap();
    let json = &html[start..];
    let json = &json[json.find('>').unwrap() + 1..json.find("</script>").unwrap()];
    let data: serde_json::Value = serde_json::from_str(json).unwrap();
    let lanes: Vec<&str> = data["lanes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(
        lanes.contains(&format!("process-0 (pid {second})").as_str()),
        "{lanes:?}"
    );
    assert_eq!(data["retriedCount"], 1);
    assert_eq!(data["lostCount"], 1);
    let lost = &data["lost"][0];
    assert_eq!(lost["worker"], format!("process-0 (pid {first})"));
    assert_eq!(lost["key"], "crashes-once");
    assert!(lost["ended"].as_str().unwrap().contains("signal"), "{lost}");
    assert_eq!(
        lanes[lost["lane"].as_u64().unwrap() as usize],
        format!("process-0 (pid {first})")
    );
}

fn limit_names_every_attempt(f: &Fns) {
    let rt = runtime();
    let pool = ProcessPool::builder()
        .workers(2)
        .retries(2)
        .build()
        .unwrap();
    let s = Scheduler::builder().executor(pool.clone()).build().unwrap();
    let mut g = Graph::new();
    let c = g.add_remote("always-crashes", (), &f.aborts).unwrap();
    let (kind, message) = task_error(rt.block_on(s.compute(&g, &c)), "always-crashes");
    assert_eq!(kind, TaskErrorKind::WorkerLost, "{message}");
    assert!(message.contains("each of 3 attempts"), "{message}");
    assert_eq!(message.matches("signal 6 (SIGABRT").count(), 3, "{message}");
    for n in 1..=3 {
        assert!(
            message.contains(&format!("attempt {n} on process-")),
            "{message}"
        );
    }
    // Three different workers (each attempt killed its own).
    let pids: std::collections::BTreeSet<&str> = message
        .match_indices("(pid ")
        .map(|(i, _)| &message[i..i + message[i..].find(')').unwrap()])
        .collect();
    assert_eq!(pids.len(), 3, "{message}");
    crate::failures::still_serves(&s, f);
}

fn zero_retries_fail_at_once(f: &Fns) {
    let rt = runtime();
    let pool = ProcessPool::builder()
        .workers(1)
        .retries(0)
        .build()
        .unwrap();
    let s = Scheduler::builder().executor(pool).build().unwrap();
    let dir = scratch_dir("no-retries");
    let mut g = Graph::new();
    let d = g
        .add("dir", (), {
            let dir = dir.clone();
            move || dir.clone()
        })
        .unwrap();
    let c = g.add_remote("crashes-once", &d, &f.crash_once_a).unwrap();
    let (kind, message) = task_error(rt.block_on(s.compute(&g, &c)), "crashes-once");
    assert_eq!(kind, TaskErrorKind::WorkerLost);
    assert!(message.contains("(no retries allowed)"), "{message}");
    assert!(message.contains("signal 6 (SIGABRT"), "{message}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two tasks in one frame on one worker, each crashing its worker the first time it
/// runs, with one retry allowed: the first crash must not count against the task
/// queued behind it (which then crashes on its own once), or that task would fail.
fn queued_calls_are_not_attempts(f: &Fns) {
    let rt = runtime();
    // Both tasks become ready together (one input) and go in one batch.
    let s = one_worker_one_retry(2);
    let dir = scratch_dir("queued");
    let mut g = Graph::new();
    let d = g
        .add("dir", (), {
            let dir = dir.clone();
            move || dir.clone()
        })
        .unwrap();
    let a = g.add_remote("a", &d, &f.crash_once_a).unwrap();
    let b = g.add_remote("b", &d, &f.crash_once_b).unwrap();
    let (pa, pb) = rt.block_on(s.compute(&g, (&a, &b))).unwrap();
    assert!(pa > 0 && pb > 0);
    assert!(
        dir.join("a").exists() && dir.join("b").exists(),
        "both crashed once"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A worker that dies with a batch still unread in its pipe (here: stopped, sent a
/// batch, then killed; in the wild, killed just as the batch was written) never
/// started it: the batch goes to the replacement, without retries.
fn unread_frame_is_not_an_attempt(f: &Fns) {
    let rt = runtime();
    let pool = ProcessPool::builder()
        .workers(1)
        .retries(0)
        .build()
        .unwrap();
    let s = Scheduler::builder().executor(pool.clone()).build().unwrap();
    let pid = pool.pids()[0].unwrap();
    signal(pid, "STOP");
    // Stopped for real: a worker that has not yet acted on the signal would still
    // read the batch (and then it may have started it).
    eventually("the worker to stop", || state(pid) == Some('T'));
    let mut g = Graph::new();
    let x = g
        .add_remote("sent-to-a-stopped-worker", (), &f.pid)
        .unwrap();
    let compute = rt.spawn(s.compute(&g, &x));
    // Give the slot a moment to write the batch into the stopped worker's pipe. The
    // test holds either way: killed before the write, the worker is replaced while
    // idle and the batch goes to the replacement.
    std::thread::sleep(std::time::Duration::from_millis(300));
    signal(pid, "KILL");
    let ran_on = rt.block_on(compute).unwrap().unwrap();
    assert_ne!(ran_on, pid);
    eventually("the replacement", || {
        pool.pids()[0].is_some_and(|p| p != pid)
    });
}

/// A worker holds the answers of short calls back and writes them together, so one
/// that dies with several calls of its batch unanswered may have finished any of
/// them: nobody is blamed (not even the first, which the pool blamed when it wrote
/// every answer at once), each runs again alone, and there the call that kills its
/// worker is charged and named; the others' results are not lost.
fn calls_unanswered_by_a_dead_worker_run_alone_to_find_the_killer(f: &Fns) {
    let warnings = crate::deaths::warnings();
    let before = warnings.lock().unwrap().len();
    let rt = runtime();
    // The four calls are ready at once and go in one batch.
    let s = one_worker_one_retry(4);
    // The killer's key comes first, so the order runs it first in the batch: the
    // worker dies with all four calls unanswered, whatever the others' timing (had
    // it run last, three quick answers could have gone out before it, or not).
    let mut g = Graph::new();
    let mut calls = vec![g.add_remote("a-killer", (), &f.aborts).unwrap()];
    calls.extend((0..3).map(|i| g.add_remote(("short", i), (), &f.prints).unwrap()));
    let all = g
        .add("all", &calls[..], |xs: &[&i64]| {
            xs.iter().copied().sum::<i64>()
        })
        .unwrap();
    let (kind, message) = task_error(rt.block_on(s.compute(&g, &all)), "a-killer");
    assert_eq!(kind, TaskErrorKind::WorkerLost, "{message}");
    // Charged for the two runs alone (retries: 1), not for the batch's loss.
    assert!(message.contains("each of 2 attempts"), "{message}");
    let seen: Vec<String> = warnings.lock().unwrap()[before..].to_vec();
    assert!(
        seen.iter()
            .any(|w| w.contains("several calls unanswered; each runs alone next")),
        "{seen:?}"
    );
    // The short calls ran again alone and answered: with the killer gone, the same
    // graph computes.
    let mut g = Graph::new();
    let calls: Vec<_> = (0..3)
        .map(|i| g.add_remote(("short", i), (), &f.prints).unwrap())
        .collect();
    assert_eq!(
        rt.block_on(s.compute(&g, &calls[..])).unwrap(),
        vec![2, 2, 2]
    );
}
