//! [`Packed`]: a batch as the scheduling loop packs it, the hot path of every
//! in-process executor.
//!
//! Its jobs share the batch's handle on their computation and the instant it was
//! handed out, and read their bodies from the graph where they run, so a job costs
//! no reference count of its own. Each is owed a completion as a [`Job`] is: the jobs
//! not yet run when the batch is dropped report themselves lost, in one message.

use std::sync::Arc;
use std::time::Instant;

use taskloom_core::TaskId;

use super::completion::{Completion, Inputs, Message};
use super::job::Job;
use super::retry::Attempt;
use super::run::{Chain, Clock, Ran, blocking_body, input_refs, run_task};
use super::running;
use super::scope::Scope;
use super::sink::Outbox;
use crate::error::{TaskError, TaskErrorKind};
use crate::unwind::discard;
use crate::worker::Worker;

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
        let _scope = running::enter_scope(scope);
        // Whatever happens below, the completions made so far are sent (the outbox's
        // drop) and the jobs not yet completed are reported lost (the batch's drop).
        let mut outbox = Outbox::new(&scope.sink, jobs.len() - *next);
        let start = Instant::now();
        let mut now = start;
        while let Some(job) = jobs.get_mut(*next) {
            let watched = scope.watched(job.task);
            outbox.sink().started_if(job.task, worker, now, watched);
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
            spread(outbox.completions_mut(), start, Instant::now());
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
