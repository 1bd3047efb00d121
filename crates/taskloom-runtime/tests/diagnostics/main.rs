//! Diagnostics of taskloom-runtime: per-computation callbacks, the profiler and its
//! Chrome trace, the resource sampler, and (with the `progress` feature) the progress
//! bar. One test binary, one module per concern.
#![allow(clippy::unwrap_used)] // tests panic on unexpected errors by design

mod callbacks;
mod chains;
mod picture;
mod profiler;
#[cfg(feature = "progress")]
mod progress;
mod report;
mod support;
