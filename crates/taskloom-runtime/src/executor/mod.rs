//! Executors: where blocking tasks run.
//!
//! The scheduling loop hands an [`Executor`] [`Batch`]es of ready [`Job`]s; the
//! executor runs them somewhere (worker threads, the calling thread, child processes)
//! and the batch reports each [`Completion`] (value or error, worker, start and end
//! instants) back to the loop over a Tokio mpsc channel. The loop is the only owner of
//! the computation's state; executors never see it.
//!
//! Writing an executor takes one method, because [`Batch::run`] does the work of
//! running jobs, catching panics, timing and reporting:
//!
//! ```
//! use taskloom_runtime::executor::{Batch, Executor, Worker};
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
//! A batch that is dropped without being run reports its jobs as lost
//! ([`TaskErrorKind::WorkerLost`](crate::TaskErrorKind::WorkerLost)), so a
//! computation never waits forever on an executor that gave up.
//!
//! Async tasks never reach an executor: the loop runs them as Tokio tasks.

pub mod current;
pub mod process;
pub mod threads;

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use taskloom_core::{Key, TaskId};
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use smallvec::SmallVec;

use crate::context::{self, Scope};
use crate::error::{TaskError, TaskErrorKind};
use crate::graph::BlockingFn;
use crate::value::Value;

pub use current::CurrentThread;
pub use process::ProcessPool;
pub use threads::ThreadPool;

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

    /// Whether `submit` runs the batch on the calling thread before returning
    /// ([`CurrentThread`]). The loop then runs one task at a time, in the static
    /// order, and skips the completion channel.
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
}

/// Where a task ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Worker {
    /// Inline on the scheduling loop's thread.
    Inline,
    /// Worker thread `n` of a thread pool.
    Thread(u32),
    /// A Tokio task (async tasks).
    Async,
    /// Child process `index` of a process pool, with its pid.
    Process {
        /// Index of the worker slot in the pool.
        index: u32,
        /// OS process id of the child.
        pid: u32,
    },
}

impl fmt::Display for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Worker::Inline => f.write_str("inline"),
            Worker::Thread(n) => write!(f, "thread-{n}"),
            Worker::Async => f.write_str("tokio"),
            Worker::Process { index, pid } => write!(f, "process-{index} (pid {pid})"),
        }
    }
}

/// The cancellation state of one computation, shared with its jobs.
///
/// Blocking jobs check the flag (an atomic load) before they start; async tasks
/// wait on the token.
#[derive(Debug, Default)]
pub(crate) struct Cancel {
    flag: AtomicBool,
    token: CancellationToken,
}

impl Cancel {
    pub(crate) fn cancel(&self) {
        self.flag.store(true, Ordering::Release);
        self.token.cancel();
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    pub(crate) fn token(&self) -> &CancellationToken {
        &self.token
    }
}

/// Inputs of a job: most tasks have few, so they live inline.
pub(crate) type Inputs = SmallVec<[Value; 4]>;

/// One blocking task, ready to run: its function and its inputs' values.
pub struct Job {
    pub(crate) task: TaskId,
    pub(crate) func: BlockingFn,
    pub(crate) inputs: Inputs,
    pub(crate) scope: Arc<Scope>,
    pub(crate) span: tracing::Span,
    pub(crate) queued: Instant,
    /// For a remote task: how a process pool runs it in a worker (`func` runs it
    /// in-process under other executors).
    pub(crate) remote: Option<Arc<process::RemoteSpec>>,
    /// A linear chain fused behind this task: run each member with the previous
    /// member's result (see [`Chain`]).
    pub(crate) chain: Option<Box<Chain>>,
}

/// Tasks that follow a job's task in a linear chain (each the only dependent of the
/// one before, which it alone needs): the scheduling loop hands the whole chain to
/// one worker, saving a round trip per link, and the intermediate results never
/// leave the worker.
pub(crate) struct Chain {
    /// Each member with its body and its task span (made where the computation's
    /// subscriber is current, not on the worker).
    pub(crate) members: Vec<(TaskId, BlockingFn, tracing::Span)>,
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("key", self.key())
            .finish_non_exhaustive()
    }
}

impl Job {
    /// The task's key.
    pub fn key(&self) -> &Key {
        self.scope.graph.key(self.task)
    }

    /// The task's id in its graph.
    pub fn task(&self) -> TaskId {
        self.task
    }

    /// Whether its computation was cancelled or failed (the job should not start).
    pub fn is_cancelled(&self) -> bool {
        self.scope.cancel.is_cancelled()
    }

    /// The values of the task's inputs, in argument order.
    pub fn inputs(&self) -> &[Value] {
        &self.inputs
    }

