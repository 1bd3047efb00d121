//! A remote task past its timeout on the cluster: its worker is dropped (its job
//! stopped) and replaced; the task fails as timed out naming its key, or runs again
//! elsewhere when its retry policy allows.

use std::time::Duration;

use taskloom::policy::{Policy, Retry};
use taskloom::{ComputeError, TaskErrorKind};

use crate::faults::calls;
use crate::functions::Fns;
use crate::support::{self, Starts};

pub(crate) const TESTS: &[crate::Test] = &[(
    "timeouts::a_call_past_its_timeout_loses_its_worker_and_is_retried",
    a_call_past_its_timeout_loses_its_worker_and_is_retried,
)];

fn a_call_past_its_timeout_loses_its_worker_and_is_retried(f: &Fns) {
    let rt = support::runtime();
    let (cluster, scheduler) = support::local(&rt, 2, support::builder());
    let starts = Starts::new();

    // Without retries: the task fails as timed out, naming its key.
    let (mut g, handles) = calls(f, &starts, 1);
    g.policy(
        &handles[0],
        Policy::new().timeout(Duration::from_millis(300)),
    )
    .unwrap();
    let computing = rt.spawn(scheduler.compute(&g, &handles[0]));
    let hung = starts.next(); // never answered: the call hangs
    match rt.block_on(computing).unwrap() {
        Err(ComputeError::Task { key, error }) => {
            assert_eq!(key.to_string(), "('call', 0)");
            assert_eq!(error.kind(), TaskErrorKind::TimedOut, "{error}");
            assert!(
                error.message().contains("was killed and is replaced"),
                "{error}"
            );
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    support::wait_gone(hung.pid);
    support::wait_for(&rt, &cluster, "a replacement", |s| s.workers.len() == 2);

    // With a retry: the second attempt runs on another worker and returns.
    let policy = Policy::new()
        .timeout(Duration::from_millis(300))
        .retry(Retry::attempts(2).backoff(Duration::from_millis(1), 1.0));
    g.policy(&handles[0], policy).unwrap();
    let computing = rt.spawn(scheduler.compute(&g, &handles[0]));
    let first = starts.next();
    let second = starts.next();
    assert_ne!(second.pid, first.pid);
    second.answer(42);
    assert_eq!(rt.block_on(computing).unwrap().unwrap(), 42);
    support::wait_gone(first.pid);
    drop(hung);
}
