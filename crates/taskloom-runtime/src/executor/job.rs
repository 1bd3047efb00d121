//! Jobs and completions: a ready blocking task handed to an executor, and how it
//! ended.
//!
//! A [`Job`] owes its computation exactly one [`Completion`], and it cannot forget to
//! pay: a job dropped without running (an executor that gives up, a queue dropped at
//! shutdown, a panic that unwinds through a worker) reports itself as
//! [`TaskErrorKind::WorkerLost`] from its `Drop`, and so does a completion dropped
//! without being reported. That is one guard per job, so no path — whatever executor,
//! whatever fault — leaves the scheduling loop waiting for a completion that will
//! never come.
//!
//! [`run_task`] is the one function that runs a blocking task body, on every path: a
//! worker running a batch, a custom executor running a job, and the inline runner of
//! the scheduling loop all go through it.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Instant;

use smallvec::SmallVec;
use taskloom_core::{Key, TaskId};
use tokio::sync::mpsc::UnboundedSender;

use super::Worker;
use super::retry::Attempt;
use crate::body::{BlockingFn, BlockingFnBox, TaskBody};
use crate::context::{self, Scope};
use crate::error::{TaskError, TaskErrorKind};
use crate::unwind::{discard, drop_value};
use crate::value::Value;

/// Inputs of a job: most tasks have few, so they live inline.
pub(crate) type Inputs = SmallVec<[Value; 4]>;

/// References to a running task's inputs, on the stack up to 16 (the most that
/// typed `&[&A]` inputs gather on the stack too): a task with more inputs than that
/// pays an allocation on its worker for them.
pub(crate) type InputRefs<'a> = SmallVec<[&'a Value; 16]>;

/// References to `inputs`; nothing to gather for a task without inputs (the leaves
/// of most graphs), which is worth its branch.
fn input_refs(inputs: &Inputs) -> InputRefs<'_> {
    if inputs.is_empty() {
        InputRefs::new()
    } else {
        inputs.iter().collect()
    }
}

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
    /// Runs of this job lost with their worker (see [`super::retry`]): empty, and
    /// unallocated, unless a worker died while running it.
    pub(super) attempts: Vec<Attempt>,
    /// Whether it must run in a batch of its own: it was among the unanswered calls
    /// of a worker that died holding answers back, and running alone tells whether it
    /// is the one that kills workers (see `link::loss`).
    pub(crate) alone: bool,
    /// Whether the job still owes its computation a completion.
    armed: bool,
}

/// Tasks that follow a job's task in a linear chain (each the only dependent of the
/// one before, which it alone needs): the scheduling loop hands the whole chain to
/// one worker, saving a round trip per link, and the intermediate results never
/// leave the worker.
pub(crate) struct Chain {
    /// Each member with its task span (made where the computation's subscriber is
    /// current, not on the worker). Its body is read from the graph where it runs.
    pub(crate) members: Vec<(TaskId, tracing::Span)>,
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
        let _scope = context::enter_scope(&self.scope);
        self.run_from(worker, Instant::now())
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
        self.into_completion(
            inputs,
            ran.result,
            worker,
            started,
            ran.finished,
            ran.members,
        )
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
            owner: Some(Arc::clone(&self.scope)),
            attempts: std::mem::take(&mut self.attempts),
            alone: self.alone,
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

/// How [`run_task`] reads the clock.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Clock {
    /// Always (a worker: the completion carries its times, and the span records the
    /// queue wait since `queued`).
    Read {
        /// When the task was handed out.
        queued: Instant,
    },
    /// After the body only if `read` (the inline runner reads clocks only when
    /// someone listens: callbacks or an enabled span); `finished` is `started`
    /// otherwise.
    Maybe {
        /// Whether to read it.
        read: bool,
    },
}

/// What [`run_task`] did.
pub(crate) struct Ran {
    pub(crate) result: Result<Value, TaskError>,
    /// Tasks the run covers: the task and the chain members that ran after it.
    pub(crate) members: u32,
    pub(crate) finished: Instant,
}