    /// Runs the task on the calling thread as `worker` and returns its completion.
    ///
    /// Panics are caught and become [`TaskErrorKind::Panicked`]; a cancelled job is
    /// not run and completes as [`TaskErrorKind::Cancelled`]. The inputs travel back
    /// inside the completion and the scheduling loop drops them when it reads it, so
    /// the reference counts of shared results only change on the loop's thread.
    pub fn run(self, worker: Worker) -> Completion {
        let _scope = context::enter_scope(&self.scope);
        self.run_from(worker, Instant::now())
    }

    /// [`Job::run`] inside its scope, already entered, with the start instant already
    /// read (a batch reuses the end of one job as the start of the next: one clock
    /// read per task).
    pub(crate) fn run_from(self, worker: Worker, started: Instant) -> Completion {
        let Job {
            task,
            func,
            inputs,
            scope,
            span,
            queued,
            remote: _,
            chain,
        } = self;
        if scope.cancel.is_cancelled() {
            return Completion {
                task,
                members: 1,
                inputs,
                result: Err(cancelled()),
                worker,
                queued,
                started,
                finished: started,
            };
        }
        let refs: SmallVec<[&Value; 8]> = inputs.iter().collect();
        let mut result = execute(&func, task, &refs, &span);
        drop(refs);
        let mut finished = Instant::now();
        record_span(&span, worker, queued, started, finished);
        let mut members = 1;
        for (member, func, span) in chain.iter().flat_map(|c| c.members.iter()) {
            let Ok(value) = result else { break };
            members += 1;
            if scope.cancel.is_cancelled() {
                result = Err(cancelled());
                break;
            }
            let begun = finished;
            result = execute(func, *member, &[&value], span);
            drop(value);
            if !span.is_disabled() {
                finished = Instant::now();
                record_span(span, worker, begun, begun, finished);
            }
        }
        if chain.is_some() {
            finished = Instant::now();
        }
        Completion {
            task,
            members,
            inputs,
            result,
            worker,
            queued,
            started,
            finished,
        }
    }
}

fn cancelled() -> TaskError {
    TaskError::new(
        TaskErrorKind::Cancelled,
        "the computation stopped before it started",
    )
}

/// The span of one task: `task`, child of the computation's span, with its key.
pub(crate) fn task_span(
    parent: Option<&tracing::Span>,
    scope: &Scope,
    task: TaskId,
) -> tracing::Span {
    tracing::debug_span!(
        parent: parent.and_then(tracing::Span::id),
        "task",
        key = %scope.graph.key(task),
        worker = tracing::field::Empty,
        queued_us = tracing::field::Empty,
        run_us = tracing::field::Empty,
    )
}

/// Calls a blocking task body inside its span and context (its computation's scope
/// must be entered), turning a panic into a [`TaskErrorKind::Panicked`] error.
pub(crate) fn execute(
    func: &BlockingFn,
    task: TaskId,
    inputs: &[&Value],
    span: &tracing::Span,
) -> Result<Value, TaskError> {
    let _entered = span.enter();
    let _context = context::enter_task(task);
    catch_unwind(AssertUnwindSafe(|| func(inputs)))
        .unwrap_or_else(|payload| Err(TaskError::panicked(&*payload)))
}

/// Records where and how long a task ran on its span (if anything listens).
pub(crate) fn record_span(
    span: &tracing::Span,
    worker: Worker,
    queued: Instant,
    started: Instant,
    finished: Instant,
) {
    if !span.is_disabled() {
        span.record("worker", tracing::field::display(worker));
        span.record(
            "queued_us",
            micros(started.saturating_duration_since(queued)),
        );
        span.record(
            "run_us",
            micros(finished.saturating_duration_since(started)),
        );
    }
}

fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// How a task ended, as reported to the scheduling loop.
#[derive(Debug)]
pub struct Completion {
    /// The task that was handed out (the first member of a fused chain).
    pub(crate) task: TaskId,
    /// How many tasks this completion covers: `task` and, for a fused chain, the
    /// members that followed it. All but the last succeeded; `result` is the last's.
    pub(crate) members: u32,
    /// The job's inputs, handed back so the loop drops them: reference counts of
    /// shared results then change on one thread only, instead of bouncing their
    /// cache lines between the loop and the workers.
    pub(crate) inputs: Inputs,
    pub(crate) result: Result<Value, TaskError>,
    pub(crate) worker: Worker,
    pub(crate) queued: Instant,
    pub(crate) started: Instant,
    pub(crate) finished: Instant,
}

