//! The handshakes in progress, and which one makes room when they are too many.
//!
//! The door never turns a newcomer away: a real worker may arrive at any moment, and
//! refusing the newest connection lets whoever holds the slots keep it out. Instead,
//! when [`Pending::capacity`] handshakes are in progress, a new connection evicts
//! the one that has made the **least progress**, the **oldest** among those. A real
//! worker writes its hello (or its TLS hello) as soon as it connects and answers
//! each step at once, so it climbs out of the lowest stage within a round trip; a
//! connection that sends nothing, or a byte now and then, stays at the bottom and is
//! the first to go. For a flood to evict a worker, the attacker must open
//! `capacity` connections in the time the worker takes for one step of its
//! handshake, or keep pace with it step for step (which needs the secret at the
//! last step).
//!
//! Pure bookkeeping: the listener owns the connections' tasks and aborts the one
//! this table names.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;

/// How far a handshake got; a later stage is further.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Stage {
    /// Accepted; nothing complete read yet.
    Connected,
    /// Its first message arrived whole (a hello, or TLS's client hello).
    Spoke,
    /// TLS is up (or, over plain TCP, the hello was a taskloom hello).
    Secured,
    /// It answered the challenge; the proof is being checked.
    Proved,
}

/// One handshake in progress.
#[derive(Debug)]
struct Entry<T> {
    stage: Stage,
    peer: SocketAddr,
    handle: T,
}

/// The handshakes in progress, each with the caller's handle `T` (to abort it).
#[derive(Debug)]
pub(super) struct Pending<T> {
    capacity: usize,
    entries: HashMap<u64, Entry<T>>,
    /// `(stage, id)`: the first is the one to evict (ids grow with time).
    order: BTreeSet<(Stage, u64)>,
}

/// A handshake made to leave: who, and how far it got.
#[derive(Debug)]
pub(super) struct Evicted<T> {
    pub(super) peer: SocketAddr,
    pub(super) stage: Stage,
    pub(super) handle: T,
}

impl<T> Pending<T> {
    /// At most `capacity` handshakes at once (at least one).
    pub(super) fn new(capacity: usize) -> Self {
        Pending {
            capacity: capacity.max(1),
            entries: HashMap::new(),
            order: BTreeSet::new(),
        }
    }

    pub(super) fn capacity(&self) -> usize {
        self.capacity
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Adds handshake `id` (ids must grow: an older handshake has a smaller one);
    /// returns the one evicted to make room, if the table was full.
    pub(super) fn enter(&mut self, id: u64, peer: SocketAddr, handle: T) -> Option<Evicted<T>> {
        let evicted = if self.entries.len() >= self.capacity {
            self.evict()
        } else {
            None
        };
        self.entries.insert(
            id,
            Entry {
                stage: Stage::Connected,
                peer,
                handle,
            },
        );
        self.order.insert((Stage::Connected, id));
        evicted
    }

    /// Handshake `id` reached `stage` (never moves back).
    pub(super) fn advance(&mut self, id: u64, stage: Stage) {
        if let Some(entry) = self.entries.get_mut(&id) {
            if stage > entry.stage {
                self.order.remove(&(entry.stage, id));
                self.order.insert((stage, id));
                entry.stage = stage;
            }
        }
    }

    /// Handshake `id` ended (passed, refused, or evicted already).
    pub(super) fn leave(&mut self, id: u64) {
        if let Some(entry) = self.entries.remove(&id) {
            self.order.remove(&(entry.stage, id));
        }
    }

    /// Removes the handshake that made the least progress for the longest.
    fn evict(&mut self) -> Option<Evicted<T>> {
        let (stage, id) = self.order.pop_first()?;
        let entry = self.entries.remove(&id)?;
        Some(Evicted {
            peer: entry.peer,
            stage,
            handle: entry.handle,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn peer(n: u8) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, n], 1000))
    }

    #[test]
    fn the_oldest_of_the_least_advanced_is_evicted() {
        let mut pending = Pending::new(3);
        assert!(pending.enter(1, peer(1), "idle-1").is_none());
        assert!(pending.enter(2, peer(2), "worker").is_none());
        assert!(pending.enter(3, peer(1), "idle-3").is_none());
        pending.advance(2, Stage::Spoke);
        // Full: the newcomer evicts the oldest silent one, not the worker.
        let out = pending.enter(4, peer(1), "idle-4").unwrap();
        assert_eq!(out.handle, "idle-1");
        assert_eq!(out.stage, Stage::Connected);
        let out = pending.enter(5, peer(1), "idle-5").unwrap();
        assert_eq!(out.handle, "idle-3");
        let out = pending.enter(6, peer(1), "idle-6").unwrap();
        assert_eq!(out.handle, "idle-4");
        // The worker goes only when every other one is as far as it is.
        pending.advance(5, Stage::Spoke);
        pending.advance(6, Stage::Proved);
        let out = pending.enter(7, peer(1), "idle-7").unwrap();
        assert_eq!(out.handle, "worker");
        assert_eq!(pending.len(), 3);
    }

    #[test]
    fn a_stage_never_moves_back_and_leaving_frees_a_slot() {
        let mut pending = Pending::new(2);
        pending.enter(1, peer(1), 1);
        pending.advance(1, Stage::Secured);
        pending.advance(1, Stage::Spoke);
        pending.enter(2, peer(1), 2);
        pending.leave(2);
        pending.leave(2); // twice is harmless
        assert!(pending.enter(3, peer(1), 3).is_none());
        // 1 is further than 3: 3 goes.
        assert_eq!(pending.enter(4, peer(1), 4).unwrap().handle, 3);
    }
}
