//! [`Profiler`]: a callback that records the timeline of its computations.
//!
//! Dask's `Profiler` is process-global: two computations profiled at once mix their
//! tasks. This one is given to a computation through
//! [`ComputeOptions::shared_callback`](crate::ComputeOptions::shared_callback), keeps
//! an `Arc` so the caller can read it afterwards, and sees only the computations it was
//! given to. Each record is taken from the task's completion (worker, start and end
//! instants measured by the worker itself; the results and bytes the loop held right
//! after keeping its result), so the profiler adds one lock and one push per task to
//! the scheduling loop and nothing to the workers. Records are kept in blocks of a
//! fixed size: a growing list would copy them all over each time it grows, and a
//! list of a whole run's size at once is an allocation of its own pages.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use taskloom_core::Key;

use crate::callbacks::{Callback, ComputationId, FinishInfo, Outcome, StartInfo, TaskFinish};
use crate::worker::{LostRun, Worker};

/// What one task did: where and when it ran, and whether it succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRecord {
    /// The computation it belonged to.
    pub computation: ComputationId,
    /// The task's key.
    pub key: Key,
    /// Which attempt of the task this was (1, or more when its retry policy ran it
    /// again: each attempt is a record of its own).
    pub attempt: u32,
    /// Where it ran.
    pub worker: Worker,
    /// When it started.
    pub start: Instant,
    /// When it ended (never before `start`).
    pub end: Instant,
    /// `None` if it succeeded, else the error's message.
    pub error: Option<String>,
    /// Results its computation held when it ended (see
    /// [`TaskFinish::held_results`]).
    pub held_results: usize,
    /// Their bytes (see [`TaskFinish::held_bytes`]).
    pub held_bytes: u64,
    /// Earlier runs lost with their worker (see [`TaskFinish::lost_runs`]).
    pub lost_runs: Vec<LostRun>,
}

impl TaskRecord {
    /// Whether the task succeeded.
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }

    /// How long it ran.
    pub fn duration(&self) -> Duration {
        self.end.saturating_duration_since(self.start)
    }
}

/// A computation the profiler saw start (and maybe end).
#[derive(Debug, Clone)]
pub struct ComputeRecord {
    /// Which computation.
    pub computation: ComputationId,
    /// Its executor's name.
    pub executor: String,
    /// Its number of workers.
    pub workers: usize,
    /// Tasks it was going to run.
    pub tasks: usize,
    /// When it started.
    pub start: Instant,
    /// When it ended and how, once it has.
    pub end: Option<(Instant, Outcome)>,
}

/// Records every task of the computations it is given to.
///
/// ```
/// use std::sync::Arc;
/// use taskloom::{ComputeOptions, Graph, Scheduler};
/// use taskloom::callbacks::Outcome;
/// use taskloom::diagnostics::Profiler;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut g = Graph::new();
/// let x = g.add("x", (), || 1_u8)?;
/// let profiler = Arc::new(Profiler::new());
/// let options = ComputeOptions::new().shared_callback(profiler.clone());
/// Scheduler::current_thread().compute_with(&g, &x, options).await?;
///
/// let records = profiler.records();
/// assert_eq!(records[0].key.to_string(), "x");
/// assert!(records[0].ok() && records[0].start <= records[0].end);
/// assert!(matches!(profiler.computes()[0].end, Some((_, Outcome::Done))));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Default)]
pub struct Profiler {
    /// A plain mutex: callbacks are called one at a time by each computation's loop,
    /// nothing awaits under it, and it is held for one push.
    state: Mutex<State>,
}

/// Records per block of [`State::records`] (some 40 kB).
const BLOCK: usize = 256;

#[derive(Debug, Default)]
struct State {
    /// In blocks of [`BLOCK`], oldest first.
    records: Vec<Vec<TaskRecord>>,
    computes: Vec<ComputeRecord>,
}

impl Profiler {
    /// An empty profiler. Share it with `Arc` to read it after the computation.
    pub fn new() -> Self {
        Self::default()
    }

    /// The tasks that ended so far, in the order they were reported.
    ///
    /// Tasks still running when a computation failed or was cancelled never report
    /// back to it, so they are missing.
    pub fn records(&self) -> Vec<TaskRecord> {
        self.lock().records.iter().flatten().cloned().collect()
    }

    /// The computations seen so far.
    pub fn computes(&self) -> Vec<ComputeRecord> {
        self.lock().computes.clone()
    }

    /// Forgets everything recorded.
    pub fn clear(&self) {
        let mut state = self.lock();
        state.records.clear();
        state.computes.clear();
    }

    /// The earliest instant recorded (the first computation's start), if any.
    pub fn origin(&self) -> Option<Instant> {
        let state = self.lock();
        let computes = state.computes.iter().map(|c| c.start);
        let tasks = state.records.iter().flatten().map(|r| r.start);
        computes.chain(tasks).min()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves whole records behind; keep reading.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Callback for Profiler {
    fn name(&self) -> &str {
        "profiler"
    }

    fn on_start(&self, info: &StartInfo) {
        self.lock().computes.push(ComputeRecord {
            computation: info.computation,
            executor: info.executor.clone(),
            workers: info.workers,
            tasks: info.tasks,
            start: info.at,
            end: None,
        });
    }

    fn on_task_finish(&self, event: &TaskFinish<'_>) {
        let record = TaskRecord {
            computation: event.computation,
            key: event.key.clone(),
            attempt: event.attempt,
            worker: event.worker,
            start: event.started,
            end: event.finished.max(event.started),
            error: event.error.map(str::to_owned),
            held_results: event.held_results,
            held_bytes: event.held_bytes,
            lost_runs: event.lost_runs.to_vec(),
        };
        let mut state = self.lock();
        match state.records.last_mut() {
            Some(block) if block.len() < BLOCK => block.push(record),
            _ => {
                let mut block = Vec::with_capacity(BLOCK);
                block.push(record);
                state.records.push(block);
            }
        }
    }

    fn on_finish(&self, info: &FinishInfo) {
        let mut state = self.lock();
        // Computations sharing this profiler may end in any order: close this one.
        if let Some(open) = state
            .computes
            .iter_mut()
            .find(|c| c.computation == info.computation)
        {
            open.end = Some((info.at, info.outcome.clone()));
        }
    }
}
