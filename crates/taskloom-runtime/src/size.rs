//! How many bytes a result holds: the [`ResultSize`] trait, and what each task of a
//! graph says about its result's size.
//!
//! The scheduling loop counts the results it holds, and their bytes when results
//! report them, for [`ComputeOptions::memory_limit`](crate::ComputeOptions::memory_limit)
//! and for the figures callbacks receive. Values are type-erased inside the loop, so
//! the size is taken where the type is known: a task added with
//! [`Graph::add_sized`](crate::Graph::add_sized) (or marked with
//! [`Graph::measure`](crate::Graph::measure)) has its result measured through
//! [`ResultSize`] when it finishes; a task marked with
//! [`Graph::declare_size`](crate::Graph::declare_size) counts the bytes declared;
//! any other task's result counts as 0 bytes (it still counts as one result held).
//!
//! ```
//! use taskloom::ResultSize;
//!
//! assert_eq!(vec![0.5_f64; 1000].result_size(), 24 + 8000);
//! assert_eq!(String::from("abc").result_size(), 24 + 3);
//! assert_eq!([7_u32; 4].result_size(), 16);
//!
//! // A type of your own says what it holds.
//! struct Chunk {
//!     rows: Vec<f32>,
//!     label: String,
//! }
//! impl ResultSize for Chunk {
//!     fn result_size(&self) -> usize {
//!         self.rows.result_size() + self.label.result_size()
//!     }
//! }
//! let chunk = Chunk { rows: vec![0.0; 256], label: "a".into() };
//! assert_eq!(chunk.result_size(), 24 + 1024 + 24 + 1);
//! ```

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::mem::size_of;
use std::sync::Arc;

use crate::tuples::all_the_tuples;
use crate::value::Value;

/// The bytes a value holds: its own `size_of` plus what it owns on the heap.
///
/// Implemented for numbers, `bool`, `char`, `()`, arrays and tuples (up to twelve) of
/// sized values, `Vec`, `VecDeque`, `Box`, `[T]`, `String`, `str`, `Option`, `Arc`,
/// and the standard maps and sets. Containers count their capacity, not only their
/// length: that is what the allocator holds. Some figures are estimates, said where:
/// maps and sets count each entry's key and value plus what those own, not the
/// table's own bookkeeping; an `Arc` counts its value in full, as if no one else
/// held it (the scheduler cannot know).
///
/// Implement it for your own types (usually the sum of their fields'), and add tasks
/// that make them with [`Graph::add_sized`](crate::Graph::add_sized). The loop calls
/// `result_size` once per result, on its own thread, when the task finishes: keep it
/// cheap (flat containers are sized in `O(1)`, see [`ResultSize::FLAT`]).
pub trait ResultSize {
    /// Whether the value owns nothing beyond its own `size_of` (numbers, `bool`,
    /// arrays and tuples of them), so that a container of them is sized from its
    /// capacity alone, without visiting its elements. Leave it `false` for types that
    /// own heap memory.
    const FLAT: bool = false;

    /// Bytes the value holds: its own size plus what it owns on the heap.
    fn result_size(&self) -> usize;
}

macro_rules! flat {
    ($($t:ty),*) => {$(
        impl ResultSize for $t {
            const FLAT: bool = true;
            #[inline]
            fn result_size(&self) -> usize {
                size_of::<$t>()
            }
        }
    )*};
}

flat!(
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    bool,
    char,
    ()
);

/// What the elements of a slice hold: `len × size_of` for flat elements, else the
/// sum of what each holds.
fn elements<T: ResultSize>(items: &[T]) -> usize {
    if T::FLAT {
        size_of_val(items)
    } else {
        items.iter().map(ResultSize::result_size).sum()
    }
}

