//! Errors of the runtime: a task that failed, a computation that did not complete,
//! and a scheduler configured with impossible settings.
//!
//! Every error about a task names its key, because that is how the user knows it.

use std::any::Any;
use std::fmt;

use taskloom_core::{GraphError, Key};

/// Boxed error type that fallible tasks may return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why one task did not produce a value.
#[derive(Debug)]
pub struct TaskError {
    kind: TaskErrorKind,
    message: String,
    source: Option<BoxError>,
}

/// The kind of a [`TaskError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskErrorKind {
    /// The task returned `Err`.
    Failed,
    /// The task panicked; the message is the panic payload.
    Panicked,
    /// The worker running the task died or the executor lost the task.
    WorkerLost,
    /// A value could not be encoded or decoded to cross a process boundary.
    Serialization,
    /// The computation was cancelled before the task ran.
    Cancelled,
    /// The task received an input of an unexpected type (a bug in an executor or
    /// in untyped graph construction; typed handles rule it out).
    TypeMismatch,
    /// The task's result panicked when it was dropped (its type's `Drop`); the
    /// message is the panic payload.
    DropPanicked,
    /// An input of the task was held by a worker that was lost with it. The
    /// scheduling loop runs the lost inputs again from their own inputs (up to
    /// 4 × ([`DEFAULT_RETRIES`](crate::executor::DEFAULT_RETRIES) + 1) times each)
    /// and the task after them; the computation fails with this error, naming the
    /// lost key and the worker, only past that limit.
    InputLost,
    /// An attempt of the task ran past its timeout
    /// ([`Policy::timeout`](crate::policy::Policy::timeout)): an async task's future
    /// was dropped, a remote task's worker was killed, a blocking task's thread was
    /// left to finish.
    TimedOut,
}

impl TaskError {
    /// An error of `kind` with `message`.
    pub fn new(kind: TaskErrorKind, message: impl Into<String>) -> Self {
        TaskError {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// The task returned `error`.
    pub fn failed(error: impl Into<BoxError>) -> Self {
        let source = error.into();
        TaskError {
            kind: TaskErrorKind::Failed,
            message: source.to_string(),
            source: Some(source),
        }
    }

    /// The task panicked with `payload` (as caught by `catch_unwind`).
    pub fn panicked(payload: &(dyn Any + Send)) -> Self {
        let message = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "panic with a non-string payload".to_owned()
        };
        TaskError::new(TaskErrorKind::Panicked, message)
    }

    /// A task of a computation that stopped (cancelled, or failed elsewhere) before
    /// the task started; also what a dropped completion leaves where its result was.
    pub(crate) fn not_started() -> Self {
        TaskError::new(
            TaskErrorKind::Cancelled,
            "the computation stopped before it started",
        )
    }

    /// An attempt that ran past `limit`; `stopped` says what became of it ("its
    /// future was dropped").
    pub(crate) fn timed_out(limit: std::time::Duration, stopped: &str) -> Self {
        TaskError::new(
            TaskErrorKind::TimedOut,
            format!("did not finish within {limit:?}; {stopped}"),
        )
    }

    /// The error of a task's last attempt, its message preceded by `history` (what
    /// the earlier attempts ended with); kind and source stay the last attempt's.
    pub(crate) fn after_attempts(mut self, history: &str) -> Self {
        self.message = format!("{history}{}", self.message);
        self
    }

    /// A stand-in for a result moved out of a completion (never shown).
    pub(crate) fn placeholder() -> Self {
        TaskError::new(TaskErrorKind::Cancelled, String::new())
    }

    /// What went wrong.
    pub fn kind(&self) -> TaskErrorKind {
        self.kind
    }

    /// The message: the task's error or panic message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            TaskErrorKind::Failed => write!(f, "failed: {}", self.message),
            TaskErrorKind::Panicked => write!(f, "panicked: {}", self.message),
            TaskErrorKind::WorkerLost => write!(f, "lost its worker: {}", self.message),
            TaskErrorKind::InputLost => write!(f, "lost an input: {}", self.message),
            TaskErrorKind::TimedOut => write!(f, "timed out: {}", self.message),
            TaskErrorKind::Serialization => write!(f, "could not move its data: {}", self.message),
            TaskErrorKind::Cancelled => write!(f, "was cancelled: {}", self.message),
            TaskErrorKind::TypeMismatch => {
                write!(f, "got an input of the wrong type: {}", self.message)
            }
            TaskErrorKind::DropPanicked => {
                write!(f, "panicked when its result was dropped: {}", self.message)
            }
        }
    }
}

