//! taskloom: a Dask-style task-graph scheduler native to Tokio.
pub use taskloom_core;
pub use taskloom_runtime;
