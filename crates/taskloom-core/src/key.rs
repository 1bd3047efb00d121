//! Task keys: the names users give tasks, as Dask does.
//!
//! A [`Key`] is either a plain string (`"total"`) or a Dask-style tuple of a name and
//! integer indices (`('x', 3)`, the key of chunk 3 of array `x`). Keys are only used at
//! the edges of the scheduler (building a graph, reporting errors, tracing); the hot
//! path works on dense [`TaskId`](crate::TaskId)s. Cloning a key is a reference-count
//! increment, so errors and spans can carry keys freely.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

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

impl From<(&str, i64)> for Key {
    fn from((name, i): (&str, i64)) -> Self {
        Key::tuple(name, [i])
    }
}

impl From<(&str, i64, i64)> for Key {
    fn from((name, i, j): (&str, i64, i64)) -> Self {
        Key::tuple(name, [i, j])
    }
}

impl From<(&str, i64, i64, i64)> for Key {
    fn from((name, i, j, k): (&str, i64, i64, i64)) -> Self {
        Key::tuple(name, [i, j, k])
    }
}

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
    fn tuple_and_string_with_same_text_differ() {
        assert_ne!(Key::tuple("x", [1]), Key::from("('x', 1)"));
        assert_eq!(Key::tuple("x", [1]), Key::from(("x", 1)));
    }
}
