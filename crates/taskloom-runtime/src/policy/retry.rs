//! [`Retry`]: how many attempts a task gets after errors, how long it waits between
//! them, and which errors are worth another attempt.
//!
//! The wait after attempt `n` fails is exponential, `backoff × factorⁿ⁻¹` capped at
//! a maximum, less a random share of itself (the jitter): tasks that failed together
//! (a service that went down for all of them) do not all come back at the same
//! instant. The random share comes from the standard library's per-process hash keys,
//! so no random-number crate is compiled for it.
//!
//! The wait happens in the scheduling loop, not on a worker: a task waiting for its
//! next attempt holds no thread, and the rest of the graph runs meanwhile.

use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::{TaskError, TaskErrorKind};

/// The first wait, by default: 100 ms.
pub const DEFAULT_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait, by default: 30 s.
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(30);

/// Which errors a [`Retry`] retries.
type Predicate = Arc<dyn Fn(&TaskError) -> bool + Send + Sync>;

/// Retries of a task after errors: attempts, exponential backoff with jitter, and a
/// predicate choosing which errors to retry.
///
/// By default: waits of 100 ms, doubling each time up to 30 s, less up to half of
/// each at random; errors retried are those a task returned
/// ([`TaskErrorKind::Failed`]) and timeouts of tasks that can be stopped
/// ([`TaskErrorKind::TimedOut`], async and remote tasks). Panics, lost inputs and
/// cancellations are not retried unless the predicate says so.
///
/// ```
/// use std::time::Duration;
/// use taskloom::TaskErrorKind;
/// use taskloom::policy::Retry;
///
/// let retry = Retry::attempts(4)
///     .backoff(Duration::from_millis(50), 3.0)
///     .max_delay(Duration::from_secs(1))
///     .jitter(0.0)
///     .when(|e| e.kind() == TaskErrorKind::Failed && e.message().contains("503"));
/// assert_eq!(retry.max_attempts(), 4);
/// assert_eq!(retry.delay_after(1), Duration::from_millis(50));
/// assert_eq!(retry.delay_after(2), Duration::from_millis(150));
/// assert_eq!(retry.delay_after(3), Duration::from_millis(450));
/// assert_eq!(retry.delay_after(9), Duration::from_secs(1));
/// ```
#[derive(Clone)]
pub struct Retry {
    attempts: u32,
    backoff: Duration,
    factor: f64,
    max_delay: Duration,
    jitter: f64,
    predicate: Option<Predicate>,
}

impl fmt::Debug for Retry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("attempts", &self.attempts)
            .field("backoff", &self.backoff)
            .field("factor", &self.factor)
            .field("max_delay", &self.max_delay)
            .field("jitter", &self.jitter)
            .field("predicate", &self.predicate.as_ref().map(|_| "custom"))
            .finish()
    }
}

impl Retry {
    /// At most `attempts` runs of the task in all (the first one included; 0 counts
    /// as 1, no retry).
    pub fn attempts(attempts: u32) -> Self {
        Retry {
            attempts: attempts.max(1),
            backoff: DEFAULT_BACKOFF,
            factor: 2.0,
            max_delay: DEFAULT_MAX_DELAY,
            jitter: 0.5,
            predicate: None,
        }
    }

    /// Waits `first` after the first failure, `factor` times longer after each next
    /// one (a factor below 1 counts as 1: constant waits).
    pub fn backoff(mut self, first: Duration, factor: f64) -> Self {
        self.backoff = first;
        self.factor = if factor.is_finite() {
            factor.max(1.0)
        } else {
            1.0
        };
        self
    }

    /// No wait longer than `limit`.
    pub fn max_delay(mut self, limit: Duration) -> Self {
        self.max_delay = limit;
        self
    }

    /// Takes a random share of up to `fraction` (0 to 1) off each wait, so tasks that
    /// failed together come back spread out. Default 0.5.
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = if fraction.is_finite() {
            fraction.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self
    }

