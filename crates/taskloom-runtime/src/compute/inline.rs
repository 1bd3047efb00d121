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
    /// Tasks between looks at the clock, and tasks since the last look.
    stride: u32,
    since_look: u32,
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
    fn slice_spent(&mut self) -> bool {
        self.since_look += 1;
        if self.since_look < self.stride {
            return false;
        }
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
        // Look less often while the slice is young, more often as its end nears.
        if elapsed < SLICE / 4 {
            self.stride = (self.stride * 2).min(MAX_STRIDE);
        } else {
            self.stride = (self.stride / 2).max(1);
        }
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
