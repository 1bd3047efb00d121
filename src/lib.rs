//! taskloom: a Dask-style task-graph scheduler native to Tokio.
//!
//! This facade re-exports the two crates that do the work:
//! [`taskloom_core`] (the scheduling state machine, no I/O) and [`taskloom_runtime`]
//! (the Tokio driver, executors, `Scheduler`). The README follows; its examples are
//! compiled as tests of this crate.
#![doc = include_str!("../README.md")]

pub use taskloom_core;
pub use taskloom_runtime;
