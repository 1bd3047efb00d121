//! The worker's table of held values: results it kept (a call marked `keep`) and
//! copies of values other workers made that were moved to it, each with what encodes
//! it again when the parent or another worker asks for its bytes.
//!
//! The table is shared: the serve loop runs calls on its values, keeps and releases
//! them; a process pool's worker also serves them to the other workers of its pool
//! from threads of its own (`super::peer`), while calls run. A `std` mutex guards it,
//! held only to look up, insert or remove (a value is encoded outside it, from an
//! `Arc` of its entry), so a fetch never waits for a call, nor a call for a fetch.
//!
//! A copy is filed under the executor's number for the value (`uid`, carried by
//! [`Arg::Copy`](super::protocol::Arg::Copy) and
//! [`Arg::Peer`](super::protocol::Arg::Peer)): a worker asked twice for the same value
//! (two calls of one batch, sent before the first one's answer told the executor of
//! the copy) keeps it once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use slab::Slab;

use crate::error::TaskError;
use crate::remote::{Served, drop_guarded};
use crate::value::Value;

/// Bytes and number of the values this process holds for its executor, if it is a
/// worker (see [`held_here`]).
static HELD_BYTES: AtomicU64 = AtomicU64::new(0);
static HELD_VALUES: AtomicU64 = AtomicU64::new(0);

/// The values this process holds for its executor as a worker: `(values, bytes)`
/// (encoded sizes), copies included. `(0, 0)` outside a worker. For tests (feature
/// `test-hooks`): a remote task that returns it shows what its worker still holds.
#[cfg(feature = "test-hooks")]
pub fn held_here() -> (u64, u64) {
    (
        HELD_VALUES.load(Ordering::Relaxed),
        HELD_BYTES.load(Ordering::Relaxed),
    )
}

/// How a held value encodes.
pub(crate) enum Encoder {
    /// As a result of this function (a result kept where it was made).
    Result(Served),
    /// As this input of this function (a copy: the bytes it was decoded from).
    Arg(Served, usize),
}

/// One held value.
pub(crate) struct Held {
    value: Value,
    encoder: Encoder,
    /// Its encoded size.
    bytes: u64,
    /// The executor's number for it, if it is a copy.
    uid: Option<u64>,
}

impl Held {
    pub(crate) fn value(&self) -> &Value {
        &self.value
    }

    /// Encodes the value into `out` (cleared first).
    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<(), TaskError> {
        match &self.encoder {
            Encoder::Result(served) => served.encode_result(&self.value, out),
            Encoder::Arg(served, index) => served.encode_arg(*index, &self.value, out),
        }
    }
}

#[derive(Default)]
struct Inner {
    kept: Slab<Arc<Held>>,
    /// Copies by the executor's number for their value.
    copies: HashMap<u64, usize>,
}

/// The worker's held values, shared by its serve loop and its peer server.
#[derive(Clone, Default)]
pub(crate) struct Table(Arc<Mutex<Inner>>);

impl Table {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps a result (`bytes` encoded): its id.
    pub(crate) fn keep(&self, value: Value, encoder: Encoder, bytes: u64) -> u64 {
        self.insert(Held {
            value,
            encoder,
            bytes,
            uid: None,
        })
    }

    /// Keeps a copy of the executor's value `uid` (`bytes` encoded): its id.
    pub(crate) fn keep_copy(&self, uid: u64, value: Value, encoder: Encoder, bytes: u64) -> u64 {
        self.insert(Held {
            value,
            encoder,
            bytes,
            uid: Some(uid),
        })
    }

    fn insert(&self, held: Held) -> u64 {
        HELD_BYTES.fetch_add(held.bytes, Ordering::Relaxed);
        HELD_VALUES.fetch_add(1, Ordering::Relaxed);
        let uid = held.uid;
        let mut inner = self.lock();
        let id = inner.kept.insert(Arc::new(held));
        if let Some(uid) = uid {
            inner.copies.insert(uid, id);
        }
        id as u64
    }

    /// The copy of the executor's value `uid` this worker holds, if any: its id and
    /// value.
    pub(crate) fn copy_of(&self, uid: u64) -> Option<(u64, Value)> {
        let inner = self.lock();
        let id = *inner.copies.get(&uid)?;
        let held = inner.kept.get(id)?;
        Some((id as u64, Value::clone(&held.value)))
    }

    /// The value held under `id`.
    pub(crate) fn get(&self, id: u64) -> Option<Arc<Held>> {
        let id = usize::try_from(id).ok()?;
        self.lock().kept.get(id).map(Arc::clone)
    }

    /// Drops the value held under `id` (nothing if there is none).
    pub(crate) fn release(&self, id: u64) {
        let removed = {
            let mut inner = self.lock();
            let removed = usize::try_from(id)
                .ok()
                .and_then(|id| inner.kept.try_remove(id));
            if let Some(uid) = removed.as_ref().and_then(|h| h.uid) {
                inner.copies.remove(&uid);
            }
            removed
        };
        if let Some(held) = removed {
            forget(held);
        }
    }
}

/// Counts a value out of the table and drops it (outside the table's lock: a value's
/// `Drop` is user code). Nobody is left to tell of a panicking `Drop`: the executor
/// let go.
fn forget(held: Arc<Held>) {
    HELD_BYTES.fetch_sub(held.bytes, Ordering::Relaxed);
    HELD_VALUES.fetch_sub(1, Ordering::Relaxed);
    let _ = drop_guarded(held, "a released value");
}

impl Drop for Inner {
    fn drop(&mut self) {
        for held in self.kept.drain() {
            forget(held);
        }
    }
}
