//! A worker runs in a process group of its own and is killed as a group: whatever a
//! task started dies with the worker, however the worker goes (killed, cancelled,
//! dropped with the pool).

use std::path::Path;
use std::time::{Duration, Instant};

use taskloom::process::ProcessPool;
use taskloom::{CancellationToken, ComputeError, ComputeOptions, Graph, Scheduler, TaskErrorKind};

use crate::deaths::{running, scratch_dir, signal};
use crate::failures::eventually;
use crate::functions::Fns;
use crate::roundtrip::runtime;

pub(crate) const TESTS: &[crate::Test] = &[
    (
        "groups::killed_worker_takes_its_tasks_children",
        killed_worker_takes_its_tasks_children,
    ),
    (
        "groups::cancel_takes_the_tasks_children",
        cancel_takes_the_tasks_children,
    ),
    (
        "groups::drop_takes_the_tasks_children",
        drop_takes_the_tasks_children,
    ),
    (
        "groups::drop_takes_children_left_behind",
        drop_takes_children_left_behind,
    ),
];

/// The pid a task wrote to `path`, once it is there.
fn wait_pid(path: &Path) -> u32 {
    let mut pid = None;
    eventually("the task's child to start", || {
        pid = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok());
        pid.is_some()
    });
    pid.unwrap()
}

/// A graph whose target `sleeper` runs `remote` with `path`.
fn sleeper_graph(
    path: &Path,
    remote: &taskloom::remote::Remote<(std::path::PathBuf,), u32>,
) -> (Graph, taskloom::Handle<u32>) {
    let mut g = Graph::new();
    let p = g
        .add("path", (), {
            let path = path.to_owned();
            move || path.clone()
        })
        .unwrap();
    let s = g.add_remote("sleeper", &p, remote).unwrap();
    (g, s)
}

fn no_retries(workers: usize) -> (ProcessPool, Scheduler) {
    let pool = ProcessPool::builder()
        .workers(workers)
        .retries(0)
        .build()
        .unwrap();
    let s = Scheduler::builder().executor(pool.clone()).build().unwrap();
    (pool, s)
}

fn killed_worker_takes_its_tasks_children(f: &Fns) {
    let rt = runtime();
    let (pool, s) = no_retries(1);
    let worker = pool.pids()[0].unwrap();
    let dir = scratch_dir("group-kill");
    let (g, t) = sleeper_graph(&dir.join("pid"), &f.spawns_sleep);
    let compute = rt.spawn(s.compute(&g, &t));
    let sleep = wait_pid(&dir.join("pid"));
    assert!(running(sleep));
    signal(worker, "KILL");
    match rt.block_on(compute).unwrap() {
        Err(ComputeError::Task { key, error }) => {
            assert_eq!(key.to_string(), "sleeper");
            assert_eq!(error.kind(), TaskErrorKind::WorkerLost);
        }
        other => panic!("expected the task to fail, got {other:?}"),
    }
    eventually("the task's child to die with its worker", || {
        !running(sleep)
    });
    let _ = std::fs::remove_dir_all(&dir);
}

fn cancel_takes_the_tasks_children(f: &Fns) {
    let rt = runtime();
    let (_pool, s) = no_retries(1);
    let dir = scratch_dir("group-cancel");
    let (g, t) = sleeper_graph(&dir.join("pid"), &f.spawns_sleep);
    let token = CancellationToken::new();
    let options = ComputeOptions::new().cancel_on(token.clone());
    let compute = rt.spawn(s.compute_with(&g, &t, options));
    let sleep = wait_pid(&dir.join("pid"));
    token.cancel();
    assert!(matches!(
        rt.block_on(compute).unwrap(),
        Err(ComputeError::Cancelled)
    ));
    eventually("the task's child to die with its worker", || {
        !running(sleep)
    });
    let _ = std::fs::remove_dir_all(&dir);
}

fn drop_takes_the_tasks_children(f: &Fns) {
    let rt = runtime();
    let (pool, s) = no_retries(1);
    let dir = scratch_dir("group-drop");
    let (g, t) = sleeper_graph(&dir.join("pid"), &f.spawns_sleep);
    let compute = rt.spawn(s.compute(&g, &t));
    let sleep = wait_pid(&dir.join("pid"));
    let worker = pool.pids()[0].unwrap();
    compute.abort();
    drop(rt); // waits for the aborted computation to be dropped
    drop(s);
    let start = Instant::now();
    drop(pool);
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    assert!(!running(worker));
    eventually("the task's child to die with the pool", || !running(sleep));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A task that starts a process and returns leaves it running in its idle worker's
/// group: stopping the pool stops it too.
fn drop_takes_children_left_behind(f: &Fns) {
    let rt = runtime();
    let (pool, s) = no_retries(1);
    let dir = scratch_dir("group-left");
    let path = dir.join("pid");
    let (g, t) = sleeper_graph(&path, &f.leaves_sleep);
    let sleep = rt.block_on(s.compute(&g, &t)).unwrap();
    assert_eq!(wait_pid(&path), sleep);
    assert!(running(sleep), "the task's child outlives the task");
    drop(s);
    drop(pool);
    eventually("the task's child to die with the pool", || !running(sleep));
    let _ = std::fs::remove_dir_all(&dir);
}
