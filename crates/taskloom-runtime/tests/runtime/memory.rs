//! Memory: intermediate values are dropped as soon as core releases them, and a tree
//! reduction holds few values at once.

use std::sync::Arc;

use taskloom::executor::ThreadPool;
use taskloom::{Graph, Handle, Scheduler};

use crate::support::{Counted, Live};

#[tokio::test]
async fn an_intermediate_is_dropped_once_its_last_user_finished() {
    for s in [Scheduler::current_thread(), Scheduler::threads(2).unwrap()] {
        let live = Live::new();
        let mut g = Graph::new();
        let l = Arc::clone(&live);
        let a = g.add("a", (), move || l.make(1)).unwrap();
        let l = Arc::clone(&live);
        let b = g
            .add("b", &a, move |x: &Counted| l.make(x.value + 1))
            .unwrap();
        // When c runs, a's only user (b) has finished: a must be gone, b alive.
        let l = Arc::clone(&live);
        let c = g
            .add("c", &b, move |x: &Counted| {
                let seen = l.live();
                (x.value + 1, seen)
            })
            .unwrap();
        let (value, live_during_c) = s.compute(&g, &c).await.unwrap();
        assert_eq!(value, 3);
        assert_eq!(live_during_c, 1, "a was still held while c ran");
        assert_eq!(live.live(), 0, "b was not dropped after the computation");
        assert_eq!(live.created.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}

/// A binary tree reduction over `leaves` counted values.
fn tree(leaves: u64, live: &Arc<Live>) -> (Graph, Handle<Counted>) {
    let mut g = Graph::new();
    let mut level: Vec<Handle<Counted>> = (0..leaves)
        .map(|i| {
            let l = Arc::clone(live);
            g.add(("leaf", i as i64), (), move || l.make(1)).unwrap()
        })
        .collect();
    let mut depth = 0;
    while level.len() > 1 {
        depth += 1;
        level = level
            .chunks(2)
            .enumerate()
            .map(|(i, pair)| {
                let l = Arc::clone(live);
                g.add(("sum", depth, i as i64), pair, move |xs: &[&Counted]| {
                    l.make(xs.iter().map(|x| x.value).sum())
                })
                .unwrap()
            })
            .collect();
    }
    (g, level[0])
}

#[tokio::test]
async fn a_tree_reduction_holds_o_of_workers_times_log_n_values() {
    let n = 4096_u64;
    let log_n = 12;
    for (workers, s) in [
        (1, Scheduler::current_thread()),
        (
            2,
            Scheduler::builder()
                .executor(ThreadPool::new(2).unwrap())
                .chunksize(1)
                .build()
                .unwrap(),
        ),
        (
            4,
            Scheduler::builder()
                .executor(ThreadPool::new(4).unwrap())
                .chunksize(1)
                .build()
                .unwrap(),
        ),
    ] {
        let live = Live::new();
        let (g, root) = tree(n, &live);
        let total = s.compute(&g, &root).await.unwrap();
        assert_eq!(total.value, n);
        drop(total);
        let peak = live.peak();
        // Values being made by the tasks in flight (at most 2 × workers), plus one
        // partial sum per level for each of them.
        let bound = 2 * workers * (log_n + 2);
        assert!(
            peak <= bound,
            "{workers} workers: peak of {peak} values (bound {bound}) for {n} leaves"
        );
        assert_eq!(live.live(), 0);
    }
}
