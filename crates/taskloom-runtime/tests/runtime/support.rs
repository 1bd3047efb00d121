//! Test helpers: drop-counted values, task logs, and waits for events.
//!
//! Tests wait for what they need to have happened (a task started, a value dropped),
//! never for a fixed time that a loaded machine may not meet. [`LIMIT`] bounds each
//! wait only so that an event that never comes fails the test instead of hanging it.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The longest any test waits for an event: reached only when the event never comes.
pub(crate) const LIMIT: Duration = Duration::from_secs(60);

/// Awaits `future` for at most [`LIMIT`]; past it, fails naming `what`.
pub(crate) async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, future)
        .await
        .unwrap_or_else(|_| panic!("gave up after {LIMIT:?} waiting until {what}"))
}

/// Waits until `done` holds, checking every millisecond, for at most [`LIMIT`].
pub(crate) async fn until(what: &str, mut done: impl FnMut() -> bool) {
    within(what, async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
}

/// For blocking task bodies: waits until `done` holds, for at most [`LIMIT`];
/// whether it did.
pub(crate) fn block_until(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + LIMIT;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

/// Counts an event that tasks signal from any thread (blocking or async) and a test
/// can await: "both slow tasks have started".
pub(crate) struct Counter(tokio::sync::watch::Sender<usize>);

impl Counter {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Counter(tokio::sync::watch::Sender::new(0)))
    }

    /// One more occurrence; wakes the tests waiting for it.
    pub(crate) fn add(&self) {
        self.0.send_modify(|n| *n += 1);
    }

    pub(crate) fn get(&self) -> usize {
        *self.0.borrow()
    }

    /// Waits until the count is at least `n` (for at most [`LIMIT`]).
    pub(crate) async fn reached(&self, n: usize) {
        let mut seen = self.0.subscribe();
        within(
            &format!("the count reaches {n}"),
            seen.wait_for(|c| *c >= n),
        )
        .await
        .expect("the sender lives in self");
    }
}

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
