//! taskloom: a Dask-style task-graph scheduler native to Tokio.
//!
//! This facade re-exports the two crates that do the work:
//! [`taskloom_core`] (the scheduling state machine, no I/O) and [`taskloom_runtime`]
//! (the Tokio driver, executors, `Scheduler`). The README follows; each of its Rust
//! examples is a `main` that runs as a doc test of this crate (`cargo test --doc -p
//! taskloom`), so an example that stops working fails the tests. The process pool's
//! example is marked `standalone_crate`: the pool re-executes the running program as
//! its workers, so that example must be a program of its own, not one of the doc tests
//! merged into a single binary.
#![doc = include_str!("../README.md")]

pub use taskloom_core;
pub use taskloom_runtime;
