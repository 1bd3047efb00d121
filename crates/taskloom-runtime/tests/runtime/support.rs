//! Test helpers: drop-counted values and task logs.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Counts live values of a type across threads.
#[derive(Default)]
pub(crate) struct Live {
    pub(crate) live: AtomicUsize,
    pub(crate) peak: AtomicUsize,
    pub(crate) created: AtomicUsize,
    pub(crate) dropped: AtomicUsize,
}

impl Live {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub(crate) fn make(self: &Arc<Self>, value: u64) -> Counted {
        self.created.fetch_add(1, Ordering::SeqCst);
        let now = self.live.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        Counted {
            value,
            live: Arc::clone(self),
        }
    }

    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    pub(crate) fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

/// A value whose life is counted by a [`Live`].
pub(crate) struct Counted {
    pub(crate) value: u64,
    live: Arc<Live>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.live.live.fetch_sub(1, Ordering::SeqCst);
        self.live.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

/// A shared, ordered log of events.
#[derive(Clone, Default)]
pub(crate) struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub(crate) fn push(&self, entry: impl Into<String>) {
        self.0.lock().unwrap().push(entry.into());
    }

    pub(crate) fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}
