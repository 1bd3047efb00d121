//! What becomes of the jobs of a batch whose worker was lost: one rule for the process
//! pool and the cluster.
//!
//! [`super::batch::run`] hands back the jobs it did not finish, in order, and says
//! whether the worker may have started the first of them. Then:
//!
//! - the batch's computation was cancelled: every job fails as cancelled;
//! - the executor shut down: every job fails as lost;
//! - the worker retired: none of them started, all are sent again;
//! - the call the worker was running ran past its timeout (the worker is killed):
//!   that job fails as timed out (its task's retry policy may run it again); the
//!   others never started and are sent again;
//! - the worker died, broke the protocol or went silent: the job it was running is
//!   handed to [`Job::worker_lost`] (retried up to the executor's limit, or failed
//!   naming every attempt); the others never started and are sent again, at no cost.
//!
//! "The job it was running" is the only unanswered one. A worker holds the answers
//! of short calls back (`serve`'s module says why), so one that dies with several
//! calls unanswered may have finished any of them, and none of them is blamed: each
//! is sent again *alone*, in a batch of its own, where a call that kills its worker
//! again is known for certain and charged. A call that kills every worker thus still
//! fails after the retry limit, one loss later than if every answer were written at
//! once.

use super::End;
use super::batch::{Loss, Lost};
use super::report::{Reporter, cancelled};
use crate::error::{TaskError, TaskErrorKind};
use crate::executor::{AfterLoss, Attempt, Job, Worker};

/// How a lost batch is settled: where it ran and what the executor allows.
pub(crate) struct Settle<'a> {
    /// The worker that was lost.
    pub(crate) worker: Worker,
    /// How it ended, as a verb phrase for messages ("was killed by signal 9 (SIGKILL)",
    /// "closed its connection; Slurm says CANCELLED"), for [`Lost::Worker`].
    pub(crate) ended: &'a str,
    /// The executor's retry limit.
    pub(crate) retries: u32,
    /// Where completions go.
    pub(crate) reporter: &'a Reporter,
    /// The message of jobs failed because the executor shut down ("the process pool
    /// shut down").
    pub(crate) shut_down: &'a str,
}

/// The jobs a loss sends again.
#[derive(Debug, Default)]
pub(crate) struct Again {
    /// In order.
    pub(crate) jobs: Vec<Job>,
    /// Whether each must run alone, in a batch of its own (the worker that lost them
    /// may have finished any of them: running them alone tells which kills workers).
    pub(crate) alone: bool,
}

impl Settle<'_> {
    /// Settles `loss`: reports the jobs that end here, and returns those to send
    /// again (to another worker, or this one's replacement).
    pub(crate) fn loss(&self, loss: Loss) -> Again {
        let Loss {
            lost,
            jobs,
            running,
        } = loss;
        let worker = self.worker;
        match lost {
            Lost::Cancelled => {
                tracing::debug!(%worker, "worker dropped: its computation was cancelled");
                let error = || cancelled("while its worker ran it");
                self.reporter.report(
                    jobs.into_iter()
                        .map(|job| job.failed(error(), worker))
                        .collect(),
                );
                Again::default()
            }
            Lost::Shutdown => {
                self.shut_down(jobs);
                Again::default()
            }
            Lost::TimedOut(limit) => {
                let mut jobs = jobs.into_iter();
                if let Some(job) = jobs.next() {
                    tracing::warn!(
                        %worker,
                        key = %job.key(),
                        timeout = ?limit,
                        "taskloom task ran past its timeout; its worker is killed and replaced"
                    );
                    let stopped = format!("its worker {worker} was killed and is replaced");
                    let error = TaskError::timed_out(limit, &stopped);
                    self.reporter.report(vec![job.failed(error, worker)]);
                }
                Again {
                    jobs: jobs.collect(),
                    alone: false,
                }
            }
            Lost::Worker(End::Retired) => {
                tracing::info!(
                    %worker,
                    unstarted = jobs.len(),
                    "taskloom worker retired; the calls it did not start are sent again"
                );
                Again { jobs, alone: false }
            }
            Lost::Worker(_) if running && jobs.len() > 1 => {
                tracing::warn!(
                    %worker,
                    reason = %self.ended,
                    unanswered = jobs.len(),
                    "taskloom worker lost with several calls unanswered; each runs alone next"
                );
                let jobs = jobs
                    .into_iter()
                    .map(|mut job| {
                        // Kept with the job if it goes back to wait for an input lost
                        // with this worker, so that it still runs alone after.
                        job.alone = true;
                        job
                    })
                    .collect();
                Again { jobs, alone: true }
            }
            Lost::Worker(_) => {
                let ended = self.ended;
                let mut jobs = jobs.into_iter();
                let culprit = if running { jobs.next() } else { None };
                let mut again: Vec<Job> = Vec::with_capacity(jobs.len() + 1);
                if let Some(job) = culprit {
                    tracing::warn!(
                        %worker,
                        reason = %ended,
                        key = %job.key(),
                        attempt = job.attempts().len() + 1,
                        "taskloom worker lost while running a task"
                    );
                    let attempt = Attempt {
                        worker,
                        ended: ended.to_owned(),
                        at: std::time::Instant::now(),
                    };
                    match job.worker_lost(attempt, self.retries) {
                        AfterLoss::Retry(job) => again.push(job),
                        AfterLoss::Done(completion) => self.reporter.report(vec![completion]),
                    }
                } else {
                    tracing::warn!(
                        %worker,
                        reason = %ended,
                        "taskloom worker lost before it started its batch; the batch is sent again"
                    );
                }
                again.extend(jobs);
                Again {
                    jobs: again,
                    alone: false,
                }
            }
        }
    }

    /// Fails `jobs` because the executor shut down.
    pub(crate) fn shut_down(&self, jobs: Vec<Job>) {
        let error = || TaskError::new(TaskErrorKind::WorkerLost, self.shut_down);
        self.reporter.report(
            jobs.into_iter()
                .map(|job| job.failed(error(), Worker::Inline))
                .collect(),
        );
    }
}
