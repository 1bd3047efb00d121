//! Tasks see the caller's `contextvars`.
//!
//! Dask's threaded scheduler submits every task with `contextvars.copy_context().run`
//! (its `ContextAwareThreadPoolExecutor`), so a task sees the context variables the
//! caller had set, on any Python version, however warm the pool is. taskloom copies the
//! caller's context once per `get`, and each task enters a fresh copy of that: a task
//! that sets a variable changes neither the caller nor the other tasks. A context can
//! be entered by one thread at a time, hence the copy per call (cheap: contexts are
//! immutable maps underneath, so a copy shares them).

use pyo3::ffi;
use pyo3::prelude::*;

/// The context of the calling thread, copied.
pub(crate) fn copy_current(py: Python<'_>) -> PyResult<Py<PyAny>> {
    // SAFETY: attached to the interpreter (`py`); `PyContext_CopyCurrent` returns a
    // new reference or NULL with an exception set, which `from_owned_ptr_or_err` takes.
    unsafe { Ok(Bound::from_owned_ptr_or_err(py, ffi::PyContext_CopyCurrent())?.unbind()) }
}

/// Calls `f` inside a fresh copy of `context` (a `contextvars.Context`).
pub(crate) fn run_in_copy<'py, R>(
    context: &Bound<'py, PyAny>,
    f: impl FnOnce() -> PyResult<R>,
) -> PyResult<R> {
    let py = context.py();
    // SAFETY: attached (`py`). `PyContext_Copy` takes a context (callers pass the one
    // from `copy_current`) and returns a new reference or NULL with an exception set.
    // The copy is entered and exited on this thread, around `f` only, and kept alive
    // by `copy` until after the exit.
    unsafe {
        let copy = Bound::from_owned_ptr_or_err(py, ffi::PyContext_Copy(context.as_ptr()))?;
        if ffi::PyContext_Enter(copy.as_ptr()) != 0 {
            return Err(PyErr::fetch(py));
        }
        let result = f();
        if ffi::PyContext_Exit(copy.as_ptr()) != 0 {
            // Only fails for a context not entered here; keep the task's own outcome.
            drop(PyErr::take(py));
        }
        result
    }
}
