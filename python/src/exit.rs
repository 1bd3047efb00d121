//! The interpreter's exit, with taskloom's threads still about.
//!
//! Pool threads are not Python threads: Python does not wait for them when it exits.
//! A pool thread that reaches for the GIL once the interpreter is finalizing is ended
//! by Python on the spot (`pthread_exit`), unwinding through Rust frames: a crash at
//! exit, for instance after Ctrl-C left tasks running in the background. So the package
//! registers [`at_exit`] with `atexit` (which runs before finalization), and every
//! stretch of Rust code that may attach to Python from a thread Python will not wait
//! for is [`enter`]ed first. At exit no new stretch starts and `at_exit` waits, the GIL
//! released, for those running to end, as Python waits for the threads of Dask's pools.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use pyo3::prelude::*;

/// Rust code that may still attach to Python.
struct Activity {
    /// The interpreter is exiting: nothing new may start.
    closing: bool,
    /// Stretches entered and not left.
    running: usize,
}

static ACTIVITY: Mutex<Activity> = Mutex::new(Activity {
    closing: false,
    running: 0,
});
static IDLE: Condvar = Condvar::new();

fn activity() -> MutexGuard<'static, Activity> {
    // Held for a counter update only; never across Python code.
    ACTIVITY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The interpreter is exiting: no more Python from taskloom's threads.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the Python interpreter is exiting")]
pub(crate) struct Exiting;

/// A stretch of code that may attach to Python; leaves when dropped.
#[must_use]
pub(crate) struct Entered(());

/// Starts a stretch, unless the interpreter is exiting.
pub(crate) fn enter() -> Result<Entered, Exiting> {
    let mut activity = activity();
    if activity.closing {
        return Err(Exiting);
    }
    activity.running += 1;
    Ok(Entered(()))
}

/// Whether the interpreter is exiting (running stretches should wind up).
pub(crate) fn closing() -> bool {
    activity().closing
}

impl Drop for Entered {
    fn drop(&mut self) {
        let mut activity = activity();
        activity.running -= 1;
        if activity.running == 0 {
            IDLE.notify_all();
        }
    }
}

/// Registered with `atexit` by the `taskloom` package: refuses new stretches and
/// waits, without the GIL, for the running ones (tasks being called, `get` calls
/// winding up) to end.
#[pyfunction]
pub(crate) fn at_exit(py: Python<'_>) {
    py.detach(|| {
        let mut activity = activity();
        activity.closing = true;
        while activity.running > 0 {
            activity = IDLE.wait(activity).unwrap_or_else(PoisonError::into_inner);
        }
    });
}
