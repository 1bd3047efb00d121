//! The loop's side of task policies: the attempts of each task, the retries waiting
//! for their time, and the deadlines of blocking tasks it watches.
//!
//! Made only when some task has a policy ([`crate::policy`]); a computation without
//! one has no `Watch` and pays one `None` check per hook.
//!
//! - **Retries**: a failed attempt whose error the task's [`Retry`] accepts, with
//!   attempts left, is not fed to core's `State`: the task stays running there, waits
//!   here for its backoff, then comes out of [`Watch::next_again`] ahead of every
//!   ready task and starts again on the same inputs (still held: its dependents have
//!   not run). Otherwise the task fails with an error listing every attempt.
//! - **Deadlines** of blocking tasks the executor cannot stop (threads, inline, and
//!   remote tasks on executors that do not kill workers): a deadline counts from the
//!   attempt's start, which the worker reports; when it passes before the
//!   completion arrives, the computation fails with [`TaskErrorKind::TimedOut`] and
//!   the thread is left to finish. Async tasks time themselves out (their future is
//!   dropped), and the process pool and the cluster kill the worker of a remote task
//!   past its deadline: both come back as a completion, retried like any error.
//!
//! Waiting uses Tokio's timers, from the runtime the computation runs on (or the
//! scheduler's runtime when it is driven outside one).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use taskloom_core::{Graph as CoreGraph, TaskId};
use tokio::time::Sleep;

use crate::body::TaskBody;
use crate::error::{ComputeError, TaskError};
use crate::policy::{Resolved, Retry};
use crate::worker::Worker;

#[cfg(doc)]
use crate::policy::Policy;

/// What became of a failed attempt.
pub(super) enum Verdict {
    /// It runs again in `delay` (attempt `next` of the task).
    Retry { next: u32, delay: Duration },
    /// The task fails with this error (its message lists the earlier attempts).
    Fail(TaskError),
}

/// One failed attempt, for the final error's message.
struct Tried {
    worker: Worker,
    ran: Duration,
    error: String,
}

pub(super) struct Watch {
    policy: Arc<Resolved>,
    /// Whether the executor kills the worker of a remote task past its deadline
    /// (then the loop does not watch remote tasks).
    remote_stopped: bool,
    /// Failed attempts of tasks that are being retried.
    tried: HashMap<TaskId, Vec<Tried>>,
    /// Retries waiting for their time.
    delayed: BinaryHeap<Reverse<(Instant, TaskId)>>,
    /// Retries whose time came, to start before any ready task.
    again: VecDeque<TaskId>,
    /// Deadlines of watched attempts: when, which task, and the attempt's start.
    deadlines: BinaryHeap<Reverse<(Instant, TaskId, Instant)>>,
    /// The start of each watched task's running attempt.
    running: HashMap<TaskId, Instant>,
    /// The timer, set for the next retry or deadline.
    timer: Option<(Instant, Pin<Box<Sleep>>)>,
    runtime: Option<tokio::runtime::Handle>,
}

impl Watch {
    pub(super) fn new(
        policy: Arc<Resolved>,
        remote_stopped: bool,
        runtime: Option<tokio::runtime::Handle>,
    ) -> Self {
        Watch {
            policy,
            remote_stopped,
            tried: HashMap::new(),
            delayed: BinaryHeap::new(),
            again: VecDeque::new(),
            deadlines: BinaryHeap::new(),
            running: HashMap::new(),
            timer: None,
            runtime,
        }
    }

    /// A retry whose time came, to start now.
    #[inline]
    pub(super) fn next_again(&mut self) -> Option<TaskId> {
        self.again.pop_front()
    }

    /// Retries waiting, and due: started as far as core knows, but not running.
    pub(super) fn waiting(&self) -> usize {
        self.delayed.len() + self.again.len()
    }

    /// Which attempt of `task` runs now (1 for the first).
    pub(super) fn attempt(&self, task: TaskId) -> u32 {
        self.tried
            .get(&task)
            .map_or(1, |t| u32::try_from(t.len()).unwrap_or(u32::MAX - 1) + 1)
    }

    /// An attempt of `task` started at `at`: its deadline is watched here if it has
    /// a timeout and nothing else stops it.
    pub(super) fn started(&mut self, graph: &CoreGraph<TaskBody>, task: TaskId, at: Instant) {
        let Some(limit) = self.policy.timeout(task.index()) else {
            return;
        };
        let watched = match graph.payload(task) {
            TaskBody::Blocking(body) => body.remote.is_none() || !self.remote_stopped,
            TaskBody::Async(_) => false,
        };
        if watched {
            self.running.insert(task, at);
            self.deadlines.push(Reverse((at + limit, task, at)));
        }
    }

