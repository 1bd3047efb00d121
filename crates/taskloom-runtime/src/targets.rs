//! What a computation is asked for, and how its results come back.
//!
//! Typed requests ([`Targets`]): a handle gives its value, a tuple of handles (up to
//! twelve) a tuple of values, a slice of handles a `Vec`. Untyped requests
//! ([`Request`]) are Dask's nested key lists: `get(dsk, [["x"], "y"])` returns
//! `((1,), 2)`, here an [`Output`] tree of the same shape.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use taskloom_core::{GraphError, Key, TaskId};

use crate::error::ComputeError;
use crate::graph::Graph;
use crate::handle::Handle;
use crate::tuples::all_the_tuples;
use crate::value::Value;

/// Takes the value of a finished target out of the computation's results.
#[doc(hidden)]
pub type Take<'a> = dyn FnMut(TaskId) -> Option<Value> + 'a;

/// A typed request: which tasks to compute and how to return their values.
pub trait Targets {
    /// What the computation returns.
    type Output: Send + 'static;

    /// The requested tasks, in order.
    ///
    /// # Errors
    /// [`GraphError::InvalidTarget`] for a handle of another graph.
    fn ids(&self, graph: &Graph) -> Result<Vec<TaskId>, GraphError>;

    /// Builds the output from the values of `ids` (as returned by `ids`).
    ///
    /// # Errors
    /// [`ComputeError::Protocol`] if a value is missing or of the wrong type (a bug).
    #[doc(hidden)]
    fn extract(ids: &[TaskId], take: &mut Take<'_>) -> Result<Self::Output, ComputeError>;
}

fn check<T>(graph: &Graph, handle: &Handle<T>) -> Result<TaskId, GraphError> {
    if handle.graph_id() == graph.id() && handle.id().index() < graph.len() {
        Ok(handle.id())
    } else {
        Err(GraphError::InvalidTarget { id: handle.id() })
    }
}

fn typed<T: Any + Send + Sync>(id: TaskId, take: &mut Take<'_>) -> Result<T, ComputeError> {
    let value =
        take(id).ok_or_else(|| ComputeError::Protocol(format!("no result for target {id}")))?;
    let arc = value.downcast::<T>().map_err(|_| {
        ComputeError::Protocol(format!(
            "target {id} is not a {}",
            std::any::type_name::<T>()
        ))
    })?;
    Arc::try_unwrap(arc)
        .map_err(|_| ComputeError::Protocol(format!("result of target {id} is still shared")))
}

impl<T: Any + Send + Sync> Targets for &Handle<T> {
    type Output = T;

    fn ids(&self, graph: &Graph) -> Result<Vec<TaskId>, GraphError> {
        Ok(vec![check(graph, self)?])
    }

    fn extract(ids: &[TaskId], take: &mut Take<'_>) -> Result<T, ComputeError> {
        typed(ids[0], take)
    }
}

impl<T: Any + Send + Sync> Targets for &[Handle<T>] {
    type Output = Vec<T>;

    fn ids(&self, graph: &Graph) -> Result<Vec<TaskId>, GraphError> {
        self.iter().map(|h| check(graph, h)).collect()
    }

    fn extract(ids: &[TaskId], take: &mut Take<'_>) -> Result<Vec<T>, ComputeError> {
        ids.iter().map(|&id| typed(id, take)).collect()
    }
}

impl<T: Any + Send + Sync> Targets for &Vec<Handle<T>> {
    type Output = Vec<T>;

    fn ids(&self, graph: &Graph) -> Result<Vec<TaskId>, GraphError> {
        self.as_slice().ids(graph)
    }

