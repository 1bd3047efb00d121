//! What the cache did during one computation, gathered from the threads where it
//! happened (a worker stores a value, a loader finds an entry damaged) and handed to
//! the scheduling loop, which tells the callbacks
//! ([`Callback::on_cache`](crate::callbacks::Callback::on_cache)) on its own thread.
//!
//! A write that fails (a full disk, a read-only directory) leaves that entry out and
//! the computation running; it is said once per computation, as a WARN event and one
//! [`CacheEventKind::Unwritable`](crate::callbacks::CacheEventKind::Unwritable).
//!
//! It also counts the entries handed to the writer and not yet written, so that the
//! computation can wait for them before it returns ([`Report::flushed`]).

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
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
    /// Entries handed over for writing and not yet written.
    writing: AtomicUsize,
    /// Told when `writing` comes down to zero.
    written: tokio::sync::Notify,
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

    /// One more entry to write (before it is handed over).
    pub(super) fn writing(&self) {
        self.writing.fetch_add(1, Ordering::AcqRel);
    }

    /// How the write of `task`'s entry in `dir` went: noted, a failure said once
    /// per computation; one fewer to wait for.
    pub(super) fn wrote(&self, task: TaskId, written: std::io::Result<u64>, dir: &Path) {
        match written {
            Ok(bytes) => self.note(Noted::Stored(task, bytes)),
            Err(error) => {
                if !self.unwritable_said.load(Ordering::Relaxed) {
                    tracing::warn!(
                        dir = %dir.display(),
                        %error,
                        "taskloom cache cannot write an entry; the computation goes on without \
                         caching the entries that fail (said once per computation)"
                    );
                }
                self.note(Noted::Unwritable(task, error.to_string()));
            }
        }
        if self.writing.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.written.notify_waiters();
        }
    }

    /// Waits until every entry handed over is written (or said unwritable).
    pub(crate) async fn flushed(&self) {
        loop {
            let written = self.written.notified();
            let mut written = std::pin::pin!(written);
            // Registered before the count is read: a last write between the two
            // still wakes this.
            written.as_mut().enable();
            if self.writing.load(Ordering::Acquire) == 0 {
                return;
            }
            written.await;
        }
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
