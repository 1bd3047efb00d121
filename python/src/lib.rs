//! `taskloom._native`: taskloom's scheduler behind Dask's `get`.
//!
//! The Python package (`python/taskloom`) does what must stay Dask's: it turns what
//! `compute` hands a scheduler into a dict of task-spec nodes with Dask's own
//! `convert_legacy_graph`, and calls the `start`, `start_state` and `finish` callbacks
//! around the computation. It then calls this module's `compute`, which does the rest
//! in Rust: builds a taskloom graph of the nodes the requested keys need, and runs it
//! on a shared taskloom scheduler, with the GIL released while it waits. taskloom-core
//! orders the tasks and hands out the ready ones in that order; a worker takes the GIL
//! only to call a node.
//!
//! # Layout
//!
//! The path of a `get` call:
//!
//! - `graph`: Dask's dict → taskloom `Graph` (walk from the keys, cull, order
//!   dependencies first, one `add_dyn` task per key); `keys`: Dask keys as taskloom
//!   keys.
//! - `task`: what a task does: a constant, an alias, or a call of a node, with the GIL;
//!   `sizes`: the bytes each result holds, measured where it is made (`dask.sizeof`).
//!   `gil`: pool threads keep their Python thread state; `context`: tasks see the
//!   caller's `contextvars`.
//! - `pool`: the schedulers shared by all calls (one thread pool per worker count).
//! - `wait`: drive the computation with the GIL released; Ctrl-C cancels it.
//! - `callbacks`: Dask's `pretask` / `posttask`, from taskloom's callbacks.
//! - `workers`: the process pool and the cluster whose workers are Python
//!   interpreters (`taskloom.multiprocessing.get`, `taskloom.Cluster`); `remote`:
//!   the one registered function that runs a pickled node in a worker, and the
//!   worker's entry (`serve`); `pickled`: values between processes (pickle protocol
//!   5, buffers out of band).
//! - `exit`: the interpreter's exit waits for pool threads that are calling Python.
//! - `cache`: `cache="dir"`, every task on taskloom's result cache, values pickled.
//! - `error`: why `get` failed, as the Python exception Dask would raise.
//! - `picture`: `taskloom.visualize`'s drawing of a graph, and the `Report` that
//!   `taskloom.report` records runs into.

mod cache;
mod callbacks;
mod context;
mod error;
mod exit;
mod gil;
mod graph;
mod keys;
mod pickled;
mod picture;
mod pool;
mod remote;
mod sizes;
mod task;
mod wait;
mod workers;

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use taskloom::{ComputeOptions, Output};

use crate::callbacks::{CallbackError, DaskCallbacks};
use crate::error::{GetError, SchedulerError};
use crate::graph::{Built, Settings};
use crate::workers::Workers;

/// Computes `keys` of `dsk`, a dict of Dask task-spec nodes (`GraphNode`s).
///
/// `keys` is a key or a (nested) list of keys; lists come back as tuples, as Dask's
/// `get` returns them. `disk_cache` is a directory: every task is cached there by
/// its Dask key (see `cache`), and a rerun loads what is there. `threads` is the number of worker threads, or `None` to run
/// every task inline on the calling thread (`get_sync`). Keys missing from `dsk` are
/// read from `cache` (a mapping). `callbacks` is a `taskloom._callbacks.Run`, told of
/// each task before it runs (`pretask(key)`) and after (`posttask(key, value,
/// worker_id)`). `report` (a `taskloom._native.Report`) records the run and draws
/// its graph.
///
/// A task's exception is raised as it was raised; so is an exception of a callback or
/// of a signal handler (Ctrl-C: `KeyboardInterrupt`), which also cancels the
/// computation.
///
/// With `workers` (a [`Workers`]: a process pool or a cluster), every node runs in
/// one of its worker processes instead, pickled (`threads` is then ignored).
#[pyfunction]
#[allow(
    clippy::too_many_arguments,
    reason = "one per keyword argument of the Python function"
)]
#[pyo3(signature = (dsk, keys, *, threads, cache = None, callbacks = None, disk_cache = None, report = None, workers = None))]
fn compute(
    py: Python<'_>,
    dsk: &Bound<'_, PyDict>,
    keys: &Bound<'_, PyAny>,
    threads: Option<usize>,
    cache: Option<&Bound<'_, PyAny>>,
    callbacks: Option<Py<PyAny>>,
    disk_cache: Option<std::path::PathBuf>,
    report: Option<PyRef<'_, picture::Report>>,
    workers: Option<&Bound<'_, Workers>>,
) -> PyResult<Py<PyAny>> {
    let on = match workers {
        Some(w) => On::Workers(w.get().scheduler()?, w.get().traffic_callback()),
        None => On::Threads(threads),
    };
    let extras = Extras {
        disk_cache: disk_cache
            .map(taskloom::cache::Cache::open)
            .transpose()
            .map_err(GetError::from)?,
        report: report.map(|r| Arc::clone(&r.inner)),
    };
    Ok(run(py, dsk, keys, on, cache, callbacks, extras)?)
}

