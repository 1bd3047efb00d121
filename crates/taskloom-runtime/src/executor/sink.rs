//! The way back to a computation's scheduling loop: the [`Sink`] (one unbounded
//! channel per computation) and the [`Outbox`] a worker gathers a batch's
//! completions in.
//!
//! Sending never fails loudly: a message to a loop that is gone is dropped here, with
//! any user value in it dropped without letting a panic unwind. An outbox sends what
//! it holds when dropped, so a panic that unwinds through a worker loses no
//! completion already made.

use std::time::Instant;

use taskloom_core::TaskId;
use tokio::sync::mpsc::UnboundedSender;

use super::completion::{Completion, Message};
use crate::unwind::discard;
use crate::worker::Worker;

/// The channel back to a computation's scheduling loop.
#[derive(Clone, Debug)]
pub(crate) struct Sink {
    tx: UnboundedSender<Message>,
    /// Whether the loop listens to task events (a callback wants them): workers
    /// then time every task, and every member of a fused chain.
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

    /// Whether the loop listens to task events.
    #[inline]
    pub(crate) fn listening(&self) -> bool {
        self.report_starts
    }

    /// Reports that `task` started, whether or not the loop listens (the loop
    /// ignores it then).
    #[inline]
    pub(crate) fn send_started(&self, task: TaskId, worker: Worker, at: Instant) {
        self.send(Message::started(task, worker, at));
    }

    /// Reports that `task` started, if the loop listens (or `watched`: it watches
    /// the task's deadline).
    #[inline]
    pub(crate) fn started(&self, task: TaskId, worker: Worker, at: Instant) {
        self.started_if(task, worker, at, false);
    }

    /// [`Sink::started`], also sent when `watched`.
    #[inline]
    pub(crate) fn started_if(&self, task: TaskId, worker: Worker, at: Instant, watched: bool) {
        if self.report_starts || watched {
            self.send_started(task, worker, at);
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

    /// The completions gathered so far (a batch that did not read the clock per
    /// task spreads its time over them).
    pub(crate) fn completions_mut(&mut self) -> &mut [Completion] {
        &mut self.done
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
