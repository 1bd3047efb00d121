//! taskloom: a Dask-style task-graph scheduler native to Tokio.
//!
//! Everything a program needs is here: `use taskloom::{Graph, Scheduler}`. The
//! scheduling state machine (no I/O, no clocks) is its own crate, reachable as
//! [`taskloom::core`](crate::core). The README follows; its Rust example, and every Rust
//! sample of the guide (`docs/guide`), run as doc tests of this crate, so a sample that
//! stops working fails the tests.
//!
//! Cargo features: `process` and `cluster` (default), the executors whose workers
//! are processes (`taskloom::process`, `taskloom::cluster`, and `taskloom::remote`
//! with either); `progress`, a terminal progress bar; `graph-files`, graphs in the
//! shared JSON graph format (`taskloom::core::file`). With `default-features = false`
//! a program that runs graphs on threads compiles no network, crypto or wire-format
//! crate.
//!
#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use taskloom_core as core;
pub use taskloom_runtime::*;

#[cfg(doctest)]
mod guide;
