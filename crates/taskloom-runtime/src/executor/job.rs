//! [`Job`]: a ready blocking task handed to an executor, which owes its computation
//! exactly one [`Completion`].
//!
//! It cannot forget to pay: a job dropped without running (an executor that gives
//! up, a queue dropped at shutdown, a panic that unwinds through a worker) reports
//! itself as [`TaskErrorKind::WorkerLost`] from its `Drop`, and so does a completion
//! dropped without being reported. That is one guard per job, so no path — whatever
//! executor, whatever fault — leaves the scheduling loop waiting for a completion
//! that will never come.
//!
//! A job whose worker died while running it goes through the retry rule (`retry`):
//! [`Job::worker_lost`] gives it back to run again, or completes it with the error.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use taskloom_core::{Key, TaskId};

use super::completion::Completion;
use super::completion::{Inputs, Stamps};
use super::retry::{self, Attempt, Verdict};
use super::run::{Chain, Clock, input_refs, run_task};
use super::running;
use super::scope::Scope;
use crate::body::BlockingFnBox;
use crate::error::{TaskError, TaskErrorKind};
use crate::unwind::discard;
use crate::value::Value;
use crate::worker::Worker;

/// One blocking task, ready to run: its body and its inputs' values.
///
/// Run it with [`Job::run`] (or a whole [`Batch`](super::Batch) with
/// [`Batch::run`](super::Batch::run)). Dropping it unrun reports the task as lost to
/// its computation, which then fails with an error naming the task instead of
/// waiting for it.
pub struct Job {
    pub(crate) task: TaskId,
    pub(crate) body: BlockingFnBox,
    pub(crate) inputs: Inputs,
    pub(crate) scope: Arc<Scope>,
    pub(crate) span: tracing::Span,
    pub(crate) queued: Instant,
    /// A linear chain fused behind this task: run each member with the previous
    /// member's result (see [`Chain`]).
    pub(crate) chain: Option<Box<Chain>>,
    /// Runs of this job lost with their worker (see `retry`): empty, and unallocated,
    /// unless a worker died while running it.
    pub(super) attempts: Vec<Attempt>,
    /// Whether it must run in a batch of its own: it was among the unanswered calls
    /// of a worker that died holding answers back, and running alone tells whether it
    /// is the one that kills workers (see `link::loss`).
    pub(crate) alone: bool,
    /// Whether the job still owes its computation a completion.
    armed: bool,
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("key", self.key())
            .finish_non_exhaustive()
    }
}

impl Job {
    pub(crate) fn new(
        task: TaskId,
        body: BlockingFnBox,
        inputs: Inputs,
        scope: Arc<Scope>,
        span: tracing::Span,
        chain: Option<Box<Chain>>,
    ) -> Self {
        Job {
            task,
            body,
            inputs,
            scope,
            span,
            queued: Instant::now(),
            chain,
            attempts: Vec::new(),
            alone: false,
            armed: true,
        }
    }

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

    /// Runs the task on the calling thread as `worker` and returns its completion,
    /// which must then be [reported](Completion::report).
    ///
    /// Panics are caught and become [`TaskErrorKind::Panicked`]; a cancelled job is
    /// not run and completes as [`TaskErrorKind::Cancelled`]. The inputs travel back
    /// inside the completion and the scheduling loop drops them when it reads it, so
    /// the reference counts of shared results only change on the loop's thread.
    pub fn run(self, worker: Worker) -> Completion {
        let _scope = running::enter_scope(&self.scope);
        let now = Instant::now();
        if self.scope.watched(self.task) {
            // Its deadline counts from here (a batch's run reports its own starts).
            self.scope.sink.started_if(self.task, worker, now, true);
        }
        self.run_from(worker, now)
    }

    /// [`Job::run`] inside its scope, already entered, with the start instant already
    /// read (a batch reuses the end of one job as the start of the next: one clock
    /// read per task).
    pub(crate) fn run_from(mut self, worker: Worker, started: Instant) -> Completion {
        let refs = input_refs(&self.inputs);
        let ran = run_task(
            &self.scope,
            self.task,
            &self.body.func,
            &refs,
            &self.span,
            self.chain.as_deref(),
            Clock::Read {
                queued: self.queued,
            },
            worker,
            started,
        );
        drop(refs);
        let inputs = std::mem::take(&mut self.inputs);
        let mut completion = self.into_completion(
            inputs,
            ran.result,
            worker,
            started,
            ran.finished,
            ran.members,
        );
        completion.stamps = ran.stamps;
        completion
    }

