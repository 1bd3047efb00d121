//! What a computation's data did: bytes its remote tasks produced, how many stayed in
//! the workers that made them, how many crossed the parent, and how many went from
//! one worker to another without crossing it.
//!
//! Counted by the executors whose workers are processes (the process pool and the
//! cluster), as encoded sizes; every other executor moves no bytes and reports
//! zeros. A computation reports its figures on its `compute` span (fields
//! `bytes_produced`, `bytes_kept`, `bytes_to_parent`, `bytes_from_parent`,
//! `bytes_moved`, `bytes_worker_to_worker`, and `bytes_held_peak`: the most one
//! worker held for it) and in
//! [`FinishInfo::traffic`](crate::callbacks::FinishInfo) and
//! [`FinishInfo::held`](crate::callbacks::FinishInfo) (per worker).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use crate::worker::Worker;

/// Bytes a computation's remote tasks produced and moved (encoded sizes).
///
/// ```
/// use taskloom::traffic::Traffic;
///
/// let t = Traffic {
///     produced: 100,
///     kept: 90,
///     to_parent: 10,
///     from_parent: 4,
///     moved: 0,
///     worker_to_worker: 30,
/// };
/// // Bytes that went straight from one worker to another never crossed the parent.
/// assert_eq!(t.through_parent(), 14);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Bytes of every result remote tasks produced: kept, sent back, or made and
    /// dropped inside a fused chain of remote tasks.
    pub produced: u64,
    /// Of those, bytes kept in the workers that made them.
    pub kept: u64,
    /// Bytes workers sent the parent: results sent back, and held values fetched to
    /// move them to another worker.
    pub to_parent: u64,
    /// Bytes the parent sent workers as task inputs (values it held, and values moved
    /// from another worker).
    pub from_parent: u64,
    /// Bytes moved from one worker to another *through the parent* (also counted in
    /// `to_parent` and `from_parent`): the cluster's moves, and the process pool's
    /// when a direct transfer failed.
    pub moved: u64,
    /// Bytes moved from one worker to another *directly* (the process pool's workers
    /// fetch from each other over local sockets): never through the parent, so in
    /// neither `to_parent` nor `from_parent`.
    pub worker_to_worker: u64,
}

impl Traffic {
    /// Every byte that crossed the parent, either way.
    pub fn through_parent(&self) -> u64 {
        self.to_parent + self.from_parent
    }
}

/// What one worker held for a computation (encoded bytes of the results kept there).
///
/// ```
/// use taskloom::executor::Worker;
/// use taskloom::traffic::WorkerHeld;
///
/// let w = WorkerHeld { worker: Worker::Process { index: 0, pid: 42 }, peak: 4096, end: 0 };
/// assert!(w.peak >= w.end);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkerHeld {
    /// The worker.
    pub worker: Worker,
    /// The most bytes it held for the computation at once.
    pub peak: u64,
    /// What it still held when the computation ended (0 unless a result was still
    /// referenced: every result not requested is released as the graph goes).
    pub end: u64,
}

/// The counters behind [`Traffic`], shared by a computation's jobs and executors.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Per worker: bytes held now and at most. A `std` mutex, taken once per result
    /// kept or released (results of a kilobyte or more), never across an `.await`.
    held: Mutex<Vec<WorkerHeld>>,
    produced: AtomicU64,
    kept: AtomicU64,
    to_parent: AtomicU64,
    from_parent: AtomicU64,
    moved: AtomicU64,
    worker_to_worker: AtomicU64,
}

impl Counters {
    /// A worker kept a result of `bytes`.
    pub(crate) fn kept(&self, bytes: u64) {
        self.produced.fetch_add(bytes, Ordering::Relaxed);
        self.kept.fetch_add(bytes, Ordering::Relaxed);
    }

    /// A worker made and dropped `bytes` of results inside a fused chain.
    pub(crate) fn produced_in_chain(&self, bytes: u64) {
        if bytes > 0 {
            self.produced.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    /// A worker sent a result of `bytes` back.
    pub(crate) fn returned(&self, bytes: u64) {
        self.produced.fetch_add(bytes, Ordering::Relaxed);
        self.to_parent.fetch_add(bytes, Ordering::Relaxed);
    }

    /// The parent sent `bytes` of inputs.
    pub(crate) fn sent(&self, bytes: u64) {
        self.from_parent.fetch_add(bytes, Ordering::Relaxed);
    }

    /// A held value of `bytes` was fetched to move it to another worker.
    pub(crate) fn moved(&self, bytes: u64) {
        self.to_parent.fetch_add(bytes, Ordering::Relaxed);
        self.moved.fetch_add(bytes, Ordering::Relaxed);
    }

    /// A worker fetched `bytes` of another worker's held values directly.
    pub(crate) fn worker_to_worker(&self, bytes: u64) {
        if bytes > 0 {
            self.worker_to_worker.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    /// `worker` now holds `bytes` more for the computation (a result kept, or a copy
    /// of one moved to it).
    pub(crate) fn hold(&self, worker: Worker, bytes: u64) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        match held.iter_mut().find(|w| w.worker == worker) {
            Some(w) => {
                w.end += bytes;
                w.peak = w.peak.max(w.end);
            }
            None => held.push(WorkerHeld {
                worker,
                peak: bytes,
                end: bytes,
            }),
        }
    }

    /// `worker` holds `bytes` less (a result released, or lost with it).
    pub(crate) fn unhold(&self, worker: Worker, bytes: u64) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(w) = held.iter_mut().find(|w| w.worker == worker) {
            w.end = w.end.saturating_sub(bytes);
        }
    }

    /// What each worker held for the computation, in the order they first kept one.
    pub(crate) fn held(&self) -> Vec<WorkerHeld> {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn snapshot(&self) -> Traffic {
        Traffic {
            produced: self.produced.load(Ordering::Relaxed),
            kept: self.kept.load(Ordering::Relaxed),
            to_parent: self.to_parent.load(Ordering::Relaxed),
            from_parent: self.from_parent.load(Ordering::Relaxed),
            moved: self.moved.load(Ordering::Relaxed),
            worker_to_worker: self.worker_to_worker.load(Ordering::Relaxed),
        }
    }
}