/// Heap bytes of `capacity` slots of `T` holding `items`: the slots, plus what the
/// items own beyond their slot.
fn slots<T: ResultSize>(capacity: usize, items: &[T]) -> usize {
    let owned = if T::FLAT {
        0
    } else {
        elements(items).saturating_sub(size_of_val(items))
    };
    capacity * size_of::<T>() + owned
}

impl<T: ResultSize, const N: usize> ResultSize for [T; N] {
    const FLAT: bool = T::FLAT;
    fn result_size(&self) -> usize {
        elements(self)
    }
}

impl<T: ResultSize> ResultSize for [T] {
    fn result_size(&self) -> usize {
        elements(self)
    }
}

impl ResultSize for str {
    fn result_size(&self) -> usize {
        self.len()
    }
}

impl<T: ResultSize> ResultSize for Vec<T> {
    fn result_size(&self) -> usize {
        size_of::<Self>() + slots(self.capacity(), self)
    }
}

impl<T: ResultSize> ResultSize for VecDeque<T> {
    fn result_size(&self) -> usize {
        let (a, b) = self.as_slices();
        let owned = if T::FLAT {
            0
        } else {
            elements(a).saturating_sub(size_of_val(a)) + elements(b).saturating_sub(size_of_val(b))
        };
        size_of::<Self>() + self.capacity() * size_of::<T>() + owned
    }
}

impl ResultSize for String {
    fn result_size(&self) -> usize {
        size_of::<Self>() + self.capacity()
    }
}

impl<T: ResultSize + ?Sized> ResultSize for Box<T> {
    fn result_size(&self) -> usize {
        size_of::<Self>() + (**self).result_size()
    }
}

impl<T: ResultSize + ?Sized> ResultSize for Arc<T> {
    /// The value in full, plus the two reference counts.
    fn result_size(&self) -> usize {
        size_of::<Self>() + 2 * size_of::<usize>() + (**self).result_size()
    }
}

impl<T: ResultSize> ResultSize for Option<T> {
    const FLAT: bool = T::FLAT;
    fn result_size(&self) -> usize {
        size_of::<Self>()
            + self
                .as_ref()
                .map_or(0, |v| v.result_size().saturating_sub(size_of::<T>()))
    }
}

macro_rules! tuple {
    ($($name:ident $idx:tt),+) => {
        impl<$($name: ResultSize),+> ResultSize for ($($name,)+) {
            const FLAT: bool = $($name::FLAT)&&+;
            fn result_size(&self) -> usize {
                size_of::<Self>() $(+ self.$idx.result_size().saturating_sub(size_of::<$name>()))+
            }
        }
    };
}

all_the_tuples!(tuple);

/// What a map's or set's entries own beyond their slots.
fn owned<T: ResultSize>(item: &T) -> usize {
    if T::FLAT {
        0
    } else {
        item.result_size().saturating_sub(size_of::<T>())
    }
}

impl<K: ResultSize, V: ResultSize, S> ResultSize for HashMap<K, V, S> {
    /// An estimate: the entries' slots at capacity and what they own.
    fn result_size(&self) -> usize {
        size_of::<Self>()
            + self.capacity() * (size_of::<K>() + size_of::<V>())
            + self.iter().map(|(k, v)| owned(k) + owned(v)).sum::<usize>()
    }
}

impl<T: ResultSize, S> ResultSize for HashSet<T, S> {
    /// An estimate: the entries' slots at capacity and what they own.
    fn result_size(&self) -> usize {
        size_of::<Self>() + self.capacity() * size_of::<T>() + self.iter().map(owned).sum::<usize>()
    }
}

impl<K: ResultSize, V: ResultSize> ResultSize for BTreeMap<K, V> {
    /// An estimate: each entry's key and value and what they own.
    fn result_size(&self) -> usize {
        size_of::<Self>()
            + self
                .iter()
                .map(|(k, v)| k.result_size() + v.result_size())
                .sum::<usize>()
    }
}

