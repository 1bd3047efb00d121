//! [`Packed`]: a batch as the scheduling loop packs it, the hot path of every
//! in-process executor.
//!
//! Its jobs share the batch's handle on their computation and the instant it was
//! handed out, and read their bodies from the graph where they run, so a job costs
//! no reference count of its own. Each is owed a completion as a [`Job`] is: the jobs
//! not yet run when the batch is dropped report themselves lost, in one message.
//!
//! A job may *follow* earlier jobs of its batch: a task that was waiting for inputs
//! those jobs make (the scheduling loop puts it after them, see `compute::dispatch`).
//! The worker hands it their results directly, keeps each such result only until its
//! last reader in the batch has run, and sends back only the results some task
//! outside the batch needs: a producer and its consumers cost no round trip through
//! the loop, and a result used up inside the batch is freed on the worker, right
//! after its last use. An executor that takes the jobs out ([`Packed::unpack`]) runs
//! no follower: each is handed back unrun and unowed (its producers' results all go
//! back to the loop, which starts it when they are in).

use std::sync::Arc;
use std::time::Instant;

use smallvec::SmallVec;

use taskloom_core::TaskId;

use super::completion::{Completion, Inputs, Message, Stamps};
use super::job::Job;
use super::retry::Attempt;
use super::run::InputRefs;
use super::run::{Chain, Clock, Ran, blocking_body, input_refs, run_task};
use super::running;
use super::scope::Scope;
use super::sink::Outbox;
use crate::error::{TaskError, TaskErrorKind};
use crate::unwind::discard;
use crate::value::Value;
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
    /// Inputs made by earlier jobs of the batch, by argument position (`inputs`
    /// holds the others, in order): not empty only for a job that follows them.
    pub(crate) local: Locals,
    /// How many later jobs of the batch read its result.
    pub(crate) uses: u32,
    /// Whether its result goes back to the loop (a task outside the batch needs it,
    /// or it was requested); it always does when no later job reads it.
    pub(crate) returns: bool,
}

/// The inputs of a following job made in its batch: most tasks have one or two,
/// kept inline.
pub(crate) type Locals = SmallVec<[Local; 2]>;

/// An input of a following job, made by an earlier job of its batch.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Local {
    /// The argument position.
    pub(crate) at: u32,
    /// The job that makes it, by index in the batch.
    pub(crate) job: u32,
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
    /// Whether each task's start is sent to the loop as it starts (a callback
    /// listens and tasks are long enough for a message each to cost little); else
    /// the loop reports the starts from the completions, with the ends.
    announce: bool,
    jobs: Vec<PackedJob>,
    /// The jobs before this index have completed (or were unpacked): the rest are
    /// owed.
    next: usize,
}

impl Packed {
    pub(crate) fn new(
        scope: Arc<Scope>,
        queued: Instant,
        (timed, announce): (bool, bool),
        jobs: Vec<PackedJob>,
    ) -> Self {
        Packed {
            scope,
            queued,
            timed,
            announce,
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
            announce,
            jobs,
            next,
        } = &mut self;
        let (queued, timed, announce) = (*queued, *timed, *announce);
        let clock = if timed {
            Clock::Read { queued }
        } else {
            Clock::Maybe { read: false }
        };
        let _scope = running::enter_scope(scope);
        // Whatever happens below, the completions made so far are sent (the outbox's
        // drop) and the jobs not yet completed are reported lost (the batch's drop).
        let mut outbox = Outbox::new(&scope.sink, jobs.len() - *next);
        // Results read by later jobs of the batch, by job index, and how many reads
        // each has left (sized only for a batch with followers).
        let local = jobs.iter().any(|j| j.uses > 0);
        let mut kept: Vec<Option<Value>> = Vec::new();
        let mut left: Vec<u32> = Vec::new();
        if local {
            kept.resize(jobs.len(), None);
            left.resize(jobs.len(), 0);
        }
        let start = Instant::now();
        let mut now = start;
        while let Some(job) = jobs.get_mut(*next) {
            if announce || scope.watched(job.task) {
                outbox.sink().send_started(job.task, worker, now);
            }
            let ran = match blocking_body(scope, job.task) {
                Ok(body) => match gather(&job.inputs, &job.local, &kept) {
                    Some(refs) => run_task(
                        scope,
                        job.task,
                        &body.func,
                        &refs,
                        &job.span,
                        job.chain.as_deref(),
                        clock,
                        worker,
                        now,
                    ),
                    // A producer of this batch failed or did not run: the computation
                    // stops on its error.
                    None => Ran {
                        result: Err(TaskError::not_started()),
                        members: 1,
                        finished: now,
                        stamps: Stamps::new(),
                    },
                },
                Err(error) => Ran {
                    result: Err(error),
                    members: 1,
                    finished: now,
                    stamps: Stamps::new(),
                },
            };
            // Results of this batch read for the last time are freed here.
            for l in &job.local {
                let i = l.job as usize;
                if let Some(n) = left.get_mut(i) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        discard(kept[i].take());
                    }
                }
            }
            let mut used_up = false;
            let result = match ran.result {
                Ok(value) if job.uses > 0 => {
                    left[*next] = job.uses;
                    if job.returns {
                        kept[*next] = Some(Value::clone(&value));
                        Ok(value)
                    } else {
                        kept[*next] = Some(value);
                        used_up = true;
                        Err(TaskError::placeholder())
                    }
                }
                other => other,
            };
            let completion = Completion {
                task: job.task,
                members: ran.members,
                inputs: std::mem::take(&mut job.inputs),
                result,
                worker,
                queued,
                started: now,
                finished: ran.finished,
                stamps: ran.stamps,
                owner: None,
                attempts: Vec::new(),
                alone: false,
                follows: !job.local.is_empty(),
                used_up,
            };
            *next += 1;
            now = ran.finished;
            outbox.push(completion);
        }
        discard(kept);
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
            if !job.local.is_empty() {
                // A follower cannot stand alone: handed back unrun, it covers no
                // task, and the loop starts it once its inputs are in.
                let mut unrun = unowed(job.task, job.inputs, TaskError::not_started(), self.queued);
                unrun.members = 0;
                unrun.follows = true;
                lost.push(unrun);
                discard((job.span, job.chain));
                continue;
            }
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

/// References to a job's inputs in argument order: the values it carries, and the
/// results of earlier jobs of its batch at their positions. `None` if one of those
/// is missing (its job failed or did not run).
fn gather<'a>(
    inputs: &'a Inputs,
    local: &[Local],
    kept: &'a [Option<Value>],
) -> Option<InputRefs<'a>> {
    if local.is_empty() {
        return Some(input_refs(inputs));
    }
    let mut refs = InputRefs::new();
    let mut held = inputs.iter();
    let mut made = local.iter().peekable();
    for at in 0..inputs.len() + local.len() {
        match made.next_if(|l| l.at as usize == at) {
            Some(l) => refs.push(kept.get(l.job as usize)?.as_ref()?),
            None => refs.push(held.next()?),
        }
    }
    Some(refs)
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
                    let mut lost = unowed(job.task, job.inputs, error, queued);
                    lost.follows = !job.local.is_empty();
                    lost
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
        stamps: Stamps::new(),
        owner: None,
        attempts: Vec::new(),
        alone: false,
        follows: false,
        used_up: false,
    }
}
