//! taskloom-runtime: the Tokio driver around taskloom-core.
//!
//! A program builds a [`Graph`] of Rust functions with typed results, and awaits
//! [`Scheduler::compute`]. The scheduler runs each task exactly once, after its
//! dependencies, on the executor it was built with, drops every intermediate result as
//! soon as core's `State` releases it, and reports each step as `tracing` spans.
//!
//! # Layout
//!
//! The path of a task through this crate:
//!
//! - [`graph`]: [`Graph`], [`Handle<T>`]: tasks, typed wiring, blocking and async
//!   bodies.
//! - [`scheduler`]: [`Scheduler`] (cheap to clone, shared by many computations) and
//!   [`ComputeOptions`] (cancellation, callbacks, a byte budget).
//! - [`size`]: [`ResultSize`], the bytes a result holds, for the budget and the
//!   memory figures.
//! - `compute`: the scheduling loop of one computation; owns core's `State` and the
//!   values (counted, with their bytes); completions arrive on one mpsc channel.
//!   Tasks start by one of two strategies, handed to the executor in batches or run
//!   inline on the loop's thread, through one gate that keeps the byte budget.
//! - [`executor`]: the [`Executor`](executor::Executor) trait, [`Job`](executor::Job),
//!   [`Batch`](executor::Batch), [`Completion`](executor::Completion); the shipped
//!   [`ThreadPool`](executor::ThreadPool) and [`CurrentThread`](executor::CurrentThread);
//!   [`process`]: the [`ProcessPool`](executor::ProcessPool) (remote tasks in child
//!   processes) and `init` for its workers; [`cluster`]: the
//!   [`Cluster`](executor::Cluster) (remote tasks on workers anywhere, over TCP,
//!   started by Slurm or any engine). Both keep a remote result in the worker that
//!   made them when only remote tasks need it, and send work to its data
//!   (`executor::link::{place, resident}`).
//! - [`traffic`]: [`traffic::Traffic`], the bytes a computation's remote tasks
//!   produced, kept in workers, and moved through the parent.
//! - [`remote`]: functions registered by name ([`remote::Registry`]) that tasks call
//!   in other processes, and the neutral descriptor of such a call that executors
//!   interpret.
//! - [`context`]: the running task's key and cancellation flag.
//! - [`callbacks`]: per-computation hooks (start, task start, task finish, finish).
//! - [`diagnostics`]: callbacks that observe: profiler, resource sampler, Chrome trace
//!   export, progress bar (feature `progress`).
//! - [`targets`]: typed requests ([`Targets`]) and Dask-style nested key requests
//!   ([`Request`] → [`Output`]).
//! - [`error`]: [`ComputeError`], [`TaskError`], [`ConfigError`].
//! - [`value`]: [`Value`], the type-erased result.
//!
//! # Tracing
//!
//! Spans (the library installs no subscriber):
//! - `compute` (INFO) with fields `tasks`, `executor`, `workers`, `inline`,
//!   `memory_limit`, and when it ends `peak_held`, `peak_held_bytes` and
//!   `memory_overruns` (and, when remote tasks ran in worker processes,
//!   `bytes_produced`, `bytes_kept`, `bytes_to_parent`, `bytes_from_parent`,
//!   `bytes_moved`, `bytes_held_peak`): one per computation, around its whole loop (an INFO event in
//!   it the first time the byte budget is overrun);
//! - `task` (DEBUG), child of `compute`, with `key`, and once it ran `worker`,
//!   `queued_us` (handed out → started) and `run_us` (started → finished). It is
//!   entered on the worker thread that runs the task.
//!
//! # Example
//!
//! ```
//! use taskloom_runtime::{Graph, Scheduler};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut g = Graph::new();
//! let a = g.add("a", (), || 1_i64)?;
//! let b = g.add("b", &a, |x: &i64| x + 1)?;
//! let scheduler = Scheduler::threads(2)?;
//! let out: i64 = scheduler.compute(&g, &b).await?;
//! assert_eq!(out, 2);
//! # Ok(())
//! # }
//! ```

pub mod callbacks;
mod compute;
pub mod context;
pub mod diagnostics;
pub mod error;
pub mod executor;
pub mod graph;
pub mod remote;
pub mod scheduler;
pub mod size;
pub mod targets;
pub mod traffic;
pub mod value;

pub use callbacks::{Callback, ComputationId, Outcome};
pub use error::{BoxError, ComputeError, ConfigError, TaskError, TaskErrorKind};
pub use executor::{cluster, process};
pub use graph::{AnyHandle, Graph, Handle, TaskBody};
pub use scheduler::{Compute, ComputeOptions, Scheduler, SchedulerBuilder};
pub use size::ResultSize;
pub use targets::{Output, Request, Targets};
pub use taskloom_core;
pub use taskloom_core::{GraphError, Key, KeyError, TaskId};
pub use tokio_util::sync::CancellationToken;
pub use value::Value;
