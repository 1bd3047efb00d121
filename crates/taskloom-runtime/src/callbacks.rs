//! Callbacks of one computation (Dask's `Callback`, but never process-global).
//!
//! Callbacks are given to a single `compute` call through
//! [`ComputeOptions`](crate::ComputeOptions), so two overlapping computations each see
//! only their own tasks, which is what a web backend needs. They are called from the
//! computation's scheduling loop, one at a time, in this order: `on_start`, then for
//! each task `on_task_start` and `on_task_finish`, then `on_finish` exactly once,
//! whatever the outcome (done, failed, cancelled or dropped).
//!
//! Tasks are told as the loop hears of them. A task handed to a worker alone, an
//! async task, and a task the loop runs itself are told as they start. Where tasks
//! are short (under a millisecond on average) a task's start is told with its
//! batch's results, right before its finish, with the instant it started (at most
//! about a batch, some milliseconds, late), and so is each member of a linear chain
//! run as one job on a worker: each member is told, start then finish, in order,
//! with times read between members where it ran.
//!
//! `on_start` and `on_finish` come in pairs: a computation refused before it starts
//! (a cycle, a missing dependency, an unknown or repeated target) returns its error
//! and calls no callback, and so does a `compute` future dropped before it was first
//! polled. Tasks still running when a computation fails or is cancelled never report
//! back, so they may have an `on_task_start` without an `on_task_finish`.
//!
//! A callback that panics stops its computation with
//! [`ComputeError::CallbackPanicked`](crate::ComputeError::CallbackPanicked); it never
//! hangs it (a panic in `on_finish` is ignored: the computation is already over).
//!
//! Every event names its computation ([`ComputationId`]), so one callback shared by
//! overlapping computations (a profiler of a whole web backend) tells them apart.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use taskloom_core::Key;

use crate::worker::{LostRun, Worker};

/// Names one computation among those a process runs: unique for the life of the
/// process, and the same on every event of that computation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComputationId(u64);

impl ComputationId {
    /// A fresh id.
    pub(crate) fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        ComputationId(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The id as a number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ComputationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What a computation is about to run.
#[derive(Debug, Clone)]
pub struct StartInfo {
    /// Which computation.
    pub computation: ComputationId,
    /// Tasks the computation will run (after culling).
    pub tasks: usize,
    /// Name of the executor.
    pub executor: String,
    /// Its number of workers.
    pub workers: usize,
    /// When the computation started.
    pub at: Instant,
}

/// A task started running.
#[derive(Debug, Clone)]
pub struct TaskStart<'a> {
    /// Its computation.
    pub computation: ComputationId,
    /// The task's key.
    pub key: &'a Key,
    /// Which attempt this is: 1, or more for a task run again by its
    /// [retry policy](crate::policy::Retry).
    pub attempt: u32,
    /// Where it runs.
    pub worker: Worker,
    /// When it started.
    pub at: Instant,
}

/// A task ended.
#[derive(Debug, Clone)]
pub struct TaskFinish<'a> {
    /// Its computation.
    pub computation: ComputationId,
    /// The task's key.
    pub key: &'a Key,
    /// Which attempt ended: 1, or more for a task run again by its
    /// [retry policy](crate::policy::Retry). A failed attempt that is retried is
    /// reported like any failure (with its `error`); the next attempt follows.
    pub attempt: u32,
    /// Where it ran.
    pub worker: Worker,
    /// When it started.
    pub started: Instant,
    /// When it ended.
    pub finished: Instant,
    /// `None` on success, the error's message on failure.
    pub error: Option<&'a str>,
    /// Results the computation held right after keeping this task's result, before
    /// dropping the inputs it was the last user of: the high point of this step
    /// (targets and inputs of running tasks included).
    pub held_results: usize,
    /// Their bytes, as results report them ([`ResultSize`](crate::size::ResultSize);
    /// unknown sizes count as declared or 0).
    pub held_bytes: u64,
    /// Earlier runs of this task that ended with their worker's death (empty unless
    /// a worker process was lost while running it): the task was run again after
    /// each, and this is how its last run ended.
    pub lost_runs: &'a [LostRun],
}

impl TaskFinish<'_> {
    /// How long it ran.
    pub fn duration(&self) -> Duration {
        self.finished.saturating_duration_since(self.started)
    }

    /// Whether it succeeded.
    pub fn is_ok(&self) -> bool {
        self.error.is_none()
    }
}

