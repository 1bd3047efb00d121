//! Workers are reused, replaced, and gone with the pool; programs that are not
//! workers are caught.

use std::time::Duration;

use taskloom::process::{ProcessError, ProcessPool, StartError};
use taskloom::{ComputeError, Graph, Scheduler, TaskErrorKind};

use crate::failures::{eventually, process_exists};
use crate::functions::Fns;
use crate::roundtrip::{pool, runtime};

pub(crate) const TESTS: &[crate::Test] = &[
    (
        "lifecycle::hundred_computes_same_workers",
        hundred_computes_same_workers,
    ),
    (
        "lifecycle::no_worker_outlives_the_pool",
        no_worker_outlives_the_pool,
    ),
    ("lifecycle::lazy_start", lazy_start),
    (
        "lifecycle::worker_cannot_start_a_pool",
        worker_cannot_start_a_pool,
    ),
    (
        "lifecycle::program_without_init_prints",
        program_without_init_prints,
    ),
    (
        "lifecycle::program_without_init_exits",
        program_without_init_exits,
    ),
    (
        "lifecycle::program_without_init_hangs",
        program_without_init_hangs,
    ),
    (
        "lifecycle::lazy_pool_reports_start_failure_per_task",
        lazy_pool_reports_start_failure_per_task,
    ),
    ("lifecycle::zero_workers_refused", zero_workers_refused),
    (
        "lifecycle::drop_mid_handshake_is_prompt",
        drop_mid_handshake_is_prompt,
    ),
];

fn hundred_computes_same_workers(f: &Fns) {
    let rt = runtime();
    let (pool, s) = pool(2);
    let pids = pool.pids();
    assert!(pids.iter().all(Option::is_some), "eager start: {pids:?}");
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..100 {
        let mut g = Graph::new();
        let ids: Vec<_> = (0..4)
            .map(|j| g.add_remote(format!("pid-{i}-{j}"), (), &f.pid).unwrap())
            .collect();
        seen.extend(rt.block_on(s.compute(&g, &ids)).unwrap());
    }
    assert_eq!(pool.pids(), pids, "the same workers served every compute");
    let expected: std::collections::BTreeSet<u32> = pids.into_iter().flatten().collect();
    assert!(seen.is_subset(&expected), "{seen:?} vs {expected:?}");
}

fn no_worker_outlives_the_pool(f: &Fns) {
    let rt = runtime();
    let (pool, s) = pool(2);
    let mut g = Graph::new();
    let x = g.add_remote("one", (), &f.one).unwrap();
    assert_eq!(rt.block_on(s.compute(&g, &x)).unwrap(), 1);
    let pids: Vec<u32> = pool.pids().into_iter().flatten().collect();
    assert_eq!(pids.len(), 2);
    assert!(pids.iter().all(|&p| process_exists(p)));
    drop(s);
    drop(pool); // the last handle: kills and reaps before returning
    for pid in pids {
        // Gone, not a zombie: a zombie keeps its /proc entry until reaped.
        assert!(!process_exists(pid), "worker {pid} outlived its pool");
    }
}

fn lazy_start(f: &Fns) {
    let rt = runtime();
    let pool = ProcessPool::builder()
        .workers(2)
        .eager(false)
        .build()
        .unwrap();
    assert_eq!(pool.pids(), vec![None, None], "nothing started yet");
    let s = Scheduler::builder().executor(pool.clone()).build().unwrap();
    let mut g = Graph::new();
    let x = g.add_remote("one", (), &f.one).unwrap();
    assert_eq!(rt.block_on(s.compute(&g, &x)).unwrap(), 1);
    assert_eq!(pool.pids().iter().flatten().count(), 1, "{:?}", pool.pids());
}

fn worker_cannot_start_a_pool(f: &Fns) {
    let rt = runtime();
    let (_pool, s) = pool(1);
    let mut g = Graph::new();
    let n = g.add_remote("nested", (), &f.nested_pool).unwrap();
    let message = rt.block_on(s.compute(&g, &n)).unwrap();
    assert!(message.contains("is a taskloom worker"), "{message}");
}

