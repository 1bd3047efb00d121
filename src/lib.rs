//! taskloom: a Dask-style task-graph scheduler native to Tokio.
//!
//! Everything a program needs is here: `use taskloom::{Graph, Scheduler}`. The
//! scheduling state machine (no I/O, no clocks) is its own crate, reachable as
//! [`taskloom::core`](crate::core). The README follows; its Rust example runs as a doc
//! test of this crate, so an example that stops working fails the tests.
#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub use taskloom_core as core;
pub use taskloom_runtime::*;
