//! Cancellation: dropping the future or cancelling its token stops dispatch, drops the
//! values held, and tells running tasks through their context.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use taskloom_runtime::{
    CancellationToken, ComputeError, ComputeOptions, Graph, Handle, Scheduler, context,
};

use crate::support::{Counted, Live};

/// A graph of `slow` blocking tasks that run until their computation is cancelled
/// (or 10 s pass), each depending on a counted value, plus `quick` tasks after them.
struct Cancellable {
    graph: Graph,
    total: Handle<u64>,
    live: Arc<Live>,
    started: Arc<AtomicUsize>,
    slow_started: Arc<AtomicUsize>,
    saw_cancel: Arc<AtomicUsize>,
}

fn cancellable(slow: u64, quick: u64) -> Cancellable {
    let live = Live::new();
    let started = Arc::new(AtomicUsize::new(0));
    let saw_cancel = Arc::new(AtomicUsize::new(0));
    let slow_started = Arc::new(AtomicUsize::new(0));
    let mut g = Graph::new();
    let mut parts = Vec::new();
    for i in 0..slow {
        let l = Arc::clone(&live);
        let seed = g.add(("seed", i as i64), (), move || l.make(i)).unwrap();
        let (s, c, ss) = (
            Arc::clone(&started),
            Arc::clone(&saw_cancel),
            Arc::clone(&slow_started),
        );
        parts.push(
            g.add(("slow", i as i64), &seed, move |x: &Counted| {
                s.fetch_add(1, Ordering::SeqCst);
                ss.fetch_add(1, Ordering::SeqCst);
                let deadline = Instant::now() + Duration::from_secs(10);
                while Instant::now() < deadline {
                    if context::cancelled() {
                        c.fetch_add(1, Ordering::SeqCst);
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                x.value
            })
            .unwrap(),
        );
    }
    for i in 0..quick {
        let s = Arc::clone(&started);
        parts.push(
            g.add(("quick", i as i64), (), move || {
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

async fn settle(c: &Cancellable) {
    // Running tasks notice the cancel within a few milliseconds; wait for them.
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.live.live() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn dropping_the_future_cancels_the_computation() {
    let c = cancellable(2, 100);
    let s = Scheduler::builder()
        .executor(taskloom_runtime::executor::ThreadPool::new(2).unwrap())
        .chunksize(1)
        .build()
        .unwrap();
    let timed_out =
        tokio::time::timeout(Duration::from_millis(100), s.compute(&c.graph, &c.total)).await;
    assert!(
        timed_out.is_err(),
        "the slow tasks should not have finished"
    );
    settle(&c).await;
    assert_eq!(c.live.live(), 0, "held values were not dropped");
    assert_eq!(
        c.saw_cancel.load(Ordering::SeqCst),
        2,
        "running tasks did not see the cancel"
    );
    let after = c.started.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        c.started.load(Ordering::SeqCst),
        after,
        "a task started after the cancel"
    );
    assert!(after < 102, "every task ran: nothing was cancelled");
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
    tokio::time::sleep(Duration::from_millis(50)).await;
    token.cancel();
    let result = tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .expect("cancel did not end the computation")
        .unwrap();
    assert!(matches!(result, Err(ComputeError::Cancelled)), "{result:?}");
    settle(&c).await;
    assert_eq!(c.live.live(), 0, "held values were not dropped");
    // Every slow task that started saw the cancel (one queued behind another in the
    // same batch is skipped instead).
    let slow = c.slow_started.load(Ordering::SeqCst);
    assert!(slow >= 1);
    assert_eq!(c.saw_cancel.load(Ordering::SeqCst), slow);
}

#[tokio::test]
async fn cancelling_stops_async_tasks() {
    let live = Live::new();
    let mut g = Graph::new();
    let l = Arc::clone(&live);
    let seed = g.add("seed", (), move || l.make(1)).unwrap();
    let finished = Arc::new(AtomicUsize::new(0));
    let f = Arc::clone(&finished);
    let wait = g
        .add_async("wait", &seed, move |x: Arc<Counted>| {
            let f = Arc::clone(&f);
            async move {
                tokio::time::sleep(Duration::from_secs(30)).await;
                f.fetch_add(1, Ordering::SeqCst);
                x.value
            }
        })
        .unwrap();
    let s = Scheduler::current_thread();
    let timed_out = tokio::time::timeout(Duration::from_millis(50), s.compute(&g, &wait)).await;
    assert!(timed_out.is_err());
    let deadline = Instant::now() + Duration::from_secs(5);
    while live.live() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(live.live(), 0, "the async task kept its input alive");
    assert_eq!(finished.load(Ordering::SeqCst), 0);
}
