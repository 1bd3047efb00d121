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
//! below is written as `taskloom::...`. The modules, in layers: each uses only its
//! own layer and those above it (save `remote`'s re-export of the worker entry point
//! [`remote::init`]), and `scripts/check_layers.py` checks that no modules import
//! each other in a ring.
//!
//! - `value` ([`Value`], the type-erased result), `error` ([`ComputeError`],
//!   [`TaskError`], [`ConfigError`]), `unwind` (user code's panics caught, never
//!   unwound through the runtime), `size` ([`ResultSize`]); `worker` (where a task
//!   ran: [`executor::Worker`], [`executor::Name`]); [`traffic`]: the bytes a
//!   computation's remote tasks produced, kept in workers, and moved through the
//!   parent; [`callbacks`]: per-computation hooks (start, task start, task finish,
//!   finish).
//! - `body`: what a task runs (blocking or async, and a remote call's neutral
//!   descriptor); `handle` ([`Handle<T>`], [`AnyHandle`]); [`inputs`]: the shapes a
//!   task's inputs take, for every arity up to twelve (one tuple macro, `tuples`);
//!   `graph` ([`Graph`]): tasks, typed wiring, blocking and async bodies; `targets`
//!   ([`Targets`], [`Request`] → [`Output`]): what a computation returns.
//! - [`remote`]: functions registered by name ([`remote::Registry`]) that tasks call
//!   in other processes, [`Graph::add_remote`], and [`remote::init`], which makes a
//!   copy of the program a worker.
//! - [`executor`]: the [`Executor`](executor::Executor) trait and the jobs it runs
//!   (each job owes its computation one completion), the scope every task of a
//!   computation shares, and the shipped [`ThreadPool`](executor::ThreadPool) and
//!   [`CurrentThread`](executor::CurrentThread); [`context`]: the running task's key
//!   and cancellation flag, as the executor layer records them.
//! - `link`: the conversation with a worker process (frames, a batch's exchange, a
//!   lost worker's jobs, the serve loop, results kept in workers);
//!   [`process`]: the [`ProcessPool`](process::ProcessPool) (remote tasks in child
//!   processes); [`cluster`]: the [`Cluster`](cluster::Cluster) (remote tasks on
//!   workers anywhere, over TCP, started by Slurm or any engine).
//! - `options` ([`ComputeOptions`]): one computation's settings; `compute`: the
//!   scheduling loop of one computation; owns core's `State` and the values (counted,
//!   with their bytes); completions arrive on one mpsc channel. Tasks start by one of
//!   two strategies, handed to the executor in batches or run inline on the loop's
//!   thread, through one gate that keeps the byte budget.
//! - `scheduler` ([`Scheduler`]): cheap to clone, shared by many computations;
//!   cancellation, callbacks, a byte budget per computation.
//! - [`diagnostics`]: callbacks that observe: profiler, resource sampler, Chrome trace
//!   export, progress bar (feature `progress`).
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

#![forbid(unsafe_code)]

mod body;
pub mod callbacks;
pub mod cluster;
mod compute;
pub mod context;
pub mod diagnostics;
mod error;
pub mod executor;
mod graph;
mod handle;
pub mod inputs;
mod link;
mod options;
pub mod process;
pub mod remote;
mod scheduler;
mod size;
mod targets;
pub mod traffic;
mod tuples;
mod unwind;
mod value;
mod worker;

pub use error::{BoxError, ComputeError, ConfigError, TaskError, TaskErrorKind};
pub use graph::Graph;
pub use handle::{AnyHandle, Handle};
pub use options::ComputeOptions;
pub use scheduler::{Compute, DEFAULT_MAX_ASYNC_TASKS, Scheduler, SchedulerBuilder};
pub use size::ResultSize;
pub use targets::{Output, Request, Take, Targets};
pub use taskloom_core::{GraphError, Key, KeyError, TaskId};
pub use tokio_util::sync::CancellationToken;
pub use value::{Value, value};
