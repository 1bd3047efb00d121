//! Executors: where blocking tasks run.
//!
//! The scheduling loop hands an [`Executor`] [`Batch`]es of ready [`Job`]s; the
//! executor runs them somewhere (worker threads, the calling thread, child processes)
//! and the batch reports each [`Completion`] (value or error, worker, start and end
//! instants) back to the loop over a Tokio mpsc channel. The loop is the only owner of
//! the computation's state; executors never see it.
//!
//! Writing an executor takes three methods (`name`, `num_workers`, `submit`), because
//! [`Batch::run`] does the work of running jobs, catching panics, timing and
//! reporting:
//!
//! ```
//! use taskloom::executor::{Batch, Executor, Worker};
//!
//! /// Runs every batch on a fresh OS thread.
//! struct ThreadPerBatch;
//!
//! impl Executor for ThreadPerBatch {
//!     fn name(&self) -> &str {
//!         "thread-per-batch"
//!     }
//!     fn num_workers(&self) -> usize {
//!         4
//!     }
//!     fn submit(&self, batch: Batch) {
//!         std::thread::spawn(move || batch.run(Worker::Thread(0)));
//!     }
//! }
//! ```
//!
//! Every job is guarded: a job (or a whole batch) dropped without being run, and a
//! completion dropped without being reported, report their task as lost
//! ([`TaskErrorKind::WorkerLost`](crate::TaskErrorKind::WorkerLost)), so a
//! computation never waits forever on an executor that gave up or panicked. A panic
//! in `submit` itself fails the computation with
//! [`ComputeError::ExecutorPanicked`](crate::ComputeError::ExecutorPanicked).
//!
//! Async tasks never reach an executor: the loop runs them as Tokio tasks.
//!
//! # Layout
//!
//! The path of a job, one concern per file:
//!
//! - `scope`: what every task of one computation shares (graph, cancellation, the
//!   channel back), and `running`: which computation and task the running thread
//!   works for (what [`crate::context`] reads);
//! - `job`: [`Job`], a ready task that owes its computation one completion;
//!   `packed`: a batch as the loop packs it (the hot path);
//! - `run`: `run_task`, the one function that runs a blocking task body on every
//!   path, and the fused chain behind a task; `span`: the `task` span it fills in;
//! - `completion`: [`Completion`], how a job ended, and the message it travels in;
//!   `sink`: the channel back to the loop, and a worker's outbox;
//! - `retry`: what becomes of the jobs of a worker that died (sent again, retried up
//!   to a limit, or failed naming every attempt), for every executor whose workers
//!   can die;
//! - [`threads`], [`current`]: the shipped in-process executors ([`crate::process`]
//!   and [`crate::cluster`] sit beside this module, on `crate::link`, the
//!   conversation with a worker process).
//!
//! [`Worker`] and [`Name`] (where a task ran) are re-exported here from the layer
//! below, which callbacks and traffic figures share.

mod completion;
pub mod current;
mod job;
mod packed;
mod retry;
mod run;
pub(crate) mod running;
mod scope;
mod sink;
mod span;
pub mod threads;

use std::fmt;
use std::time::Instant;

pub use completion::Completion;
pub(crate) use completion::{Inputs, Message, Started};
pub use current::CurrentThread;
pub(crate) use job::AfterLoss;
pub use job::Job;
pub(crate) use packed::{Local, Locals, Packed, PackedJob};
pub(crate) use retry::Attempt;
pub use retry::DEFAULT_RETRIES;
pub(crate) use run::{Chain, Clock, InputRefs, run_task};
pub(crate) use scope::{Cancel, CancelLink, Scope};
pub(crate) use sink::{Outbox, Sink};
pub(crate) use span::{micros, record_span, task_span};
pub use threads::ThreadPool;

pub use crate::worker::{LostRun, Name, Worker};

