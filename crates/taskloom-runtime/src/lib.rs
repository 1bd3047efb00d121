//! taskloom-runtime: the Tokio driver around taskloom-core (skeleton until its issue).
pub use taskloom_core;