/// Where a computation's tasks run.
enum On {
    /// On this many threads of this process, or inline (`None`).
    Threads(Option<usize>),
    /// In worker processes, on this scheduler, telling the callback of its traffic.
    Workers(taskloom::Scheduler, Arc<dyn taskloom::callbacks::Callback>),
}

/// What a computation may also do: cache results on disk (`cache="dir"`), record a
/// report (`report=`).
struct Extras {
    disk_cache: Option<taskloom::cache::Cache>,
    report: Option<Arc<taskloom::diagnostics::Report>>,
}

fn run(
    py: Python<'_>,
    dsk: &Bound<'_, PyDict>,
    keys: &Bound<'_, PyAny>,
    on: On,
    cache: Option<&Bound<'_, PyAny>>,
    callbacks: Option<Py<PyAny>>,
    extras: Extras,
) -> Result<Py<PyAny>, GetError> {
    let disk_cache = extras.disk_cache.is_some();
    let mut options = ComputeOptions::new();
    let (scheduler, settings) = match on {
        On::Threads(threads) => (
            match threads {
                Some(n) => pool::threads(n)?,
                None => pool::inline(),
            },
            Settings {
                context: match threads {
                    Some(_) => Some(Arc::new(context::copy_current(py)?)),
                    None => None,
                },
                callbacks: callbacks.is_some(),
                disk_cache,
                remote: None,
            },
        ),
        On::Workers(scheduler, traffic) => (
            {
                options = options.shared_callback(traffic);
                scheduler
            },
            Settings {
                // Another process has contexts of its own: none crosses.
                context: None,
                callbacks: callbacks.is_some(),
                disk_cache,
                remote: Some(remote::function()),
            },
        ),
    };
    let Built {
        graph,
        request,
        keys,
        data,
        stash,
    } = graph::build(dsk, keys, cache, &settings)?;
    let graph = Arc::new(graph);
    if let Some(disk_cache) = extras.disk_cache {
        options = options.cache(disk_cache);
    }
    let mut callback_error: Option<CallbackError> = None;
    if let (Some(run), Some(stash)) = (callbacks, stash) {
        let (forward, error) =
            DaskCallbacks::new(run, Arc::clone(&graph), keys.into(), data.into(), stash);
        options = options.callback(forward);
        callback_error = Some(error);
    }
    if let Some(report) = extras.report {
        report.graph(&graph);
        options = options.shared_callback(report);
    }
    let outcome = wait::drive(py, scheduler.get_with(&graph, request, options))?;
    if let Some(e) = callback_error.as_ref().and_then(CallbackError::take) {
        return Err(GetError::Python(e));
    }
    let output = outcome.map_err(|e| GetError::computation(py, e))?;
    to_python(py, &output)
}

/// The results in the shape Dask returns them: a value, or tuples for lists.
fn to_python(py: Python<'_>, output: &Output) -> Result<Py<PyAny>, GetError> {
    match output {
        Output::Value(value) => Ok(pickled::object(py, value)?.unbind()),
        Output::List(items) => {
            let items = items
                .iter()
                .map(|item| to_python(py, item))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(PyTuple::new(py, items)?.into_any().unbind())
        }
    }
}

/// The native module of the `taskloom` package.
///
/// `gil_used = false` (PyO3's default, written out): on a free-threaded Python the
/// module does not turn the GIL back on. Nothing here relies on the GIL for its own
/// consistency: shared state is behind Rust locks or atomics, and Dask's callback
/// `state` is only touched from the thread that called `get`. Not yet tested on a
/// free-threaded build.
#[pymodule(gil_used = false)]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(compute, m)?)?;
    m.add_function(wrap_pyfunction!(exit::at_exit, m)?)?;
    m.add_function(wrap_pyfunction!(picture::picture, m)?)?;
    m.add_class::<picture::Report>()?;
    m.add_function(wrap_pyfunction!(remote::serve, m)?)?;
    m.add_class::<Workers>()?;
    m.add("SchedulerError", m.py().get_type::<SchedulerError>())?;
    Ok(())
}
