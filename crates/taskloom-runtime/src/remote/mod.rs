//! Remote functions: registered by name, called with serde values.
//!
//! A closure cannot cross a process boundary, a name can. A [`Registry`] maps names
//! to functions; the program builds the same registry in the parent and in every
//! worker (it is the same program, see [`init`]), so a
//! task only has to send its function's name and its encoded inputs.
//!
//! [`Registry::register`] returns a typed [`Remote<Args, O>`], and
//! [`Graph::add_remote`](crate::Graph::add_remote) wires it to handles exactly like
//! [`Graph::add`](crate::Graph::add) wires a closure: the same input shapes (`()`,
//! `&h`, tuples, slices), the same typed result handle. Under any other executor the
//! same task runs in-process, as a plain function, with no serialization: one graph
//! runs everywhere.
//!
//! This module belongs to no executor: a remote task carries a neutral descriptor of
//! its call (a name, how to encode the inputs, how to decode the result; it lives with
//! the task bodies, in `body`, and names no wire format) that each executor interprets
//! — the process pool sends it down a pipe, the cluster over TCP, other executors
//! ignore it and call the in-process function.
//!
//! # Layout
//!
//! - `registry`: [`Registry`] and [`Remote`] (the parent's side: a typed handle on a
//!   name) and `Served` (a worker's side: how it decodes, calls and encodes);
//!   [`Registry::register_dyn`] registers an untyped function whose values move by
//!   a [`Codec`] of its own, each task with a payload of its own: how a binding to
//!   another language (the Python package) runs that language's tasks in worker
//!   processes on the same executors;
//! - `args`: [`RemoteArgs`], how each argument shape moves between processes;
//! - `graph`: [`Graph::add_remote`](crate::Graph::add_remote) (and
//!   [`Graph::add_dyn_remote`](crate::Graph::add_dyn_remote)). It sits here rather
//!   than beside [`Graph::add`](crate::Graph::add) because it takes a [`Remote`]:
//!   the graph API then knows nothing of registries, and whatever builds this module
//!   (or leaves it out) takes the method with it;
//! - `format`: the one serde format (postcard) values cross in; with the registry,
//!   the only code that names it;
//! - [`Settings`]: what the process pool and the cluster are both told about their
//!   workers (program, frames, handshake, retries, residency); it lives in `link`.

mod args;
pub(crate) mod format;
mod graph;
mod registry;

pub use crate::init::init;
pub use crate::link::settings::{DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_MAX_FRAME_LENGTH, Settings};
pub use crate::link::worker::is_worker;
// Hooks for this crate's own tests (feature `test-hooks`), not API.
#[cfg(feature = "test-hooks")]
#[doc(hidden)]
pub use crate::link::{held::held_here, worker::__write_raw_to_pool};

pub use args::RemoteArgs;
pub use registry::{Codec, DynRemote, Raised, RegisterError, Registry, Remote};
pub(crate) use registry::{Served, drop_guarded};
