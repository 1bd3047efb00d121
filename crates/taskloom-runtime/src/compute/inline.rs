//! The inline strategy: ready tasks run one at a time on the loop's own thread.
//!
//! `CurrentThread` computations, and computations started from inside a task on one
//! of the executor's workers (which must not wait for a worker that may never come
//! free: Dask #4240), run here. Each task borrows its inputs straight from the
//! results held, and clocks are read only when someone reads the times.
//!
//! Cancellation is checked between any two tasks: a cancelled token (or an enclosing
//! computation that stops) ends the run before the next task starts. A dropped
//! future can only be noticed when the loop yields, so the runner yields not only
//! every [`BUDGET`](super::BUDGET) tasks but also every [`SLICE`] of time: with tasks
//! longer than the slice, that is after every task. Reading the clock costs about
//! 50 ns on the development machine, a quarter of a tiny task's whole cost, so its
//! stride adapts: every task while tasks are long, up to every [`MAX_STRIDE`] tasks
//! while they are short.

use std::sync::Arc;
use std::time::{Duration, Instant};

use taskloom_core::TaskId;

use super::spawn::Spawner;
use super::{BUDGET, Ledger, Step};
use crate::body::{BlockingFn, TaskBody};
use crate::error::ComputeError;
use crate::executor::running;
use crate::executor::{Clock, Completion, Worker, run_task, task_span};
use crate::unwind::discard;

/// Longest run of inline tasks between two yields to the runtime.
const SLICE: Duration = Duration::from_millis(1);
/// Most tasks between two looks at the clock.
const MAX_STRIDE: u32 = 32;

pub(super) struct InlineRunner {
    /// The end of the last task, which is the start of the next.
    clock: Instant,
    /// Whether `clock` was read at the end of the last task (it goes stale while
    /// nobody reads task times).
    clock_fresh: bool,
    /// When the current slice began.
    slice_start: Instant,
    /// Tasks between looks at the clock, tasks since the last look, and tasks of
    /// the slice before the last look.
    stride: u32,
    since_look: u32,
    looked: u32,
}

impl InlineRunner {
    pub(super) fn new() -> Self {
        let now = Instant::now();
        InlineRunner {
            clock: now,
            clock_fresh: false,
            slice_start: now,
            stride: 1,
            since_look: 0,
            looked: 0,
        }
    }

    /// Runs ready tasks until none is ready ([`Step::Wait`]), or the budget or time
    /// slice is spent ([`Step::Yield`]). Ready async tasks go to the spawner. The
    /// computation's scope is entered for the segment only: it must not be held
    /// across the yield.
    pub(super) fn start(
        &mut self,
        ledger: &mut Ledger,
        spawner: &mut Spawner,
    ) -> Result<Step, ComputeError> {
        let _scope = running::enter_scope(&ledger.scope);
        // A second handle on the graph lets task bodies be borrowed while the ledger
        // changes.
        let graph = Arc::clone(&ledger.graph);
        self.clock_fresh = false; // time passed while waiting
        self.slice_start = Instant::now();
        self.stride = 1;
        self.since_look = 0;
        self.looked = 0;
        loop {
            if ledger.scope.cancel.is_cancelled() {
                return Err(ledger.cancelled());
            }
            if ledger.worked >= BUDGET {
                return Ok(Step::Yield);
            }
            spawner.start_waiting(ledger)?;
            let Some(task) = ledger.next_ready(spawner.outstanding(), false) else {
                return Ok(Step::Wait);
            };
            match graph.payload(task) {
                TaskBody::Blocking(body) => self.run(ledger, task, &body.func)?,
                TaskBody::Async(_) => spawner.enqueue(ledger, task)?,
            }
            if self.slice_spent() {
                return Ok(Step::Yield);
            }
        }
    }