/// Runs a blocking task (and the chain fused behind it) on the calling thread: the
/// one place where a blocking task body runs, whatever the executor. Its
/// computation's scope must be entered.
///
/// Nothing user code does here escapes as a panic: a panicking body is that task's
/// [`TaskErrorKind::Panicked`], and a chain member's result whose `Drop` panics is
/// that member's [`TaskErrorKind::DropPanicked`]. A cancelled computation's task is
/// not started.
#[allow(clippy::too_many_arguments)] // one call site per path; a struct would only rename them
pub(crate) fn run_task(
    scope: &Scope,
    task: TaskId,
    func: &BlockingFn,
    inputs: &[&Value],
    span: &tracing::Span,
    chain: Option<&Chain>,
    clock: Clock,
    worker: Worker,
    started: Instant,
) -> Ran {
    if scope.cancel.is_cancelled() {
        return Ran {
            result: Err(cancelled()),
            members: 1,
            finished: started,
        };
    }
    let mut result = call(func, task, inputs, span);
    let mut finished = match clock {
        Clock::Read { queued } => {
            let now = Instant::now();
            record_span(span, worker, queued, started, now);
            now
        }
        Clock::Maybe { read: true } => {
            let now = Instant::now();
            record_span(span, worker, started, started, now);
            now
        }
        Clock::Maybe { read: false } => started,
    };
    let mut members = 1;
    for (member, span) in chain.iter().flat_map(|c| c.members.iter()) {
        let Ok(value) = result else { break };
        members += 1;
        if scope.cancel.is_cancelled() {
            result = Err(cancelled());
            discard(value);
            break;
        }
        let begun = finished;
        result = match blocking_body(scope, *member) {
            Ok(body) => call(&body.func, *member, &[&value], span),
            Err(error) => Err(error),
        };
        if let Err(error) = drop_value(value) {
            // The member before this one is to blame: report the chain as ending
            // there, with this member's result thrown away.
            members -= 1;
            discard(std::mem::replace(&mut result, Err(error)));
            break;
        }
        if !span.is_disabled() {
            finished = Instant::now();
            record_span(span, worker, begun, begun, finished);
        }
    }
    if chain.is_some() && matches!(clock, Clock::Read { .. }) {
        finished = Instant::now();
    }
    Ran {
        result,
        members,
        finished,
    }
}

/// Calls a blocking task body inside its span and context, turning a panic into a
/// [`TaskErrorKind::Panicked`] error.
fn call(
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

fn cancelled() -> TaskError {
    TaskError::new(
        TaskErrorKind::Cancelled,
        "the computation stopped before it started",
    )
}

/// The body of blocking task `task`, read from its computation's graph where it runs
/// (a packed job or a chain member carries no reference count on it). Only blocking
/// tasks are handed to executors: an async one here is the loop's bug, reported as
/// that task's error.
fn blocking_body(scope: &Scope, task: TaskId) -> Result<&BlockingFnBox, TaskError> {
    match scope.graph.payload(task) {
        TaskBody::Blocking(body) => Ok(body),
        TaskBody::Async(_) => Err(TaskError::new(
            TaskErrorKind::WorkerLost,
            "an async task was handed to an executor",
        )),
    }
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

/// How a job ended, on its way to the scheduling loop.
///
/// Made by [`Job::run`]; hand it back with [`Completion::report`]. Like a job, a
/// completion dropped without being reported reports its task as lost.
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
    /// The computation it is owed to, until the loop has read it (`None` then).
    owner: Option<Arc<Scope>>,
    /// Runs of the job lost with their worker (see [`super::retry`]), handed back
    /// with a task that must run again later (an input lost with its worker), so its
    /// next run counts on from them.
    pub(crate) attempts: Vec<Attempt>,
    /// Whether the job had to run alone (see [`Job`]'s `alone`).
    pub(crate) alone: bool,
}

impl fmt::Debug for Completion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Completion")
            .field("task", &self.task)
            .field("members", &self.members)
            .field("ok", &self.result.is_ok())
            .field("worker", &self.worker)
            .finish_non_exhaustive()
    }
}

impl Completion {
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

    /// Hands the completion to its computation's scheduling loop.
    pub fn report(self) {
        if let Some(owner) = self.owner.as_ref() {
            let sink = owner.sink.clone();
            sink.send(Message::Done(vec![self]));
        }
    }

    /// Called by the loop when it takes the completion in: nothing is owed any more.
    pub(crate) fn settle(&mut self) {
        self.owner = None;
    }

    /// The completion of a task the loop ran itself (inline): owed to nobody.
    pub(crate) fn settled(
        task: TaskId,
        result: Result<Value, TaskError>,
        worker: Worker,
        started: Instant,
        finished: Instant,
    ) -> Self {
        Completion {
            task,
            members: 1,
            inputs: Inputs::new(),
            result,
            worker,
            queued: started,
            started,
            finished,
            owner: None,
            attempts: Vec::new(),
            alone: false,
        }
    }

    /// The completion an async task owes `scope` from the moment it is spawned,
    /// like a job's: a loss until the task fills in its result and reports it.
    pub(crate) fn owed_by_async(scope: &Arc<Scope>, task: TaskId, queued: Instant) -> Self {
        let lost = TaskError::new(
            TaskErrorKind::WorkerLost,
            "its Tokio task ended without finishing it",
        );
        let mut owed = Completion::settled(task, Err(lost), Worker::Async, queued, queued);
        owed.owner = Some(Arc::clone(scope));
        owed
    }
}