    /// Whether an inline attempt of `task`, run from `started` to `finished`, ran
    /// past its timeout: the error it ends with then.
    pub(super) fn overran(
        &self,
        task: TaskId,
        started: Instant,
        finished: Instant,
    ) -> Option<TaskError> {
        let limit = self.policy.timeout(task.index())?;
        let ran = finished.saturating_duration_since(started);
        (ran > limit).then(|| {
            TaskError::timed_out(
                limit,
                &format!("it ran for {ran:?} on the loop's thread, which cannot stop it"),
            )
        })
    }

    /// Whether `task` has a timeout (an inline run must then read the clock).
    pub(super) fn has_timeout(&self, task: TaskId) -> bool {
        self.policy.timeout(task.index()).is_some()
    }

    /// `task` succeeded: forget its attempts.
    pub(super) fn succeeded(&mut self, task: TaskId) {
        self.running.remove(&task);
        if !self.tried.is_empty() {
            self.tried.remove(&task);
        }
    }

    /// An attempt of `task` failed with `error` after running on `worker` from
    /// `started` to `finished`: retried if `retry_allowed`, its policy accepts the
    /// error and attempts are left; else the final error, listing the attempts.
    pub(super) fn failed(
        &mut self,
        task: TaskId,
        error: TaskError,
        worker: Worker,
        ran: Duration,
        retry_allowed: bool,
    ) -> Verdict {
        self.running.remove(&task);
        let attempt = self.attempt(task);
        let retry: Option<&Retry> = self.policy.of(task.index()).and_then(|p| p.retry.as_ref());
        if let Some(retry) = retry.filter(|r| retry_allowed && attempt < r.max_attempts()) {
            if retry.retries(&error) {
                let delay = retry.jittered_delay(attempt);
                self.tried.entry(task).or_default().push(Tried {
                    worker,
                    ran,
                    error: error.to_string(),
                });
                self.delayed.push(Reverse((Instant::now() + delay, task)));
                return Verdict::Retry {
                    next: attempt + 1,
                    delay,
                };
            }
        }
        match self.tried.remove(&task) {
            None => Verdict::Fail(error),
            Some(earlier) => Verdict::Fail(error.after_attempts(&history(&earlier, worker, ran))),
        }
    }

    /// Whether the timer is set (a retry waits, or a deadline is watched).
    pub(super) fn armed(&self) -> bool {
        !self.delayed.is_empty() || !self.deadlines.is_empty()
    }

    /// Sets the timer for the next retry or deadline; `key` names the task for the
    /// error when no timer is available.
    pub(super) fn arm(
        &mut self,
        key: impl FnOnce(TaskId) -> taskloom_core::Key,
    ) -> Result<(), ComputeError> {
        let next = [
            self.delayed.peek().map(|r| (r.0.0, r.0.1)),
            self.deadlines.peek().map(|r| (r.0.0, r.0.1)),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some((at, task)) = next else {
            self.timer = None;
            return Ok(());
        };
        match &mut self.timer {
            Some((set, _)) if *set == at => {}
            Some((set, sleep)) => {
                *set = at;
                sleep.as_mut().reset(tokio::time::Instant::from_std(at));
            }
            None => match sleep_until(at, self.runtime.as_ref()) {
                Some(sleep) => self.timer = Some((at, Box::pin(sleep))),
                None => return Err(ComputeError::NoTimer { key: key(task) }),
            },
        }
        Ok(())
    }

    /// Waits for the timer (forever if it is not set).
    pub(super) fn tick(&mut self) -> Tick<'_> {
        Tick(self.timer.as_mut().map(|(_, sleep)| sleep.as_mut()))
    }

    /// The timer went off: due retries move to the front of the queue; a watched
    /// attempt past its deadline is returned, with its error, to fail the
    /// computation.
    pub(super) fn wake(&mut self) -> Option<(TaskId, Instant, TaskError)> {
        let now = Instant::now();
        while let Some(Reverse((due, task))) = self.delayed.peek().copied() {
            if due > now {
                break;
            }
            self.delayed.pop();
            self.again.push_back(task);
        }
        while let Some(Reverse((deadline, task, started))) = self.deadlines.peek().copied() {
            if deadline > now {
                break;
            }
            self.deadlines.pop();
            if self.running.get(&task) == Some(&started) {
                self.running.remove(&task);
                let limit = deadline.saturating_duration_since(started);
                let error = TaskError::timed_out(
                    limit,
                    "a blocking task cannot be stopped: its thread is left to finish the call",
                );
                let error = match self.tried.remove(&task) {
                    None => error,
                    Some(earlier) => {
                        error.after_attempts(&history(&earlier, Worker::Inline, limit))
                    }
                };
                return Some((task, started, error));
            }
        }
        None
    }
}

