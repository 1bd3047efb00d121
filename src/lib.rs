//! taskloom: a Dask-style task-graph scheduler native to Tokio.
//!
//! Everything a program needs is here: `use taskloom::{Graph, Scheduler}`. The
//! scheduling state machine (no I/O, no clocks) is its own crate, reachable as
//! [`taskloom::core`](crate::core). The README follows; its Rust example, and every Rust
//! sample of the guide (`docs/guide`), run as doc tests of this crate, so a sample that
//! stops working fails the tests.
#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub use taskloom_core as core;
pub use taskloom_runtime::*;

#[cfg(doctest)]
mod guide;
