//! Task keys: the names users give tasks, as Dask does.
//!
//! A [`Key`] is either a plain string (`"total"`) or a Dask-style tuple of a name and
//! integer indices (`('x', 3)`, the key of chunk 3 of array `x`). A Rust tuple of a name
//! ([`KeyName`]: `&str`, `String`, ...) and one to four integers of any primitive type
//! up to 64 bits ([`KeyIndex`]) converts into a tuple key, so `("leaf", i)` works
//! whatever the integer type of `i`. Keys are only used at
//! the edges of the scheduler (building a graph, reporting errors, tracing); the hot
//! path works on dense [`TaskId`](crate::TaskId)s. Cloning a key is a reference-count
//! increment, so errors and spans can carry keys freely.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

use crate::KeyError;

/// The name of a task: a string, or a name with integer indices like Dask's `('x', 3)`.
///
/// Cheap to clone (one atomic increment). Ordered by name, then by indices compared as
/// integers (so `('x', 9) < ('x', 10)`), which is how the ordering passes break ties.
///
/// ```
/// use taskloom_core::Key;
///
/// let a = Key::from("total");
/// let b = Key::tuple("x", [3]);
/// assert_eq!(a.to_string(), "total");
/// assert_eq!(b.to_string(), "('x', 3)");
/// assert_eq!(Key::parse_dask("('x', 3)"), b);
/// assert!(Key::tuple("x", [9]) < Key::tuple("x", [10]));
///
/// // Any name type and any integer type: the same key.
/// let i: usize = 3;
/// let name = String::from("x");
/// assert_eq!(Key::from(("x", i)), b);
/// assert_eq!(Key::from((&name, 3_u32)), b);
/// assert_eq!(Key::from((name, 0_i32, 1_usize)), Key::tuple("x", [0, 1]));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Key(Repr);

#[derive(Clone, PartialEq, Eq, Hash)]
enum Repr {
    Str(Arc<str>),
    Tuple(Arc<TupleKey>),
}

/// Up to three indices (every Dask array up to 3-D) are stored inline, so hashing and
/// comparing a key touches one allocation, not two. The name's hash is computed once,
/// when the key is made: the chunks of one collection share a long name, and a key is
/// hashed more often than it is made.
struct TupleKey {
    name: Arc<str>,
    name_hash: u64,
    indices: Indices,
}

impl PartialEq for TupleKey {
    fn eq(&self, other: &Self) -> bool {
        self.name_hash == other.name_hash
            && self.indices == other.indices
            && self.name == other.name
    }
}

impl Eq for TupleKey {}

impl Hash for TupleKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Equal keys have equal names, hence equal name hashes: consistent with `Eq`.
        state.write_u64(self.name_hash);
        self.indices.hash(state);
    }
}

/// Hashes tuple-key names (fixed seed: the same in every run).
fn name_hash(name: &str) -> u64 {
    foldhash::fast::FixedState::with_seed(0x5eed_7a5c_100b).hash_one(name)
}

#[derive(PartialEq, Eq, Hash)]
enum Indices {
    Inline { len: u8, values: [i64; 3] },
    Heap(Box<[i64]>),
}

impl Indices {
    fn new(indices: &[i64]) -> Self {
        match indices.len() {
            len @ 0..=3 => {
                let mut values = [0; 3];
                values[..len].copy_from_slice(indices);
                Indices::Inline {
                    len: len as u8,
                    values,
                }
            }
            _ => Indices::Heap(indices.into()),
        }
    }

    fn as_slice(&self) -> &[i64] {
        match self {
            Indices::Inline { len, values } => &values[..*len as usize],
            Indices::Heap(values) => values,
        }
    }
}