    /// Retries only the errors for which `predicate` returns `true` (instead of the
    /// default: [`TaskErrorKind::Failed`] and [`TaskErrorKind::TimedOut`]).
    pub fn when(mut self, predicate: impl Fn(&TaskError) -> bool + Send + Sync + 'static) -> Self {
        self.predicate = Some(Arc::new(predicate));
        self
    }

    /// The most runs of the task, the first included.
    pub fn max_attempts(&self) -> u32 {
        self.attempts
    }

    /// Whether `error` is worth another attempt. A predicate that panics says no.
    pub fn retries(&self, error: &TaskError) -> bool {
        match &self.predicate {
            Some(p) => {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| p(error))).unwrap_or(false)
            }
            None => matches!(
                error.kind(),
                TaskErrorKind::Failed | TaskErrorKind::TimedOut
            ),
        }
    }

    /// The wait after attempt `failed` (1 for the first) failed, before jitter.
    pub fn delay_after(&self, failed: u32) -> Duration {
        let exponent = failed.saturating_sub(1).min(64) as i32;
        let secs = self.backoff.as_secs_f64() * self.factor.powi(exponent);
        if !secs.is_finite() || secs >= self.max_delay.as_secs_f64() {
            return self.max_delay;
        }
        Duration::from_secs_f64(secs.max(0.0))
    }

    /// The wait after attempt `failed` failed, jitter taken off.
    pub(crate) fn jittered_delay(&self, failed: u32) -> Duration {
        let delay = self.delay_after(failed);
        if self.jitter == 0.0 || delay.is_zero() {
            return delay;
        }
        delay.mul_f64(1.0 - self.jitter * unit_random())
    }
}

/// A number in `[0, 1)`, different at every call: the standard library's hasher,
/// keyed randomly per process, over a counter.
fn unit_random() -> f64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static KEYS: std::sync::OnceLock<std::collections::hash_map::RandomState> =
        std::sync::OnceLock::new();
    let keys = KEYS.get_or_init(std::collections::hash_map::RandomState::new);
    let bits = keys.hash_one(COUNTER.fetch_add(1, Ordering::Relaxed));
    (bits >> 11) as f64 / (1_u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_and_are_capped_and_jittered_within_their_share() {
        let retry = Retry::attempts(10)
            .backoff(Duration::from_millis(10), 2.0)
            .max_delay(Duration::from_millis(50))
            .jitter(0.5);
        assert_eq!(retry.delay_after(1), Duration::from_millis(10));
        assert_eq!(retry.delay_after(2), Duration::from_millis(20));
        assert_eq!(retry.delay_after(4), Duration::from_millis(50));
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..100 {
            let d = retry.jittered_delay(2);
            assert!(
                d > Duration::from_millis(10) && d <= Duration::from_millis(20),
                "{d:?}"
            );
            seen.insert(d);
        }
        assert!(seen.len() > 50, "jitter spreads the waits: {}", seen.len());
    }

    #[test]
    fn the_default_predicate_retries_errors_and_timeouts_only() {
        let retry = Retry::attempts(2);
        let kinds = [
            (TaskErrorKind::Failed, true),
            (TaskErrorKind::TimedOut, true),
            (TaskErrorKind::Panicked, false),
            (TaskErrorKind::Cancelled, false),
            (TaskErrorKind::WorkerLost, false),
        ];
        for (kind, retried) in kinds {
            assert_eq!(
                retry.retries(&TaskError::new(kind, "x")),
                retried,
                "{kind:?}"
            );
        }
        let custom = Retry::attempts(2).when(|_| panic!("a bad predicate"));
        assert!(!custom.retries(&TaskError::new(TaskErrorKind::Failed, "x")));
    }

    #[test]
    fn odd_settings_are_made_sane() {
        let retry = Retry::attempts(0)
            .backoff(Duration::from_secs(1), f64::NAN)
            .jitter(7.0);
        assert_eq!(retry.max_attempts(), 1);
        assert_eq!(retry.delay_after(5), Duration::from_secs(1));
        assert!(retry.jittered_delay(1) <= Duration::from_secs(1));
    }
}
