//! What a Python result holds: its size in bytes, told to the scheduler.
//!
//! Rust cannot see inside a Python object, so a result of unknown size would keep
//! every run to the plan's count of results, large or small. Python can tell:
//! `dask.sizeof.sizeof` (what dask.distributed uses) gives a numpy array's bytes in
//! about half a microsecond, a pandas frame's in tens of microseconds (it samples
//! object columns). Each task measures its result where it was made, on its worker,
//! with the GIL it already holds, and the scheduler counts those bytes: large results
//! keep the run to the plan, small ones let it batch, and `memory_limit` has
//! something to count.
//!
//! Measuring must never cost more than a sliver of the work: a [`Sizer`] spends at
//! most [`SHARE`] of the time tasks took (after a first [`FREE`] of it), and past that
//! reuses the last size it measured (tasks of one graph make alike results). A
//! result that `sizeof` cannot measure (it raised) counts as the last size measured.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use taskloom::ResultSize;

/// The share of the tasks' own time that measuring may take.
const SHARE: f64 = 0.02;
/// Measuring time that is always allowed, whatever the tasks took.
const FREE: Duration = Duration::from_millis(1);

/// A Python object as a task result, with the bytes it was measured to hold.
pub(crate) struct PyValue {
    pub(crate) object: Py<PyAny>,
    bytes: u64,
}

impl PyValue {
    pub(crate) fn new(object: Py<PyAny>, bytes: u64) -> Self {
        PyValue { object, bytes }
    }
}

impl ResultSize for PyValue {
    fn result_size(&self) -> usize {
        usize::try_from(self.bytes).unwrap_or(usize::MAX)
    }
}

/// Measures the results of one computation's tasks, within its time share.
pub(crate) struct Sizer {
    /// `dask.sizeof.sizeof`, if Dask has it.
    sizeof: Option<Py<PyAny>>,
    /// Time the tasks took, and time spent measuring, in nanoseconds.
    ran_ns: AtomicU64,
    spent_ns: AtomicU64,
    /// The last size measured.
    last: AtomicU64,
}

impl Sizer {
    /// A sizer with Dask's `sizeof` (none if it cannot be imported: every result then
    /// counts as 0 bytes).
    pub(crate) fn new(py: Python<'_>) -> Self {
        let sizeof = py
            .import("dask.sizeof")
            .and_then(|m| m.getattr("sizeof"))
            .ok()
            .map(Bound::unbind);
        Sizer {
            sizeof,
            ran_ns: AtomicU64::new(0),
            spent_ns: AtomicU64::new(0),
            last: AtomicU64::new(0),
        }
    }

    /// The bytes of `object`, made by a task that took `ran`.
    pub(crate) fn measure(&self, object: &Bound<'_, PyAny>, ran: Duration) -> u64 {
        let ran = self.ran_ns.fetch_add(nanos(ran), Ordering::Relaxed) + nanos(ran);
        let spent = self.spent_ns.load(Ordering::Relaxed);
        let Some(sizeof) = &self.sizeof else {
            return 0;
        };
        if spent > nanos(FREE) + (ran as f64 * SHARE) as u64 {
            return self.last.load(Ordering::Relaxed);
        }
        let start = Instant::now();
        let measured = sizeof
            .bind(object.py())
            .call1((object,))
            .and_then(|n| n.extract::<u64>());
        self.spent_ns
            .fetch_add(nanos(start.elapsed()), Ordering::Relaxed);
        match measured {
            Ok(bytes) => {
                self.last.store(bytes, Ordering::Relaxed);
                bytes
            }
            Err(_) => self.last.load(Ordering::Relaxed),
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
