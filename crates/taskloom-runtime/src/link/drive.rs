//! One batch on one worker, from the queue to its last completion, for every executor
//! with worker processes: the process pool's slots (pipes) and the cluster's members
//! (sockets) drive their batches here, and differ only in what they do when the
//! worker is lost.
//!
//! A batch taken from the queue ([`take`]) fails at once if its computation was
//! cancelled before it started. Then ([`Seat::run`]) jobs with inputs held by other
//! workers go to wait for them ([`super::resident::gather`]); a job that must run
//! alone (a suspect of an earlier loss over a socket, see [`super::loss`]) goes back
//! to the queue in a batch of its own; the others are exchanged with the worker
//! ([`super::batch::run`]). When the worker is lost meanwhile, the executor finds out
//! how it ended (the pool kills and reaps its child; the cluster asks the engine) and
//! hands that back ([`Seat::settle`]): the jobs that go on are queued again, each
//! alone when the loss could not tell which call killed the worker.

use tokio_util::sync::CancellationToken;

use super::Transport;
use super::batch::{self, Here, Loss};
use super::loss::Settle;
use super::report::{Reporter, cancelled};
use super::resident;
use super::settings::Settings;
use crate::executor::{Batch, Job, Worker};

/// A batch taken from the queue: its jobs, and where their completions go.
pub(crate) struct Taken {
    pub(crate) jobs: Vec<Job>,
    pub(crate) reporter: Reporter,
}

/// A batch whose worker was lost before it ended: why, the jobs it did not finish,
/// and where their completions go.
pub(crate) struct Unfinished {
    pub(crate) loss: Loss,
    reporter: Reporter,
}

/// Takes `batch`'s jobs; `None` if it has none, or if its computation was cancelled
/// before it started (its jobs then fail here as cancelled).
pub(crate) fn take(batch: Batch) -> Option<Taken> {
    let jobs = batch.into_jobs();
    let first = jobs.first()?;
    let reporter = Reporter::new(&first.scope);
    if first.is_cancelled() {
        let error = || cancelled("before it started");
        reporter.report(
            jobs.into_iter()
                .map(|job| job.failed(error(), Worker::Inline))
                .collect(),
        );
        return None;
    }
    Some(Taken { jobs, reporter })
}

/// A worker with a batch to run, and what its executor allows.
pub(crate) struct Seat<'a> {
    /// The worker, and its place in the executor's table of held values.
    pub(crate) here: Here<'a>,
    /// The executor's settings (frame limit, retries).
    pub(crate) settings: &'a Settings,
    /// Stops the batch: the executor shuts down (or, for a cluster's member, drops
    /// this worker).
    pub(crate) stop: &'a CancellationToken,
    /// Queues jobs again, ahead of every batch (for any worker).
    pub(crate) requeue: &'a (dyn Fn(Vec<Job>) + Sync),
    /// The error of jobs failed because the executor shut down ("the process pool
    /// shut down").
    pub(crate) shut_down: &'a str,
}

impl Seat<'_> {
    /// Runs `taken` on the worker over `conn`, reporting every completion. `Err`
    /// if the batch stopped before its last answer (the worker was lost, retired, or
    /// `stop` was cancelled, or the computation was): then the caller settles it.
    pub(crate) async fn run<T: Transport>(
        &self,
        conn: &mut T,
        taken: Taken,
    ) -> Result<(), Unfinished> {
        let Taken { jobs, reporter } = taken;
        let here = &self.here;
        // Jobs with inputs held by other workers wait for them elsewhere, and come
        // back to this worker's queue.
        let mut jobs = resident::gather(here.places, here.home, here.worker, jobs);
        let alone = |j: &Job| j.alone || j.scope.timeout(j.task).is_some();
        if jobs.len() > 1 && jobs.iter().any(alone) {
            // A job that must run alone goes back to the queue in a batch of its own:
            // a suspect of an earlier loss, or a task with a timeout (its deadline
            // counts from the start of its own call, which a worker that holds
            // answers back does not tell, and killing its worker must cost no other
            // call its place).
            let (alone, rest): (Vec<_>, Vec<_>) = jobs.into_iter().partition(|j| alone(j));
            for job in alone.into_iter().rev() {
                (self.requeue)(vec![job]);
            }
            jobs = rest;
        }
        if jobs.is_empty() {
            return Ok(());
        }
        let max = self.settings.max_frame_length;
        match batch::run(conn, jobs, here, max, self.stop, &reporter, self.requeue).await {
            Ok(()) => Ok(()),
            Err(mut loss) => {
                // A frame the worker never read to its end: none of its calls started.
                loss.running &= !conn.unread();
                Err(Unfinished { loss, reporter })
            }
        }
    }

    /// Settles a batch whose worker `ended` as the verb phrase says ("was killed by
    /// signal 9 (SIGKILL)", "closed its connection; slurm job 42: CANCELLED"): the
    /// jobs that end here are reported, the others queued again (each alone, last
    /// first so that they keep their order, when the loss could not tell which call
    /// killed the worker).
    pub(crate) fn settle(&self, unfinished: Unfinished, ended: &str) {
        let Unfinished { loss, reporter } = unfinished;
        let again = self.rule(ended, &reporter).loss(loss);
        if again.alone {
            for job in again.jobs.into_iter().rev() {
                (self.requeue)(vec![job]);
            }
        } else {
            (self.requeue)(again.jobs);
        }
    }

    fn rule<'a>(&'a self, ended: &'a str, reporter: &'a Reporter) -> Settle<'a> {
        Settle {
            worker: self.here.worker,
            ended,
            retries: self.settings.retries,
            reporter,
            shut_down: self.shut_down,
        }
    }
}
