//! A remote task past its timeout: its worker is killed and replaced, the task fails
//! as timed out naming its key, or runs again on the replacement when its retry
//! policy allows.

use std::time::Duration;

use taskloom::policy::{Policy, Retry};
use taskloom::{ComputeError, Graph, TaskErrorKind};

use crate::deaths::{running, scratch_dir};
use crate::failures::{eventually, still_serves};
use crate::functions::Fns;
use crate::roundtrip::{pool, runtime};

pub(crate) const TESTS: &[crate::Test] = &[
    (
        "timeouts::the_worker_is_killed_and_replaced",
        the_worker_is_killed_and_replaced,
    ),
    (
        "timeouts::a_timed_out_call_is_retried_on_the_replacement",
        a_timed_out_call_is_retried_on_the_replacement,
    ),
];

fn the_worker_is_killed_and_replaced(f: &Fns) {
    let rt = runtime();
    let (pool, s) = pool(1);
    let dir = scratch_dir("timeout");
    let path = dir.join("pid");
    let mut g = Graph::new();
    let p = g.add("path", (), move || path.clone()).unwrap();
    let w = g.add_remote("waits", &p, &f.waits).unwrap();
    g.policy(&w, Policy::new().timeout(Duration::from_millis(300)))
        .unwrap();
    match rt.block_on(s.compute(&g, &w)) {
        Err(ComputeError::Task { key, error }) => {
            assert_eq!(key.to_string(), "waits");
            assert_eq!(error.kind(), TaskErrorKind::TimedOut, "{error}");
            assert!(error.message().contains("within 300ms"), "{error}");
            assert!(
                error.message().contains("was killed and is replaced"),
                "{error}"
            );
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    let hung: u32 = std::fs::read_to_string(dir.join("pid"))
        .unwrap()
        .parse()
        .unwrap();
    eventually("the hung worker is gone", || !running(hung));
    eventually("a replacement runs", || {
        pool.pids()[0].is_some_and(|pid| pid != hung)
    });
    still_serves(&s, f);
    let _ = std::fs::remove_dir_all(&dir);
}

fn a_timed_out_call_is_retried_on_the_replacement(f: &Fns) {
    let rt = runtime();
    let (_pool, s) = pool(1);
    let dir = scratch_dir("timeout-retry");
    let mut g = Graph::new();
    let d = g
        .add("dir", (), {
            let dir = dir.clone();
            move || dir.clone()
        })
        .unwrap();
    let h = g.add_remote("hangs-once", &d, &f.hangs_once).unwrap();
    let policy = Policy::new()
        .timeout(Duration::from_millis(300))
        .retry(Retry::attempts(2).backoff(Duration::from_millis(1), 1.0));
    g.policy(&h, policy).unwrap();
    let ran_on = rt.block_on(s.compute(&g, &h)).unwrap();
    let hung: u32 = std::fs::read_to_string(dir.join("hung"))
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(ran_on, hung, "the second attempt ran on the replacement");
    assert!(!running(hung), "the worker that hung was killed");
    let _ = std::fs::remove_dir_all(&dir);
}
