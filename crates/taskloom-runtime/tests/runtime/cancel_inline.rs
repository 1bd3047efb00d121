//! Cancellation between any two tasks, inline runs included: a cancelled token stops
//! a `CurrentThread` run before its next task, a dropped future stops it at the next
//! time slice, an enclosing computation's cancel reaches a nested one, and running
//! tasks see `context::cancelled()` the moment the token is cancelled.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use taskloom::{
    CancellationToken, ComputeError, ComputeOptions, Graph, Handle, Scheduler, context,
};

/// `n` independent tasks, each counting itself and running `body`, then a sum.
fn counted(
    n: u64,
    ran: &Arc<AtomicUsize>,
    body: impl Fn(usize) + Send + Sync + Clone + 'static,
) -> (Graph, Handle<u64>) {
    let mut g = Graph::new();
    let parts: Vec<_> = (0..n)
        .map(|i| {
            let (ran, body) = (Arc::clone(ran), body.clone());
            g.add(("t", i as i64), (), move || {
                let count = ran.fetch_add(1, Ordering::SeqCst) + 1;
                body(count);
                i
            })
            .unwrap()
        })
        .collect();
    let total = g
        .add("total", &parts, |xs: &[&u64]| xs.iter().copied().sum())
        .unwrap();
    (g, total)
}

#[tokio::test]
async fn a_cancelled_token_stops_an_inline_run_before_its_next_task() {
    let ran = Arc::new(AtomicUsize::new(0));
    let token = CancellationToken::new();
    let t = token.clone();
    // The sixth task to run cancels: exactly six run, whatever the order.
    let (g, total) = counted(200, &ran, move |count| {
        if count == 6 {
            t.cancel();
        }
    });
    let options = ComputeOptions::new().cancel_on(token);
    let err = Scheduler::current_thread()
        .compute_with(&g, &total, options)
        .await
        .unwrap_err();
    assert!(matches!(err, ComputeError::Cancelled), "{err}");
    assert_eq!(ran.load(Ordering::SeqCst), 6);
}

#[tokio::test(flavor = "current_thread")]
async fn dropping_an_inline_computation_stops_it_at_the_next_slice() {
    let ran = Arc::new(AtomicUsize::new(0));
    let (g, total) = counted(200, &ran, |_| std::thread::sleep(Duration::from_millis(5)));
    let s = Scheduler::current_thread();
    // 200 tasks of 5 ms take a second; the future is dropped after 50 ms.
    let out = tokio::time::timeout(Duration::from_millis(50), s.compute(&g, &total)).await;
    assert!(out.is_err(), "the computation was not interrupted");
    let ran = ran.load(Ordering::SeqCst);
    assert!(
        ran < 100,
        "{ran} of 200 tasks ran after the future was dropped"
    );
}

#[tokio::test]
async fn cancelling_an_outer_computation_stops_the_one_it_started_inline() {
    let s = Scheduler::threads(1).unwrap();
    let inner_ran = Arc::new(AtomicUsize::new(0));
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let started_tx = Arc::new(std::sync::Mutex::new(Some(started_tx)));
    let (inner, inner_total) = counted(100, &inner_ran, move |count| {
        if count == 1 {
            if let Some(tx) = started_tx.lock().unwrap().take() {
                let _ = tx.send(());
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    });
    let mut g = Graph::new();
    let nested = s.clone();
    let outer = g
        .add("outer", (), move || {
            // Computed inline on this worker; cancelled with the outer computation.
            nested.compute_blocking(&inner, &inner_total).is_err()
        })
        .unwrap();
    let token = CancellationToken::new();
    let options = ComputeOptions::new().cancel_on(token.clone());
    let compute = tokio::spawn(async move { s.compute_with(&g, &outer, options).await });
    started_rx.await.unwrap();
    token.cancel();
    let err = tokio::time::timeout(Duration::from_secs(30), compute)
        .await
        .expect("hung")
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, ComputeError::Cancelled), "{err}");
    // Wait for the worker to come back from the nested run, then count.
    let deadline = Instant::now() + Duration::from_secs(30);
    let before = loop {
        let n = inner_ran.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
        if n == inner_ran.load(Ordering::SeqCst) || Instant::now() > deadline {
            break n;
        }
    };
    assert!(
        before < 100,
        "the nested computation ran all its {before} tasks"
    );
}

#[tokio::test]
async fn a_running_inline_task_sees_the_token_the_moment_it_is_cancelled() {
    let token = CancellationToken::new();
    let saw = Arc::new(AtomicBool::new(false));
    let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
    let mut g = Graph::new();
    let s2 = Arc::clone(&saw);
    let x = g
        .add("waits", (), move || {
            let _ = started_tx.send(());
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if context::cancelled() {
                    s2.store(true, Ordering::SeqCst);
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            1_u8
        })
        .unwrap();
    // The task blocks the loop's own thread: only the token can reach it.
    let canceller = {
        let token = token.clone();
        std::thread::spawn(move || {
            started_rx.recv().unwrap();
            token.cancel();
        })
    };
    let options = ComputeOptions::new().cancel_on(token);
    let err = Scheduler::current_thread()
        .compute_with(&g, &x, options)
        .await
        .unwrap_err();
    canceller.join().unwrap();
    assert!(matches!(err, ComputeError::Cancelled), "{err}");
    assert!(saw.load(Ordering::SeqCst), "the task never saw the cancel");
}

/// A linear chain is handed out whole: its first link cancels, and the links after
/// it find the computation stopped before they start. That is the cancel, not a
/// task's failure. (The same error from a token cancelled on another thread between
/// the loop's check and a job's, a nanoseconds-wide race, is left to the chaos soak,
/// which found it.)
#[tokio::test]
async fn a_chain_cut_short_by_a_cancel_is_cancelled_not_a_task_error() {
    for scheduler in [Scheduler::current_thread(), Scheduler::threads(2).unwrap()] {
        let token = CancellationToken::new();
        let t = token.clone();
        let ran = Arc::new(AtomicUsize::new(0));
        let mut g = Graph::new();
        let r = Arc::clone(&ran);
        let mut link = g
            .add("link-0", (), move || {
                r.fetch_add(1, Ordering::SeqCst);
                t.cancel();
                0_u64
            })
            .unwrap();
        for i in 1..8 {
            let r = Arc::clone(&ran);
            link = g
                .add(("link", i), &link, move |x: &u64| {
                    r.fetch_add(1, Ordering::SeqCst);
                    x + 1
                })
                .unwrap();
        }
        let options = ComputeOptions::new().cancel_on(token);
        let err = scheduler
            .compute_with(&g, &link, options)
            .await
            .unwrap_err();
        assert!(matches!(err, ComputeError::Cancelled), "{err}");
        assert_eq!(
            ran.load(Ordering::SeqCst),
            1,
            "no link after the cancel runs"
        );
    }
}
