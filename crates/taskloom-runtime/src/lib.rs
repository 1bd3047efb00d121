//! taskloom-runtime: the Tokio driver around taskloom-core.
//!
//! A program builds a [`Graph`] of Rust functions with typed results, and awaits
//! [`Scheduler::compute`]. The scheduler runs each task exactly once, after its
//! dependencies, on the executor it was built with, drops every intermediate result as
//! soon as core's `State` releases it, and reports each step as `tracing` spans.
//!
//! # Layout
//!
//! Users depend on the `taskloom` package, which re-exports this crate: every path
//! below is written as `taskloom::...`. The path of a task through this crate:
//!
//! - `graph` ([`Graph`], [`Handle<T>`], [`AnyHandle`]): tasks, typed wiring,
//!   blocking and async bodies; [`inputs`]: the shapes a task's inputs take.
//! - `scheduler` ([`Scheduler`], [`ComputeOptions`]): cheap to clone, shared by many
//!   computations; cancellation, callbacks, a byte budget per computation.
//! - `compute`: the scheduling loop of one computation; owns core's `State` and the
//!   values (counted, with their bytes); completions arrive on one mpsc channel.
//!   Tasks start by one of two strategies, handed to the executor in batches or run
//!   inline on the loop's thread, through one gate that keeps the byte budget.
//! - [`executor`]: the [`Executor`](executor::Executor) trait and the jobs it runs;
//!   the shipped [`ThreadPool`](executor::ThreadPool) and
//!   [`CurrentThread`](executor::CurrentThread).
//! - [`remote`]: functions registered by name ([`remote::Registry`]) that tasks call
//!   in other processes, and [`remote::init`], which makes a copy of the program a
//!   worker; `link`: the conversation with a worker process (frames, a batch's
//!   exchange, a lost worker's jobs, the serve loop, results kept in workers);
//!   [`process`]: the [`ProcessPool`](process::ProcessPool) (remote tasks in child
//!   processes); [`cluster`]: the [`Cluster`](cluster::Cluster) (remote tasks on
//!   workers anywhere, over TCP, started by Slurm or any engine).
//! - [`traffic`]: [`traffic::Traffic`], the bytes a computation's remote tasks
//!   produced, kept in workers, and moved through the parent.
//! - [`context`]: the running task's key and cancellation flag.
//! - [`callbacks`]: per-computation hooks (start, task start, task finish, finish).
//! - [`diagnostics`]: callbacks that observe: profiler, resource sampler, Chrome trace
//!   export, progress bar (feature `progress`).
//! - `size` ([`ResultSize`]): the bytes a result holds, for the budget and the memory
//!   figures; `targets` ([`Targets`], [`Request`] → [`Output`]): what a computation
//!   returns; `error` ([`ComputeError`], [`TaskError`], [`ConfigError`]); `value`
//!   ([`Value`], the type-erased result).
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
//! use taskloom::{Graph, Scheduler};
//! use taskloom::remote;
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
pub mod cluster;
mod compute;
pub mod context;
pub mod diagnostics;
mod error;
pub mod executor;
mod graph;
mod init;
pub mod inputs;
mod link;
pub mod process;
pub mod remote;
mod scheduler;
mod size;
mod targets;
pub mod traffic;
mod value;

pub use error::{BoxError, ComputeError, ConfigError, TaskError, TaskErrorKind};
pub use graph::{AnyHandle, Graph, Handle};
pub use scheduler::{
    Compute, ComputeOptions, DEFAULT_MAX_ASYNC_TASKS, Scheduler, SchedulerBuilder,
};
pub use size::ResultSize;
pub use targets::{Output, Request, Take, Targets};
pub use taskloom_core::{GraphError, Key, KeyError, TaskId};
pub use tokio_util::sync::CancellationToken;
pub use value::{Value, value};
