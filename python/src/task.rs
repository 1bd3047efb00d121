//! Task bodies: how each kind of Dask node runs on a worker.
//!
//! Dask's scheduler calls every node as `node(values)`, `values` a dict of its
//! dependencies' results (`dask.local.execute_task`); so does [`Body::Call`], on a
//! worker that holds the GIL for that call only. Two kinds need no Python at all: a
//! value known before the computation starts (a `DataNode`, or a key found in `cache`)
//! and Dask's `Alias`, which passes its one input through.
//!
//! Values are Python objects held by Rust: a [`Value`] holding a [`PyValue`], the
//! object and the bytes it was measured to hold (`sizes`). Handing
//! one to several dependents is a reference-count increment on the Rust side; dropping
//! the last one without the GIL (on the scheduling loop's thread) leaves the Python
//! reference to PyO3's pool, released the next time a thread takes the GIL.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use taskloom::{TaskError, TaskErrorKind, Value};

use crate::callbacks::Stash;
use crate::sizes::{PyValue, Sizer};
use crate::{context, gil};

/// Wraps a Python object holding `bytes` bytes as a task result.
pub(crate) fn python_value(object: Py<PyAny>, bytes: u64) -> Value {
    Arc::new(PyValue::new(object, bytes))
}

/// The Python object in a task result (every value of these graphs is one).
pub(crate) fn python_object(value: &Value) -> Option<&Py<PyAny>> {
    value.downcast_ref::<PyValue>().map(|v| &v.object)
}

/// What a task does.
pub(crate) enum Body {
    /// Returns a value known before the computation started.
    Constant(Value),
    /// Returns its one input.
    Alias,
    /// Calls a Dask node.
    Call(Call),
}

/// One task of a computation.
pub(crate) struct Task {
    body: Body,
    /// Its task id, where it leaves its result in `stash`.
    index: usize,
    /// Where results wait for the `posttask` callbacks, if there are callbacks.
    stash: Option<Arc<Stash>>,
}

impl Task {
    pub(crate) fn new(body: Body, index: usize, stash: Option<Arc<Stash>>) -> Self {
        Task { body, index, stash }
    }

    /// Runs the task on its inputs' values (in the order of its dependencies).
    pub(crate) fn run(&self, inputs: &[&Value]) -> Result<Value, TaskError> {
        let value = match &self.body {
            Body::Constant(value) => Arc::clone(value),
            Body::Alias => inputs.first().map(|v| Arc::clone(v)).ok_or_else(|| {
                TaskError::new(TaskErrorKind::TypeMismatch, "an alias got no input")
            })?,
            Body::Call(call) => call.run(inputs)?,
        };
        if let Some(stash) = &self.stash {
            stash.put(self.index, &value);
        }
        Ok(value)
    }
}

/// A Dask node and how to call it.
pub(crate) struct Call {
    node: Py<PyAny>,
    /// The Python keys of the node's dependencies, in the order taskloom passes their
    /// values: the keys of the `values` dict.
    inputs: Box<[Py<PyAny>]>,
    /// The caller's `contextvars` context, entered (a copy) around each call; `None`
    /// to run in the current one.
    context: Option<Arc<Py<PyAny>>>,
    /// Measures the result.
    sizer: Arc<Sizer>,
}

impl Call {
    pub(crate) fn new(
        node: Py<PyAny>,
        inputs: impl IntoIterator<Item = Py<PyAny>>,
        context: Option<Arc<Py<PyAny>>>,
        sizer: Arc<Sizer>,
    ) -> Self {
        Call {
            node,
            inputs: inputs.into_iter().collect(),
            context,
            sizer,
        }
    }

    /// Takes the GIL and calls the node. A Python exception becomes the task's error,
    /// carried as the `PyErr` itself so `get` can raise it unchanged.
    fn run(&self, inputs: &[&Value]) -> Result<Value, TaskError> {
        let mut objects = Vec::with_capacity(inputs.len());
        for input in inputs {
            objects.push(python_object(input).ok_or_else(|| {
                TaskError::new(
                    TaskErrorKind::TypeMismatch,
                    "an input is not a Python object",
                )
            })?);
        }
        gil::attach(|py| self.call(py, &objects))
            .map_err(|exiting| TaskError::new(TaskErrorKind::Cancelled, exiting.to_string()))?
            .map_err(TaskError::failed)
    }

    fn call(&self, py: Python<'_>, inputs: &[&Py<PyAny>]) -> PyResult<Value> {
        let values = PyDict::new(py);
        for (key, value) in self.inputs.iter().zip(inputs) {
            values.set_item(key.bind(py), value.bind(py))?;
        }
        let node = self.node.bind(py);
        let start = std::time::Instant::now();
        let result = match &self.context {
            Some(context) => context::run_in_copy(context.bind(py), node, values.as_any())?,
            None => node.call1((values,))?,
        };
        let bytes = self.sizer.measure(&result, start.elapsed());
        Ok(python_value(result.unbind(), bytes))
    }
}
