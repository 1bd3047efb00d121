//! Behaviour of taskloom-runtime, one module per concern. One test binary keeps the
//! link time of the suite low.
#![allow(clippy::unwrap_used)] // tests panic on unexpected errors by design

mod api;
mod arity;
mod budget;
mod cancel;
mod cancel_inline;
mod executors;
mod failures;
mod faults;
mod follow;
mod fusion;
mod memory;
mod policy;
mod sharing;
mod support;
mod tiny;