    /// The job's completion with `result`, for executors that run the task their own
    /// way (in another process): the job's debt is paid by the completion.
    pub(crate) fn finish(
        self,
        result: Result<Value, TaskError>,
        worker: Worker,
        started: Instant,
        finished: Instant,
    ) -> Completion {
        self.finish_chain(result, worker, started, finished, 1)
    }

    /// [`Job::finish`] for a job whose task and the first `members - 1` tasks of its
    /// chain ran (in another process): `result` is the last one's.
    pub(crate) fn finish_chain(
        mut self,
        result: Result<Value, TaskError>,
        worker: Worker,
        started: Instant,
        finished: Instant,
        members: u32,
    ) -> Completion {
        let inputs = std::mem::take(&mut self.inputs);
        let members = members.clamp(1, self.chain_len());
        self.into_completion(inputs, result, worker, started, finished, members)
    }

    /// Tasks the job covers: its own and its chain's.
    pub(crate) fn chain_len(&self) -> u32 {
        1 + self.chain.as_ref().map_or(0, |c| {
            u32::try_from(c.members.len()).unwrap_or(u32::MAX - 1)
        })
    }

    /// The task whose result the job's `members` first tasks end with.
    pub(crate) fn member(&self, members: u32) -> TaskId {
        match (members.checked_sub(2), self.chain.as_ref()) {
            (Some(k), Some(chain)) => chain
                .members
                .get(k as usize)
                .or(chain.members.last())
                .map_or(self.task, |(t, _)| *t),
            _ => self.task,
        }
    }

    /// The job's completion with `error`, at once, as if it ran on `worker` (a job
    /// that could not be run, or whose worker was lost).
    pub(crate) fn failed(self, error: TaskError, worker: Worker) -> Completion {
        let now = Instant::now();
        self.finish(Err(error), worker, now, now)
    }

    /// The job's completion; what is left of the job (its span, its chain) is
    /// dropped here, guarded.
    ///
    /// That drop runs code that is not ours: a chain member's closure, a tracing
    /// subscriber closing the task's span (tracing-subscriber's `Registry` panics when
    /// a span is closed on a thread whose default subscriber is another one). Were it
    /// to panic as the job went out of scope, Rust would leak the completion already
    /// made as the return value (rust-lang/rust#47949) and the computation would wait
    /// for it forever.
    fn into_completion(
        mut self,
        inputs: Inputs,
        result: Result<Value, TaskError>,
        worker: Worker,
        started: Instant,
        finished: Instant,
        members: u32,
    ) -> Completion {
        let completion = self.complete(inputs, result, worker, started, finished, members);
        discard(self);
        completion
    }

    fn complete(
        &mut self,
        inputs: Inputs,
        result: Result<Value, TaskError>,
        worker: Worker,
        started: Instant,
        finished: Instant,
        members: u32,
    ) -> Completion {
        self.armed = false;
        Completion {
            task: self.task,
            members,
            inputs,
            result,
            worker,
            queued: self.queued,
            started,
            finished,
            stamps: Stamps::new(),
            owner: Some(Arc::clone(&self.scope)),
            attempts: std::mem::take(&mut self.attempts),
            alone: self.alone,
            follows: false,
            used_up: false,
        }
    }

    /// Reports the job as lost with `message`, now (the job is consumed).
    pub fn lost(mut self, worker: Worker, message: impl Into<String>) {
        let now = Instant::now();
        let inputs = std::mem::take(&mut self.inputs);
        let error = TaskError::new(TaskErrorKind::WorkerLost, message);
        self.into_completion(inputs, Err(error), worker, now, now, 1)
            .report();
    }
}

impl Drop for Job {
    /// A job dropped unrun reports its task as lost, so nothing waits for it. Its
    /// inputs travel back with the report and are dropped by the loop.
    fn drop(&mut self) {
        if self.armed {
            let now = Instant::now();
            let inputs = std::mem::take(&mut self.inputs);
            let error = TaskError::new(
                TaskErrorKind::WorkerLost,
                "the executor dropped the task without running it",
            );
            let lost = self.complete(inputs, Err(error), Worker::Inline, now, now, 1);
            lost.report();
        }
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
    /// `retries` times, fail it otherwise (the rule is `retry::after_loss`).
    pub(crate) fn worker_lost(mut self, attempt: Attempt, retries: u32) -> AfterLoss {
        let worker = attempt.worker;
        let cancelled = self.is_cancelled();
        match retry::after_loss(&mut self.attempts, attempt, retries, cancelled) {
            Verdict::Retry => AfterLoss::Retry(self),
            Verdict::Fail(error) => AfterLoss::Done(self.failed(error, worker)),
        }
    }

    /// The runs of this job lost with their worker so far.
    pub(crate) fn attempts(&self) -> &[Attempt] {
        &self.attempts
    }
}
