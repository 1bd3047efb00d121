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
//!   in other processes, [`Graph::add_remote`], [`remote::init`], which makes a
//!   copy of the program a worker, and the [`remote::Settings`] both executors below
//!   share.
//! - [`executor`]: the [`Executor`](executor::Executor) trait and the jobs it runs
//!   (each job owes its computation one completion), the scope every task of a
//!   computation shares, and the shipped [`ThreadPool`](executor::ThreadPool) and
//!   [`CurrentThread`](executor::CurrentThread); [`context`]: the running task's key
//!   and cancellation flag, as the executor layer records them.
//! - `link`: the conversation with a worker process (frames, one batch's driver and
//!   exchange, a lost worker's jobs, the serve loop, results kept in workers, worker
//!   mode); [`process`]: the [`ProcessPool`](process::ProcessPool) (remote tasks in
//!   child processes); [`cluster`]: the [`Cluster`](cluster::Cluster) (remote tasks on
//!   workers anywhere, over TCP, started by Slurm or any engine). Both depend on
//!   `link`, never on each other; `init` (behind [`remote::init`]) sits above both.
//! - [`policy`]: what a task may do besides run once (a timeout per attempt,
//!   retries with backoff), set per task and defaulted per computation;
//!   [`cache`] (feature `cache`): a result cache on disk, keyed by a Merkle chain
//!   of the tasks' keys, versions and inputs, that survives restarts.
//! - `options` ([`ComputeOptions`]): one computation's settings; `compute`: the
//!   scheduling loop of one computation; owns core's `State` and the values (counted,
//!   with their bytes); completions arrive on one mpsc channel. Tasks start by one of
//!   two strategies, handed to the executor in batches or run inline on the loop's
//!   thread, through one gate that keeps the byte budget.
//! - `scheduler` ([`Scheduler`]): cheap to clone, shared by many computations;
//!   cancellation, callbacks, a byte budget per computation.
//! - [`diagnostics`]: callbacks that observe: profiler, resource sampler, Chrome trace
//!   export, progress bar (feature `progress`); pictures of a graph (DOT, SVG) and
//!   the HTML report of a run.
//!
//! # Features
//!
//! - `process` (default): the process pool, and [`remote`] with it;
//! - `cluster` (default): the cluster, and [`remote`] with it;
//! - `cache` (default): the result cache ([`cache`]: serde, postcard, BLAKE3);
//! - `progress`: a terminal progress bar ([`diagnostics`]).
//!
//! Without `process` and `cluster`, a program that runs graphs on threads compiles
//! no network, crypto or wire-format crate (no serde, postcard, sha2, hmac, getrandom,
//! blake3, and Tokio without `net`, `process` or `signal`).
//!
//! # Tracing
//!
//! Spans (the library installs no subscriber):
//! - `compute` (INFO) with fields `tasks`, `executor`, `workers`, `inline`,
//!   `memory_limit`, and when it ends `peak_held`, `peak_held_bytes` and
//!   `memory_overruns` (and, when remote tasks ran in worker processes,
//!   `bytes_produced`, `bytes_kept`, `bytes_to_parent`, `bytes_from_parent`,
//!   `bytes_moved`, `bytes_worker_to_worker`, `bytes_held_peak`): one per computation, around its whole loop (an INFO event in
//!   it the first time the byte budget is overrun);
//! - `task` (DEBUG), child of `compute`, with `key`, and once it ran `worker`,
//!   `queued_us` (handed out → started) and `run_us` (started → finished). It is
//!   entered on the worker thread that runs the task.
//!
//! # Example
//!
//! ```
//! use taskloom::{Graph, Scheduler};
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
#![cfg_attr(docsrs, feature(doc_cfg))]

mod body;
#[cfg(feature = "cache")]
#[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
pub mod cache;
pub mod callbacks;
#[cfg(feature = "cluster")]
#[cfg_attr(docsrs, doc(cfg(feature = "cluster")))]
pub mod cluster;
mod compute;
// The executor layer's side for worker processes (retries after a loss, results kept
// in workers, their traffic) is unused by a build without the process pool and the
// cluster: not dead code, so the lint is quiet there (and on in the default build).
#[cfg_attr(
    not(any(feature = "process", feature = "cluster")),
    allow(dead_code, reason = "read by the process pool and the cluster")
)]
pub mod context;
pub mod diagnostics;
mod error;
#[cfg_attr(
    not(any(feature = "process", feature = "cluster")),
    allow(
        dead_code,
        unused_imports,
        reason = "read by the process pool and the cluster"
    )
)]
pub mod executor;
mod graph;
mod handle;
#[cfg(any(feature = "process", feature = "cluster"))]
mod init;
pub mod inputs;
#[cfg(any(feature = "process", feature = "cluster"))]
mod link;
mod options;
pub mod policy;
#[cfg(feature = "process")]
#[cfg_attr(docsrs, doc(cfg(feature = "process")))]
pub mod process;
#[cfg(any(feature = "process", feature = "cluster"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "process", feature = "cluster"))))]
pub mod remote;
mod scheduler;
mod size;
mod targets;
#[cfg_attr(
    not(any(feature = "process", feature = "cluster")),
    allow(dead_code, reason = "counted by the process pool and the cluster")
)]
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
