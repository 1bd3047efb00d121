//! What to do with the jobs of a worker that died: the retry rule of every executor
//! whose workers are processes that can die (the process pool today; workers on other
//! machines later).
//!
//! When a worker is lost, the executor sorts the jobs it held in two:
//!
//! - **Never started**: a job whose call could not be delivered (the write failed, or
//!   the worker never read it), or that was queued behind the running call. It did
//!   nothing wrong and nothing of it ran: the executor sends it again as it is (to
//!   another worker, or to this one's replacement). It costs no attempt.
//! - **Running**: the job the worker was running when it died. It may have caused the
//!   death (a segfault, memory exhaustion) or be a bystander (the OOM killer chose
//!   this process, a node failed). The executor hands it to [`Job::worker_lost`] with
//!   the [`Attempt`]: the job comes back to be run again while fewer than
//!   `retries + 1` of its runs were lost, and otherwise completes with a
//!   [`TaskErrorKind::WorkerLost`] error that lists every attempt's worker and how
//!   that worker ended.
//!
//! The history lives on the job (an empty `Vec` until a worker dies: no allocation
//! on the common path), so it follows the job from worker to worker whatever the
//! executor's queueing, and the rule is one function any executor calls. The limit is
//! the executor's setting (`ProcessPoolBuilder::retries`), defaulting to
//! [`DEFAULT_RETRIES`].

use std::fmt;
use std::fmt::Write as _;

use super::{Completion, Job, Worker};
use crate::error::{TaskError, TaskErrorKind};

/// Default number of times a task whose worker died while running it is run again
/// before it fails: 3, as Dask distributed's `allowed-failures`. A task that kills
/// every worker it runs on (a segfault on its inputs) then costs four worker starts
/// before its error; a task that met an unlucky OOM kill or a lost node gets three
/// more chances. HyperQueue allows 5 crashes; ours are cheaper to retry than to
/// diagnose, and a deterministic crash should surface quickly.
pub const DEFAULT_RETRIES: u32 = 3;

/// One run of a task that ended with its worker's death.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Attempt {
    /// The worker that ran it.
    pub(crate) worker: Worker,
    /// How the worker ended, as a verb phrase ("was killed by signal 9 (SIGKILL)",
    /// "exited with status 3", "sent a malformed frame (...)").
    pub(crate) ended: String,
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.worker, self.ended)
    }
}

/// What becomes of a job whose worker died while running it.
#[derive(Debug)]
pub(crate) enum AfterLoss {
    /// Run it again, on another worker (the attempt is recorded on the job).
    Retry(Job),
    /// It is done: out of retries (a [`TaskErrorKind::WorkerLost`] error naming every
    /// attempt), or its computation was cancelled meanwhile. Report it.
    Done(Completion),
}

impl Job {
    /// The job's worker died while running it (`attempt` says which worker and how):
    /// retry it if its computation still wants it and it has been lost at most
    /// `retries` times, fail it otherwise. See the [module](self) for the rule.
    pub(crate) fn worker_lost(mut self, attempt: Attempt, retries: u32) -> AfterLoss {
        let worker = attempt.worker;
        if self.is_cancelled() {
            let error = TaskError::new(
                TaskErrorKind::Cancelled,
                format!("the computation was cancelled; meanwhile worker {attempt}"),
            );
            return AfterLoss::Done(self.failed(error, worker));
        }
        self.attempts.push(attempt);
        if self.attempts.len() <= retries as usize {
            return AfterLoss::Retry(self);
        }
        let error = TaskError::new(TaskErrorKind::WorkerLost, lost_message(&self.attempts));
        AfterLoss::Done(self.failed(error, worker))
    }

    /// The runs of this job lost with their worker so far.
    pub(crate) fn attempts(&self) -> &[Attempt] {
        &self.attempts
    }
}

/// The message of a task that lost its worker on every attempt.
fn lost_message(attempts: &[Attempt]) -> String {
    match attempts {
        [] => "its worker was lost".to_owned(),
        [only] => format!("worker {only} while running it (no retries allowed)"),
        all => {
            let mut message = format!(
                "its worker died while running it on each of {} attempts (retries: {}):",
                all.len(),
                all.len() - 1
            );
            for (i, attempt) in all.iter().enumerate() {
                let sep = if i == 0 { "" } else { ";" };
                let _ = write!(message, "{sep} attempt {} on {attempt}", i + 1);
            }
            message
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Attempt, Worker, lost_message};

    fn attempt(index: u32, pid: u32, ended: &str) -> Attempt {
        Attempt {
            worker: Worker::Process { index, pid },
            ended: ended.to_owned(),
        }
    }

    #[test]
    fn one_attempt_reads_as_before() {
        let message = lost_message(&[attempt(0, 42, "was killed by signal 9 (SIGKILL)")]);
        assert_eq!(
            message,
            "worker process-0 (pid 42) was killed by signal 9 (SIGKILL) while running it \
             (no retries allowed)"
        );
    }

    #[test]
    fn every_attempt_is_named() {
        let message = lost_message(&[
            attempt(0, 42, "was killed by signal 6 (SIGABRT)"),
            attempt(1, 43, "exited with status 3"),
        ]);
        assert_eq!(
            message,
            "its worker died while running it on each of 2 attempts (retries: 1): attempt 1 \
             on process-0 (pid 42) was killed by signal 6 (SIGABRT); attempt 2 on process-1 \
             (pid 43) exited with status 3"
        );
    }
}
