//! Python tasks in worker processes: one untyped remote function, the same on both
//! sides of the link.
//!
//! The process scheduler and the cluster are taskloom's own Rust
//! [`ProcessPool`](taskloom::process::ProcessPool) and
//! [`Cluster`](taskloom::cluster::Cluster), unchanged: their workers are Python
//! interpreters (`python -m taskloom.worker`) that enter taskloom's worker mode with
//! [`remote::init`], which serves the link's frames exactly as a Rust worker does.
//! What runs there is one function, registered untyped ([`Registry::register_dyn`])
//! under [`NAME`] in the parent and in every worker: each task's payload is its
//! pickled Dask node with the keys of its dependencies, its inputs and result are
//! pickled values ([`crate::pickled`]). One registered function with a payload per
//! task, rather than a Python-specific kind of task: the link, its batches, fused
//! chains, results kept in workers, placement, retries and loss all stay the Rust
//! executors' code, and the only Python in the conversation is this function's body
//! and its codec.
//!
//! A worker keeps a task's result as the live object (only a fetch pickles it); the
//! parent keeps what it receives as bytes until Python needs the object. A task's
//! exception crosses as Dask's process scheduler sends it (`pack_exception`: the
//! exception and its traceback, pickled) inside a [`Raised`] error, and is raised
//! again in the parent with the remote traceback ([`exception`]).

use std::sync::{Arc, OnceLock};

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyList};
use taskloom::remote::{self, DynRemote, Raised, Registry};
use taskloom::{TaskError, TaskErrorKind, Value};

use crate::gil;
use crate::pickled::{self, Pickled};
use crate::task::{python_object, python_value};

/// The registered name of the function that runs a Python task.
pub(crate) const NAME: &str = "taskloom.python";

/// The registry every process of the Python package builds, and its one function.
pub(crate) fn registry() -> &'static (Registry, DynRemote) {
    static REGISTRY: OnceLock<(Registry, DynRemote)> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut registry = Registry::new();
        let call = registry
            .register_dyn(NAME, pickled::CODEC, run)
            .unwrap_or_else(|_| unreachable!("an empty registry has no name taken"));
        (registry, call)
    })
}

/// `taskloom._remote`, imported once.
fn module(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    MODULE
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(py.import("taskloom._remote")?.unbind())
        })
        .map(|m| m.bind(py))
}

/// Runs one task: `taskloom._remote.call(payload, inputs, pickled)`, which unpickles
/// the node and the inputs that arrived as bytes and calls the node; an exception
/// (of the node, or of unpickling) comes back packed as Dask packs it.
fn run(payload: &[u8], inputs: &[&Value]) -> Result<Value, TaskError> {
    gil::attach(|py| call(py, payload, inputs))
        .map_err(|exiting| TaskError::new(TaskErrorKind::Cancelled, exiting.to_string()))?
}

fn call(py: Python<'_>, payload: &[u8], inputs: &[&Value]) -> Result<Value, TaskError> {
    let internal = |e: PyErr| {
        TaskError::new(
            TaskErrorKind::Failed,
            format!(
                "taskloom's worker could not run the task: {}",
                pickled::describe(py, &e)
            ),
        )
    };
    let objects = PyList::empty(py);
    let flags = PyList::empty(py);
    for input in inputs {
        let (object, is_pickled) = match input.downcast_ref::<Pickled>() {
            Some(Pickled(bytes)) => (pyo3::types::PyByteArray::new(py, bytes).into_any(), true),
            None => match python_object(input) {
                Some(object) => (object.bind(py).clone(), false),
                None => {
                    return Err(internal(pyo3::exceptions::PyTypeError::new_err(
                        "an input is not a Python object",
                    )));
                }
            },
        };
        objects.append(object).map_err(internal)?;
        flags.append(is_pickled).map_err(internal)?;
    }
    let payload = pyo3::types::PyByteArray::new(py, payload);
    let outcome = module(py)
        .and_then(|m| m.getattr(intern!(py, "call")))
        .and_then(|f| f.call1((payload, objects, flags)))
        .map_err(internal)?;
    let (ok, result): (bool, Bound<'_, PyAny>) = outcome.extract().map_err(internal)?;
    if ok {
        // A worker's value is sized by the parent, from the bytes it crosses as.
        return Ok(python_value(result.unbind(), 0));
    }
    let (message, detail): (String, Bound<'_, PyBytes>) = result.extract().map_err(internal)?;
    Err(TaskError::failed(Raised::new(
        message,
        detail.as_bytes().to_vec(),
    )))
}

/// The exception a worker raised, rebuilt from its [`Raised`] bytes as Dask's process
/// scheduler raises it: the original type, with the remote traceback.
pub(crate) fn exception(py: Python<'_>, raised: &Raised) -> PyErr {
    let detail = PyBytes::new(py, raised.detail());
    match module(py)
        .and_then(|m| m.getattr(intern!(py, "exception")))
        .and_then(|f| f.call1((detail,)))
    {
        Ok(exception) => PyErr::from_value(exception),
        Err(e) => e,
    }
}

/// `taskloom._native.serve()`: makes this interpreter a worker of the process pool or
/// cluster that started it, and never returns; returns at once in a process that no
/// executor started (the caller then says so).
#[pyfunction]
pub(crate) fn serve(py: Python<'_>) {
    let (registry, _) = registry();
    // The serve loop reads frames with the GIL released; each task takes it.
    py.detach(|| remote::init(registry));
}

/// Whether this process is a worker of a process pool or a cluster (it then starts
/// none of its own).
pub(crate) fn inside_worker() -> bool {
    remote::is_worker()
}

/// Records, once, that this program serves the Python function (what a pool or a
/// cluster started from here requires of its program).
pub(crate) fn init_parent() {
    let (registry, _) = registry();
    remote::init(registry);
}

/// The function every Python task of a process graph calls.
pub(crate) fn function() -> Arc<DynRemote> {
    static FUNCTION: OnceLock<Arc<DynRemote>> = OnceLock::new();
    Arc::clone(FUNCTION.get_or_init(|| Arc::new(registry().1.clone())))
}
