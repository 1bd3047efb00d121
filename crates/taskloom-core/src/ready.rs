//! The ready tasks of a computation, kept by static rank, so the one the order placed
//! first is always the next out.
//!
//! A [`RankSet`] keeps its lowest rank in a slot of its own (a chain, where each
//! completion unlocks the task that runs next, touches nothing else) and the others
//! in a hierarchy of bit words: one bit per rank at the bottom, and above it one bit
//! per word of the level below that has any bit set, up to a single word. Insert and remove touch one word per level and stop
//! as soon as a word's emptiness does not change; the lowest rank is found by
//! following the lowest set bit from the top word down. With 64 bits a word that is
//! at most six levels for `u32` ranks (three up to 262,144 tasks), a handful of
//! nanoseconds an event, and one bit per task (plus 1/64 of that above).
//!
//! A binary heap would cost `O(log ready)` moves per event and 4 bytes per ready
//! task; the LIFO stack this replaces cost less, but followed the static order only
//! where a completion unlocked a single task (see [`State`](crate::State)).

/// Levels needed for any `u32` rank: 64^6 > 2^32.
const MAX_LEVELS: usize = 6;

/// No rank: the front slot is empty.
const NONE: u32 = u32::MAX;

/// A set of ranks `0..n`, with the lowest one found in `O(levels)`.
///
/// The lowest rank is kept apart in `front`, outside the bits: a chain (each
/// completion unlocks one task, which runs next) then never touches them, and the
/// next task out is read without a search.
#[derive(Clone, Debug)]
pub(crate) struct RankSet {
    /// The lowest rank of the set, or [`NONE`] when the set is empty.
    front: u32,
    /// The other ranks.
    bits: Bits,
}

impl RankSet {
    /// An empty set for ranks `0..n`.
    pub(crate) fn new(n: usize) -> Self {
        RankSet {
            front: NONE,
            bits: Bits::new(n),
        }
    }

    /// Ranks in the set.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.bits.len + usize::from(self.front != NONE)
    }

    /// Whether `rank` is in the set.
    #[inline]
    pub(crate) fn contains(&self, rank: u32) -> bool {
        rank == self.front || self.bits.contains(rank)
    }

    /// Adds `rank`, which must not be in the set.
    #[inline]
    pub(crate) fn insert(&mut self, rank: u32) {
        debug_assert!(!self.contains(rank), "rank {rank} inserted twice");
        if self.front == NONE {
            self.front = rank;
        } else if rank < self.front {
            self.bits.insert(self.front);
            self.front = rank;
        } else {
            self.bits.insert(rank);
        }
    }

    /// Removes `rank`, which must be in the set.
    #[inline]
    pub(crate) fn remove(&mut self, rank: u32) {
        debug_assert!(self.contains(rank), "rank {rank} removed but absent");
        if rank == self.front {
            self.front = self.bits.pop_first().unwrap_or(NONE);
        } else {
            self.bits.remove(rank);
        }
    }

    /// The lowest rank in the set.
    #[inline]
    pub(crate) fn first(&self) -> Option<u32> {
        (self.front != NONE).then_some(self.front)
    }

    /// Removes and returns the lowest rank.
    #[inline]
    pub(crate) fn pop_first(&mut self) -> Option<u32> {
        let rank = self.first()?;
        self.front = self.bits.pop_first().unwrap_or(NONE);
        Some(rank)
    }

    /// Ranks in the set, lowest first, after the set is emptied.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = u32> + '_ {
        std::iter::from_fn(move || self.pop_first())
    }

    /// Heap bytes of its words.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.bits.words.capacity() * size_of::<u64>()
    }
}

/// The bit hierarchy: one bit per rank at the bottom, one per non-empty word above.
#[derive(Clone, Debug)]
struct Bits {
    /// Every level's words, bottom level first.
    words: Vec<u64>,
    /// Where each level starts in `words`; `levels` of them are used.
    starts: [usize; MAX_LEVELS],
    levels: usize,
    len: usize,
}

