//! Running a blocking task: [`run_task`], the one function that runs a blocking
//! task body, on every path, with what it runs (the inputs as references, the linear
//! [`Chain`] fused behind the task) and how it reads the clock.
//!
//! A worker running a batch, a custom executor running a job, and the inline runner
//! of the scheduling loop all go through it, so a panicking body, a panicking `Drop`
//! of a chain member's result and a cancelled computation are handled once, here.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use smallvec::SmallVec;
use taskloom_core::TaskId;

use super::completion::{Inputs, Stamps};
use super::running;
use super::scope::Scope;
use super::span::record_span;
use crate::body::{BlockingFn, BlockingFnBox, TaskBody};
use crate::error::{TaskError, TaskErrorKind};
use crate::unwind::{discard, drop_value};
use crate::value::Value;
use crate::worker::Worker;

/// References to a running task's inputs, on the stack up to 16 (the most that
/// typed `&[&A]` inputs gather on the stack too): a task with more inputs than that
/// pays an allocation on its worker for them.
pub(crate) type InputRefs<'a> = SmallVec<[&'a Value; 16]>;

/// References to `inputs`; nothing to gather for a task without inputs (the leaves
/// of most graphs), which is worth its branch.
pub(super) fn input_refs(inputs: &Inputs) -> InputRefs<'_> {
    if inputs.is_empty() {
        InputRefs::new()
    } else {
        inputs.iter().collect()
    }
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
    /// When each of the `members` but the last ended (the next one started then),
    /// read where they ran: empty unless the loop listens to task events and a
    /// chain ran (see [`Completion`](super::Completion)'s `stamps`).
    pub(crate) stamps: Stamps,
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
            result: Err(TaskError::not_started()),
            members: 1,
            finished: started,
            stamps: Stamps::new(),
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
    // Callbacks listen to task events: each member's end is read where it ran, so
    // the loop reports every member with times of its own (its start and its end,
    // when the chain's completion comes in: only the task handed out may be
    // announced as it starts).
    let stamp = chain.is_some() && scope.sink.listening();
    let mut stamps = Stamps::new();
    for (member, span) in chain.iter().flat_map(|c| c.members.iter()) {
        let Ok(value) = result else { break };
        members += 1;
        if stamp {
            stamps.push(finished);
        }
        if scope.cancel.is_cancelled() {
            result = Err(TaskError::not_started());
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
            if stamps.pop().is_some() {
                finished = Instant::now();
            }
            discard(std::mem::replace(&mut result, Err(error)));
            break;
        }
        if stamp || !span.is_disabled() {
            finished = Instant::now();
            record_span(span, worker, begun, begun, finished);
        }
    }
    if chain.is_some() && !stamp && matches!(clock, Clock::Read { .. }) {
        finished = Instant::now();
    }
    Ran {
        result,
        members,
        finished,
        stamps,
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
    let _context = running::enter_task(task);
    catch_unwind(AssertUnwindSafe(|| func(inputs)))
        .unwrap_or_else(|payload| Err(TaskError::panicked(&*payload)))
}

/// The body of blocking task `task`, read from its computation's graph where it runs
/// (a packed job or a chain member carries no reference count on it). Only blocking
/// tasks are handed to executors: an async one here is the loop's bug, reported as
/// that task's error.
pub(super) fn blocking_body(scope: &Scope, task: TaskId) -> Result<&BlockingFnBox, TaskError> {
    match scope.graph.payload(task) {
        TaskBody::Blocking(body) => Ok(body),
        TaskBody::Async(_) => Err(TaskError::new(
            TaskErrorKind::WorkerLost,
            "an async task was handed to an executor",
        )),
    }
}
