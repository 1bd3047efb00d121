//! Tasks see the caller's `contextvars`.
//!
//! Dask's threaded scheduler submits every task with `contextvars.copy_context().run`
//! (its `ContextAwareThreadPoolExecutor`), so a task sees the context variables the
//! caller had set, on any Python version, however warm the pool is. taskloom copies the
//! caller's context once per `get`, and each task enters a fresh copy of that: a task
//! that sets a variable changes neither the caller nor the other tasks. A context can
//! be entered by one thread at a time, hence the copy per call (cheap: contexts are
//! immutable maps underneath, so a copy shares them).

//!
//! Through `contextvars`' Python API (`copy_context`, `Context.copy`, `Context.run`)
//! rather than the C functions behind it, which are not in the stable ABI the wheel
//! is built for.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

/// The context of the calling thread, copied (`contextvars.copy_context()`).
pub(crate) fn copy_current(py: Python<'_>) -> PyResult<Py<PyAny>> {
    static COPY_CONTEXT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let copy_context = COPY_CONTEXT.import(py, "contextvars", "copy_context")?;
    Ok(copy_context.call0()?.unbind())
}

/// Calls `f(arg)` inside a fresh copy of `context` (a `contextvars.Context`).
pub(crate) fn run_in_copy<'py>(
    context: &Bound<'py, PyAny>,
    f: &Bound<'py, PyAny>,
    arg: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = context.py();
    let copy = context.call_method0(intern!(py, "copy"))?;
    copy.call_method1(intern!(py, "run"), (f, arg))
}
