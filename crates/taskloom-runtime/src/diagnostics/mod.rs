//! Diagnostics built on [`callbacks`](crate::callbacks): what users of Dask know as
//! `Profiler`, `ResourceProfiler` and `ProgressBar`, but attached to one computation
//! at a time, so they work in a server running many computations at once.
//!
//! - [`profiler`]: [`Profiler`], a callback that records each task's key, worker,
//!   start, end and outcome;
//! - [`resources`]: [`ResourceProfiler`], a callback that samples the process's CPU %
//!   and resident memory on a background thread while its computations run (Linux
//!   `/proc`; elsewhere it records nothing);
//! - [`trace`]: [`ChromeTrace`], which writes both as a Chrome trace-event JSON file
//!   that Perfetto (<https://ui.perfetto.dev>) and `chrome://tracing` open: one track per
//!   worker, CPU and memory as counters;
//! - `progress` (cargo feature `progress`): a terminal progress bar on `indicatif`;
//! - [`picture`]: a graph as DOT or SVG before it runs ([`Graph::to_dot`](crate::Graph::to_dot),
//!   [`Graph::to_svg`](crate::Graph::to_svg)), coloured by static order, memory
//!   pressure, critical path or measured run time;
//! - [`report`]: [`Report`], a callback that writes a run as one self-contained HTML
//!   file (task stream per worker, memory and CPU, a table per function, failures
//!   and lost workers, the graph), and [`HtmlReport`], the same from profilers.
//!
//! ```
//! use std::sync::Arc;
//! use taskloom::{ComputeOptions, Graph, Scheduler};
//! use taskloom::diagnostics::{ChromeTrace, Profiler, ResourceProfiler};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut g = Graph::new();
//! let a = g.add("a", (), || 20_i64)?;
//! let b = g.add("b", &a, |a: &i64| a * 2 + 2)?;
//!
//! let profiler = Arc::new(Profiler::new());
//! let resources = Arc::new(ResourceProfiler::new());
//! let options = ComputeOptions::new()
//!     .shared_callback(profiler.clone())
//!     .shared_callback(resources.clone());
//! assert_eq!(Scheduler::threads(2)?.compute_with(&g, &b, options).await?, 42);
//!
//! assert_eq!(profiler.records().len(), 2);
//! let json = ChromeTrace::new().tasks(&profiler).resources(&resources).to_json();
//! assert!(json.contains(r#""name":"b""#));
//! # Ok(())
//! # }
//! ```

pub mod picture;
pub mod profiler;
#[cfg(feature = "progress")]
pub mod progress;
pub mod report;
pub mod resources;
pub mod trace;

pub use profiler::{ComputeRecord, Profiler, TaskRecord};
#[cfg(feature = "progress")]
pub use progress::{Progress, ProgressBar};
pub use report::{HtmlReport, Report, ReportError};
pub use resources::{ResourceProfiler, ResourceSample};
pub use trace::{ChromeTrace, TraceError};
