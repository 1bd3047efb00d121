//! Dask's callbacks (`pretask`, `posttask`) driven by taskloom's.
//!
//! Dask calls `pretask(key, dsk, state)` before a task runs and
//! `posttask(key, result, dsk, state, worker_id)` after, one at a time, on the thread
//! that called `get`, with a `state` dict that `ProgressBar` and friends read. Here the
//! computation's taskloom [`Callback`] hears each task start and finish on the
//! scheduling loop, which runs on the thread that called `get`, and hands them to a
//! Python object (`taskloom._callbacks.Run`) that keeps Dask's `state` and calls the
//! user's functions. `start`, `start_state` and `finish` are called by that Python
//! code around the whole computation.
//!
//! A task's result reaches `posttask` through the [`Stash`]: taskloom's callbacks see
//! keys and times, not values, so a task leaves its value there and the finish event
//! takes it.
//!
//! A callback that raises stops the computation at once: the exception is kept, and
//! the forwarding callback unwinds (taskloom's documented way for a callback to stop
//! its computation: the loop catches it, starts nothing more and returns
//! `CallbackPanicked`), then `get` raises the kept exception.

use std::sync::{Arc, Mutex, PoisonError};

use pyo3::intern;
use pyo3::prelude::*;
use taskloom::callbacks::{Callback, TaskFinish, TaskStart};
use taskloom::executor::Worker;
use taskloom::{Graph, Key, Value};

use crate::task::python_object;

/// Results waiting for their `posttask` call, by task id.
pub(crate) struct Stash {
    values: Mutex<Vec<Option<Value>>>,
}

impl Stash {
    pub(crate) fn new(tasks: usize) -> Self {
        Stash {
            values: Mutex::new(vec![None; tasks]),
        }
    }

    /// Leaves the result of task `index`.
    pub(crate) fn put(&self, index: usize, value: &Value) {
        // Poisoning cannot leave a slot half-written: each is one `Option` store.
        let mut values = self.values.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = values.get_mut(index) {
            *slot = Some(Arc::clone(value));
        }
    }

    /// Takes the result of task `index`.
    fn take(&self, index: usize) -> Option<Value> {
        let mut values = self.values.lock().unwrap_or_else(PoisonError::into_inner);
        values.get_mut(index).and_then(Option::take)
    }
}

/// Forwards one computation's task events to its Python `Run` object.
pub(crate) struct DaskCallbacks {
    /// `taskloom._callbacks.Run`: `pretask(key)` and `posttask(key, value, worker_id)`.
    run: Py<PyAny>,
    /// The computation's graph, to find a finished key's task id.
    graph: Arc<Graph>,
    /// The Python key of each task, by task id.
    keys: Arc<[Py<PyAny>]>,
    /// Which tasks are data, by task id: Dask runs no callbacks for those.
    data: Arc<[bool]>,
    stash: Arc<Stash>,
    /// The first exception a callback raised.
    error: Arc<Mutex<Option<PyErr>>>,
}

/// What `get` keeps to learn whether a callback stopped the computation.
pub(crate) struct CallbackError {
    error: Arc<Mutex<Option<PyErr>>>,
}

impl CallbackError {
    /// The exception a callback raised, if one did.
    pub(crate) fn take(&self) -> Option<PyErr> {
        self.error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

impl DaskCallbacks {
    /// The callbacks of a computation of `graph`; also returns where a callback's
    /// exception will be.
    pub(crate) fn new(
        run: Py<PyAny>,
        graph: Arc<Graph>,
        keys: Arc<[Py<PyAny>]>,
        data: Arc<[bool]>,
        stash: Arc<Stash>,
    ) -> (Self, CallbackError) {
        let error = Arc::new(Mutex::new(None));
        let callbacks = DaskCallbacks {
            run,
            graph,
            keys,
            data,
            stash,
            error: Arc::clone(&error),
        };
        (callbacks, CallbackError { error })
    }

    /// The task id of `key` if callbacks are told about it (it is not data).
    fn reported(&self, key: &Key) -> Option<usize> {
        let index = self.graph.handle(key)?.id().index();
        (!self.data.get(index).copied().unwrap_or(true)).then_some(index)
    }

    /// Calls `f` with the GIL; an exception is kept and stops the computation.
    ///
    /// Callbacks run on the thread that drives the computation, inside the stretch
    /// `wait::drive` entered for the interpreter's exit.
    fn call(&self, f: impl for<'py> FnOnce(Python<'py>) -> PyResult<()>) {
        if let Err(e) = Python::attach(f) {
            self.error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get_or_insert(e);
            // Unwinds to the scheduling loop, which stops the computation; unlike
            // `panic!`, without running the panic hook (nothing is printed).
            std::panic::resume_unwind(Box::new("a Dask callback raised"));
        }
    }
}

impl Callback for DaskCallbacks {
    fn name(&self) -> &str {
        "dask callbacks"
    }

    fn on_task_start(&self, event: &TaskStart<'_>) {
        let Some(index) = self.reported(event.key) else {
            return;
        };
        self.call(|py| {
            let key = self.keys[index].bind(py);
            self.run.call_method1(py, intern!(py, "pretask"), (key,))?;
            Ok(())
        });
    }

    fn on_task_finish(&self, event: &TaskFinish<'_>) {
        // A failed task gets no `posttask`: Dask raises its exception instead.
        if !event.is_ok() {
            return;
        }
        let Some(index) = self.reported(event.key) else {
            return;
        };
        let value = self.stash.take(index);
        self.call(|py| {
            let key = self.keys[index].bind(py);
            let value = value
                .as_ref()
                .and_then(python_object)
                .map(|v| v.bind(py).clone());
            let worker = match event.worker {
                Worker::Thread(n) => Some(n),
                Worker::Process { index, .. } => Some(index),
                _ => None,
            };
            self.run
                .call_method1(py, intern!(py, "posttask"), (key, value, worker))?;
            Ok(())
        });
    }
}
