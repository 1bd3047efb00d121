//! Names of nodes and jobs, interned so that [`Worker`](super::Worker) stays `Copy`:
//! every completion, span and callback names its worker, and copying two pointers is
//! all that costs.
//!
//! Each distinct name is kept once for the life of the process. Names come only from
//! authenticated cluster workers and from the cluster's launcher (a node, a job id),
//! so there are few; past [`MAX_NAMES`] a placeholder stands for new ones rather than
//! letting a long-lived process grow without bound.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Mutex, OnceLock, PoisonError};

/// Most distinct names kept.
pub(crate) const MAX_NAMES: usize = 1 << 16;

/// The name given once [`MAX_NAMES`] are kept.
const OVERFLOW: &str = "(name not kept)";

/// An interned name (a node's, a job's): cheap to copy, compare and hash.
///
/// ```
/// use taskloom::executor::Name;
///
/// let node = Name::new("n1");
/// assert_eq!(node, Name::new("n1"));
/// assert_eq!(node.as_str(), "n1");
/// assert!(Name::EMPTY.is_empty());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Name(&'static str);

impl Name {
    /// The empty name (no job, say).
    pub const EMPTY: Name = Name("");

    /// The name `text`, kept for the life of the process (the same allocation for
    /// every equal text).
    pub fn new(text: &str) -> Name {
        if text.is_empty() {
            return Name::EMPTY;
        }
        static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
        let mut names = NAMES
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(&kept) = names.get(text) {
            return Name(kept);
        }
        if names.len() >= MAX_NAMES {
            return Name(OVERFLOW);
        }
        let kept: &'static str = Box::leak(text.to_owned().into_boxed_str());
        names.insert(kept);
        Name(kept)
    }

    /// The text.
    pub fn as_str(self) -> &'static str {
        self.0
    }

    /// Whether it is the empty name.
    pub fn is_empty(self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Name;

    #[test]
    fn equal_texts_share_one_allocation() {
        let a = Name::new(&String::from("node-a"));
        let b = Name::new("node-a");
        assert!(std::ptr::eq(a.as_str(), b.as_str()));
        assert_ne!(a, Name::new("node-b"));
        assert_eq!(Name::new(""), Name::EMPTY);
    }
}