/// The message prefix of a task's final error: every earlier attempt and how it
/// ended, then the last one's place.
fn history(earlier: &[Tried], last_worker: Worker, last_ran: Duration) -> String {
    let mut out = format!("failed on all {} attempts: ", earlier.len() + 1);
    for (i, t) in earlier.iter().enumerate() {
        let _ = write!(
            out,
            "attempt {} on {} after {:?}: {}; ",
            i + 1,
            t.worker,
            t.ran,
            t.error
        );
    }
    let _ = write!(
        out,
        "attempt {} on {last_worker} after {last_ran:?}: ",
        earlier.len() + 1
    );
    out
}

/// A Tokio sleep until `at`, made on the current runtime or else `runtime`; `None`
/// if neither is there or its timers are off (Tokio panics then; caught here).
fn sleep_until(at: Instant, runtime: Option<&tokio::runtime::Handle>) -> Option<Sleep> {
    let make = || {
        std::panic::catch_unwind(|| tokio::time::sleep_until(tokio::time::Instant::from_std(at)))
            .ok()
    };
    if tokio::runtime::Handle::try_current().is_ok() {
        return make();
    }
    let _entered = runtime?.enter();
    make()
}

/// The future of [`Watch::tick`].
pub(super) struct Tick<'a>(Option<Pin<&'a mut Sleep>>);

impl Tick<'_> {
    /// A tick that never comes.
    pub(super) fn never() -> Self {
        Tick(None)
    }
}

impl Future for Tick<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.0.as_mut() {
            Some(sleep) => sleep.as_mut().poll(cx),
            None => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::TaskErrorKind;
    use crate::policy::{Policy, Table};

    fn watch(policy: Policy) -> Watch {
        let mut table = Table::default();
        table.set(0, policy);
        Watch::new(
            Resolved::new(&table, None, None).expect("a policy"),
            true,
            None,
        )
    }

    fn error(message: &str) -> TaskError {
        TaskError::new(TaskErrorKind::Failed, message)
    }

    #[test]
    fn attempts_are_counted_then_listed_in_the_final_error() {
        let retry = Retry::attempts(3).backoff(Duration::ZERO, 1.0);
        let mut w = watch(Policy::new().retry(retry));
        let t = TaskId::from_index(0);
        let ms = Duration::from_millis(1);
        assert_eq!(w.attempt(t), 1);
        assert!(matches!(
            w.failed(t, error("one"), Worker::Thread(0), ms, true),
            Verdict::Retry { next: 2, .. }
        ));
        assert!(matches!(
            w.failed(t, error("two"), Worker::Thread(1), ms, true),
            Verdict::Retry { next: 3, .. }
        ));
        assert_eq!(w.attempt(t), 3);
        let Verdict::Fail(last) = w.failed(t, error("three"), Worker::Thread(0), ms, true) else {
            panic!("the third attempt is the last");
        };
        assert_eq!(last.kind(), TaskErrorKind::Failed);
        assert_eq!(
            last.message(),
            "failed on all 3 attempts: attempt 1 on thread-0 after 1ms: failed: one; \
             attempt 2 on thread-1 after 1ms: failed: two; attempt 3 on thread-0 after 1ms: \
             three"
        );
        assert_eq!(w.attempt(t), 1);
    }

    #[test]
    fn errors_the_predicate_refuses_and_loop_timeouts_fail_at_once() {
        let mut w = watch(Policy::new().retry(Retry::attempts(5)));
        let t = TaskId::from_index(0);
        let panic = TaskError::new(TaskErrorKind::Panicked, "bug");
        assert!(matches!(
            w.failed(t, panic, Worker::Inline, Duration::ZERO, true),
            Verdict::Fail(e) if e.message() == "bug"
        ));
        assert!(matches!(
            w.failed(t, error("x"), Worker::Inline, Duration::ZERO, false),
            Verdict::Fail(_)
        ));
    }
}
