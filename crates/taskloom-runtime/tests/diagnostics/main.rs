//! Diagnostics of taskloom-runtime: per-computation callbacks. One test binary, one
//! module per concern.
#![allow(clippy::unwrap_used)] // tests panic on unexpected errors by design

mod callbacks;
mod support;
