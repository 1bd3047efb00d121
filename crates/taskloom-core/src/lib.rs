//! taskloom-core: the scheduling state machine of taskloom, with no I/O.
//!
//! This crate makes every scheduling decision of a Dask-style task graph and carries
//! out none of them. It has no async runtime, spawns no threads, reads no clock and
//! touches no files or sockets: time and completions come in as method calls, decisions
//! go out as return values. That keeps every decision deterministic and testable by a
//! plain `#[test]` (the sans-I/O split of `quinn-proto` under `quinn`);
//! `taskloom-runtime` is the Tokio driver around it.
//!
//! # Layout
//!
//! The path of a computation through this crate, module by module:
//!
//! - [`key`]: [`Key`], a task's name: a string or Dask's `('x', 3)` tuple.
//! - [`graph`]: [`Graph`], tasks with dense [`TaskId`]s, dependency lists in flat
//!   CSR arrays and an opaque payload per task. Ids are a topological order by
//!   construction.
//! - [`builder`]: [`GraphBuilder`], for tasks that name their dependencies by key
//!   in any order; reports duplicate keys, missing dependencies and cycles.
//! - [`cull`](mod@cull): what a set of targets needs, and who depends on what.
//! - [`fuse`](mod@fuse): chains of single-dependent tasks merged into one task each
//!   (Dask's `fuse_linear`), to cut per-task overhead.
//! - [`order`](mod@order): static priorities that finish what was started and
//!   hold few results at once (Dask's `dask.order`, holding no more), and
//!   [`order::diagnostics`] to measure how many results an order holds.
//! - [`state`]: [`State`], one computation: completions in, ready tasks (by static
//!   priority) and releasable results out. Its docs give the driving contract.
//! - [`error`]: [`KeyError`] (an index that does not fit a key), [`GraphError`]
//!   (bad graphs) and [`StateError`] (bad drivers).
//! - `file` (feature `serde`): the shared JSON graph format.
//!
//! # Example
//!
//! ```
//! use taskloom_core::{GraphBuilder, Key, State, Status};
//!
//! let mut b = GraphBuilder::new();
//! b.add("x", [] as [&str; 0], ())?;
//! b.add("y", ["x"], ())?;
//! b.add("z", ["x", "y"], ())?;
//! let g = b.build()?;
//! let z = g.id(&Key::from("z")).expect("z was added");
//! let mut state = State::new(&g, &[z])?;
//! let mut order = Vec::new();
//! while let Some(task) = state.pop_ready() {
//!     order.push(g.key(task).to_string());
//!     state.finish(task)?;
//!     while state.pop_release().is_some() {}
//! }
//! assert_eq!(order, ["x", "y", "z"]);
//! assert_eq!(state.status(), Status::Done);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

pub mod builder;
pub mod cull;
pub mod error;
#[cfg(feature = "serde")]
pub mod file;
pub mod fuse;
pub mod graph;
mod index;
pub mod key;
pub mod order;
mod ready;
pub mod state;

pub use builder::GraphBuilder;
pub use cull::{Culled, cull};
pub use error::{GraphError, KeyError, StateError};
pub use fuse::{Fused, FusedTask, fuse};
pub use graph::{Graph, TaskId};
pub use key::{Key, KeyIndex, KeyName};
pub use order::{Priorities, order};
pub use state::{Counts, State, Status, TaskState};
