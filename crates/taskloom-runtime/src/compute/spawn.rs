//! Async tasks: futures run as Tokio tasks, whatever the strategy.
//!
//! At most `max_async_tasks` of a computation run at once; the others wait here in
//! the order they became ready. Each spawned task owes the loop one completion, like
//! a job: it is made (armed) before the future first runs, so a Tokio task dropped
//! unfinished (its runtime shut down) or unwound by a panic outside the future still
//! reports its task as lost, and a cancelled computation's tasks stop at once.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Instant;

use futures::FutureExt;
use taskloom_core::TaskId;
use tracing::Instrument;

use super::Ledger;
use crate::body::TaskBody;
use crate::error::{ComputeError, TaskError};
use crate::executor::running;
use crate::executor::{Completion, Worker, record_span, task_span};

pub(super) struct Spawner {
    max: usize,
    /// Async tasks spawned and not yet completed.
    running: usize,
    /// Async tasks handed out by core, waiting for a slot.
    waiting: VecDeque<TaskId>,
    /// The runtime to spawn on when the loop runs outside one.
    runtime: Option<tokio::runtime::Handle>,
}

impl Spawner {
    pub(super) fn new(max: usize, runtime: Option<tokio::runtime::Handle>) -> Self {
        Spawner {
            max,
            running: 0,
            waiting: VecDeque::new(),
            runtime,
        }
    }

    pub(super) fn running(&self) -> usize {
        self.running
    }

    /// Async tasks handed to it and not completed: spawned, or waiting for a slot.
    pub(super) fn outstanding(&self) -> usize {
        self.running + self.waiting.len()
    }

    /// One of its tasks completed.
    pub(super) fn finished(&mut self) {
        self.running = self.running.saturating_sub(1);
    }

    /// Takes a ready async task: spawned now if a slot is free, else queued.
    pub(super) fn enqueue(
        &mut self,
        ledger: &mut Ledger,
        task: TaskId,
    ) -> Result<(), ComputeError> {
        self.waiting.push_back(task);
        self.start_waiting(ledger)
    }

    /// Spawns waiting async tasks while there are free slots.
    pub(super) fn start_waiting(&mut self, ledger: &mut Ledger) -> Result<(), ComputeError> {
        while self.running < self.max {
            let Some(task) = self.waiting.pop_front() else {
                return Ok(());
            };
            self.spawn(ledger, task)?;
        }
        Ok(())
    }

    fn spawn(&mut self, ledger: &mut Ledger, task: TaskId) -> Result<(), ComputeError> {
        let key = ledger.graph.key(task).clone();
        let TaskBody::Async(func) = ledger.graph.payload(task) else {
            return Err(ComputeError::Protocol(
                "async spawn of a blocking task".into(),
            ));
        };
        let runtime = tokio::runtime::Handle::try_current()
            .ok()
            .or_else(|| self.runtime.clone())
            .ok_or_else(|| ComputeError::NoRuntime { key: key.clone() })?;
        let mut inputs = Vec::with_capacity(ledger.graph.deps(task).len());
        ledger
            .held
            .clone_inputs(&ledger.graph, task, &mut inputs)
            .map_err(|m| ledger.missing(m))?;
        let queued = Instant::now();
        let future =
            catch_unwind(AssertUnwindSafe(|| (func.0)(inputs))).unwrap_or_else(|payload| {
                futures::future::ready(Err(TaskError::panicked(&*payload))).boxed()
            });
        // A timeout drops the future at the deadline. The timer is made when the
        // task first runs, inside its panic guard: a runtime without timers gives the
        // task Tokio's panic message as its error.
        let future = match ledger.scope.timeout(task) {
            None => future,
            Some(limit) => async move {
                tokio::time::timeout(limit, future)
                    .await
                    .unwrap_or_else(|_| Err(TaskError::timed_out(limit, "its future was dropped")))
            }
            .boxed(),
        };
        let scope = Arc::clone(&ledger.scope);
        let span = task_span(Some(&ledger.span), &ledger.scope, task);
        let recorded = span.clone();
        // Owed from now on: whatever happens to the Tokio task, the loop hears of it.
        let mut owed = Completion::owed_by_async(&scope, task, queued);
        runtime.spawn(
            async move {
                let started = Instant::now();
                scope.sink.started(task, Worker::Async, started);
                let run =
                    AssertUnwindSafe(running::scope_async(&scope, task, future)).catch_unwind();
                let Some(outcome) = scope.cancel.token().run_until_cancelled(run).await else {
                    owed.settle(); // the computation stopped; nobody wants the result
                    return;
                };
                owed.result = outcome.unwrap_or_else(|payload| Err(TaskError::panicked(&*payload)));
                owed.started = started;
                owed.finished = Instant::now();
                record_span(&recorded, Worker::Async, queued, started, owed.finished);
                owed.report();
            }
            .instrument(span),
        );
        self.running += 1;
        ledger.worked += 1;
        Ok(())
    }
}
