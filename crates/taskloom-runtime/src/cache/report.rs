//! What the cache did during one computation, gathered from the threads where it
//! happened (a worker stores a value, a loader finds an entry damaged) and handed to
//! the scheduling loop, which tells the callbacks
//! ([`Callback::on_cache`](crate::callbacks::Callback::on_cache)) on its own thread.
//!
//! A write that fails (a full disk, a read-only directory) leaves that entry out and
//! the computation running; it is said once per computation, as a WARN event and one
//! [`CacheEventKind::Unwritable`](crate::callbacks::CacheEventKind::Unwritable).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use taskloom_core::TaskId;

/// One thing the cache did, for the loop to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Noted {
    /// The task's entry was found: it is loaded instead of run.
    Hit(TaskId),
    /// The task's value was stored, in so many bytes.
    Stored(TaskId, u64),
    /// The task's entry was damaged (removed; the task runs again).
    Corrupt(TaskId, String),
    /// The task's value could not be written (said once per computation).
    Unwritable(TaskId, String),
    /// The task's codec could not encode its value.
    NotStored(TaskId, String),
}

/// The figures of one computation's cache.
#[derive(Debug, Default)]
pub(crate) struct Report {
    noted: Mutex<Vec<Noted>>,
    pending: AtomicBool,
    unwritable_said: AtomicBool,
    pub(crate) hits: AtomicU64,
    pub(crate) stored: AtomicU64,
    pub(crate) corrupt: AtomicU64,
}

impl Report {
    pub(crate) fn note(&self, noted: Noted) {
        match &noted {
            Noted::Hit(_) => self.hits.fetch_add(1, Ordering::Relaxed),
            Noted::Stored(..) => self.stored.fetch_add(1, Ordering::Relaxed),
            Noted::Corrupt(..) => self.corrupt.fetch_add(1, Ordering::Relaxed),
            Noted::Unwritable(..) => {
                if self.unwritable_said.swap(true, Ordering::Relaxed) {
                    return;
                }
                0
            }
            Noted::NotStored(..) => 0,
        };
        self.noted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(noted);
        self.pending.store(true, Ordering::Release);
    }

    /// Whether a failed write was already said in this computation.
    pub(crate) fn unwritable_said(&self) -> bool {
        self.unwritable_said.load(Ordering::Relaxed)
    }

    /// What was noted since the last call (cheap when nothing was).
    #[inline]
    pub(crate) fn take(&self) -> Vec<Noted> {
        if !self.pending.swap(false, Ordering::Acquire) {
            return Vec::new();
        }
        std::mem::take(&mut *self.noted.lock().unwrap_or_else(PoisonError::into_inner))
    }
}
