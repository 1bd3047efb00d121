//! The computation's callbacks, called one at a time from its loop, with two
//! promises: a panicking callback stops the computation with an error (never a hang
//! or an unwind into the caller), and `on_finish` runs exactly once, even when the
//! computation's future is dropped.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Instant;

use crate::callbacks::{
    CacheEvent, Callback, FinishInfo, MemoryStats, Outcome, StartInfo, TaskFinish, TaskStart,
};
use crate::error::{ComputeError, TaskError};
use crate::executor::Scope;

pub(super) struct Hooks {
    list: Vec<Arc<dyn Callback>>,
    /// Whether any callback wants task events.
    listening: bool,
    finished: bool,
    scope: Arc<Scope>,
}

impl Hooks {
    /// Whether any of `list` wants task events. A callback whose `task_events`
    /// panics is taken to want them; the panic is left for a hook that can fail the
    /// computation.
    pub(super) fn want_task_events(list: &[Arc<dyn Callback>]) -> bool {
        list.iter()
            .any(|c| catch_unwind(AssertUnwindSafe(|| c.task_events())).unwrap_or(true))
    }

    pub(super) fn new(list: Vec<Arc<dyn Callback>>, scope: Arc<Scope>, listening: bool) -> Self {
        Hooks {
            list,
            listening,
            finished: false,
            scope,
        }
    }

    /// Whether anyone listens to task events (they then need clocks read).
    pub(super) fn listening(&self) -> bool {
        self.listening
    }

    /// Calls `f` on every callback; a panic becomes an error that stops the
    /// computation.
    fn each(&self, f: impl Fn(&dyn Callback)) -> Result<(), ComputeError> {
        for callback in &self.list {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| f(&**callback))) {
                let name = catch_unwind(AssertUnwindSafe(|| callback.name().to_owned()))
                    .unwrap_or_else(|_| "(a callback whose name panics)".to_owned());
                return Err(ComputeError::CallbackPanicked {
                    callback: name,
                    message: TaskError::panicked(&*payload).message().to_owned(),
                });
            }
        }
        Ok(())
    }

    pub(super) fn start(&self, info: &StartInfo) -> Result<(), ComputeError> {
        self.each(|c| c.on_start(info))
    }

    pub(super) fn task_start(&self, event: &TaskStart<'_>) -> Result<(), ComputeError> {
        self.each(|c| c.on_task_start(event))
    }

    pub(super) fn task_finish(&self, event: &TaskFinish<'_>) -> Result<(), ComputeError> {
        self.each(|c| c.on_task_finish(event))
    }

    #[cfg_attr(not(feature = "cache"), allow(dead_code, reason = "the cache reports"))]
    pub(super) fn cache(&self, event: &CacheEvent<'_>) -> Result<(), ComputeError> {
        self.each(|c| c.on_cache(event))
    }

    pub(super) fn finish(&mut self, outcome: Outcome, memory: MemoryStats) {
        if !self.finished {
            self.finished = true;
            let info = FinishInfo {
                computation: self.scope.id,
                outcome,
                at: Instant::now(),
                traffic: self.scope.traffic.snapshot(),
                held: self.scope.traffic.held(),
                memory,
            };
            // The computation is over either way; a panic here has nothing left to stop.
            let _ = self.each(|c| c.on_finish(&info));
        }
    }
}

impl Drop for Hooks {
    /// Dropping the computation's future cancels it: queued jobs are skipped, async
    /// tasks stop, running tasks see `context::cancelled()`, and callbacks hear
    /// `Cancelled`.
    fn drop(&mut self) {
        self.scope.cancel.cancel();
        self.finish(Outcome::Cancelled, MemoryStats::default());
    }
}