impl Completion {
    /// A completion built by an executor that ran the task its own way (for example
    /// in another process).
    pub fn new(
        job_task: TaskId,
        result: Result<Value, TaskError>,
        worker: Worker,
        queued: Instant,
        started: Instant,
        finished: Instant,
    ) -> Self {
        Completion {
            task: job_task,
            members: 1,
            inputs: Inputs::new(),
            result,
            worker,
            queued,
            started,
            finished,
        }
    }

    /// The task's id.
    pub fn task(&self) -> TaskId {
        self.task
    }

    /// Where it ran.
    pub fn worker(&self) -> Worker {
        self.worker
    }

    /// When it was handed to the executor.
    pub fn queued(&self) -> Instant {
        self.queued
    }

    /// When it started and finished.
    pub fn times(&self) -> (Instant, Instant) {
        (self.started, self.finished)
    }

    /// Whether it succeeded.
    pub fn is_ok(&self) -> bool {
        self.result.is_ok()
    }
}

/// What executors and async tasks send to the scheduling loop.
#[derive(Debug)]
pub(crate) enum Message {
    /// A task started (sent only when the computation has callbacks).
    Started {
        task: TaskId,
        worker: Worker,
        at: Instant,
    },
    /// Tasks ended.
    Done(Vec<Completion>),
}

/// The channel back to a computation's scheduling loop.
#[derive(Clone, Debug)]
pub(crate) struct Sink {
    pub(crate) tx: UnboundedSender<Message>,
    /// Whether the loop wants `Started` messages (it has callbacks).
    pub(crate) report_starts: bool,
}

/// A batch of jobs of one computation, handed to an executor as one unit of work.
pub struct Batch {
    jobs: Vec<Job>,
    sink: Sink,
}

impl fmt::Debug for Batch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batch")
            .field("jobs", &self.jobs.len())
            .finish()
    }
}

impl Batch {
    pub(crate) fn new(jobs: Vec<Job>, sink: Sink) -> Self {
        Batch { jobs, sink }
    }

    /// Number of jobs.
    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    /// Whether the batch has no jobs.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// Whether the computation it belongs to was cancelled or failed.
    pub fn is_cancelled(&self) -> bool {
        self.jobs.first().is_some_and(Job::is_cancelled)
    }

    /// Runs every job on the calling thread as `worker`, in order, and reports the
    /// completions to the computation in one message.
    pub fn run(mut self, worker: Worker) {
        let jobs = std::mem::take(&mut self.jobs);
        let Some(first) = jobs.first() else { return };
        let _scope = context::enter_scope(&first.scope);
        let mut done = Vec::with_capacity(jobs.len());
        let mut now = Instant::now();
        for job in jobs {
            if self.sink.report_starts {
                let _ = self.sink.tx.send(Message::Started {
                    task: job.task,
                    worker,
                    at: now,
                });
            }
            let completion = job.run_from(worker, now);
            now = completion.finished;
            done.push(completion);
        }
        // The loop may be gone (cancelled computation): then nobody wants the results.
        let _ = self.sink.tx.send(Message::Done(done));
    }

    /// Takes the jobs out to run them one by one (for executors that run jobs their
    /// own way); report each with [`BatchReporter::report`].
    pub fn into_jobs(mut self) -> (Vec<Job>, BatchReporter) {
        let jobs = std::mem::take(&mut self.jobs);
        let reporter = BatchReporter {
            sink: self.sink.clone(),
        };
        (jobs, reporter)
    }
}

impl Drop for Batch {
    /// A batch dropped unrun reports its jobs as lost, so nothing waits for them.
    fn drop(&mut self) {
        if self.jobs.is_empty() {
            return;
        }
        let now = Instant::now();
        let lost = self
            .jobs
            .drain(..)
            .map(|job| Completion {
                task: job.task,
                members: 1,
                inputs: Inputs::new(),
                result: Err(TaskError::new(
                    TaskErrorKind::WorkerLost,
                    "the executor dropped the task without running it",
                )),
                worker: Worker::Inline,
                queued: job.queued,
                started: now,
                finished: now,
            })
            .collect();
        let _ = self.sink.tx.send(Message::Done(lost));
    }
}

/// Reports completions of jobs taken out of a [`Batch`] with [`Batch::into_jobs`].
#[derive(Clone, Debug)]
pub struct BatchReporter {
    sink: Sink,
}

impl BatchReporter {
    /// Reports that a job started on `worker` (only forwarded when the computation
    /// has callbacks).
    pub fn started(&self, task: TaskId, worker: Worker, at: Instant) {
        if self.sink.report_starts {
            let _ = self.sink.tx.send(Message::Started { task, worker, at });
        }
    }

    /// Reports finished jobs.
    pub fn report(&self, completions: Vec<Completion>) {
        let _ = self.sink.tx.send(Message::Done(completions));
    }
}