fn sh(script: &str) -> taskloom::process::ProcessPoolBuilder {
    ProcessPool::builder()
        .workers(1)
        .program("/bin/sh")
        .arg("-c")
        .arg(script)
}

fn program_without_init_prints(_: &Fns) {
    let e = sh("echo 'Hello from the normal main'; exec sleep 5")
        .build()
        .unwrap_err();
    let ProcessError::Start {
        error: StartError::NotAWorker { what, .. },
        ..
    } = &e
    else {
        panic!("{e}")
    };
    assert!(what.contains("Hello from"), "{what}");
    assert!(e.to_string().contains("remote::init"), "{e}");
}

fn program_without_init_exits(_: &Fns) {
    let e = sh("exit 0").build().unwrap_err();
    assert!(
        matches!(
            &e,
            ProcessError::Start {
                error: StartError::Exited { .. },
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("exited with status 0"), "{e}");
    assert!(e.to_string().contains("remote::init"), "{e}");
}

fn program_without_init_hangs(_: &Fns) {
    let e = sh("exec sleep 30")
        .handshake_timeout(Duration::from_millis(200))
        .build()
        .unwrap_err();
    assert!(
        matches!(
            &e,
            ProcessError::Start {
                error: StartError::Timeout { .. },
                ..
            }
        ),
        "{e}"
    );
}

fn lazy_pool_reports_start_failure_per_task(f: &Fns) {
    let rt = runtime();
    let pool = sh("echo not a worker").eager(false).build().unwrap();
    let s = Scheduler::builder().executor(pool).build().unwrap();
    let mut g = Graph::new();
    let x = g.add_remote("first", (), &f.one).unwrap();
    match rt.block_on(s.compute(&g, &x)) {
        Err(ComputeError::Task { key, error }) => {
            assert_eq!(key.to_string(), "first");
            assert_eq!(error.kind(), TaskErrorKind::WorkerLost);
            assert!(error.message().contains("remote::init"), "{error}");
        }
        other => panic!("expected a task error, got {other:?}"),
    }
}

fn zero_workers_refused(_: &Fns) {
    let e = ProcessPool::builder().workers(0).build().unwrap_err();
    assert!(matches!(e, ProcessError::Config(_)), "{e}");
    // Eventually-style helper is shared; keep it referenced from this module too.
    eventually("nothing", || true);
}

/// A worker that never says hello is being waited for (a lazy start, for a
/// computation) when the pool is dropped: the drop cancels the handshake, kills the
/// program, and returns long before the handshake timeout.
fn drop_mid_handshake_is_prompt(f: &Fns) {
    let rt = runtime();
    let dir = crate::deaths::scratch_dir("handshake");
    let pid_file = dir.join("pid");
    let pool = ProcessPool::builder()
        .workers(1)
        .eager(false)
        .handshake_timeout(Duration::from_secs(120))
        .program("/bin/sh")
        .arg("-c")
        .arg(r#"echo $$ > "$1.tmp"; mv "$1.tmp" "$1"; exec sleep 300"#)
        .arg("sh")
        .arg(&pid_file)
        .build()
        .unwrap();
    let s = Scheduler::builder().executor(pool.clone()).build().unwrap();
    let mut g = Graph::new();
    let x = g.add_remote("waits-for-hello", (), &f.one).unwrap();
    let compute = rt.spawn(s.compute(&g, &x));
    let mut pid = None;
    eventually("the worker program to start", || {
        pid = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok());
        pid.is_some()
    });
    let pid = pid.unwrap();
    compute.abort();
    drop(rt);
    drop(s);
    let start = std::time::Instant::now();
    drop(pool);
    let took = start.elapsed();
    assert!(took < Duration::from_secs(20), "drop took {took:?}");
    assert!(
        !crate::deaths::running(pid),
        "the program outlived the pool"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
