//! Attaching pool threads to Python, cheaply.
//!
//! `Python::attach` on a thread that Python has never seen creates a thread state, and
//! detaching destroys it again: a few microseconds per task, and every task would find
//! its `threading.local()` data gone. A thread of taskloom's pool instead keeps one
//! thread state for its whole life. The first time it attaches, it takes the GIL with
//! `PyGILState_Ensure` and gives back only the GIL (`PyEval_SaveThread`), never that
//! count; from then on `Python::attach` finds the thread state and only takes the GIL,
//! which is what Python's own threads do.
//!
//! Each attach is a stretch of [`exit`](crate::exit): refused once the interpreter is
//! exiting, waited for by its exit.

use std::cell::Cell;

use pyo3::Python;
use pyo3::ffi;

use crate::exit::{self, Exiting};

thread_local! {
    /// Whether this thread was looked at already (and given a thread state if it had
    /// none).
    static KEPT: Cell<bool> = const { Cell::new(false) };
}

/// `Python::attach`, keeping this thread's Python thread state between calls.
///
/// # Errors
/// [`Exiting`] once the interpreter is exiting (`f` is not called).
pub(crate) fn attach<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> Result<R, Exiting> {
    let _entered = exit::enter()?;
    if !KEPT.get() {
        KEPT.set(true);
        keep_thread_state();
    }
    Ok(Python::attach(f))
}

/// Gives this thread a Python thread state for good, if it has none.
fn keep_thread_state() {
    // SAFETY: `Py_IsInitialized` and `PyGILState_GetThisThreadState` may be called
    // without holding the GIL. A thread without a thread state cannot hold the GIL, so
    // `PyGILState_Ensure` here makes one and takes the GIL, and `PyEval_SaveThread`
    // releases the GIL this same call took, keeping the thread state (and its
    // `PyGILState` count of one) attached to the thread. The interpreter outlives
    // the call: this module is loaded in it and never unloaded.
    unsafe {
        if ffi::Py_IsInitialized() == 0 || !ffi::PyGILState_GetThisThreadState().is_null() {
            return;
        }
        ffi::PyGILState_Ensure();
        ffi::PyEval_SaveThread();
    }
}