    fn extract(ids: &[TaskId], take: &mut Take<'_>) -> Result<Vec<T>, ComputeError> {
        <&[Handle<T>]>::extract(ids, take)
    }
}

macro_rules! tuple_targets {
    // A single target is a handle, `&h`, returning its value alone.
    ($name:ident $idx:tt) => {};
    ($($name:ident $idx:tt),+) => {
        impl<$($name: Any + Send + Sync),+> Targets for ($(&Handle<$name>,)+) {
            type Output = ($($name,)+);

            fn ids(&self, graph: &Graph) -> Result<Vec<TaskId>, GraphError> {
                Ok(vec![$(check(graph, self.$idx)?),+])
            }

            fn extract(ids: &[TaskId], take: &mut Take<'_>) -> Result<Self::Output, ComputeError> {
                Ok(($(typed::<$name>(ids[$idx], take)?,)+))
            }
        }
    };
}

all_the_tuples!(tuple_targets);

/// An untyped request: a key, or a (nested) list of requests.
///
/// ```
/// use taskloom::Request;
///
/// // Dask's [["x"], "y"]
/// let r = Request::list([Request::list(["x"]), "y".into()]);
/// assert_eq!(r.to_string(), "[[x], y]");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// The result of one task.
    Key(Key),
    /// A list of results, in order.
    List(Vec<Request>),
}

impl Request {
    /// A list request.
    pub fn list<R: Into<Request>>(items: impl IntoIterator<Item = R>) -> Self {
        Request::List(items.into_iter().map(Into::into).collect())
    }

    /// Appends every key, depth first.
    pub(crate) fn keys<'a>(&'a self, out: &mut Vec<&'a Key>) {
        match self {
            Request::Key(k) => out.push(k),
            Request::List(items) => items.iter().for_each(|i| i.keys(out)),
        }
    }

    /// Builds the output tree, reading each key's value with `lookup`.
    pub(crate) fn build(
        &self,
        lookup: &mut dyn FnMut(&Key) -> Option<Value>,
    ) -> Result<Output, ComputeError> {
        Ok(match self {
            Request::Key(k) => Output::Value(
                lookup(k)
                    .ok_or_else(|| ComputeError::Protocol(format!("no result for target `{k}`")))?,
            ),
            Request::List(items) => Output::List(
                items
                    .iter()
                    .map(|i| i.build(lookup))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::Key(k) => write!(f, "{k}"),
            Request::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
        }
    }
}

impl From<Key> for Request {
    fn from(k: Key) -> Self {
        Request::Key(k)
    }
}

impl From<&str> for Request {
    fn from(k: &str) -> Self {
        Request::Key(k.into())
    }
}

impl From<String> for Request {
    fn from(k: String) -> Self {
        Request::Key(k.into())
    }
}

impl<R: Into<Request>> From<Vec<R>> for Request {
    fn from(items: Vec<R>) -> Self {
        Request::list(items)
    }
}

/// The results of an untyped request, in the request's shape.
#[derive(Clone)]
pub enum Output {
    /// One task's value.
    Value(Value),
    /// A list of results.
    List(Vec<Output>),
}

impl Output {
    /// The value, if this is a single result of type `T`.
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        match self {
            Output::Value(v) => v.downcast_ref(),
            Output::List(_) => None,
        }
    }

    /// The items, if this is a list.
    pub fn as_list(&self) -> Option<&[Output]> {
        match self {
            Output::List(items) => Some(items),
            Output::Value(_) => None,
        }
    }
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Output::Value(v) => {
                if let Some(x) = v.downcast_ref::<i64>() {
                    write!(f, "{x}")
                } else if let Some(x) = v.downcast_ref::<f64>() {
                    write!(f, "{x}")
                } else if let Some(x) = v.downcast_ref::<String>() {
                    write!(f, "{x:?}")
                } else {
                    f.write_str("<value>")
                }
            }
            // Shown as Python shows the tuples Dask returns: `((1,), 2)`.
            Output::List(items) => {
                f.write_str("(")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item:?}")?;
                }
                f.write_str(if items.len() == 1 { ",)" } else { ")" })
            }
        }
    }
}