impl Key {
    /// A plain string key.
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        Key(Repr::Str(name.into()))
    }

    /// A Dask-style tuple key: a name and one or more integer indices, shown as
    /// `('name', i, j)`.
    ///
    /// Pass the same `Arc<str>` for many chunks of one collection to share the name's
    /// allocation between their keys.
    pub fn tuple(name: impl Into<Arc<str>>, indices: impl AsRef<[i64]>) -> Self {
        let name = name.into();
        Key(Repr::Tuple(Arc::new(TupleKey {
            name_hash: name_hash(&name),
            name,
            indices: Indices::new(indices.as_ref()),
        })))
    }

    /// Reads a key written the way Dask prints it: `('x', 3)` or `('x', 0, 1)` becomes a
    /// tuple key, anything else a plain string key.
    ///
    /// This is how keys of the shared JSON graph files, which hold Python `repr`s of
    /// Dask's tuple keys, become the same keys [`Key::tuple`] builds.
    pub fn parse_dask(text: &str) -> Self {
        Self::parse_dask_interned(text, &mut |name| Arc::from(name))
    }

    /// [`Key::parse_dask`], taking tuple names from `intern` so that the many chunks
    /// of one collection share one name allocation.
    pub(crate) fn parse_dask_interned(
        text: &str,
        intern: &mut dyn FnMut(&str) -> Arc<str>,
    ) -> Self {
        match parse_tuple(text) {
            Some((name, indices)) => Key::tuple(intern(name), indices),
            None => Key::new(text),
        }
    }

    /// Makes this tuple key share `last`'s name allocation when the names are equal
    /// (the chunks of one collection, built in a loop from a `&str`, each allocate
    /// their own copy), and otherwise remembers its name in `last`. Shared names
    /// compare by pointer: the ordering passes, which break most ties by key, then
    /// compare indices only (on a fan-in tree of 100,000 `("leaf", i)` keys, half of
    /// `order`'s time went to comparing the names byte by byte). A key whose
    /// allocation is shared already is left as it is.
    pub(crate) fn share_name(&mut self, last: &mut Option<Arc<str>>) {
        let Repr::Tuple(t) = &mut self.0 else {
            return;
        };
        match last {
            Some(name) if Arc::ptr_eq(name, &t.name) => {}
            Some(name) if **name == *t.name => {
                if let Some(t) = Arc::get_mut(t) {
                    t.name = Arc::clone(name);
                }
            }
            _ => *last = Some(Arc::clone(&t.name)),
        }
    }

    /// A tuple key's name hash (computed when it was made) and its indices, for
    /// [`crate::index`] to file keys by; `None` for a string key.
    pub(crate) fn tuple_parts(&self) -> Option<(u64, &[i64])> {
        match &self.0 {
            Repr::Str(_) => None,
            Repr::Tuple(t) => Some((t.name_hash, t.indices.as_slice())),
        }
    }

    /// The name: the whole string of a string key, the first element of a tuple key.
    pub fn name(&self) -> &str {
        match &self.0 {
            Repr::Str(s) => s,
            Repr::Tuple(t) => &t.name,
        }
    }

    /// The integer indices of a tuple key; empty for a string key.
    pub fn indices(&self) -> &[i64] {
        match &self.0 {
            Repr::Str(_) => &[],
            Repr::Tuple(t) => t.indices.as_slice(),
        }
    }

    /// Whether this is a tuple key (`('x', 3)`) rather than a plain string.
    pub fn is_tuple(&self) -> bool {
        matches!(self.0, Repr::Tuple(_))
    }
}

/// Parses `('name', 1, 2)`; `None` when the text is not exactly that shape.
fn parse_tuple(text: &str) -> Option<(&str, Vec<i64>)> {
    let inner = text.strip_prefix('(')?.strip_suffix(')')?;
    let quote = inner.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let rest = &inner[1..];
    let end = rest.find(quote)?;
    let name = &rest[..end];
    if name.contains('\\') {
        return None; // escaped names are rare; keep the text as a string key
    }
    let mut tail = rest[end + 1..].strip_prefix(',')?;
    let mut indices = Vec::new();
    loop {
        tail = tail.trim_start();
        if tail.is_empty() {
            break;
        }
        let (number, next) = match tail.find(',') {
            Some(comma) => (&tail[..comma], Some(&tail[comma + 1..])),
            None => (tail, None),
        };
        indices.push(number.trim().parse::<i64>().ok()?);
        match next {
            Some(next) => tail = next,
            None => break,
        }
    }
    if indices.is_empty() {
        return None;
    }
    Some((name, indices))
}

impl From<&str> for Key {
    fn from(name: &str) -> Self {
        Key::new(name)
    }
}

impl From<String> for Key {
    fn from(name: String) -> Self {
        Key::new(name)
    }
}

impl From<Arc<str>> for Key {
    fn from(name: Arc<str>) -> Self {
        Key::new(name)
    }
}

impl From<&Key> for Key {
    fn from(key: &Key) -> Self {
        key.clone()
    }
}

