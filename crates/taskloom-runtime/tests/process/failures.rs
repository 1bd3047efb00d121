//! A task that fails, panics, crashes its worker, or makes it write garbage: an error
//! naming the key, and a pool that keeps serving.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use taskloom::process::ProcessPool;
use taskloom::{CancellationToken, ComputeError, ComputeOptions, Graph, Scheduler, TaskErrorKind};

use crate::functions::Fns;
use crate::roundtrip::{pool, runtime};

pub(crate) const TESTS: &[crate::Test] = &[
    ("failures::err_names_the_key", err_names_the_key),
    ("failures::panic_keeps_the_worker", panic_keeps_the_worker),
    (
        "failures::abort_is_reported_and_replaced",
        abort_is_reported_and_replaced,
    ),
    ("failures::exit_status_is_reported", exit_status_is_reported),
    ("failures::segfault_is_reported", segfault_is_reported),
    ("failures::sigkill_mid_task", sigkill_mid_task),
    ("failures::garbage_frame", garbage_frame),
    ("failures::oversized_frame", oversized_frame),
    (
        "failures::printing_to_stdout_is_harmless",
        printing_to_stdout_is_harmless,
    ),
    ("failures::unencodable_result", unencodable_result),
    (
        "failures::inputs_over_the_frame_limit",
        inputs_over_the_frame_limit,
    ),
    ("failures::unknown_function", unknown_function),
    ("failures::cancel_kills_the_worker", cancel_kills_the_worker),
];

/// The error of computing `g`'s `target` on `s`, checked to name `key`.
fn task_error(
    s: &Scheduler,
    g: &Graph,
    target: &taskloom::Handle<i64>,
    key: &str,
) -> (TaskErrorKind, String) {
    let rt = runtime();
    match rt.block_on(s.compute(g, target)) {
        Err(ComputeError::Task { key: k, error }) => {
            assert_eq!(k.to_string(), key, "{error}");
            (error.kind(), error.message().to_owned())
        }
        other => panic!("expected a task error, got {other:?}"),
    }
}

/// The pool still computes (after a worker was lost, with a replacement).
pub(crate) fn still_serves(s: &Scheduler, f: &Fns) {
    let rt = runtime();
    for _ in 0..3 {
        let mut g = Graph::new();
        let xs: Vec<_> = (0..8)
            .map(|i| g.add_remote(format!("one-{i}"), (), &f.one).unwrap())
            .collect();
        let total = g.add_remote("total", &xs, &f.sum).unwrap();
        assert_eq!(rt.block_on(s.compute(&g, &total)).unwrap(), 8);
    }
}

/// Waits, boundedly, until `cond` holds.
pub(crate) fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn err_names_the_key(f: &Fns) {
    let (pool, s) = pool(1);
    let pids = pool.pids();
    let mut g = Graph::new();
    let a = g.add("a", (), || 7_i64).unwrap();
    let z = g.add("z", (), || 0_i64).unwrap();
    let d = g.add_remote("divide", (&a, &z), &f.checked_div).unwrap();
    let (kind, message) = task_error(&s, &g, &d, "divide");
    assert_eq!(kind, TaskErrorKind::Failed);
    assert_eq!(message, "division by zero");
    assert_eq!(pool.pids(), pids);
    still_serves(&s, f);
}

fn panic_keeps_the_worker(f: &Fns) {
    let (pool, s) = pool(1);
    let pids = pool.pids();
    let mut g = Graph::new();
    let x = g.add("x", (), || 7_i64).unwrap();
    let p = g.add_remote("explodes", &x, &f.panics).unwrap();
    let (kind, message) = task_error(&s, &g, &p, "explodes");
    assert_eq!(kind, TaskErrorKind::Panicked);
    assert_eq!(message, "boom 7");
    still_serves(&s, f);
    assert_eq!(pool.pids(), pids, "a panic does not cost the worker");
}

