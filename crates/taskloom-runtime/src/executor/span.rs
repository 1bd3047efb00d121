//! The `task` span: opened where the computation's subscriber is current (the
//! scheduling loop), filled in where the task ran (a worker), whatever the executor.
//!
//! One place makes it and one records on it, so every path (a worker's batch, the
//! inline runner, an async task, a worker process's answer) reports the same fields:
//! `key`, `worker`, `queued_us`, `run_us`.

use std::time::Instant;

use taskloom_core::TaskId;

use super::scope::Scope;
use crate::worker::Worker;

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

/// A duration in whole microseconds, as spans and events record them.
pub(crate) fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