/// A type that can name a tuple key: `&str`, `String`, `&String`, `Arc<str>`,
/// `&Arc<str>`, `Box<str>` or `Cow<str>`.
///
/// Used by the tuple conversions (`Key::from((name, i))`) so that an owned or borrowed
/// `String` works as well as a literal. Pass an `Arc<str>` (or `&Arc<str>`) to share
/// one name allocation between the many chunks of a collection.
pub trait KeyName: sealed::Sealed {
    /// The name, as keys store it.
    fn into_name(self) -> Arc<str>;
}

/// An integer type that can index a tuple key: `i8` to `i64`, `isize`, `u8` to `u64`,
/// `usize`.
///
/// Keys store indices as `i64`, like the integers of Dask's keys, so an index must fit
/// in one. Every index of a real collection does (a Rust collection holds at most
/// `isize::MAX` elements); a `u64` or `usize` above `i64::MAX` (a hash used as an
/// index, say) does not, and is refused: [`Key::try_tuple`] returns
/// [`KeyError::IndexOutOfRange`], and the `From` conversions panic with that message,
/// rather than wrap it into a negative index that could equal another key's.
pub trait KeyIndex: Copy + sealed::Sealed {
    /// The index as keys store it, or `None` when it does not fit in an `i64`.
    fn to_key_index(self) -> Option<i64>;

    /// The value, widened without loss, to report one that does not fit.
    fn to_i128(self) -> i128;
}

/// Keeps [`KeyName`] and [`KeyIndex`] closed: they describe conversions, not extension
/// points, so new types can be added here without breaking anyone's impl.
mod sealed {
    pub trait Sealed {}
}

macro_rules! key_names {
    ($($ty:ty => |$n:ident| $into:expr),* $(,)?) => {$(
        impl sealed::Sealed for $ty {}
        impl KeyName for $ty {
            fn into_name(self) -> Arc<str> {
                let $n = self;
                $into
            }
        }
    )*};
}

key_names! {
    &str => |n| Arc::from(n),
    String => |n| Arc::from(n),
    &String => |n| Arc::from(n.as_str()),
    Arc<str> => |n| n,
    &Arc<str> => |n| Arc::clone(n),
    Box<str> => |n| Arc::from(n),
    std::borrow::Cow<'_, str> => |n| Arc::from(n),
}

macro_rules! key_indices {
    ($($ty:ty),*) => {$(
        impl sealed::Sealed for $ty {}
        impl KeyIndex for $ty {
            fn to_key_index(self) -> Option<i64> {
                i64::try_from(self).ok()
            }
            fn to_i128(self) -> i128 {
                // Lossless: every type listed has at most 64 bits.
                self as i128
            }
        }
    )*};
}

key_indices!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize);

impl Key {
    /// A tuple key from indices of any [`KeyIndex`] type, or
    /// [`KeyError::IndexOutOfRange`] for the first one that does not fit in the `i64`
    /// keys store (a `u64` or `usize` above `i64::MAX`).
    ///
    /// The `From` conversions of tuples (`Key::from(("x", i))`) panic where this
    /// returns an error; use this one when indices come from data, such as hashes.
    ///
    /// ```
    /// use taskloom_core::{Key, KeyError};
    ///
    /// assert_eq!(Key::try_tuple("x", [3_usize])?, Key::tuple("x", [3]));
    /// let hash = u64::MAX;
    /// assert!(matches!(
    ///     Key::try_tuple("by-hash", [hash]),
    ///     Err(KeyError::IndexOutOfRange { position: 0, .. })
    /// ));
    /// # Ok::<(), KeyError>(())
    /// ```
    pub fn try_tuple<I: KeyIndex>(
        name: impl KeyName,
        indices: impl IntoIterator<Item = I>,
    ) -> Result<Self, KeyError> {
        let name = name.into_name();
        let mut stored = Vec::new();
        for (position, index) in indices.into_iter().enumerate() {
            stored.push(fit(&name, position, index)?);
        }
        Ok(Key::tuple(name, stored))
    }
}

/// `index` as keys store it, or the error naming it.
fn fit(name: &Arc<str>, position: usize, index: impl KeyIndex) -> Result<i64, KeyError> {
    index
        .to_key_index()
        .ok_or_else(|| KeyError::IndexOutOfRange {
            name: Arc::clone(name),
            position,
            index: index.to_i128(),
        })
}

