//! Key → position lookup for graphs and builders.
//!
//! The table stores only 4-byte positions and hashes `keys[position]` on demand, so it
//! costs a quarter of a `HashMap<Key, u32>` and a million-task index stays small. It is
//! used only at the edges: adding tasks (duplicate detection) and looking tasks up by
//! key; the scheduling hot path never touches it.
//!
//! Tuple keys are filed so that a graph built in a loop touches the table in order
//! (see [`file_hash`]): on a million-task graph each insert into a table scattered at
//! random missed the cache twice (its control byte and its slot), a quarter of the
//! time of building and computing the graph.

use std::hash::BuildHasher;

use foldhash::fast::FixedState;
use hashbrown::HashTable;
use hashbrown::hash_table::Entry;

use crate::Key;

/// Foldhash with a fixed seed: fast, well mixed in the bits hashbrown uses, and the
/// same in every run.
const HASHER: FixedState = FixedState::with_seed(0x7a5c_100b);

/// Tuple keys whose last indices fall in one aligned block of `LANES` share a
/// block of buckets.
const LANE_BITS: u32 = 4;
const LANES: u64 = 1 << LANE_BITS;
/// The bits of a filed hash that say which block of buckets: neither the lane nor
/// hashbrown's tag (the top 7).
const BLOCK_BITS: u64 = !(LANES - 1) & (u64::MAX >> 7);

/// The hash a key is filed under. A tuple key's hash is that of its name, its
/// indices but the last, and the last divided by 16 (its *block*), with the last's
/// remainder (its *lane*) as the low bits: `("x", i, 0)` to `("x", i, 15)` go to 16
/// consecutive buckets (hashbrown takes a bucket from the low bits), so a loop
/// adding them fills one group of control bytes and one cache line of slots instead
/// of 16 of each, while blocks still land at random, so the table never holds a run
/// longer than 16 filed this way. The top 7 bits, hashbrown's tag for telling keys
/// apart without reading them, are the block's plus an odd multiple of the lane:
/// distinct within a block. String keys and tuple keys without indices are hashed
/// whole.
fn file_hash(key: &Key) -> u64 {
    let Some((name_hash, indices)) = key.tuple_parts() else {
        return HASHER.hash_one(key);
    };
    let Some((&last, prefix)) = indices.split_last() else {
        return HASHER.hash_one(key);
    };
    let block = HASHER.hash_one((name_hash, prefix, last >> LANE_BITS));
    let lane = last as u64 & (LANES - 1);
    let tag = ((block >> 57).wrapping_add(lane * 77)) & 0x7f;
    (block & BLOCK_BITS) | lane | (tag << 57)
}

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
        match self.table.entry(
            file_hash(key),
            |&p| keys[p as usize] == *key,
            |&p| file_hash(&keys[p as usize]),
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
            .find(file_hash(key), |&p| keys[p as usize] == *key)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys of every shape the index files differently: tuple keys along the last
    /// index (negative ones too), strided by the block size, with several and with
    /// more than three indices, without indices, and string keys.
    fn keys() -> Vec<Key> {
        let mut keys = Vec::new();
        for i in -40..40 {
            keys.push(Key::tuple("x", [i]));
            keys.push(Key::tuple("x", [3, i]));
            keys.push(Key::tuple("y", [i * 16]));
            keys.push(Key::tuple("z", [1, 2, 3, i]));
            keys.push(Key::new(format!("s-{i}")));
        }
        keys.push(Key::tuple("x", [i64::MIN]));
        keys.push(Key::tuple("x", [i64::MAX]));
        keys.push(Key::tuple("empty", []));
        keys
    }

    #[test]
    fn finds_every_key_and_refuses_duplicates_through_growth() {
        let keys = keys();
        // No capacity up front: the table grows, and rehashes, many times.
        let mut index = KeyIndex::default();
        let mut filed = Vec::new();
        for key in &keys {
            assert!(index.insert(&filed, key, filed.len() as u32), "{key}");
            filed.push(key.clone());
        }
        for (position, key) in keys.iter().enumerate() {
            assert_eq!(index.find(&filed, key), Some(position as u32), "{key}");
            assert!(!index.insert(&filed, &key.clone(), 0), "{key} twice");
        }
        assert_eq!(index.find(&filed, &Key::tuple("x", [40])), None);
        assert_eq!(index.find(&filed, &Key::tuple("x", [3, 40])), None);
        assert_eq!(index.find(&filed, &Key::new("x")), None);
    }

    #[test]
    fn one_block_of_last_indices_fills_consecutive_buckets_with_distinct_tags() {
        let hashes: Vec<u64> = (32..48)
            .map(|j| file_hash(&Key::tuple("x", [7, j])))
            .collect();
        let block = hashes[0] & BLOCK_BITS;
        let mut tags = Vec::new();
        for (lane, h) in hashes.iter().enumerate() {
            assert_eq!(h & (u64::MAX >> 7), block | lane as u64);
            tags.push(h >> 57);
        }
        tags.sort_unstable();
        tags.dedup();
        assert_eq!(tags.len(), 16, "tags within a block are distinct");
        // The next block, and the same block of another row, land elsewhere.
        let next = file_hash(&Key::tuple("x", [7, 48])) & BLOCK_BITS;
        let other = file_hash(&Key::tuple("x", [8, 32])) & BLOCK_BITS;
        assert_ne!(next, block);
        assert_ne!(other, block);
    }
}