/// Runs a task that kills its worker, checks the error, and that the worker is
/// replaced and the pool serves on.
fn crash(f: &Fns, remote: &taskloom::remote::Remote<(), i64>, expect: &str) {
    let (pool, s) = pool(2);
    let before = pool.pids();
    let mut g = Graph::new();
    let c = g.add_remote("crasher", (), remote).unwrap();
    let (kind, message) = task_error(&s, &g, &c, "crasher");
    assert_eq!(kind, TaskErrorKind::WorkerLost, "{message}");
    assert!(message.contains(expect), "{message}");
    assert!(message.contains("process-"), "names the worker: {message}");
    still_serves(&s, f);
    eventually("the replacement worker", || {
        let now = pool.pids();
        now.iter().all(Option::is_some) && now != before
    });
}

fn abort_is_reported_and_replaced(f: &Fns) {
    crash(f, &f.aborts, "signal 6 (SIGABRT");
}

fn exit_status_is_reported(f: &Fns) {
    crash(f, &f.exits, "exited with status 3");
}

fn segfault_is_reported(f: &Fns) {
    crash(f, &f.segfaults, "signal 11 (SIGSEGV");
}

fn marker_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("taskloom-process-{name}-{}", std::process::id()))
}

/// Starts a computation of the task that waits, and returns once it runs: its
/// worker's pid.
fn start_waiting(
    rt: &tokio::runtime::Runtime,
    s: &Scheduler,
    f: &Fns,
    name: &str,
    options: ComputeOptions,
) -> (u32, tokio::task::JoinHandle<Result<u32, ComputeError>>) {
    let path = marker_path(name);
    let _ = std::fs::remove_file(&path);
    let mut g = Graph::new();
    let p = g
        .add("path", (), {
            let path = path.clone();
            move || path.clone()
        })
        .unwrap();
    let w = g.add_remote("waiter", &p, &f.waits).unwrap();
    let compute = rt.spawn(s.compute_with(&g, &w, options));
    let mut pid = None;
    eventually("the task to start", || {
        pid = std::fs::read_to_string(&path)
            .ok()
            .and_then(|s| s.trim().parse().ok());
        pid.is_some()
    });
    let _ = std::fs::remove_file(&path);
    (pid.unwrap(), compute)
}

fn sigkill_mid_task(f: &Fns) {
    let rt = runtime();
    // No retries: the kill is the task's error (retries have their own tests).
    let pool = ProcessPool::builder()
        .workers(2)
        .retries(0)
        .build()
        .unwrap();
    let s = Scheduler::builder().executor(pool.clone()).build().unwrap();
    let (pid, compute) = start_waiting(&rt, &s, f, "sigkill", ComputeOptions::new());
    assert!(pool.pids().contains(&Some(pid)));
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    match rt.block_on(compute).unwrap() {
        Err(ComputeError::Task { key, error }) => {
            assert_eq!(key.to_string(), "waiter");
            assert_eq!(error.kind(), TaskErrorKind::WorkerLost);
            assert!(error.message().contains("signal 9 (SIGKILL)"), "{error}");
            assert!(error.message().contains(&format!("pid {pid}")), "{error}");
        }
        other => panic!("expected the task to fail, got {other:?}"),
    }
    still_serves(&s, f);
    eventually("the replacement", || !pool.pids().contains(&Some(pid)));
}

fn garbage_frame(f: &Fns) {
    let (pool, s) = pool(1);
    let before = pool.pids();
    let mut g = Graph::new();
    let c = g.add_remote("liar", (), &f.garbage).unwrap();
    let (kind, message) = task_error(&s, &g, &c, "liar");
    assert_eq!(kind, TaskErrorKind::WorkerLost);
    assert!(message.contains("malformed frame"), "{message}");
    still_serves(&s, f);
    assert_ne!(
        pool.pids(),
        before,
        "a worker that sent garbage is replaced"
    );
}