impl std::error::Error for TaskError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as _)
    }
}

/// Why a computation did not return its results.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ComputeError {
    /// The graph cannot be scheduled (cycle, missing dependency, unknown target...);
    /// reported before any task runs.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// A task failed or panicked. No task started after it.
    #[error("task `{key}` {error}")]
    Task {
        /// The task's key.
        key: Key,
        /// What happened.
        #[source]
        error: TaskError,
    },
    /// The computation was cancelled through its [`CancellationToken`].
    ///
    /// [`CancellationToken`]: tokio_util::sync::CancellationToken
    #[error("computation cancelled")]
    Cancelled,
    /// The same target was requested twice in one typed request (each typed result
    /// is moved out once; request it once and clone it).
    #[error("target `{key}` requested more than once")]
    DuplicateTarget {
        /// The repeated key.
        key: Key,
    },
    /// The executor panicked when the loop called it (a bug in a custom executor).
    /// The jobs it was given report themselves lost; the computation stops.
    #[error("executor `{executor}` panicked in `{method}`{}: {message}", key.as_ref().map(|k| format!(" given task `{k}`")).unwrap_or_default())]
    ExecutorPanicked {
        /// The executor's name.
        executor: String,
        /// The method that panicked (`submit`, `num_workers`...).
        method: &'static str,
        /// The first task of the batch it was given, for `submit`.
        key: Option<Key>,
        /// The panic message.
        message: String,
    },
    /// An executor reported a completion for a task it was not given (a bug in a
    /// custom executor).
    #[error("executor broke the completion contract: {0}")]
    Protocol(String),
    /// A callback panicked; the computation was stopped.
    #[error("callback `{callback}` panicked: {message}")]
    CallbackPanicked {
        /// Name of the callback.
        callback: String,
        /// The panic message.
        message: String,
    },
    /// An async task was found but no Tokio runtime was available to spawn it on.
    #[error("task `{key}` is async but no Tokio runtime is available to run it")]
    NoRuntime {
        /// The async task.
        key: Key,
    },
    /// A task has a timeout or waits before a retry, and no Tokio runtime with its
    /// timers enabled is there to measure the time (a computation driven by
    /// [`Scheduler::compute_blocking`](crate::Scheduler::compute_blocking) outside a
    /// runtime, or on a runtime built without `enable_time`).
    #[error(
        "task `{key}` has a timeout or a retry to wait for, but no Tokio runtime with \
         timers enabled is available to measure it"
    )]
    NoTimer {
        /// The task.
        key: Key,
    },
}

impl ComputeError {
    /// The key of the task this error is about, if any.
    pub fn key(&self) -> Option<&Key> {
        match self {
            ComputeError::Task { key, .. }
            | ComputeError::DuplicateTarget { key }
            | ComputeError::NoRuntime { key }
            | ComputeError::NoTimer { key } => Some(key),
            ComputeError::ExecutorPanicked { key, .. } => key.as_ref(),
            _ => None,
        }
    }
}

/// A scheduler setting that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `chunksize` must be at least 1 (Dask crashes on `chunksize=-1`; we refuse it).
    #[error("chunksize must be at least 1, got {0}")]
    Chunksize(usize),
    /// `num_workers` must be at least 1.
    #[error("num_workers must be at least 1, got {0}")]
    NumWorkers(usize),
    /// The limit of async tasks running at once must be at least 1.
    #[error("max_async_tasks must be at least 1, got {0}")]
    MaxAsyncTasks(usize),
    /// A worker thread could not be started.
    #[error("could not start worker thread: {0}")]
    Spawn(String),
}
