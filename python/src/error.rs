//! Why `get` failed, and the Python exception each reason becomes.
//!
//! A task's own exception is not wrapped: the `PyErr` the task raised travels inside
//! taskloom's `TaskError` and is raised again as it was (type, message, traceback),
//! as Dask does. The other failures take the exception types Dask uses for them
//! (`KeyError`, `ValueError`, `RuntimeError` for a cycle), or `taskloom.SchedulerError`
//! for taskloom's own.

use pyo3::create_exception;
use pyo3::exceptions::{PyKeyError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use taskloom::GraphError;
use taskloom::remote::Raised;
use taskloom::{ComputeError, ConfigError, TaskErrorKind};

use crate::exit::Exiting;
use crate::wait::Stopped;

create_exception!(
    taskloom,
    SchedulerError,
    PyRuntimeError,
    "taskloom could not run the graph for a reason of its own (not a task's exception)."
);

pyo3::import_exception!(pickle, PicklingError);

/// Why `get` failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GetError {
    /// A requested key is neither in the graph nor in `cache` (Dask: `KeyError`).
    #[error("unknown key")]
    UnknownKey(Py<PyAny>),
    /// A task needs a key that neither the graph nor `cache` has (Dask: `ValueError`).
    #[error("Missing dependency {key} for dependents {{{dependents}}}")]
    MissingDependency {
        /// The missing key, as `str` shows it.
        key: String,
        /// The keys that need it, as `repr` shows them.
        dependents: String,
    },
    /// The graph has a cycle (Dask: `RuntimeError`, same words).
    #[error("Cycle detected between the following keys:\n  -> {0}")]
    Cycle(String),
    /// A graph value is not a Dask task-spec node (Dask's conversion makes every value
    /// one, so only a caller that skipped it sees this).
    #[error("the graph value of key {key} is a {type_name}, not a dask._task_spec.GraphNode")]
    NotANode {
        /// The key.
        key: String,
        /// The value's type.
        type_name: String,
    },
    /// A task of the process scheduler or the cluster cannot be pickled
    /// (`pickle.PicklingError`, naming the key; the pickler's exception is its cause).
    #[error("cannot pickle task {key}: {error}")]
    Unpicklable {
        /// The task's key, as `str` shows it.
        key: String,
        /// The pickler's exception, in one line.
        error: String,
        /// The pickler's exception.
        source: PyErr,
    },
    /// Python raised while the graph was read.
    #[error(transparent)]
    Python(#[from] PyErr),
    /// taskloom refused the graph.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The computation failed for a reason other than a task's exception.
    #[error(transparent)]
    Compute(ComputeError),
    /// The cache directory cannot be used.
    #[error(transparent)]
    Cache(#[from] taskloom::cache::CacheError),
    /// The thread pool could not be made.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The interpreter is exiting: taskloom runs no more Python.
    #[error(transparent)]
    Exiting(#[from] Exiting),
    /// A broken promise inside this module (a bug).
    #[error("internal error: {0}")]
    Internal(String),
}

impl GetError {
    /// A failed computation: a task's Python exception comes out as itself, anything
    /// else as [`GetError::Compute`].
    pub(crate) fn computation(py: Python<'_>, error: ComputeError) -> Self {
        let python = match &error {
            ComputeError::Task { error: task, .. } => {
                let source = std::error::Error::source(task);
                match source.and_then(|e| e.downcast_ref::<Raised>()) {
                    // A worker process's exception, pickled there.
                    Some(raised) => Some(crate::remote::exception(py, raised)),
                    None => source
                        .and_then(|e| e.downcast_ref::<PyErr>())
                        .map(|e| e.clone_ref(py)),
                }
            }
            _ => None,
        };
        match python {
            Some(e) => GetError::Python(e),
            None => GetError::Compute(error),
        }
    }
}

impl From<Stopped> for GetError {
    fn from(stopped: Stopped) -> Self {
        match stopped {
            Stopped::Signal(e) => GetError::Python(e),
            Stopped::Exiting(e) => GetError::Exiting(e),
        }
    }
}

impl From<GetError> for PyErr {
    fn from(error: GetError) -> Self {
        match error {
            GetError::UnknownKey(key) => PyKeyError::new_err((key,)),
            GetError::Python(e) => e,
            e @ GetError::MissingDependency { .. } => PyValueError::new_err(e.to_string()),
            e @ GetError::Cycle(_) => PyRuntimeError::new_err(e.to_string()),
            e @ GetError::NotANode { .. } => PyTypeError::new_err(e.to_string()),
            e @ GetError::Cache(
                taskloom::cache::CacheError::Exposed { .. }
                | taskloom::cache::CacheError::NotOwner { .. },
            ) => pyo3::exceptions::PyPermissionError::new_err(e.to_string()),
            GetError::Unpicklable { key, error, source } => Python::attach(|py| {
                let e = PicklingError::new_err(format!("cannot pickle task {key}: {error}"));
                e.set_cause(py, Some(source));
                e
            }),
            GetError::Compute(ComputeError::Task { key, error })
                if error.kind() == TaskErrorKind::Serialization =>
            {
                PicklingError::new_err(format!("task `{key}` {error}"))
            }
            e => SchedulerError::new_err(e.to_string()),
        }
    }
}