fn oversized_frame(f: &Fns) {
    let pool = ProcessPool::builder()
        .workers(1)
        .max_frame_length(1 << 20)
        .build()
        .unwrap();
    let s = Scheduler::builder().executor(pool.clone()).build().unwrap();
    let mut g = Graph::new();
    let c = g.add_remote("boaster", (), &f.oversized).unwrap();
    let (kind, message) = task_error(&s, &g, &c, "boaster");
    assert_eq!(kind, TaskErrorKind::WorkerLost);
    assert!(message.contains("malformed frame"), "{message}");
    assert!(message.contains("frame size too big"), "{message}");
    still_serves(&s, f);
}

fn printing_to_stdout_is_harmless(f: &Fns) {
    let rt = runtime();
    let (pool, s) = pool(1);
    let before = pool.pids();
    let mut g = Graph::new();
    let p = g.add_remote("printer", (), &f.prints).unwrap();
    assert_eq!(rt.block_on(s.compute(&g, &p)).unwrap(), 2);
    assert_eq!(pool.pids(), before);
}

fn unencodable_result(f: &Fns) {
    let rt = runtime();
    let (_pool, s) = pool(1);
    let mut g = Graph::new();
    let u = g.add_remote("stubborn", (), &f.unencodable).unwrap();
    match rt.block_on(s.compute(&g, &u)) {
        Err(ComputeError::Task { key, error }) => {
            assert_eq!(key.to_string(), "stubborn");
            assert_eq!(error.kind(), TaskErrorKind::Serialization);
            assert!(
                error.message().contains("cannot encode the result"),
                "{error}"
            );
        }
        other => panic!(
            "expected a serialization error, got {:?}",
            other.map(|_| ())
        ),
    }
    still_serves(&s, f);
}

fn inputs_over_the_frame_limit(f: &Fns) {
    let pool = ProcessPool::builder()
        .workers(1)
        .max_frame_length(64 * 1024)
        .build()
        .unwrap();
    let s = Scheduler::builder().executor(pool).build().unwrap();
    let mut g = Graph::new();
    let big = g.add("big", (), || vec![1_u8; 100_000]).unwrap();
    let l = g.add_remote("measure", &big, &f.len).unwrap();
    let rt = runtime();
    match rt.block_on(s.compute(&g, &l)) {
        Err(ComputeError::Task { key, error }) => {
            assert_eq!(key.to_string(), "measure");
            assert_eq!(error.kind(), TaskErrorKind::Serialization);
            assert!(error.message().contains("max_frame_length"), "{error}");
        }
        other => panic!("expected a serialization error, got {other:?}"),
    }
    still_serves(&s, f);
}

fn unknown_function(f: &Fns) {
    let (_pool, s) = pool(1);
    let mut g = Graph::new();
    let u = g.add_remote("stranger", (), &f.unknown).unwrap();
    let (kind, message) = task_error(&s, &g, &u, "stranger");
    assert_eq!(kind, TaskErrorKind::Failed);
    assert!(
        message.contains("no remote function `unknown`"),
        "{message}"
    );
    still_serves(&s, f);
}

fn cancel_kills_the_worker(f: &Fns) {
    let rt = runtime();
    let (pool, s) = pool(2);
    let token = CancellationToken::new();
    let options = ComputeOptions::new().cancel_on(token.clone());
    let (pid, compute) = start_waiting(&rt, &s, f, "cancel", options);
    token.cancel();
    assert!(matches!(
        rt.block_on(compute).unwrap(),
        Err(ComputeError::Cancelled)
    ));
    // The worker that ran the cancelled task is killed, reaped and replaced.
    eventually("the worker to be replaced", || {
        let pids = pool.pids();
        !pids.contains(&Some(pid)) && pids.iter().all(Option::is_some)
    });
    eventually("the killed worker to be gone", || !process_exists(pid));
    still_serves(&s, f);
}

pub(crate) fn process_exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}
