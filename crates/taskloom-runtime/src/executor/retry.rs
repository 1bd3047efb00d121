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
//!   this process, a node failed). The executor hands it to `Job::worker_lost` with
//!   the [`Attempt`], which asks [`after_loss`]: the job comes back to be run again
//!   while fewer than `retries + 1` of its runs were lost, and otherwise completes
//!   with a [`TaskErrorKind::WorkerLost`] error that lists every attempt's worker and
//!   how that worker ended.
//!
//! The history lives on the job (an empty `Vec` until a worker dies: no allocation
//! on the common path), so it follows the job from worker to worker whatever the
//! executor's queueing, and the rule is one function any executor calls. The limit is
//! the executor's setting (`ProcessPoolBuilder::retries`), defaulting to
//! [`DEFAULT_RETRIES`].
//!
//! The rule is pure (a job's history in, a verdict out): this module knows nothing of
//! jobs or completions, which apply it.

use std::fmt::Write as _;

use crate::error::{TaskError, TaskErrorKind};

/// Default number of times a task whose worker died while running it is run again
/// before it fails: 3, as Dask distributed's `allowed-failures`. A task that kills
/// every worker it runs on (a segfault on its inputs) then costs four worker starts
/// before its error; a task that met an unlucky OOM kill or a lost node gets three
/// more chances. HyperQueue allows 5 crashes; ours are cheaper to retry than to
/// diagnose, and a deterministic crash should surface quickly.
pub const DEFAULT_RETRIES: u32 = 3;

/// One run of a task that ended with its worker's death: the public [`LostRun`]
/// (callbacks see a task's lost runs), under the name the retry rule gives it.
pub(crate) use crate::worker::LostRun as Attempt;

/// What the rule says of a job whose worker died while running it.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Run it again (the attempt is recorded in its history).
    Retry,
    /// It is done, with this error: out of retries ([`TaskErrorKind::WorkerLost`]
    /// naming every attempt), or its computation was cancelled meanwhile
    /// ([`TaskErrorKind::Cancelled`]).
    Fail(TaskError),
}

/// The retry rule (see the [module](self)): a job with history `attempts` lost its
/// worker (`attempt` says which and how) while running. It runs again if its
/// computation still wants it and it has been lost at most `retries` times; a
/// cancelled job's attempt is not recorded.
pub(crate) fn after_loss(
    attempts: &mut Vec<Attempt>,
    attempt: Attempt,
    retries: u32,
    cancelled: bool,
) -> Verdict {
    if cancelled {
        return Verdict::Fail(TaskError::new(
            TaskErrorKind::Cancelled,
            format!("the computation was cancelled; meanwhile worker {attempt}"),
        ));
    }
    attempts.push(attempt);
    if attempts.len() <= retries as usize {
        return Verdict::Retry;
    }
    Verdict::Fail(TaskError::new(
        TaskErrorKind::WorkerLost,
        lost_message(attempts),
    ))
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
    use super::{Attempt, lost_message};
    use crate::worker::Worker;

    fn attempt(index: u32, pid: u32, ended: &str) -> Attempt {
        Attempt {
            worker: Worker::Process { index, pid },
            ended: ended.to_owned(),
            at: std::time::Instant::now(),
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