impl Drop for Completion {
    /// A completion dropped unreported reports its task as lost (once: the report
    /// itself is settled, so losing it too loses nothing more).
    ///
    /// Whatever user values it still holds (its result, its inputs) are dropped
    /// without letting a panicking `Drop` unwind, on every path: the loop drops the
    /// completions it has read the same way.
    fn drop(&mut self) {
        let Some(owner) = self.owner.take() else {
            if self.result.is_ok() {
                discard(std::mem::replace(&mut self.result, Err(cancelled())));
            }
            if !self.inputs.is_empty() {
                discard(std::mem::take(&mut self.inputs));
            }
            return;
        };
        let now = Instant::now();
        let lost = Completion {
            task: self.task,
            members: 1,
            inputs: std::mem::take(&mut self.inputs),
            result: Err(TaskError::new(
                TaskErrorKind::WorkerLost,
                "the executor dropped the task's completion without reporting it",
            )),
            worker: self.worker,
            queued: self.queued,
            started: now,
            finished: now,
            owner: None,
            attempts: Vec::new(),
            alone: false,
        };
        owner.sink.send(Message::Done(vec![lost]));
        // This completion's own result may be a user value: dropped here, safely.
        discard(std::mem::replace(&mut self.result, Err(cancelled())));
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
    tx: UnboundedSender<Message>,
    /// Whether the loop wants `Started` messages (it has callbacks).
    report_starts: bool,
}

impl Sink {
    pub(crate) fn new(tx: UnboundedSender<Message>, report_starts: bool) -> Self {
        Sink { tx, report_starts }
    }

    /// Sends a message; if the loop is gone, the message (and any user value in it)
    /// is dropped here without letting a panicking `Drop` unwind.
    pub(crate) fn send(&self, message: Message) {
        if let Err(unsent) = self.tx.send(message) {
            discard(unsent.0);
        }
    }

    /// Reports that `task` started, if the loop listens.
    pub(crate) fn started(&self, task: TaskId, worker: Worker, at: Instant) {
        if self.report_starts {
            self.send(Message::Started { task, worker, at });
        }
    }
}

/// Completions gathered by a worker and sent in one message; whatever it holds when
/// dropped is sent then, so a panic that unwinds through a worker loses no
/// completion it had already made.
pub(crate) struct Outbox<'a> {
    sink: &'a Sink,
    done: Vec<Completion>,
}

impl<'a> Outbox<'a> {
    pub(crate) fn new(sink: &'a Sink, capacity: usize) -> Self {
        Outbox {
            sink,
            done: Vec::with_capacity(capacity),
        }
    }

    pub(crate) fn sink(&self) -> &Sink {
        self.sink
    }

    pub(crate) fn push(&mut self, completion: Completion) {
        self.done.push(completion);
    }

    /// Sends what was gathered, if anything.
    pub(crate) fn flush(&mut self) {
        if !self.done.is_empty() {
            self.sink
                .send(Message::Done(std::mem::take(&mut self.done)));
        }
    }
}

impl Drop for Outbox<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

/// One job of a [`Packed`] batch: what differs from job to job.
pub(crate) struct PackedJob {
    pub(crate) task: TaskId,
    pub(crate) inputs: Inputs,
    pub(crate) span: tracing::Span,
    pub(crate) chain: Option<Box<Chain>>,
    /// Runs of the task lost with their worker before it went back to wait (empty,
    /// and unallocated, nearly always).
    pub(crate) attempts: Vec<Attempt>,
    /// Whether it must run in a batch of its own (see [`Job`]).
    pub(crate) alone: bool,
}

/// A batch as the scheduling loop packs it: jobs of one computation that share its
/// scope and the instant they were handed out (see [`Batch`](super::Batch)).
///
/// Each job is owed a completion as a [`Job`] is: the jobs not yet run when it is
/// dropped (a queue dropped at shutdown, a panic that unwinds through a worker)
/// report themselves lost, in one message.
pub(crate) struct Packed {
    scope: Arc<Scope>,
    queued: Instant,
    /// Whether anyone reads each task's own start and end (callbacks, enabled task
    /// spans). If not, the worker reads the clock once per batch, not once per task
    /// (a read costs about 25–50 ns on the development machine, some percent of a
    /// microsecond task), and spreads the batch's time evenly over its tasks: all
    /// the adaptive chunk needs.
    timed: bool,
    jobs: Vec<PackedJob>,
    /// The jobs before this index have completed (or were unpacked): the rest are
    /// owed.
    next: usize,
}

