//! Cancellation: dropping the future or cancelling its token stops dispatch, drops the
//! values held, and tells running tasks through their context.
//!
//! Each test cancels once the tasks it needs are running (they signal it), never
//! after a fixed time: on a loaded machine a task may take long to start.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use taskloom::{
    CancellationToken, ComputeError, ComputeOptions, Graph, Handle, Scheduler, context,
};

use crate::support::{Counted, Counter, LIMIT, Live, block_until, until, within};

/// A graph of `slow` blocking tasks that run until their computation is cancelled
/// (or [`LIMIT`] passes), each depending on a counted value, plus `quick` tasks after
/// them.
struct Cancellable {
    graph: Graph,
    total: Handle<u64>,
    live: Arc<Live>,
    started: Arc<AtomicUsize>,
    slow_started: Arc<Counter>,
    saw_cancel: Arc<Counter>,
}

fn cancellable(slow: u64, quick: u64) -> Cancellable {
    let live = Live::new();
    let started = Arc::new(AtomicUsize::new(0));
    let saw_cancel = Counter::new();
    let slow_started = Counter::new();
    let mut g = Graph::new();
    let mut parts = Vec::new();
    for i in 0..slow {
        let l = Arc::clone(&live);
        let seed = g.add(("seed", i), (), move || l.make(i)).unwrap();
        let (s, c, ss) = (
            Arc::clone(&started),
            Arc::clone(&saw_cancel),
            Arc::clone(&slow_started),
        );
        parts.push(
            g.add(("slow", i), &seed, move |x: &Counted| {
                s.fetch_add(1, Ordering::SeqCst);
                ss.add();
                if block_until(context::cancelled) {
                    c.add();
                }
                x.value
            })
            .unwrap(),
        );
    }
    for i in 0..quick {
        let s = Arc::clone(&started);
        parts.push(
            g.add(("quick", i), (), move || {
                s.fetch_add(1, Ordering::SeqCst);
                i
            })
            .unwrap(),
        );
    }
    let total = g
        .add("total", &parts, |xs: &[&u64]| xs.iter().copied().sum())
        .unwrap();
    Cancellable {
        graph: g,
        total,
        live,
        started,
        slow_started,
        saw_cancel,
    }
}

/// Waits until every value the computation held is dropped: the tasks that borrowed
/// them have returned.
async fn settle(c: &Cancellable) {
    until("the held values are dropped", || c.live.live() == 0).await;
}

/// Checks, as far as a test can, that no task starts after the cancellation: a task
/// starting late would show within this pause. (Waiting longer only makes the check
/// stricter; a slow machine cannot make it fail.)
async fn assert_nothing_starts(c: &Cancellable) {
    let after = c.started.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        c.started.load(Ordering::SeqCst),
        after,
        "a task started after the cancel"
    );
}

#[tokio::test]
async fn dropping_the_future_cancels_the_computation() {
    let c = cancellable(2, 100);
    let s = Scheduler::builder()
        .executor(taskloom::executor::ThreadPool::new(2).unwrap())
        .chunksize(1)
        .build()
        .unwrap();
    // Each worker ends up in a slow task (batches of one, from one shared queue);
    // `total` needs both, so the computation cannot end before the drop.
    tokio::select! {
        result = s.compute(&c.graph, &c.total) => {
            panic!("the slow tasks finished uncancelled: {result:?}")
        }
        () = c.slow_started.reached(2) => {} // drops the `compute` future
    }
    c.saw_cancel.reached(2).await;
    settle(&c).await;
    assert_eq!(c.live.live(), 0, "held values were not dropped");
    assert_nothing_starts(&c).await;
    assert!(
        c.started.load(Ordering::SeqCst) < 102,
        "every task ran: nothing was cancelled"
    );
}

#[tokio::test]
async fn a_cancellation_token_ends_the_computation_with_cancelled() {
    let c = cancellable(2, 100);
    let token = CancellationToken::new();
    let s = Scheduler::threads(2).unwrap();
    let run = tokio::spawn(s.compute_with(
        &c.graph,
        &c.total,
        ComputeOptions::new().cancel_on(token.clone()),
    ));
    c.slow_started.reached(1).await;
    token.cancel();
    let result = within("the cancel ends the computation", run)
        .await
        .unwrap();
    assert!(matches!(result, Err(ComputeError::Cancelled)), "{result:?}");
    settle(&c).await;
    assert_eq!(c.live.live(), 0, "held values were not dropped");
    assert_nothing_starts(&c).await;
    // Every slow task that started saw the cancel (one queued behind another in the
    // same batch is skipped instead).
    let slow = c.slow_started.get();
    assert!(slow >= 1);
    assert_eq!(c.saw_cancel.get(), slow);
}

#[tokio::test]
async fn cancelling_stops_async_tasks() {
    let live = Live::new();
    let mut g = Graph::new();
    let l = Arc::clone(&live);
    let seed = g.add("seed", (), move || l.make(1)).unwrap();
    let started = Counter::new();
    let finished = Arc::new(AtomicUsize::new(0));
    let (s, f) = (Arc::clone(&started), Arc::clone(&finished));
    let wait = g
        .add_async("wait", &seed, move |x: Arc<Counted>| {
            let (s, f) = (Arc::clone(&s), Arc::clone(&f));
            async move {
                s.add();
                // Longer than any test run: only the cancellation ends it.
                tokio::time::sleep(LIMIT * 10).await;
                f.fetch_add(1, Ordering::SeqCst);
                x.value
            }
        })
        .unwrap();
    let s = Scheduler::current_thread();
    tokio::select! {
        result = s.compute(&g, &wait) => panic!("the wait ended uncancelled: {result:?}"),
        () = started.reached(1) => {} // the task holds its input: drop the future
    }
    until("the async task drops its input", || live.live() == 0).await;
    assert_eq!(finished.load(Ordering::SeqCst), 0);
}
