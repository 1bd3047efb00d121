//! [`Completion`]: how a job ended, on its way to the scheduling loop, and the
//! [`Message`] it travels in.
//!
//! A completion is owed to its computation until the loop has read it: one dropped
//! without being [reported](Completion::report) reports its task as lost from its
//! `Drop`, as a [`Job`](super::Job) dropped unrun does. Whatever user values it still
//! holds (its result, its inputs) are dropped without letting a panicking `Drop`
//! unwind, on every path.
//!
//! A completion holds its computation's [`Scope`] and reports through the scope's
//! channel, whose messages carry completions: the one ring of the executor layer,
//! kept on purpose (it is the guard; see `scripts/check_layers.py`).

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use smallvec::SmallVec;
use taskloom_core::TaskId;

use super::retry::Attempt;
use super::scope::Scope;
use crate::error::{TaskError, TaskErrorKind};
use crate::unwind::discard;
use crate::value::Value;
use crate::worker::Worker;

/// Inputs of a job: most tasks have few, so they live inline.
pub(crate) type Inputs = SmallVec<[Value; 4]>;

/// When each member of a fused chain but the last ended (see [`Completion`]'s
/// `stamps`): inline for a chain of two, the commonest, so timing a chain costs no
/// allocation.
pub(crate) type Stamps = SmallVec<[Instant; 1]>;

/// How a job ended, on its way to the scheduling loop.
///
/// Made by [`Job::run`](super::Job::run); hand it back with [`Completion::report`].
/// Like a job, a completion dropped without being reported reports its task as lost.
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
    /// For a fused chain run while the loop listens to task events: when each
    /// member but the last ended, read where it ran (the next one started then), so
    /// the loop reports every member with times of its own. Empty (unallocated)
    /// otherwise; the loop then shares the chain's time evenly among its members.
    pub(crate) stamps: Stamps,
    /// The computation it is owed to, until the loop has read it (`None` then).
    pub(super) owner: Option<Arc<Scope>>,
    /// Runs of the job lost with their worker (see `retry`), handed back with a task
    /// that must run again later (an input lost with its worker), so its next run
    /// counts on from them.
    pub(crate) attempts: Vec<Attempt>,
    /// Whether the job had to run alone (see `Job`'s `alone`).
    pub(crate) alone: bool,
    /// Whether the task was waiting when it was handed out, behind inputs made in
    /// the same batch (see `Packed`): the loop takes it as it becomes ready.
    pub(crate) follows: bool,
    /// Whether the result was used up in its batch (every task that takes it ran
    /// there, after it) and dropped there: it carries no value.
    pub(crate) used_up: bool,
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
            stamps: Stamps::new(),
            owner: None,
            attempts: Vec::new(),
            alone: false,
            follows: false,
            used_up: false,
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
                discard(std::mem::replace(
                    &mut self.result,
                    Err(TaskError::not_started()),
                ));
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
            stamps: Stamps::new(),
            owner: None,
            attempts: Vec::new(),
            alone: false,
            follows: self.follows,
            used_up: false,
        };
        owner.sink.send(Message::Done(vec![lost]));
        // This completion's own result may be a user value: dropped here, safely.
        discard(std::mem::replace(
            &mut self.result,
            Err(TaskError::not_started()),
        ));
    }
}

/// What executors and async tasks send to the scheduling loop.
///
/// As small as a `Vec`: the channel allocates its messages in blocks of 32, and a
/// block of these stays under glibc's cache of small allocations (1 kB), where a
/// block of 72-byte messages (a [`Worker`] inline) took the allocator's slow path
/// in every computation. A start is the rare message (callbacks or a deadline
/// listen), so it is the one boxed.
#[derive(Debug)]
pub(crate) enum Message {
    /// A task started (sent only when the computation has callbacks, or watches
    /// the task's deadline).
    Started(Box<Started>),
    /// Tasks ended.
    Done(Vec<Completion>),
}

const _: () = assert!(std::mem::size_of::<Message>() <= 24, "see `Message`");

/// Which task started, where and when.
#[derive(Debug)]
pub(crate) struct Started {
    pub(crate) task: TaskId,
    pub(crate) worker: Worker,
    pub(crate) at: Instant,
}

impl Message {
    pub(crate) fn started(task: TaskId, worker: Worker, at: Instant) -> Self {
        Message::Started(Box::new(Started { task, worker, at }))
    }
}
