//! References to a task's result: [`Handle<T>`] (typed) and [`AnyHandle`] (untyped).
//!
//! A handle is what the graph gives back for a task, what later tasks take as inputs
//! ([`crate::inputs`]) and what a computation is asked for ([`Targets`](crate::Targets)).
//! All three read it, so it stands on its own below them. A handle knows the graph
//! that made it: using it in another graph is an error, never a silent mix-up.

use std::fmt;
use std::marker::PhantomData;

use taskloom_core::TaskId;

/// A typed reference to the result of a task in one [`Graph`](crate::Graph).
///
/// Cheap to copy. Only valid for the graph that returned it: using it in another
/// graph is an error ([`GraphError::InvalidDependency`](crate::GraphError::InvalidDependency)).
pub struct Handle<T> {
    id: TaskId,
    graph: u64,
    _type: PhantomData<fn() -> T>,
}

impl<T> Handle<T> {
    /// The handle of task `id` of graph `graph`.
    pub(crate) fn new(id: TaskId, graph: u64) -> Self {
        Handle {
            id,
            graph,
            _type: PhantomData,
        }
    }

    /// The task's id in its graph.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// The graph it belongs to.
    pub(crate) fn graph_id(&self) -> u64 {
        self.graph
    }

    /// The untyped handle.
    pub fn erase(&self) -> AnyHandle {
        AnyHandle {
            id: self.id,
            graph: self.graph,
        }
    }
}

impl<T> Clone for Handle<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Handle<T> {}

impl<T> fmt::Debug for Handle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Handle({} of graph {})", self.id, self.graph)
    }
}

/// An untyped reference to a task's result, for graphs built from data (Dask dicts,
/// JSON) where types are only known at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnyHandle {
    id: TaskId,
    graph: u64,
}

impl AnyHandle {
    /// The handle of task `id` of graph `graph`.
    pub(crate) fn new(id: TaskId, graph: u64) -> Self {
        AnyHandle { id, graph }
    }

    /// The task's id in its graph.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// The graph it belongs to.
    pub(crate) fn graph_id(&self) -> u64 {
        self.graph
    }
}
