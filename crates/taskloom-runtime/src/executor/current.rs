//! `CurrentThread`: every task inline on the scheduling loop's thread.
//!
//! The debugging executor, like Dask's `get_sync`: one task at a time, in the static
//! order, no threads, so a breakpoint or a `println!` in a task sees a deterministic
//! run. It blocks the async task that awaits the computation while a task runs;
//! the loop still yields to the runtime every few thousand tasks.

use super::{Batch, Executor, Worker};

/// Runs every task inline on the thread that drives the computation.
#[derive(Clone, Copy, Debug, Default)]
pub struct CurrentThread;

impl Executor for CurrentThread {
    fn name(&self) -> &str {
        "current-thread"
    }

    fn num_workers(&self) -> usize {
        1
    }

    fn submit(&self, batch: Batch) {
        batch.run(Worker::Inline);
    }

    fn is_inline(&self) -> bool {
        true
    }
}