/// The tuple conversions cannot return an error: an index that does not fit panics at
/// the caller's line with [`KeyError`]'s message. Wrapping it to a negative `i64`
/// instead would make two different keys equal, silently.
#[track_caller]
fn tuple_or_panic<const N: usize>(name: Arc<str>, wide: [i128; N]) -> Key {
    let mut stored = [0_i64; N];
    for (position, (slot, index)) in stored.iter_mut().zip(wide).enumerate() {
        match i64::try_from(index) {
            Ok(i) => *slot = i,
            Err(_) => panic!(
                "{}",
                KeyError::IndexOutOfRange {
                    name,
                    position,
                    index
                }
            ),
        }
    }
    Key::tuple(name, stored)
}

macro_rules! tuple_from {
    ($($index:ident: $ty:ident),+) => {
        impl<N: KeyName, $($ty: KeyIndex),+> From<(N, $($ty),+)> for Key {
            /// A tuple key: `(name, i, ...)` shows as `('name', i, ...)`.
            ///
            /// # Panics
            ///
            /// If an index does not fit in an `i64` (see [`KeyIndex`]);
            /// [`Key::try_tuple`] returns that as an error instead.
            #[track_caller]
            fn from((name, $($index),+): (N, $($ty),+)) -> Self {
                tuple_or_panic(name.into_name(), [$($index.to_i128()),+])
            }
        }
    };
}

