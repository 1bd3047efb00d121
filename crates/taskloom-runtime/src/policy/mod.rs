//! Task policies: a [`timeout`](Policy::timeout) for each attempt of a task, and
//! [`Retry`] for task errors (attempts, exponential backoff with jitter, and a
//! predicate that chooses which errors are worth another attempt).
//!
//! A policy is set per task with [`Graph::policy`](crate::Graph::policy) and
//! defaulted for a whole computation with
//! [`ComputeOptions::timeout`](crate::ComputeOptions::timeout) and
//! [`ComputeOptions::retry`](crate::ComputeOptions::retry); a task's own setting wins
//! over the default, field by field. A computation whose tasks have no policy and
//! whose options set none pays nothing for them: no timer, no table, no lookup.
//!
//! What a timeout does depends on where the task runs, because only some work can be
//! stopped:
//!
//! - an **async** task's future is dropped at the deadline;
//! - a **remote** task on the [process pool](crate::process) or the
//!   [cluster](crate::cluster) has its worker killed and replaced;
//! - a **blocking** task on threads (or inline) cannot be stopped: at its deadline
//!   the computation fails, and the thread is left to finish the call.
//!
//! Either way the task ends with a [`TaskErrorKind::TimedOut`] error naming its key.
//! Async and remote timeouts may be retried like any other error; a blocking one
//! fails the computation at once, since its thread is still busy.
//!
//! ```
//! use std::time::Duration;
//! use taskloom::{ComputeOptions, Graph, Scheduler};
//! use taskloom::policy::{Policy, Retry};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
//! let seen = calls.clone();
//! let mut g = Graph::new();
//! let flaky = g.try_add("flaky", (), move || {
//!     // Fails twice, then succeeds: a transient error.
//!     match seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
//!         0 | 1 => Err("connection reset"),
//!         _ => Ok(42_u32),
//!     }
//! })?;
//! let retry = Retry::attempts(3).backoff(Duration::from_millis(1), 2.0);
//! g.policy(&flaky, Policy::new().retry(retry))?;
//! let options = ComputeOptions::new().timeout(Duration::from_secs(10));
//! let out = Scheduler::threads(2)?.compute_with(&g, &flaky, options).await?;
//! assert_eq!((out, calls.load(std::sync::atomic::Ordering::SeqCst)), (42, 3));
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//!
//! - this file: [`Policy`], and the table of each graph's policies and its
//!   resolution against a computation's defaults (`Table`, `Resolved`);
//! - `retry`: [`Retry`], its backoff and its predicate.

mod retry;

use std::sync::Arc;
use std::time::Duration;

pub use retry::{DEFAULT_BACKOFF, DEFAULT_MAX_DELAY, Retry};

#[cfg(doc)]
use crate::error::TaskErrorKind;

/// What a task may do besides run once: a timeout per attempt, and retries.
///
/// Unset fields take the computation's defaults
/// ([`ComputeOptions::timeout`](crate::ComputeOptions::timeout),
/// [`ComputeOptions::retry`](crate::ComputeOptions::retry)).
/// [`Policy::no_timeout`] and [`Policy::no_retry`] turn a default off for one task.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    pub(crate) timeout: Setting<Duration>,
    pub(crate) retry: Setting<Retry>,
}

/// A field of a policy: the default, a value, or explicitly none.
#[derive(Clone, Debug, Default)]
pub(crate) enum Setting<T> {
    #[default]
    Default,
    Set(T),
    Off,
}

impl<T: Clone> Setting<T> {
    /// This setting, or `default` where it is unset.
    fn or(&self, default: &Option<T>) -> Option<T> {
        match self {
            Setting::Default => default.clone(),
            Setting::Set(v) => Some(v.clone()),
            Setting::Off => None,
        }
    }
}

impl Policy {
    /// A policy that sets nothing (every field takes the computation's default).
    pub fn new() -> Self {
        Self::default()
    }

    /// Each attempt of the task may run for `limit` at most (see the
    /// [module](self) for what happens then, by kind of task).
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Setting::Set(limit);
        self
    }

    /// No timeout for this task, whatever the computation's default.
    pub fn no_timeout(mut self) -> Self {
        self.timeout = Setting::Off;
        self
    }

    /// Runs the task again after an error, as `retry` says.
    pub fn retry(mut self, retry: Retry) -> Self {
        self.retry = Setting::Set(retry);
        self
    }

    /// No retry for this task, whatever the computation's default.
    pub fn no_retry(mut self) -> Self {
        self.retry = Setting::Off;
        self
    }
}

