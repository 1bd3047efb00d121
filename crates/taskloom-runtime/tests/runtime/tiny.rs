//! Tiny computations on the thread pool: once a scheduler has measured its tasks as
//! tiny, its loop waits for a small graph's completions in a bounded busy loop
//! instead of parking. These check what must still hold there: the results, the
//! error naming the key, cancellation, and that the caller's runtime is never held
//! for long, even by a task that turns slow.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use taskloom::{CancellationToken, ComputeError, ComputeOptions, Graph, Handle, Scheduler};

use crate::support::{block_until, within};

/// A chain of three tiny tasks: `x + 1`, `* 2`, `+ 3`.
fn chain(x: u64) -> (Graph, Handle<u64>) {
    let mut g = Graph::new();
    let a = g.add("a", (), move || x + 1).unwrap();
    let b = g.add("b", &a, |a: &u64| a * 2).unwrap();
    let c = g.add("c", &b, |b: &u64| b + 3).unwrap();
    (g, c)
}

/// A pool scheduler that has measured tiny tasks: its next small computations take
/// the busy wait. What it measures depends on the build and the machine's load, so
/// the test says what it would have measured on a quiet machine in a release build.
async fn warmed() -> Scheduler {
    let scheduler = Scheduler::threads(2).unwrap();
    for x in 0..3 {
        let (g, c) = chain(x);
        assert_eq!(scheduler.compute(&g, &c).await.unwrap(), (x + 1) * 2 + 3);
    }
    scheduler.set_learned_task_ns(100);
    scheduler
}

#[tokio::test]
async fn tiny_computations_one_after_another_return_their_results() {
    let scheduler = warmed().await;
    for x in 0..500 {
        let (g, c) = chain(x);
        assert_eq!(scheduler.compute(&g, &c).await.unwrap(), (x + 1) * 2 + 3);
    }
}

#[tokio::test]
async fn a_tiny_computation_that_fails_names_the_key() {
    let scheduler = warmed().await;
    let mut g = Graph::new();
    let a = g.add("a", (), || 1_u64).unwrap();
    let b = g
        .try_add("fails", &a, |_: &u64| Err::<u64, _>("no"))
        .unwrap();
    let c = g.add("c", &b, |b: &u64| b + 1).unwrap();
    let err = scheduler.compute(&g, &c).await.unwrap_err();
    assert_eq!(err.key().map(ToString::to_string).as_deref(), Some("fails"));
}

#[tokio::test]
async fn a_tiny_computation_cancelled_from_its_task_is_cancelled() {
    let scheduler = warmed().await;
    let token = CancellationToken::new();
    let mut g = Graph::new();
    let t = token.clone();
    let a = g
        .add("a", (), move || {
            t.cancel();
            1_u64
        })
        .unwrap();
    let b = g.add("b", &a, |a: &u64| a + 1).unwrap();
    let options = ComputeOptions::default().cancel_on(token);
    let err = scheduler.compute_with(&g, &b, options).await.unwrap_err();
    assert!(matches!(err, ComputeError::Cancelled), "{err:?}");
}

/// The task waits for a flag that only another task of the caller's own
/// current-thread runtime sets: the computation ends only if its loop gives the
/// thread back to the runtime while the task runs (a busy wait that lasted as long
/// as the task would wait forever, until the task gives up and fails the test).
#[tokio::test]
async fn a_tiny_computation_whose_task_turns_slow_leaves_the_runtime_free() {
    let scheduler = warmed().await;
    let flag = Arc::new(AtomicBool::new(false));
    let seen = Arc::clone(&flag);
    let mut g = Graph::new();
    let a = g.add("a", (), || 1_u64).unwrap();
    let slow = g
        .add("slow", &a, move |a: &u64| {
            (block_until(|| seen.load(Ordering::SeqCst)), *a)
        })
        .unwrap();
    let setter = Arc::clone(&flag);
    // Runs only when the test's future (the computation) gives the thread back.
    let set = tokio::spawn(async move { setter.store(true, Ordering::SeqCst) });
    let (saw_flag, value) = within("the slow task ends", scheduler.compute(&g, &slow))
        .await
        .unwrap();
    assert!(
        saw_flag,
        "the runtime never ran the task that sets the flag"
    );
    assert_eq!(value, 1);
    set.await.unwrap();
}
