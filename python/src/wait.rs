//! Driving a computation from a Python call: GIL released, Ctrl-C heard.
//!
//! `get` runs the computation's scheduling loop on the calling thread, as Dask's
//! `get_async` does, but in Rust and with the GIL released, so worker threads can take
//! it to run tasks. The loop is a future; [`drive`] polls it and parks the thread until
//! it is woken, and at least every [`SIGNAL_CHECK`] takes the GIL back for a moment to
//! let Python run its signal handlers. A `KeyboardInterrupt` (or any exception a
//! handler raises) then drops the future, which cancels the computation: nothing new
//! starts, held results are dropped, and the pool's threads finish what they are
//! running and go back to waiting for work. No Tokio runtime is needed for this.
//!
//! The whole wait is a stretch of [`exit`](crate::exit): when the interpreter starts
//! exiting, the computation is cancelled and `get` raises, before Python finalizes.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use pyo3::prelude::*;

use crate::exit::{self, Exiting};

/// How long the thread waits, GIL released, between two looks at Python's signals.
pub(crate) const SIGNAL_CHECK: Duration = Duration::from_millis(20);

/// Wakes the thread that drives the computation.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Why a computation was stopped before its end.
#[derive(Debug)]
pub(crate) enum Stopped {
    /// A signal handler raised (`KeyboardInterrupt` for Ctrl-C).
    Signal(PyErr),
    /// The interpreter is exiting.
    Exiting(Exiting),
}

/// Runs `future` to its end on this thread with the GIL released.
///
/// # Errors
/// [`Stopped`] when a signal handler raised or the interpreter is exiting; the
/// computation is then cancelled (the future dropped).
pub(crate) fn drive<F>(py: Python<'_>, future: F) -> Result<F::Output, Stopped>
where
    F: Future + Send + Unpin,
    F::Output: Send,
{
    let _entered = exit::enter().map_err(Stopped::Exiting)?;
    let mut future = future;
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    loop {
        let polled = py.detach(|| poll_for(&mut future, &waker, SIGNAL_CHECK));
        if let Some(output) = polled {
            return Ok(output);
        }
        let stop = match py.check_signals() {
            Err(interrupt) => Stopped::Signal(interrupt),
            Ok(()) if exit::closing() => Stopped::Exiting(Exiting),
            Ok(()) => continue,
        };
        // Dropping the future cancels the computation. Outside the GIL: it drops
        // Python values, which PyO3 then releases at the next attach.
        py.detach(move || drop(future));
        return Err(stop);
    }
}

/// Polls `future` until it is ready or `period` has passed (sooner if the interpreter
/// starts exiting).
fn poll_for<F: Future + Unpin>(
    future: &mut F,
    waker: &Waker,
    period: Duration,
) -> Option<F::Output> {
    let deadline = Instant::now() + period;
    let mut cx = Context::from_waker(waker);
    loop {
        if let Poll::Ready(output) = Pin::new(&mut *future).poll(&mut cx) {
            return Some(output);
        }
        let now = Instant::now();
        if now >= deadline || exit::closing() {
            return None;
        }
        // Returns early when the waker unparks the thread (or spuriously): then poll.
        thread::park_timeout(deadline - now);
    }
}