impl Bits {
    fn new(n: usize) -> Self {
        let mut starts = [0; MAX_LEVELS];
        let mut total = 0;
        let mut levels = 0;
        let mut bits = n.max(1);
        loop {
            let words = bits.div_ceil(64);
            starts[levels] = total;
            total += words;
            levels += 1;
            if words == 1 || levels == MAX_LEVELS {
                break;
            }
            bits = words;
        }
        Bits {
            words: vec![0; total],
            starts,
            levels,
            len: 0,
        }
    }

    #[inline]
    fn contains(&self, rank: u32) -> bool {
        let r = rank as usize;
        self.words
            .get(r / 64)
            .is_some_and(|w| w & (1 << (r % 64)) != 0)
    }

    #[inline]
    fn insert(&mut self, rank: u32) {
        let mut i = rank as usize;
        for level in 0..self.levels {
            let word = &mut self.words[self.starts[level] + i / 64];
            let was = *word;
            *word = was | 1 << (i % 64);
            if was != 0 {
                break; // the levels above already know this word is not empty
            }
            i /= 64;
        }
        self.len += 1;
    }

    #[inline]
    fn remove(&mut self, rank: u32) {
        let mut i = rank as usize;
        for level in 0..self.levels {
            let word = &mut self.words[self.starts[level] + i / 64];
            *word &= !(1 << (i % 64));
            if *word != 0 {
                break; // still not empty: the levels above stay as they are
            }
            i /= 64;
        }
        self.len -= 1;
    }

    /// Removes and returns the lowest rank: down the lowest set bits from the top
    /// word, then up again clearing the words it empties.
    #[inline]
    fn pop_first(&mut self) -> Option<u32> {
        if self.len == 0 {
            return None;
        }
        let mut i = 0;
        for level in (0..self.levels).rev() {
            let word = self.words[self.starts[level] + i];
            debug_assert_ne!(word, 0, "a set bit above an empty word");
            i = i * 64 + word.trailing_zeros() as usize;
        }
        let rank = i as u32;
        self.remove(rank);
        Some(rank)
    }
}

#[cfg(test)]
mod tests {
    use super::{Bits, RankSet};

    /// A tiny deterministic generator (xorshift).
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn the_lowest_rank_comes_out_first_at_every_size() {
        for n in [1, 2, 63, 64, 65, 4095, 4096, 4097, 300_000] {
            let mut set = RankSet::new(n);
            let mut model = std::collections::BTreeSet::new();
            let mut rng = 0x9e37_79b9_7f4a_7c15_u64 ^ n as u64;
            for _ in 0..20_000 {
                let r = (next(&mut rng) % n as u64) as u32;
                if model.insert(r) {
                    set.insert(r);
                } else if next(&mut rng) % 2 == 0 {
                    model.remove(&r);
                    set.remove(r);
                } else {
                    let first = *model.iter().next().unwrap_or(&u32::MAX);
                    assert_eq!(set.pop_first(), Some(first));
                    model.remove(&first);
                }
                assert_eq!(set.len(), model.len());
                assert_eq!(set.first(), model.iter().next().copied());
                assert!(set.contains(r) == model.contains(&r));
            }
            let rest: Vec<u32> = set.drain().collect();
            assert_eq!(rest, model.into_iter().collect::<Vec<_>>());
            assert_eq!(set.first(), None);
            assert!(set.bits.words.iter().all(|w| *w == 0), "n = {n}: bits left");
        }
    }

    #[test]
    fn one_word_per_level_up_to_a_single_top_word() {
        assert_eq!(Bits::new(0).levels, 1);
        assert_eq!(Bits::new(64).levels, 1);
        assert_eq!(Bits::new(65).levels, 2);
        assert_eq!(Bits::new(4096).levels, 2);
        assert_eq!(Bits::new(4097).levels, 3);
        assert_eq!(Bits::new(1_000_000).levels, 4);
    }
}
