//! Task policies: timeouts on every in-process executor (threads, inline, async) and
//! retries that succeed on a later attempt or run out, with every attempt seen by the
//! callbacks and named in the final error.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use taskloom::diagnostics::{ChromeTrace, Profiler};
use taskloom::policy::{Policy, Retry};
use taskloom::{ComputeError, ComputeOptions, Graph, Handle, Scheduler, TaskErrorKind};

use crate::support::{Counter, block_until, within};

/// A retry with waits short enough for a test (the backoff is still exercised).
fn quick(attempts: u32) -> Retry {
    Retry::attempts(attempts).backoff(Duration::from_millis(2), 2.0)
}

/// The key and kind of a task error.
fn task_error(result: Result<impl Sized, ComputeError>) -> (String, TaskErrorKind, String) {
    match result {
        Err(ComputeError::Task { key, error }) => {
            (key.to_string(), error.kind(), error.to_string())
        }
        Err(other) => panic!("expected a task error, got {other}"),
        Ok(_) => panic!("expected a task error, got a result"),
    }
}

/// A task that fails `failures` times, then returns 42; counts its calls.
fn flaky(g: &mut Graph, failures: u32, calls: &Arc<AtomicU32>) -> Handle<u32> {
    let calls = Arc::clone(calls);
    g.try_add("flaky", (), move || {
        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
        if n <= failures {
            Err(format!("transient failure {n}"))
        } else {
            Ok(42_u32)
        }
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_task_past_its_deadline_fails_the_computation_naming_its_key() {
    let release = Arc::new(AtomicBool::new(false));
    let started = Counter::new();
    let mut g = Graph::new();
    let (r, s) = (release.clone(), started.clone());
    let hung = g
        .add("hung", (), move || {
            s.add();
            block_until(|| r.load(Ordering::SeqCst)) // stands in for a call that hangs
        })
        .unwrap();
    g.policy(&hung, Policy::new().timeout(Duration::from_millis(50)))
        .unwrap();
    let scheduler = Scheduler::threads(2).unwrap();
    let result = within(
        "the timeout fails the computation",
        scheduler.compute(&g, &hung),
    )
    .await;
    // The task is still running: the computation did not wait for it.
    assert_eq!(started.get(), 1);
    assert!(!release.load(Ordering::SeqCst));
    let (key, kind, message) = task_error(result);
    assert_eq!((key.as_str(), kind), ("hung", TaskErrorKind::TimedOut));
    assert!(message.contains("did not finish within 50ms"), "{message}");
    assert!(message.contains("thread is left to finish"), "{message}");
    release.store(true, Ordering::SeqCst);
}

#[tokio::test(flavor = "current_thread")]
async fn an_inline_task_past_its_deadline_fails_when_it_returns() {
    let mut g = Graph::new();
    let slow = g
        .add("slow", (), || {
            std::thread::sleep(Duration::from_millis(60));
            1_u8
        })
        .unwrap();
    let fast = g.add("fast", (), || 2_u8).unwrap();
    let both = g
        .add("both", (&slow, &fast), |a: &u8, b: &u8| a + b)
        .unwrap();
    let options = ComputeOptions::new().timeout(Duration::from_millis(10));
    let (key, kind, _) = task_error(
        Scheduler::current_thread()
            .compute_with(&g, &both, options)
            .await,
    );
    assert_eq!((key.as_str(), kind), ("slow", TaskErrorKind::TimedOut));
    // Within the timeout, the same graph runs.
    let options = ComputeOptions::new().timeout(Duration::from_secs(30));
    let out = Scheduler::current_thread()
        .compute_with(&g, &both, options)
        .await;
    assert_eq!(out.unwrap(), 3);
}

/// Sets a flag when dropped: tells whether an async task's future was dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_task_past_its_deadline_is_dropped_on_every_executor() {
    for scheduler in [Scheduler::threads(2).unwrap(), Scheduler::current_thread()] {
        let dropped = Arc::new(AtomicBool::new(false));
        let mut g = Graph::new();
        let d = dropped.clone();
        let hang = g
            .add_async("hang", (), move || {
                let flag = DropFlag(d.clone());
                async move {
                    let _flag = flag;
                    std::future::pending::<()>().await;
                    0_u8
                }
            })
            .unwrap();
        g.policy(&hang, Policy::new().timeout(Duration::from_millis(20)))
            .unwrap();
        let result = within("the async timeout", scheduler.compute(&g, &hang)).await;
        let (key, kind, message) = task_error(result);
        assert_eq!((key.as_str(), kind), ("hang", TaskErrorKind::TimedOut));
        assert!(message.contains("its future was dropped"), "{message}");
        assert!(
            dropped.load(Ordering::SeqCst),
            "the future is dropped at the deadline"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_timeout_is_retried_and_the_next_attempt_succeeds() {
    let calls = Arc::new(AtomicU32::new(0));
    let mut g = Graph::new();
    let c = calls.clone();
    let fetch = g
        .add_async("fetch", (), move || {
            let first = c.fetch_add(1, Ordering::SeqCst) == 0;
            async move {
                if first {
                    std::future::pending::<()>().await; // the first call hangs
                }
                7_u8
            }
        })
        .unwrap();
    let policy = Policy::new()
        .timeout(Duration::from_millis(20))
        .retry(quick(2));
    g.policy(&fetch, policy).unwrap();
    let out = within(
        "the retry",
        Scheduler::threads(1).unwrap().compute(&g, &fetch),
    )
    .await;
    assert_eq!((out.unwrap(), calls.load(Ordering::SeqCst)), (7, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_succeed_on_the_third_attempt_on_every_executor_and_every_attempt_is_seen() {
    for scheduler in [Scheduler::threads(2).unwrap(), Scheduler::current_thread()] {
        let calls = Arc::new(AtomicU32::new(0));
        let mut g = Graph::new();
        let x = flaky(&mut g, 2, &calls);
        let y = g.add("double", &x, |x: &u32| x * 2).unwrap();
        g.policy(&x, Policy::new().retry(quick(3))).unwrap();
        let profiler = Arc::new(Profiler::new());
        let options = ComputeOptions::new().shared_callback(profiler.clone());
        let out = within("the retries", scheduler.compute_with(&g, &y, options)).await;
        assert_eq!(out.unwrap(), 84);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        let attempts: Vec<(String, u32, bool)> = profiler
            .records()
            .iter()
            .map(|r| (r.key.to_string(), r.attempt, r.ok()))
            .collect();
        let expected = [
            ("flaky", 1, false),
            ("flaky", 2, false),
            ("flaky", 3, true),
            ("double", 1, true),
        ];
        let expected: Vec<(String, u32, bool)> = expected
            .iter()
            .map(|(k, a, ok)| (k.to_string(), *a, *ok))
            .collect();
        assert_eq!(attempts, expected);
        let errors: Vec<_> = profiler
            .records()
            .iter()
            .filter_map(|r| r.error.clone())
            .collect();
        assert_eq!(errors, ["transient failure 1", "transient failure 2"]);
        let trace = ChromeTrace::new().tasks(&profiler).to_json();
        assert!(
            trace.contains(r#""ok":false,"attempt":2,"error":"transient failure 2""#),
            "{trace}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_that_run_out_fail_with_every_attempt_listed() {
    let calls = Arc::new(AtomicU32::new(0));
    let mut g = Graph::new();
    let x = flaky(&mut g, 10, &calls);
    let options = ComputeOptions::new().retry(quick(3));
    let result = Scheduler::threads(2)
        .unwrap()
        .compute_with(&g, &x, options)
        .await;
    let (key, kind, message) = task_error(result);
    assert_eq!((key.as_str(), kind), ("flaky", TaskErrorKind::Failed));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert!(
        message.starts_with("failed: failed on all 3 attempts: attempt 1 on thread-"),
        "{message}"
    );
    for n in 1..=3 {
        assert!(
            message.contains(&format!("transient failure {n}")),
            "{message}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panics_are_not_retried_unless_the_predicate_says_so_and_a_task_may_opt_out() {
    let calls = Arc::new(AtomicU32::new(0));
    let panicky = |g: &mut Graph, calls: &Arc<AtomicU32>| {
        let c = calls.clone();
        g.add("panicky", (), move || {
            if c.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("first call panics");
            }
            5_u8
        })
        .unwrap()
    };
    let scheduler = Scheduler::threads(2).unwrap();
    let mut g = Graph::new();
    let p = panicky(&mut g, &calls);
    let options = ComputeOptions::new().retry(quick(3));
    let (_, kind, _) = task_error(scheduler.compute_with(&g, &p, options).await);
    assert_eq!(
        (kind, calls.load(Ordering::SeqCst)),
        (TaskErrorKind::Panicked, 1)
    );

    calls.store(0, Ordering::SeqCst);
    let retry = quick(3).when(|e| e.kind() == TaskErrorKind::Panicked);
    let options = ComputeOptions::new().retry(retry);
    assert_eq!(scheduler.compute_with(&g, &p, options).await.unwrap(), 5);

    // A task's own policy turns the default off.
    let calls = Arc::new(AtomicU32::new(0));
    let mut g = Graph::new();
    let x = flaky(&mut g, 1, &calls);
    g.policy(&x, Policy::new().no_retry()).unwrap();
    let options = ComputeOptions::new().retry(quick(3));
    let (_, kind, _) = task_error(scheduler.compute_with(&g, &x, options).await);
    assert_eq!(
        (kind, calls.load(Ordering::SeqCst)),
        (TaskErrorKind::Failed, 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_task_of_a_chain_has_its_own_deadline() {
    // Each link takes 100 ms, the chain 400: a deadline of 250 ms per task holds
    // (with room for a loaded machine), and would not if the chain, handed to a
    // worker whole, were timed from its first task's start.
    let mut g = Graph::new();
    let link = |x: &u32| {
        std::thread::sleep(Duration::from_millis(100));
        x + 1
    };
    let a = g.add("a", (), || 0_u32).unwrap();
    let b = g.add("b", &a, link).unwrap();
    let c = g.add("c", &b, link).unwrap();
    let d = g.add("d", &c, link).unwrap();
    let e = g.add("e", &d, link).unwrap();
    let options = ComputeOptions::new().timeout(Duration::from_millis(250));
    let out = Scheduler::threads(2)
        .unwrap()
        .compute_with(&g, &e, options)
        .await;
    assert_eq!(out.unwrap(), 4);
}

#[test]
fn a_retry_wait_without_timers_is_a_clear_error_not_a_panic() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let mut g = Graph::new();
    let x = flaky(&mut g, 1, &calls);
    let options = ComputeOptions::new().retry(quick(2));
    let result = runtime.block_on(Scheduler::current_thread().compute_with(&g, &x, options));
    match result {
        Err(ComputeError::NoTimer { key }) => assert_eq!(key.to_string(), "flaky"),
        other => panic!("expected NoTimer, got {other:?}"),
    }
}
