//! The context of the task running now: its key and whether its computation was
//! cancelled.
//!
//! Threads cannot be killed, so a long blocking task that wants to stop early when its
//! computation is cancelled checks [`cancelled`] from time to time:
//!
//! ```
//! fn long_job(n: u64) -> u64 {
//!     let mut acc = 0;
//!     for i in 0..n {
//!         if i % 1024 == 0 && taskloom::context::cancelled() {
//!             break; // nobody wants the result any more
//!         }
//!         acc += i;
//!     }
//!     acc
//! }
//! # assert_eq!(long_job(10), 45);
//! ```
//!
//! This module is the public face only: whoever runs a task (a worker, the inline
//! runner, an async task) records which computation and task run where, in the
//! executor layer, and these functions read it. Reading costs a thread-local lookup;
//! the key is looked up only when asked for.

use taskloom_core::Key;

use crate::executor::running::{self, Running};

/// The key and cancellation state of a running task.
#[derive(Clone)]
pub struct TaskContext(Running);

impl std::fmt::Debug for TaskContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskContext")
            .field("key", self.key())
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

impl TaskContext {
    /// The running task's key.
    pub fn key(&self) -> &Key {
        self.0.scope.graph.key(self.0.task)
    }

    /// Whether the task's computation was cancelled (dropped, cancelled through its
    /// token, or failed elsewhere): the result will not be used.
    pub fn is_cancelled(&self) -> bool {
        self.0.scope.cancel.is_cancelled()
    }
}

/// The context of the task running on this thread or in this Tokio task, if any.
pub fn current() -> Option<TaskContext> {
    running::current().map(TaskContext)
}

/// Whether the task running here belongs to a cancelled computation (`false` outside
/// a task).
pub fn cancelled() -> bool {
    running::cancelled()
}