/// Runs batches of blocking tasks. Shared by every computation of a
/// [`Scheduler`](crate::Scheduler), so it must be thread-safe.
pub trait Executor: Send + Sync + 'static {
    /// A short name for spans, callbacks and reports ("threads", "current-thread").
    fn name(&self) -> &str;

    /// How many tasks it runs at once. The loop keeps at most about
    /// `2 × num_workers × chunksize` tasks handed out per computation.
    fn num_workers(&self) -> usize;

    /// Runs the batch's jobs, in order, and reports them: usually by calling
    /// [`Batch::run`] on a worker. Must not block for long: it is called from the
    /// scheduling loop.
    fn submit(&self, batch: Batch);

    /// Whether tasks should run on the thread that drives the computation
    /// ([`CurrentThread`]). The loop then uses its inline strategy: one task at a
    /// time, in the static order, on references to the results it holds, without
    /// calling `submit`.
    fn is_inline(&self) -> bool {
        false
    }

    /// Whether the calling thread is one of this executor's workers. A computation
    /// started from inside a task on a worker then runs its tasks inline on that
    /// thread instead of waiting for a worker that may never come free (the deadlock
    /// of Dask issue #4240).
    fn is_worker_thread(&self) -> bool {
        false
    }

    /// Whether the executor stops a remote task that runs past its
    /// [timeout](crate::policy::Policy::timeout) itself, by killing the worker process
    /// that runs it (the process pool and the cluster do). For other tasks, and on
    /// executors that return `false`, the scheduling loop watches the deadline: the
    /// computation fails when it passes, and the call is left to finish.
    fn stops_remote_tasks(&self) -> bool {
        false
    }
}

/// A batch of jobs of one computation, handed to an executor as one unit of work.
///
/// Dropping it unrun reports each of its jobs as lost.
///
/// The scheduling loop packs a batch as `Packed`: its jobs share the batch's
/// handle on their computation and the instant it was handed out, and read their
/// bodies from the graph where they run, so a job costs no reference count of its
/// own — the computation's is shared by every job and worker, and each count taken
/// and dropped on another core moves its cache line. [`Batch::run`] runs them so.
/// An executor that takes the jobs out ([`Batch::into_jobs`]) gets [`Job`]s that
/// stand alone.
pub struct Batch {
    /// The jobs as the loop packed them, not taken out.
    packed: Option<Packed>,
    /// Jobs of their own: taken out of `packed` by an executor, or made as such.
    jobs: Vec<Job>,
}

impl fmt::Debug for Batch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batch").field("jobs", &self.len()).finish()
    }
}

impl Batch {
    /// A batch of jobs of one computation (not empty).
    pub(crate) fn new(jobs: Vec<Job>) -> Self {
        Batch { packed: None, jobs }
    }

    /// A batch of jobs packed by the scheduling loop.
    pub(crate) fn packed(packed: Packed) -> Self {
        Batch {
            packed: Some(packed),
            jobs: Vec::new(),
        }
    }

    /// Number of jobs.
    pub fn len(&self) -> usize {
        self.packed.as_ref().map_or(0, Packed::len) + self.jobs.len()
    }

    /// Whether the batch has no jobs.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the computation it belongs to was cancelled or failed.
    pub fn is_cancelled(&self) -> bool {
        match &self.packed {
            Some(packed) => packed.is_cancelled(),
            None => self.jobs.first().is_some_and(Job::is_cancelled),
        }
    }

    /// Runs every job on the calling thread as `worker`, in order, and reports the
    /// completions to the computation in one message.
    pub fn run(self, worker: Worker) {
        if let Some(packed) = self.packed {
            packed.run(worker);
        }
        let Some(first) = self.jobs.first() else {
            return;
        };
        let scope = std::sync::Arc::clone(&first.scope);
        let _scope = running::enter_scope(&scope);
        // Whatever happens below, the completions made so far are sent (the outbox's
        // drop) and the jobs not yet run report themselves lost (each job's drop).
        let mut outbox = Outbox::new(&scope.sink, self.jobs.len());
        let mut now = Instant::now();
        for job in self.jobs {
            let watched = scope.watched(job.task);
            outbox.sink().started_if(job.task, worker, now, watched);
            let completion = job.run_from(worker, now);
            now = completion.finished;
            outbox.push(completion);
        }
        outbox.flush();
    }

    /// Takes the jobs out, to run them one by one (for executors that run jobs their
    /// own way): run each with [`Job::run`] and [report](Completion::report) it.
    pub fn into_jobs(mut self) -> Vec<Job> {
        std::mem::take(self.jobs_mut())
    }

    /// The jobs, for the crate's executors that look at them before running.
    pub(crate) fn jobs_mut(&mut self) -> &mut Vec<Job> {
        if let Some(mut packed) = self.packed.take() {
            let jobs = packed.unpack();
            self.jobs.extend(jobs);
        }
        &mut self.jobs
    }
}
