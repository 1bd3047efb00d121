//! Failing tasks: errors name the key and carry the message, nothing hangs, and no
//! task starts once the failure is known.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use taskloom::executor::{Batch, Executor};
use taskloom::{ComputeError, Graph, Scheduler, TaskErrorKind};

use crate::support::Log;

async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("the computation hung")
}

#[tokio::test]
async fn a_panic_names_the_key_and_carries_the_payload() {
    for s in [Scheduler::current_thread(), Scheduler::threads(2).unwrap()] {
        let mut g = Graph::new();
        let a = g.add("a", (), || 1_i64).unwrap();
        let boom = g
            .add(("boom", 7), &a, |x: &i64| -> i64 {
                panic!("exploded on {x}")
            })
            .unwrap();
        let after = g.add("after", &boom, |x: &i64| x + 1).unwrap();
        let err = within(s.compute(&g, &after)).await.unwrap_err();
        let ComputeError::Task { key, error } = &err else {
            panic!("expected a task error, got {err}")
        };
        assert_eq!(key.to_string(), "('boom', 7)");
        assert_eq!(error.kind(), TaskErrorKind::Panicked);
        assert_eq!(error.message(), "exploded on 1");
        assert_eq!(
            err.to_string(),
            "task `('boom', 7)` panicked: exploded on 1"
        );
        assert_eq!(
            err.key().map(ToString::to_string).as_deref(),
            Some("('boom', 7)")
        );
    }
}

#[tokio::test]
async fn a_panic_with_a_formatted_payload_or_in_an_async_task() {
    let mut g = Graph::new();
    let n = g.add("n", (), || 3_u8).unwrap();
    let fmt = g
        .add("fmt", &n, |n: &u8| -> u8 {
            panic!("{}", format!("bad {n}"))
        })
        .unwrap();
    let err = Scheduler::current_thread()
        .compute(&g, &fmt)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "task `fmt` panicked: bad 3");

    let mut g = Graph::new();
    let a = g
        .add_async("async-boom", (), || async { panic!("async went wrong") })
        .unwrap();
    let b = g.add("b", &a, |_: &()| 1).unwrap();
    let err = within(Scheduler::threads(2).unwrap().compute(&g, &b))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "task `async-boom` panicked: async went wrong"
    );
}

#[tokio::test]
async fn no_task_starts_after_a_failure() {
    // The failing task ends the deepest branch, which the static order runs first; the
    // 200 other leaves must not start once the failure is known.
    let started = Arc::new(AtomicUsize::new(0));
    let log = Log::default();
    let mut g = Graph::new();
    let mut roots = Vec::new();
    // The failing branch is the deepest, so the static order runs it first.
    let mut prev = g.add("fail-0", (), || 0_u32).unwrap();
    for i in 1..50 {
        prev = g.add(("fail", i), &prev, |x: &u32| x + 1).unwrap();
    }
    let failing = g
        .try_add("fail-now", &prev, |_: &u32| Err::<u32, _>("no"))
        .unwrap();
    roots.push(failing);
    for c in 0..200 {
        let (s, l) = (Arc::clone(&started), log.clone());
        roots.push(
            g.add(("other", c), (), move || {
                s.fetch_add(1, Ordering::SeqCst);
                l.push(format!("other {c}"));
                1_u32
            })
            .unwrap(),
        );
    }
    let total = g
        .add("total", &roots, |xs: &[&u32]| {
            xs.iter().copied().sum::<u32>()
        })
        .unwrap();
    for (inline, s) in [
        (true, Scheduler::current_thread()),
        (
            false,
            Scheduler::builder()
                .executor(taskloom::executor::ThreadPool::new(1).unwrap())
                .chunksize(1)
                .build()
                .unwrap(),
        ),
    ] {
        let before = started.load(Ordering::SeqCst);
        let err = within(s.compute(&g, &total)).await.unwrap_err();
        assert_eq!(
            err.key().map(ToString::to_string).as_deref(),
            Some("fail-now")
        );
        let at_error = started.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            started.load(Ordering::SeqCst),
            at_error,
            "tasks started after the failure"
        );
        if inline {
            // One task at a time in static order: the failing chain ran first and
            // nothing else started at all.
            assert_eq!(at_error, before, "{:?}", log.entries());
        }
        assert!(
            at_error - before < 200,
            "every other task ran despite the failure"
        );
    }
}

/// An executor that loses every batch (a crashed worker pool).
struct Losing;

impl Executor for Losing {
    fn name(&self) -> &str {
        "losing"
    }
    fn num_workers(&self) -> usize {
        1
    }
    fn submit(&self, batch: Batch) {
        drop(batch);
    }
}

#[tokio::test]
async fn an_executor_that_loses_tasks_gives_an_error_not_a_hang() {
    let mut g = Graph::new();
    let a = g.add(("x", 1), (), || 1).unwrap();
    let s = Scheduler::builder().executor(Losing).build().unwrap();
    let err = within(s.compute(&g, &a)).await.unwrap_err();
    let ComputeError::Task { key, error } = &err else {
        panic!("expected a task error, got {err}")
    };
    assert_eq!(key.to_string(), "('x', 1)");
    assert_eq!(error.kind(), TaskErrorKind::WorkerLost);
}