/// The policies of a graph's tasks, by task index; shared with computations and
/// copied on write, like the sizes.
#[derive(Clone, Debug, Default)]
pub(crate) struct Table {
    by_task: Vec<Option<Arc<Policy>>>,
}

impl Table {
    pub(crate) fn set(&mut self, task: usize, policy: Policy) {
        if self.by_task.len() <= task {
            self.by_task.resize(task + 1, None);
        }
        self.by_task[task] = Some(Arc::new(policy));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.by_task.is_empty()
    }
}

/// One task's policy with the computation's defaults applied.
#[derive(Clone, Debug, Default)]
pub(crate) struct Effective {
    pub(crate) timeout: Option<Duration>,
    pub(crate) retry: Option<Retry>,
}

/// Every task's effective policy for one computation. Made only when a task has a
/// policy or the options set a default; `None` otherwise, and then nothing about
/// policies costs anything per task.
#[derive(Debug)]
pub(crate) struct Resolved {
    /// The defaults, for tasks without a policy of their own.
    default: Option<Arc<Effective>>,
    /// Tasks with a policy of their own, by index (shorter than the graph when the
    /// last tasks have none).
    by_task: Vec<Option<Arc<Effective>>>,
}

impl Resolved {
    /// The effective policies of `table`'s tasks under the defaults; `None` if no
    /// task has one.
    pub(crate) fn new(
        table: &Table,
        timeout: Option<Duration>,
        retry: Option<Retry>,
    ) -> Option<Arc<Self>> {
        let defaults = (timeout, retry);
        if table.is_empty() && defaults.0.is_none() && defaults.1.is_none() {
            return None;
        }
        let default = (defaults.0.is_some() || defaults.1.is_some()).then(|| {
            Arc::new(Effective {
                timeout: defaults.0,
                retry: defaults.1.clone(),
            })
        });
        let by_task = table
            .by_task
            .iter()
            .map(|p| {
                p.as_ref().map(|p| {
                    Arc::new(Effective {
                        timeout: p.timeout.or(&defaults.0),
                        retry: p.retry.or(&defaults.1),
                    })
                })
            })
            .collect();
        Some(Arc::new(Resolved { default, by_task }))
    }

    /// The effective policy of task `index`, if it has any.
    #[inline]
    pub(crate) fn of(&self, index: usize) -> Option<&Effective> {
        match self.by_task.get(index) {
            Some(Some(p)) => Some(p),
            _ => self.default.as_deref(),
        }
    }

    /// Task `index`'s timeout, if any.
    #[inline]
    pub(crate) fn timeout(&self, index: usize) -> Option<Duration> {
        self.of(index).and_then(|p| p.timeout)
    }

    /// Whether any task may have a timeout.
    pub(crate) fn any_timeout(&self) -> bool {
        self.default.as_ref().is_some_and(|d| d.timeout.is_some())
            || self.by_task.iter().flatten().any(|p| p.timeout.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_setting_wins_over_the_default_field_by_field() {
        let mut table = Table::default();
        table.set(1, Policy::new().timeout(Duration::from_secs(1)));
        table.set(2, Policy::new().no_timeout().retry(Retry::attempts(5)));
        let resolved = Resolved::new(
            &table,
            Some(Duration::from_secs(9)),
            Some(Retry::attempts(2)),
        )
        .expect("policies");
        let attempts = |i| {
            resolved
                .of(i)
                .and_then(|p| p.retry.as_ref())
                .map(Retry::max_attempts)
        };
        assert_eq!(resolved.timeout(0), Some(Duration::from_secs(9)));
        assert_eq!(resolved.timeout(1), Some(Duration::from_secs(1)));
        assert_eq!(resolved.timeout(2), None);
        assert_eq!(resolved.timeout(7), Some(Duration::from_secs(9)));
        assert_eq!(
            (attempts(0), attempts(1), attempts(2)),
            (Some(2), Some(2), Some(5))
        );
    }

    #[test]
    fn nothing_set_resolves_to_nothing() {
        assert!(Resolved::new(&Table::default(), None, None).is_none());
        let mut table = Table::default();
        table.set(0, Policy::new());
        let resolved = Resolved::new(&table, None, None).expect("a table");
        assert!(
            resolved
                .of(0)
                .is_some_and(|p| p.timeout.is_none() && p.retry.is_none())
        );
        assert!(resolved.of(1).is_none());
        assert!(!resolved.any_timeout());
    }
}
