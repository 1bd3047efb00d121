//! Where a batch's completions go: its computation's sink, one message per group of
//! completions, and the error of jobs whose computation was cancelled before they ran.
//!
//! Shared by the batch's exchange, the settlement of a loss, and a job whose inputs
//! could not be moved in: each reports to the computation the same way.

use crate::error::{TaskError, TaskErrorKind};
use crate::executor::Scope;
use crate::executor::{Completion, Message, Sink};

/// Sends a batch's completions to its computation.
pub(crate) struct Reporter {
    sink: Sink,
}

impl Reporter {
    pub(crate) fn new(scope: &Scope) -> Self {
        Reporter {
            sink: scope.sink.clone(),
        }
    }

    /// Reports completions in one message (none: nothing sent).
    pub(crate) fn report(&self, completions: Vec<Completion>) {
        if !completions.is_empty() {
            self.sink.send(Message::Done(completions));
        }
    }

    /// Reports answered calls: their starts (if the loop listens), then their ends,
    /// in one message.
    pub(crate) fn answered(&self, done: &mut Vec<Completion>) {
        if done.is_empty() {
            return;
        }
        for c in done.iter() {
            self.sink.started(c.task, c.worker, c.started);
        }
        self.report(std::mem::take(done));
    }
}

/// The error of a job that did not run because its computation was cancelled.
pub(crate) fn cancelled(when: &str) -> TaskError {
    TaskError::new(
        TaskErrorKind::Cancelled,
        format!("the computation was cancelled {when}"),
    )
}
