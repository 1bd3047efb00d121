//! The task graph: keys, dependency lists and opaque payloads, stored densely.
//!
//! A [`Graph`] numbers its tasks `0..len` in the order they were added, and a task may
//! only depend on tasks added before it. So ids are a topological order by construction:
//! a graph can never hold a cycle or a dangling dependency, and every pass over it
//! (culling, ordering, counting dependents) is a flat loop over arrays with no recursion
//! and no hash lookups. Dependencies are stored CSR-style: one offsets array and one flat
//! array of ids.
//!
//! Graphs whose tasks arrive in any order, naming dependencies by key (a Dask dict, a
//! JSON file) go through [`GraphBuilder`](crate::GraphBuilder), which validates them and
//! adds the tasks here in a topological order.

use std::fmt;
use std::sync::Arc;

use crate::index::KeyIndex;
use crate::{GraphError, Key};

/// The dense id of a task within one [`Graph`]: its position in insertion order.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct TaskId(u32);

impl TaskId {
    /// Most tasks (and dependency edges) a graph can hold.
    pub const MAX: u32 = u32::MAX - 1;

    /// The id of the task at position `index`.
    ///
    /// # Panics
    /// If `index` exceeds [`TaskId::MAX`].
    pub fn from_index(index: usize) -> Self {
        match u32::try_from(index) {
            Ok(i) if i <= Self::MAX => TaskId(i),
            _ => panic!("task index {index} exceeds TaskId::MAX"),
        }
    }

    /// The position of the task, for indexing arrays sized by the graph.
    #[inline]
    pub fn index(self) -> usize {
        self.0 as usize
    }

