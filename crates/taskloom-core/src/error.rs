//! Errors of the core: a key that cannot be made, a malformed graph, and a driver that
//! breaks [`State`]'s contract.
//!
//! Every variant names the keys involved, because the person reading the error knows
//! their tasks by key, never by internal id.
//!
//! [`State`]: crate::State

use std::fmt;
use std::sync::Arc;

use crate::{Key, TaskId};

/// A tuple key that cannot be made from the values given
/// ([`Key::try_tuple`](crate::Key::try_tuple)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// An index does not fit in the `i64` that keys store indices in: a `u64` or
    /// `usize` above `i64::MAX`.
    #[error(
        "index {index} (position {position}) of tuple key `{name}` is out of range: \
         key indices are i64, at most {max}",
        max = i64::MAX
    )]
    IndexOutOfRange {
        /// The key's name.
        name: Arc<str>,
        /// Which index, counting from 0.
        position: usize,
        /// The value given.
        index: i128,
    },
}

/// A graph that cannot be scheduled. Returned when building a graph or starting a
/// computation, before any task runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError {
    /// Two tasks were given the same key.
    #[error("duplicate key `{key}`: a graph holds one task per key")]
    DuplicateKey {
        /// The key given twice.
        key: Key,
    },
    /// A task depends on a key that no task in the graph has.
    #[error("task `{key}` depends on `{dependency}`, which is not in the graph")]
    MissingDependency {
        /// The task that names the missing dependency.
        key: Key,
        /// The key that no task has.
        dependency: Key,
    },
    /// A task depends on an id that is not (yet) in the graph: ids come from
    /// [`Graph::push`](crate::Graph::push) of the same graph, and a task can only
    /// depend on tasks added before it.
    #[error("task `{key}` depends on task id {dependency}, which is not in this graph")]
    InvalidDependency {
        /// The task being added.
        key: Key,
        /// The id that does not belong to an earlier task of this graph.
        dependency: TaskId,
    },
    /// The dependencies form a cycle, so none of the tasks on it can ever start.
    #[error("cycle in the graph: {}", CyclePath(keys))]
    Cycle {
        /// The keys on the cycle, each depending on the next; the last depends on the first.
        keys: Vec<Key>,
    },
    /// A requested result names a key that no task in the graph has.
    #[error("requested key `{key}` is not in the graph")]
    UnknownTarget {
        /// The requested key.
        key: Key,
    },
    /// A requested task id is not a task of this graph (an id from another graph).
    #[error("requested task id {id} is not in this graph")]
    InvalidTarget {
        /// The requested id.
        id: TaskId,
    },
    /// The graph has more tasks or edges than the scheduler's 32-bit ids can address.
    #[error("graph too large: more than {max} tasks or dependency edges")]
    TooLarge {
        /// The largest number supported.
        max: u64,
    },
}

struct CyclePath<'a>(&'a [Key]);

impl fmt::Display for CyclePath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for key in self.0 {
            write!(f, "`{key}` -> ")?;
        }
        match self.0.first() {
            Some(first) => write!(f, "`{first}` (each depends on the next)"),
            None => f.write_str("(empty)"),
        }
    }
}

/// A driver fed [`State`](crate::State) an event that does not fit the computation:
/// a bug in the driver (or in a user's executor), never in the graph.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// `finish` or `fail` was called for a task that is not running: it was never
    /// handed out, or it already finished.
    #[error(
        "task id {id} is not running: it was never handed out by pop_ready or has already completed"
    )]
    NotRunning {
        /// The task named by the event.
        id: TaskId,
    },
    /// `take_ready` was called for a task that is not ready: it waits for a
    /// dependency, was already handed out, or the computation stopped.
    #[error(
        "task id {id} is not ready: it waits for a dependency, was already handed out, or the computation stopped"
    )]
    NotReady {
        /// The task named by the call.
        id: TaskId,
    },
    /// `lose` named a task that has not finished: only finished results can be lost.
    #[error("task id {id} has not finished: only a finished result can be lost")]
    NotFinished {
        /// The task named by the call.
        id: TaskId,
    },
}