impl<T: ResultSize> ResultSize for BTreeSet<T> {
    /// An estimate: each entry and what it owns.
    fn result_size(&self) -> usize {
        size_of::<Self>() + self.iter().map(ResultSize::result_size).sum::<usize>()
    }
}

/// What a task says about the size of its result.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) enum Sizing {
    /// Nothing: its result counts as 0 bytes.
    #[default]
    Unknown,
    /// A fixed number of bytes, declared when the graph was built.
    Declared(u64),
    /// Measured through [`ResultSize`] when the task finishes.
    Measured(fn(&Value) -> u64),
}

impl Sizing {
    /// Sizes results of type `T` through its [`ResultSize`].
    pub(crate) fn measured<T: ResultSize + Any>() -> Self {
        Sizing::Measured(measure::<T>)
    }
}

/// The bytes of a result of type `T` (0 if the value is of another type, which typed
/// handles rule out).
fn measure<T: ResultSize + Any>(value: &Value) -> u64 {
    value
        .downcast_ref::<T>()
        .map_or(0, |v| v.result_size() as u64)
}

/// Results of a type this large or larger may be large whatever they own.
const LARGE_INLINE: usize = 4096;

/// Whether a result of type `T` may be large: it may own memory on the heap (the
/// type has drop glue: a `Vec`, a `String`, a `Box`, a Python object...) or is large
/// itself. A type without drop glue owns nothing it would free, so its result holds
/// `size_of::<T>()` bytes (and the reference count's), known when the graph is built.
pub(crate) const fn may_be_large<T>() -> bool {
    std::mem::needs_drop::<T>() || size_of::<T>() >= LARGE_INLINE
}

/// The sizing of each task of a graph, by task id; tasks past its end (and every task
/// of a graph that never sized one) are [`Sizing::Unknown`].
#[derive(Clone, Debug, Default)]
pub(crate) struct Sizes {
    by_task: Vec<Sizing>,
}

impl Sizes {
    pub(crate) fn set(&mut self, task: usize, sizing: Sizing) {
        if self.by_task.len() <= task {
            self.by_task.resize(task + 1, Sizing::Unknown);
        }
        self.by_task[task] = sizing;
    }

    /// Whether any task reports a size: if none does, bytes are not counted at all.
    pub(crate) fn any(&self) -> bool {
        !self.by_task.is_empty()
    }

    /// The bytes of `value`, the result of task `task`.
    #[inline]
    pub(crate) fn bytes(&self, task: usize, value: &Value) -> u64 {
        match self.by_task.get(task) {
            None | Some(Sizing::Unknown) => 0,
            Some(Sizing::Declared(bytes)) => *bytes,
            Some(Sizing::Measured(f)) => f(value),
        }
    }
}

/// Which tasks of a graph make results of unknown size that may be large (see
/// [`may_be_large`]), no sizing covering them: while any does, the scheduling loop
/// cannot tell large results from small ones and holds the run to the plan's count of
/// results (see `compute::dispatch`). The graph keeps it beside its tasks (one bit
/// each), not shared with computations: each takes only whether any is unknown.
#[derive(Clone, Debug, Default)]
pub(crate) struct Unknown {
    bits: Vec<u64>,
    /// How many bits are set.
    count: usize,
}

impl Unknown {
    /// Notes that task `task`, just added, makes results that may be large, their size
    /// unknown until a sizing says more (nothing to note otherwise).
    #[inline]
    pub(crate) fn added(&mut self, task: usize, may_be_large: bool) {
        if !may_be_large {
            return;
        }
        if self.bits.len() <= task / 64 {
            self.bits.resize(task / 64 + 1, 0);
        }
        let bit = 1 << (task % 64);
        let word = &mut self.bits[task / 64];
        if *word & bit == 0 {
            *word |= bit;
            self.count += 1;
        }
    }

    /// Notes that a sizing now covers task `task`'s result.
    pub(crate) fn sized(&mut self, task: usize) {
        if let Some(word) = self.bits.get_mut(task / 64) {
            let bit = 1 << (task % 64);
            if *word & bit != 0 {
                *word &= !bit;
                self.count -= 1;
            }
        }
    }

