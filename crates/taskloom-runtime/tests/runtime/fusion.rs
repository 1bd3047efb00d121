//! Linear chains handed to a worker as one unit: same results, one thread, failures
//! still named by the member's key, intermediates still dropped early.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use taskloom::{ComputeError, ComputeOptions, Graph, Handle, Scheduler};

use crate::support::{Counted, Live};

/// A chain `c0 -> c1 -> ... -> c{n-1}` recording the thread of every link.
fn chain(n: i64, threads: &Arc<Mutex<Vec<std::thread::ThreadId>>>) -> (Graph, Vec<Handle<i64>>) {
    let mut g = Graph::new();
    let t = Arc::clone(threads);
    let mut links = vec![
        g.add(("c", 0), (), move || {
            t.lock().unwrap().push(std::thread::current().id());
            0_i64
        })
        .unwrap(),
    ];
    for i in 1..n {
        let t = Arc::clone(threads);
        let prev = links[links.len() - 1];
        links.push(
            g.add(("c", i), &prev, move |x: &i64| {
                t.lock().unwrap().push(std::thread::current().id());
                x + 1
            })
            .unwrap(),
        );
    }
    (g, links)
}

#[tokio::test]
async fn a_chain_runs_as_one_unit_on_one_worker() {
    let threads = Arc::new(Mutex::new(Vec::new()));
    let (g, links) = chain(200, &threads);
    let s = Scheduler::threads(2).unwrap();
    assert_eq!(s.compute(&g, &links[199]).await.unwrap(), 199);
    let seen: HashSet<_> = threads.lock().unwrap().drain(..).collect();
    assert_eq!(seen.len(), 1, "the chain moved between workers");
    // Without fusion the result is the same.
    let out = s
        .compute_with(&g, &links[199], ComputeOptions::new().fuse(false))
        .await
        .unwrap();
    assert_eq!(out, 199);
}

#[tokio::test]
async fn a_target_inside_a_chain_is_kept_and_the_chain_goes_on() {
    let threads = Arc::new(Mutex::new(Vec::new()));
    let (g, links) = chain(20, &threads);
    let s = Scheduler::threads(2).unwrap();
    let (mid, end) = s.compute(&g, (&links[7], &links[19])).await.unwrap();
    assert_eq!((mid, end), (7, 19));
}

#[tokio::test]
async fn a_failure_inside_a_chain_names_the_member() {
    let mut g = Graph::new();
    let mut prev = g.add(("c", 0), (), || 0_i64).unwrap();
    for i in 1..10 {
        prev = if i == 6 {
            g.try_add(("c", i), &prev, |_: &i64| Err::<i64, _>("link 6 broke"))
                .unwrap()
        } else {
            g.add(("c", i), &prev, |x: &i64| x + 1).unwrap()
        };
    }
    let err = Scheduler::threads(2)
        .unwrap()
        .compute(&g, &prev)
        .await
        .unwrap_err();
    let ComputeError::Task { key, .. } = &err else {
        panic!("expected a task error, got {err}")
    };
    assert_eq!(key.to_string(), "('c', 6)");
    assert_eq!(err.to_string(), "task `('c', 6)` failed: link 6 broke");
}

#[tokio::test]
async fn chain_intermediates_are_dropped_as_the_chain_goes() {
    let live = Live::new();
    let mut g = Graph::new();
    let l = Arc::clone(&live);
    let mut prev = g.add(("c", 0), (), move || l.make(0)).unwrap();
    for i in 1..30 {
        let l = Arc::clone(&live);
        prev = g
            .add(("c", i), &prev, move |x: &Counted| {
                // The value before `x` is gone: only `x` is alive when a link runs.
                assert_eq!(l.live(), 1, "more than one link's value alive");
                l.make(x.value + 1)
            })
            .unwrap();
    }
    let out = Scheduler::threads(2)
        .unwrap()
        .compute(&g, &prev)
        .await
        .unwrap();
    assert_eq!(out.value, 29);
    drop(out);
    assert_eq!(live.live(), 0);
    assert!(live.peak() <= 2);
}
