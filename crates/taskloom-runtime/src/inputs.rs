//! What a task takes as input: the tuple-input machinery behind [`Graph::add`](crate::Graph::add).
//!
//! Most programs never name these: a task's inputs are written as `()`, a handle, a
//! tuple of handles or a slice of handles, and [`Graph::add`](crate::Graph::add) works
//! out the function's argument types from them. [`Many`] names "a slice of inputs of
//! one type" where a type must be written out (a remote function's argument list).

pub use crate::graph::{AsyncTaskFn, DynArgs, Inputs, Many, TaskFn};
