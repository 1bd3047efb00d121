//! One scheduler shared by many computations, and computations nested in tasks.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use taskloom::{Graph, Scheduler};

fn assert_shareable<T: Clone + Send + Sync + 'static>() {}

#[test]
fn scheduler_and_its_futures_are_shareable() {
    assert_shareable::<Scheduler>();
    fn is_send<T: Send + 'static>(_: &T) {}
    let mut g = Graph::new();
    let a = g.add("a", (), || 1).unwrap();
    let s = Scheduler::current_thread();
    let fut = s.compute(&g, &a);
    is_send(&fut);
    drop(fut);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_computations_share_the_workers() {
    let s = Scheduler::threads(2).unwrap();
    let threads = Arc::new(Mutex::new(HashSet::new()));
    let mut joins = Vec::new();
    for i in 0..1000_i64 {
        let (s, threads) = (s.clone(), Arc::clone(&threads));
        joins.push(tokio::spawn(async move {
            let mut g = Graph::new();
            let t = Arc::clone(&threads);
            let x = g
                .add("x", (), move || {
                    t.lock().unwrap().insert(std::thread::current().id());
                    i
                })
                .unwrap();
            let y = g.add("y", &x, |x: &i64| x * 2).unwrap();
            let z = g.add("z", (&x, &y), |x: &i64, y: &i64| x + y).unwrap();
            (i, s.compute(&g, &z).await.unwrap())
        }));
    }
    for join in joins {
        let (i, z) = tokio::time::timeout(Duration::from_secs(60), join)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(z, 3 * i);
    }
    // Every task ran on the pool's two threads: no thread per computation.
    assert_eq!(threads.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_task_can_compute_a_subgraph_on_the_same_scheduler() {
    // Dask issue #4240: with one worker, a task that waits for a sub-computation on
    // the same pool deadlocks unless the sub-computation can run without a free
    // worker. Both tasks below do it at once.
    let s = Scheduler::threads(1).unwrap();
    let mut g = Graph::new();
    let parts: Vec<_> = (0..2_i64)
        .map(|i| {
            let inner = s.clone();
            g.add(("outer", i), (), move || {
                let mut sub = Graph::new();
                let a = sub.add("a", (), move || i * 10).unwrap();
                let b = sub.add("b", &a, |x: &i64| x + 1).unwrap();
                inner.compute_blocking(&sub, &b).unwrap()
            })
            .unwrap()
        })
        .collect();
    let out = tokio::time::timeout(Duration::from_secs(20), s.compute(&g, &parts))
        .await
        .expect("nested computation deadlocked")
        .unwrap();
    assert_eq!(out, vec![1, 11]);
}

#[tokio::test]
async fn an_async_task_can_await_a_computation_on_the_same_scheduler() {
    let s = Scheduler::threads(1).unwrap();
    let mut g = Graph::new();
    let inner = s.clone();
    let outer = g
        .add_async("outer", (), move || {
            let inner = inner.clone();
            async move {
                let mut sub = Graph::new();
                let a = sub.add("a", (), || 41_i64).unwrap();
                let b = sub.add("b", &a, |x: &i64| x + 1).unwrap();
                inner.compute(&sub, &b).await.unwrap()
            }
        })
        .unwrap();
    let out = tokio::time::timeout(Duration::from_secs(20), s.compute(&g, &outer))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out, 42);
}