tuple_from!(i: I);
tuple_from!(i: I, j: J);
tuple_from!(i: I, j: J, k: K);
tuple_from!(i: I, j: J, k: K, l: L);

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        match (&self.0, &other.0) {
            (Repr::Str(a), Repr::Str(b)) => return a.cmp(b),
            // Chunks of one collection usually share their name's allocation: then
            // only the indices need comparing (the ordering passes break ties so).
            (Repr::Tuple(a), Repr::Tuple(b)) if Arc::ptr_eq(&a.name, &b.name) => {
                return a.indices.as_slice().cmp(b.indices.as_slice());
            }
            _ => {}
        }
        self.name()
            .cmp(other.name())
            .then_with(|| self.indices().cmp(other.indices()))
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Key {
    /// A string key prints as itself; a tuple key as Python prints the tuple.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Str(s) => f.write_str(s),
            Repr::Tuple(t) => {
                let quote = if t.name.contains('\'') && !t.name.contains('"') {
                    '"'
                } else {
                    '\''
                };
                write!(f, "({quote}{}{quote},", t.name)?;
                for (n, i) in t.indices.as_slice().iter().enumerate() {
                    if n == 0 {
                        write!(f, " {i}")?;
                    } else {
                        write!(f, ", {i}")?;
                    }
                }
                f.write_str(")")
            }
        }
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Str(s) => write!(f, "{s:?}"),
            Repr::Tuple(_) => write!(f, "{self}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_like_dask() {
        assert_eq!(Key::from("x").to_string(), "x");
        assert_eq!(Key::tuple("x", [3]).to_string(), "('x', 3)");
        assert_eq!(Key::tuple("x", [0, -1]).to_string(), "('x', 0, -1)");
        assert_eq!(Key::tuple("it's", [1]).to_string(), "(\"it's\", 1)");
    }

    #[test]
    fn parse_round_trips_tuples() {
        for text in ["('x', 3)", "('ones-abc', 0, 12)", "(\"it's\", 1)"] {
            let key = Key::parse_dask(text);
            assert!(key.is_tuple(), "{text}");
            assert_eq!(key.to_string(), text);
        }
    }

    #[test]
    fn parse_keeps_other_text_as_strings() {
        for text in [
            "x",
            "('x')",
            "('x', )",
            "('x', 1.5)",
            "(x, 1)",
            "('x', 1",
            "",
        ] {
            let key = Key::parse_dask(text);
            assert!(!key.is_tuple(), "{text}");
            assert_eq!(key.to_string(), text);
        }
    }

    #[test]
    fn orders_by_name_then_indices_numerically() {
        let mut keys = [
            Key::tuple("x", [10]),
            Key::from("y"),
            Key::tuple("x", [9]),
            Key::from("x"),
            Key::tuple("a", [100]),
        ];
        keys.sort();
        let shown: Vec<String> = keys.iter().map(Key::to_string).collect();
        assert_eq!(shown, ["('a', 100)", "x", "('x', 9)", "('x', 10)", "y"]);
    }

    #[test]
    fn every_integer_type_makes_the_same_key() {
        let expect = Key::tuple("leaf", [7]);
        macro_rules! check {
            ($($ty:ty),*) => {$(
                assert_eq!(Key::from(("leaf", 7 as $ty)), expect, stringify!($ty));
                assert_eq!(
                    Key::try_tuple("leaf", [7 as $ty]).unwrap(),
                    expect,
                    stringify!($ty)
                );
            )*};
        }
        check!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize);
        // Extremes that fit.
        assert_eq!(Key::from(("x", i8::MIN)).indices(), [-128]);
        assert_eq!(Key::from(("x", i64::MIN)).indices(), [i64::MIN]);
        assert_eq!(Key::from(("x", i64::MAX as u64)).indices(), [i64::MAX]);
        assert_eq!(Key::from(("x", u32::MAX)).indices(), [i64::from(u32::MAX)]);
    }

    #[test]
    fn every_name_type_makes_the_same_key() {
        let expect = Key::tuple("leaf", [1, 2]);
        let owned = String::from("leaf");
        let shared: Arc<str> = Arc::from("leaf");
        assert_eq!(Key::from(("leaf", 1, 2)), expect);
        assert_eq!(Key::from((&owned, 1, 2)), expect);
        assert_eq!(Key::from((owned.clone(), 1, 2)), expect);
        assert_eq!(Key::from((&shared, 1, 2)), expect);
        assert_eq!(Key::from((Arc::clone(&shared), 1, 2)), expect);
        assert_eq!(Key::from((Box::<str>::from("leaf"), 1, 2)), expect);
        assert_eq!(
            Key::from((std::borrow::Cow::Borrowed("leaf"), 1, 2)),
            expect
        );
        assert_eq!(Key::try_tuple(&owned, [1_u8, 2]).unwrap(), expect);
        // `&Arc<str>` shares the name's allocation instead of copying it.
        let Repr::Tuple(t) = &Key::from((&shared, 1)).0 else {
            panic!("a tuple key")
        };
        assert!(Arc::ptr_eq(&t.name, &shared));
    }

    #[test]
    fn multi_index_tuples_mix_integer_types() {
        let i: usize = 4;
        let j: u32 = 5;
        let k: i8 = -6;
        assert_eq!(Key::from(("x", i, j)), Key::tuple("x", [4, 5]));
        assert_eq!(Key::from(("x", i, j, k)), Key::tuple("x", [4, 5, -6]));
        let four = Key::from(("x", i, j, k, 7_u64));
        assert_eq!(four, Key::tuple("x", [4, 5, -6, 7]));
        assert_eq!(four.to_string(), "('x', 4, 5, -6, 7)");
    }

    #[test]
    fn an_index_above_i64_max_is_an_error_not_a_wrapped_key() {
        let big = i64::MAX as u64 + 1;
        let err = Key::try_tuple("by-hash", [1, big]).unwrap_err();
        assert_eq!(
            err,
            KeyError::IndexOutOfRange {
                name: Arc::from("by-hash"),
                position: 1,
                index: i128::from(big),
            }
        );
        assert_eq!(
            err.to_string(),
            "index 9223372036854775808 (position 1) of tuple key `by-hash` is out of \
             range: key indices are i64, at most 9223372036854775807"
        );
        let err = Key::try_tuple("u", [usize::MAX]).unwrap_err();
        assert!(matches!(err, KeyError::IndexOutOfRange { position: 0, .. }));
    }

    #[test]
    fn from_panics_on_an_index_above_i64_max_naming_it() {
        for (position, make) in [
            (0, (|| Key::from(("big", u64::MAX))) as fn() -> Key),
            (1, || Key::from(("big", 0_u8, usize::MAX))),
            (2, || Key::from(("big", 0, 0, u64::MAX))),
        ] {
            let payload = std::panic::catch_unwind(make).expect_err("must not wrap");
            let message = payload
                .downcast_ref::<String>()
                .expect("a formatted message");
            assert!(
                message.contains(&format!(
                    "index {} (position {position}) of tuple key `big`",
                    u64::MAX
                )),
                "{message}"
            );
        }
    }

    #[test]
    fn tuple_and_string_with_same_text_differ() {
        assert_ne!(Key::tuple("x", [1]), Key::from("('x', 1)"));
        assert_eq!(Key::tuple("x", [1]), Key::from(("x", 1)));
    }
}