    /// Whether some task makes results that may be large, of a size nobody declared.
    pub(crate) fn any(&self) -> bool {
        self.count > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_containers_count_their_capacity() {
        let mut v: Vec<u16> = Vec::with_capacity(100);
        v.push(1);
        assert_eq!(v.result_size(), 24 + 200);
        let d: VecDeque<f32> = VecDeque::with_capacity(10);
        assert!(d.result_size() >= 32 + 40);
        assert_eq!(Box::new([0_u8; 64]).result_size(), 8 + 64);
        let b: Box<[u64]> = vec![0; 5].into_boxed_slice();
        assert_eq!(b.result_size(), 16 + 40);
        let s: Box<str> = "hello".into();
        assert_eq!(s.result_size(), 16 + 5);
        assert_eq!((1_u8, 2_u64).result_size(), 16);
        assert_eq!(Some(3_i32).result_size(), 8);
    }

    #[test]
    fn nested_containers_count_what_their_elements_own() {
        let rows = vec![vec![0_u8; 10], vec![0_u8; 30]];
        assert_eq!(rows.result_size(), 24 + 2 * 24 + 40);
        let names = vec![String::from("ab"), String::new()];
        assert_eq!(names.result_size(), 24 + 2 * 24 + 2);
        let pair = (String::from("abc"), vec![1_u32; 2]);
        assert_eq!(pair.result_size(), 48 + 3 + 8);
        let maybe = Some(vec![0_u8; 9]);
        assert_eq!(maybe.result_size(), 24 + 9);
        let shared = Arc::new(vec![0_u8; 100]);
        assert_eq!(shared.result_size(), 8 + 16 + 24 + 100);
        let mut map = BTreeMap::new();
        map.insert(1_u32, String::from("xy"));
        assert_eq!(
            map.result_size(),
            size_of::<BTreeMap<u32, String>>() + 4 + 24 + 2
        );
        let set: HashSet<u64> = (0..10).collect();
        assert!(set.result_size() >= size_of::<HashSet<u64>>() + 80);
    }

    #[test]
    fn results_that_may_be_large_are_those_that_own_heap_memory_or_are_large() {
        assert!(!may_be_large::<()>());
        assert!(!may_be_large::<u64>());
        assert!(!may_be_large::<[f64; 16]>());
        assert!(may_be_large::<[u8; 1 << 20]>());
        assert!(may_be_large::<Vec<u8>>());
        assert!(may_be_large::<String>());
        assert!(may_be_large::<Arc<u64>>());
    }

    #[test]
    fn a_sizing_covers_a_result_of_unknown_size() {
        let mut unknown = Unknown::default();
        unknown.added(0, false);
        assert!(!unknown.any());
        unknown.added(1, true);
        unknown.added(130, true);
        assert!(unknown.any());
        unknown.sized(1);
        assert!(unknown.any(), "task 130 is still unknown");
        unknown.sized(130);
        assert!(!unknown.any());
        unknown.sized(130);
        unknown.sized(7);
        assert!(!unknown.any(), "counted once");
    }

    #[test]
    fn sizes_by_task() {
        let mut sizes = Sizes::default();
        assert!(!sizes.any());
        sizes.set(2, Sizing::Declared(100));
        sizes.set(4, Sizing::measured::<Vec<u8>>());
        let v: Value = Arc::new(vec![0_u8; 50]);
        assert_eq!(sizes.bytes(0, &v), 0);
        assert_eq!(sizes.bytes(2, &v), 100);
        assert_eq!(sizes.bytes(4, &v), 24 + 50);
        assert_eq!(sizes.bytes(9, &v), 0);
        let wrong: Value = Arc::new(1_u8);
        assert_eq!(sizes.bytes(4, &wrong), 0);
    }
}