impl Packed {
    pub(crate) fn new(
        scope: Arc<Scope>,
        queued: Instant,
        timed: bool,
        jobs: Vec<PackedJob>,
    ) -> Self {
        Packed {
            scope,
            queued,
            timed,
            jobs,
            next: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.jobs.len() - self.next
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.scope.cancel.is_cancelled()
    }

    /// Runs the jobs on the calling thread as `worker`, in order, and reports their
    /// completions in one message. Their completions carry no reference count on the
    /// computation either: they never leave the outbox, which delivers them whatever
    /// happens.
    pub(crate) fn run(mut self, worker: Worker) {
        let Packed {
            scope,
            queued,
            timed,
            jobs,
            next,
        } = &mut self;
        let (queued, timed) = (*queued, *timed);
        let clock = if timed {
            Clock::Read { queued }
        } else {
            Clock::Maybe { read: false }
        };
        let _scope = context::enter_scope(scope);
        // Whatever happens below, the completions made so far are sent (the outbox's
        // drop) and the jobs not yet completed are reported lost (the batch's drop).
        let mut outbox = Outbox::new(&scope.sink, jobs.len() - *next);
        let start = Instant::now();
        let mut now = start;
        while let Some(job) = jobs.get_mut(*next) {
            outbox.sink().started(job.task, worker, now);
            let ran = match blocking_body(scope, job.task) {
                Ok(body) => {
                    let refs = input_refs(&job.inputs);
                    run_task(
                        scope,
                        job.task,
                        &body.func,
                        &refs,
                        &job.span,
                        job.chain.as_deref(),
                        clock,
                        worker,
                        now,
                    )
                }
                Err(error) => Ran {
                    result: Err(error),
                    members: 1,
                    finished: now,
                },
            };
            let completion = Completion {
                task: job.task,
                members: ran.members,
                inputs: std::mem::take(&mut job.inputs),
                result: ran.result,
                worker,
                queued,
                started: now,
                finished: ran.finished,
                owner: None,
                attempts: Vec::new(),
                alone: false,
            };
            *next += 1;
            now = ran.finished;
            outbox.push(completion);
        }
        if !timed {
            spread(&mut outbox.done, start, Instant::now());
        }
        outbox.flush();
    }

    /// The jobs not yet run, each standing alone (for executors that take them out of
    /// their batch); nothing is owed by the batch afterwards.
    pub(crate) fn unpack(&mut self) -> Vec<Job> {
        let mut lost = Vec::new();
        let mut out = Vec::with_capacity(self.len());
        for job in self.jobs.drain(self.next..) {
            match blocking_body(&self.scope, job.task) {
                Ok(body) => {
                    let mut unpacked = Job::new(
                        job.task,
                        body.clone(),
                        job.inputs,
                        Arc::clone(&self.scope),
                        job.span,
                        job.chain,
                    );
                    unpacked.queued = self.queued;
                    unpacked.attempts = job.attempts;
                    unpacked.alone = job.alone;
                    out.push(unpacked);
                }
                Err(error) => lost.push(unowed(job.task, job.inputs, error, self.queued)),
            }
        }
        self.next = self.jobs.len();
        if !lost.is_empty() {
            self.scope.sink.send(Message::Done(lost));
        }
        out
    }
}

impl Drop for Packed {
    /// The jobs not yet completed report themselves lost, with their inputs, so
    /// nothing waits for them. What is left of every job (its span, its chain) is
    /// dropped after that report and guarded: closing a span runs a subscriber's code,
    /// which may panic (see `Job::into_completion`).
    fn drop(&mut self) {
        if self.next < self.jobs.len() {
            let queued = self.queued;
            let mut rest = Vec::with_capacity(self.jobs.len() - self.next);
            let lost: Vec<Completion> = self
                .jobs
                .drain(self.next..)
                .map(|job| {
                    let error = TaskError::new(
                        TaskErrorKind::WorkerLost,
                        "the executor dropped the task without running it",
                    );
                    rest.push((job.span, job.chain));
                    unowed(job.task, job.inputs, error, queued)
                })
                .collect();
            self.scope.sink.send(Message::Done(lost));
            discard(rest);
        }
        discard(std::mem::take(&mut self.jobs));
    }
}

/// Gives `done`, run back to back from `start` to `end` without reading the clock
/// in between, each its share of that time by the tasks it covers.
fn spread(done: &mut [Completion], start: Instant, end: Instant) {
    let tasks: u32 = done.iter().map(|c| c.members).sum();
    let share = end.saturating_duration_since(start) / tasks.max(1);
    let mut at = start;
    for c in done {
        c.started = at;
        at += share * c.members;
        c.finished = at;
    }
}

/// The completion of a job that did not run, sent by whoever holds it at once (it
/// owes nothing further).
fn unowed(task: TaskId, inputs: Inputs, error: TaskError, queued: Instant) -> Completion {
    let now = Instant::now();
    Completion {
        task,
        members: 1,
        inputs,
        result: Err(error),
        worker: Worker::Inline,
        queued,
        started: now,
        finished: now,
        owner: None,
        attempts: Vec::new(),
        alone: false,
    }
}