    #[inline]
    pub(crate) fn new(i: u32) -> Self {
        TaskId(i)
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A validated task graph whose tasks carry a payload `T` that the core never inspects
/// (the runtime stores the task's function there).
///
/// ```
/// use taskloom_core::Graph;
///
/// let mut g = Graph::new();
/// let a = g.push("a", &[], "load")?;
/// let b = g.push("b", &[a], "parse")?;
/// let c = g.push(("sum", 0), &[a, b], "add")?;
/// assert_eq!(g.len(), 3);
/// assert_eq!(g.deps(c), &[a, b]);
/// assert_eq!(g.key(c).to_string(), "('sum', 0)");
/// assert_eq!(g.id(&"b".into()), Some(b));
/// assert!(g.push("a", &[], "again").is_err()); // duplicate key
/// # Ok::<(), taskloom_core::GraphError>(())
/// ```
#[derive(Clone)]
pub struct Graph<T> {
    keys: Vec<Key>,
    payloads: Vec<T>,
    /// `deps[dep_offsets[i]..dep_offsets[i + 1]]` are the dependencies of task `i`.
    dep_offsets: Vec<u32>,
    deps: Vec<TaskId>,
    index: KeyIndex,
    /// The name of the last tuple key pushed, which the next one shares when equal
    /// (see [`Key::share_name`]).
    last_name: Option<Arc<str>>,
}

impl<T> Default for Graph<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Graph<T> {
    /// An empty graph.
    pub fn new() -> Self {
        Self::with_capacity(0, 0)
    }

    /// An empty graph with room for `tasks` tasks and `edges` dependency edges.
    pub fn with_capacity(tasks: usize, edges: usize) -> Self {
        let mut dep_offsets = Vec::with_capacity(tasks + 1);
        dep_offsets.push(0);
        Graph {
            keys: Vec::with_capacity(tasks),
            payloads: Vec::with_capacity(tasks),
            dep_offsets,
            deps: Vec::with_capacity(edges),
            index: KeyIndex::with_capacity(tasks),
            last_name: None,
        }
    }

    /// Adds a task that depends on `deps` (in argument order; an id may repeat) and
    /// returns its id.
    ///
    /// # Errors
    /// [`GraphError::DuplicateKey`] if a task already has `key`;
    /// [`GraphError::InvalidDependency`] if a dependency is not an earlier task of this
    /// graph; [`GraphError::TooLarge`] past [`TaskId::MAX`] tasks or edges. On error
    /// the graph is unchanged.
    pub fn push(
        &mut self,
        key: impl Into<Key>,
        deps: &[TaskId],
        payload: T,
    ) -> Result<TaskId, GraphError> {
        let mut key = key.into();
        key.share_name(&mut self.last_name);
        let len = self.keys.len();
        if len >= TaskId::MAX as usize || self.deps.len() + deps.len() > TaskId::MAX as usize {
            return Err(GraphError::TooLarge {
                max: u64::from(TaskId::MAX),
            });
        }
        if let Some(&bad) = deps.iter().find(|d| d.index() >= len) {
            return Err(GraphError::InvalidDependency {
                key,
                dependency: bad,
            });
        }
        let id = TaskId::new(len as u32);
        if !self.index.insert(&self.keys, &key, id.0) {
            return Err(GraphError::DuplicateKey { key });
        }
        self.keys.push(key);
        self.payloads.push(payload);
        self.deps.extend_from_slice(deps);
        self.dep_offsets.push(self.deps.len() as u32);
        Ok(id)
    }

    /// Number of tasks.
    #[inline]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the graph has no tasks.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Number of dependency edges (sum of the lengths of all dependency lists).
    #[inline]
    pub fn edge_count(&self) -> usize {
        self.deps.len()
    }

    /// The key of task `id`.
    ///
    /// # Panics
    /// If `id` is not a task of this graph.
    #[inline]
    pub fn key(&self, id: TaskId) -> &Key {
        &self.keys[id.index()]
    }

    /// All keys, indexed by task id.
    #[inline]
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// The id of the task with `key`, if there is one.
    pub fn id(&self, key: &Key) -> Option<TaskId> {
        self.index.find(&self.keys, key).map(TaskId)
    }

    /// The ids of `keys`, in the same order.
    ///
    /// # Errors
    /// [`GraphError::UnknownTarget`] naming the first key that no task has.
    pub fn resolve<'k>(
        &self,
        keys: impl IntoIterator<Item = &'k Key>,
    ) -> Result<Vec<TaskId>, GraphError> {
        keys.into_iter()
            .map(|k| {
                self.id(k)
                    .ok_or_else(|| GraphError::UnknownTarget { key: k.clone() })
            })
            .collect()
    }

    /// The dependencies of task `id`, in the order they were given.
    ///
    /// # Panics
    /// If `id` is not a task of this graph.
    #[inline]
    pub fn deps(&self, id: TaskId) -> &[TaskId] {
        let i = id.index();
        &self.deps[self.dep_offsets[i] as usize..self.dep_offsets[i + 1] as usize]
    }

    /// The payload of task `id`.
    ///
    /// # Panics
    /// If `id` is not a task of this graph.
    #[inline]
    pub fn payload(&self, id: TaskId) -> &T {
        &self.payloads[id.index()]
    }

    /// All payloads, indexed by task id.
    #[inline]
    pub fn payloads(&self) -> &[T] {
        &self.payloads
    }

    /// Every task id, in insertion (= topological) order.
    pub fn ids(&self) -> impl DoubleEndedIterator<Item = TaskId> + ExactSizeIterator + use<T> {
        (0..self.keys.len() as u32).map(TaskId::new)
    }

    /// The same graph with each payload replaced by `f(id, payload)`.
    pub fn map<U>(self, mut f: impl FnMut(TaskId, T) -> U) -> Graph<U> {
        Graph {
            payloads: self
                .payloads
                .into_iter()
                .enumerate()
                .map(|(i, p)| f(TaskId::new(i as u32), p))
                .collect(),
            keys: self.keys,
            dep_offsets: self.dep_offsets,
            deps: self.deps,
            index: self.index,
            last_name: self.last_name,
        }
    }

    /// A graph from arrays already validated by [`GraphBuilder`](crate::GraphBuilder):
    /// every dependency of task `i` is below `i`, keys are unique and `index` maps
    /// them.
    pub(crate) fn from_parts(
        keys: Vec<Key>,
        payloads: Vec<T>,
        dep_offsets: Vec<u32>,
        deps: Vec<TaskId>,
        index: KeyIndex,
    ) -> Self {
        debug_assert_eq!(keys.len() + 1, dep_offsets.len());
        debug_assert_eq!(keys.len(), payloads.len());
        Graph {
            keys,
            payloads,
            dep_offsets,
            deps,
            index,
            last_name: None,
        }
    }

    /// The CSR arrays: `(offsets, edges)` with the dependencies of task `i` at
    /// `edges[offsets[i]..offsets[i + 1]]`.
    #[inline]
    pub(crate) fn dep_csr(&self) -> (&[u32], &[TaskId]) {
        (&self.dep_offsets, &self.deps)
    }

    /// Heap bytes held by the graph's own arrays and key index (not counting the
    /// payloads' own heap data or the keys' shared strings).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.keys.capacity() * size_of::<Key>()
            + self.payloads.capacity() * size_of::<T>()
            + self.dep_offsets.capacity() * size_of::<u32>()
            + self.deps.capacity() * size_of::<TaskId>()
            + self.index.heap_bytes()
    }
}

impl<T> fmt::Debug for Graph<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for id in self.ids() {
            let deps: Vec<&Key> = self.deps(id).iter().map(|d| self.key(*d)).collect();
            map.entry(self.key(id), &deps);
        }
        map.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Chunks of one collection built from a `&str` end up sharing one name
    /// allocation (what lets the order compare their keys by index only), and the
    /// sharing never changes a key.
    #[test]
    fn consecutive_tuple_keys_share_their_name() {
        let mut g = Graph::new();
        let a = g.push(("leaf", 0), &[], ()).unwrap();
        let b = g.push(("leaf", 1), &[], ()).unwrap();
        let s = g.push("sum", &[a, b], ()).unwrap();
        let c = g.push(("leaf", 2), &[s], ()).unwrap();
        let o = g.push(("other", 0), &[], ()).unwrap();
        let name = |t: TaskId| g.key(t).name().as_ptr();
        assert_eq!(name(a), name(b));
        assert_eq!(name(a), name(c), "a string key in between keeps the name");
        assert_ne!(name(a), name(o));
        assert_eq!(g.key(b), &Key::from(("leaf", 1)));
        assert_eq!(g.key(c).to_string(), "('leaf', 2)");
        assert_eq!(g.id(&Key::from(("leaf", 2))), Some(c));
    }
}