    /// Whether the slice is over, looking at the clock only every `stride` tasks.
    ///
    /// The next look is planned halfway to the slice's end at the pace of the slice
    /// so far, and at most twice as many tasks away as the last (a pace measured on
    /// a few tasks is little evidence). So a slice of short tasks is looked at a few
    /// dozen times, not once a task: halving the stride at every look past a
    /// quarter of the slice, as before, read the clock for most tasks of every
    /// slice of sub-microsecond tasks, a tenth of their cost.
    fn slice_spent(&mut self) -> bool {
        self.since_look += 1;
        if self.since_look < self.stride {
            return false;
        }
        self.looked += self.since_look;
        self.since_look = 0;
        let now = if self.clock_fresh {
            self.clock
        } else {
            Instant::now()
        };
        let elapsed = now.saturating_duration_since(self.slice_start);
        if elapsed >= SLICE {
            return true;
        }
        self.stride = next_stride(elapsed, self.looked, self.stride);
        false
    }

    /// Runs one blocking task right here, on references to its inputs, and feeds
    /// its completion to the ledger.
    fn run(
        &mut self,
        ledger: &mut Ledger,
        task: TaskId,
        func: &BlockingFn,
    ) -> Result<(), ComputeError> {
        let span = task_span(Some(&ledger.span), &ledger.scope, task);
        let listening = ledger.hooks.listening();
        let watched = ledger.watch.as_ref().is_some_and(|w| w.has_timeout(task));
        let timed = listening || watched || !span.is_disabled();
        if timed && !self.clock_fresh {
            self.clock = Instant::now();
        }
        let started = self.clock;
        if listening {
            ledger.announce(task, Worker::Inline, started)?;
        }
        let inputs = ledger
            .held
            .inputs(&ledger.graph, task)
            .map_err(|m| ledger.missing(m))?;
        let ran = run_task(
            &ledger.scope,
            task,
            func,
            &inputs,
            &span,
            None,
            Clock::Maybe { read: timed },
            Worker::Inline,
            started,
        );
        drop(inputs);
        self.clock = ran.finished;
        self.clock_fresh = timed;
        let mut result = ran.result;
        // A task past its timeout here cannot have been stopped: its result is
        // thrown away, and the computation fails (no retry: as on a thread).
        let overran = watched
            .then(|| ledger.watch.as_ref()?.overran(task, started, ran.finished))
            .flatten();
        if let Some(error) = overran {
            if let Ok(value) = std::mem::replace(&mut result, Err(error)) {
                discard(value);
            }
        }
        let mut completion =
            Completion::settled(task, result, Worker::Inline, started, ran.finished);
        ledger.complete_with(&mut completion, !watched)
    }
}

/// The tasks to run before the next look at the clock, `elapsed` into a slice in
/// which `looked` tasks ran, the last look `stride` tasks ago: halfway to the
/// slice's end at that pace, at least one task, and at most twice `stride` (and
/// [`MAX_STRIDE`]). `elapsed` is below [`SLICE`].
fn next_stride(elapsed: Duration, looked: u32, stride: u32) -> u32 {
    // Both below the slice (a millisecond): nanoseconds fit in a `u64`.
    let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    let pace = nanos(elapsed) / u64::from(looked.max(1));
    let fit = nanos(SLICE.saturating_sub(elapsed) / 2) / pace.max(1);
    let most = (stride * 2).min(MAX_STRIDE);
    u32::try_from(fit).unwrap_or(u32::MAX).clamp(1, most)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    #[test]
    fn short_tasks_are_looked_at_every_max_stride_until_the_slice_nears_its_end() {
        // Half a microsecond a task: the stride doubles up to the most...
        assert_eq!(next_stride(us(1), 2, 1), 2);
        assert_eq!(next_stride(us(15), 30, 16), MAX_STRIDE);
        // ... and stays there through most of the slice (past a quarter, too) ...
        assert_eq!(next_stride(us(600), 1200, MAX_STRIDE), MAX_STRIDE);
        // ... until half the time left is fewer tasks.
        assert_eq!(next_stride(us(980), 1960, MAX_STRIDE), 20);
        assert_eq!(next_stride(us(999), 1998, MAX_STRIDE), 1);
    }

    #[test]
    fn long_tasks_are_looked_at_after_each_but_where_the_slice_has_room() {
        // 100 µs a task: the next look lands about halfway to the slice's end.
        assert_eq!(next_stride(us(100), 1, 1), 2);
        assert_eq!(next_stride(us(300), 3, 2), 3);
        assert_eq!(next_stride(us(800), 8, 3), 1);
        // A task of a third of the slice: one at a time.
        assert_eq!(next_stride(us(334), 1, 1), 1);
    }
}