/// What the result cache did for one task of a computation (see
/// [`crate::cache`]; only computations with a cache have these).
#[derive(Debug, Clone)]
pub struct CacheEvent<'a> {
    /// Its computation.
    pub computation: ComputationId,
    /// The task's key.
    pub key: &'a Key,
    /// What happened.
    pub kind: CacheEventKind<'a>,
}

/// What a [`CacheEvent`] says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheEventKind<'a> {
    /// The task's entry was found: its value is loaded instead of computed, and what
    /// only it needed is not run. Said when the computation starts.
    Hit,
    /// The task's value was stored, in so many bytes.
    Stored {
        /// Bytes of the entry.
        bytes: u64,
    },
    /// The task's entry was damaged (truncated, altered, not an entry); it was
    /// removed and the task runs again.
    Corrupt {
        /// What was wrong with it.
        reason: &'a str,
    },
    /// The task's value could not be written (a full disk, a read-only directory):
    /// it is not cached, and the computation goes on. Said once per computation,
    /// for the first entry that failed.
    Unwritable {
        /// What the OS said.
        reason: &'a str,
    },
    /// The task's codec could not encode its value: it is not cached.
    NotStored {
        /// What the codec said.
        reason: &'a str,
    },
}

/// A computation ended.
#[derive(Debug, Clone)]
pub struct FinishInfo {
    /// Which computation.
    pub computation: ComputationId,
    /// How it ended.
    pub outcome: Outcome,
    /// When.
    pub at: Instant,
    /// What it held.
    pub memory: MemoryStats,
    /// Bytes its remote tasks produced, kept in workers and moved through the parent
    /// (zeros for executors without worker processes).
    pub traffic: crate::traffic::Traffic,
    /// What each worker process held for it: peak and end, in bytes (empty for
    /// executors without worker processes, or when no result stayed in a worker).
    pub held: Vec<crate::traffic::WorkerHeld>,
}

/// What a computation held, counted by its scheduling loop.
///
/// A result counts from the moment the loop keeps it until core releases it (or the
/// computation ends, for targets): peaks are taken right after a result is kept and
/// before the inputs it was the last user of are dropped, as a gauge of live values
/// would see them. Bytes are what results report
/// ([`ResultSize`](crate::size::ResultSize) through
/// [`Graph::add_sized`](crate::Graph::add_sized) or [`Graph::measure`](crate::Graph::measure),
/// or [`Graph::declare_size`](crate::Graph::declare_size)); other results count as 0
/// bytes. The members of a chain run as one unit on a worker are never held by the
/// loop, only its last result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemoryStats {
    /// The most results held at once.
    pub peak_results: usize,
    /// The most bytes held at once.
    pub peak_bytes: u64,
    /// The byte budget ([`ComputeOptions::memory_limit`](crate::ComputeOptions::memory_limit)), if any.
    pub limit: Option<u64>,
    /// Tasks started while over the budget because nothing that frees memory was
    /// ready and nothing was running (0 when the budget held, or without one).
    pub overruns: usize,
    /// The most bytes held above the budget (0 when it held, or without one).
    pub peak_over_limit: u64,
}

/// How a computation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every target was computed.
    Done,
    /// It failed; the message of the error.
    Failed(String),
    /// It was cancelled, or its future was dropped.
    Cancelled,
}

/// Hooks into one computation. Every method has an empty default.
pub trait Callback: Send + Sync + 'static {
    /// A name for error messages.
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }

    /// Whether it wants `on_task_start` and `on_task_finish` (default `true`). A
    /// callback that only reads the computation's start and end (its
    /// [`MemoryStats`], say) returns `false`: if every callback of a computation
    /// does, the loop reads no clocks for them. Either way linear chains go to a
    /// worker whole (see the [module](self) for how their tasks are told), except
    /// chains of remote tasks on worker processes while a callback wants task
    /// events: those go task by task, each with times of its own. Asked once, when
    /// the computation starts.
    fn task_events(&self) -> bool {
        true
    }

    /// The computation starts.
    fn on_start(&self, _info: &StartInfo) {}

    /// A task starts.
    fn on_task_start(&self, _event: &TaskStart<'_>) {}

    /// A task ends.
    fn on_task_finish(&self, _event: &TaskFinish<'_>) {}

    /// The result cache found, stored, or could not use a task's entry (computations
    /// with a [cache](crate::ComputeOptions::cache) only; called whatever
    /// [`Callback::task_events`] says).
    fn on_cache(&self, _event: &CacheEvent<'_>) {}

    /// The computation ends; called exactly once.
    fn on_finish(&self, _info: &FinishInfo) {}
}
