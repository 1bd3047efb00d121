//! Key → position lookup for graphs and builders.
//!
//! The table stores only 4-byte positions and hashes `keys[position]` on demand, so it
//! costs a quarter of a `HashMap<Key, u32>` and a million-task index stays small. It is
//! used only at the edges: adding tasks (duplicate detection) and looking tasks up by
//! key; the scheduling hot path never touches it.

use std::hash::BuildHasher;

use foldhash::fast::FixedState;
use hashbrown::HashTable;
use hashbrown::hash_table::Entry;

use crate::Key;

/// Foldhash with a fixed seed: fast, well mixed in the bits hashbrown uses, and the
/// same in every run.
const HASHER: FixedState = FixedState::with_seed(0x7a5c_100b);

/// Positions of keys in a `[Key]` slice that the caller owns and passes to each call.
#[derive(Clone, Default)]
pub(crate) struct KeyIndex {
    table: HashTable<u32>,
}

impl KeyIndex {
    pub(crate) fn with_capacity(n: usize) -> Self {
        KeyIndex {
            table: HashTable::with_capacity(n),
        }
    }

    /// Records that `key` will be at `position` (the caller pushes it onto `keys`
    /// next). Returns `false`, changing nothing, if `keys` already holds `key`.
    pub(crate) fn insert(&mut self, keys: &[Key], key: &Key, position: u32) -> bool {
        let hash = HASHER.hash_one(key);
        match self.table.entry(
            hash,
            |&p| keys[p as usize] == *key,
            |&p| HASHER.hash_one(&keys[p as usize]),
        ) {
            Entry::Occupied(_) => false,
            Entry::Vacant(slot) => {
                slot.insert(position);
                true
            }
        }
    }

    /// The position of `key` in `keys`.
    pub(crate) fn find(&self, keys: &[Key], key: &Key) -> Option<u32> {
        self.table
            .find(HASHER.hash_one(key), |&p| keys[p as usize] == *key)
            .copied()
    }

    /// Renumbers every position (when the keys are permuted): hashes depend on the
    /// keys only, so the table stays valid without rehashing.
    pub(crate) fn remap(&mut self, new_position: impl Fn(u32) -> u32) {
        for p in self.table.iter_mut() {
            *p = new_position(*p);
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        // One 4-byte slot and one control byte per bucket.
        self.table.capacity() * 5
    }
}
