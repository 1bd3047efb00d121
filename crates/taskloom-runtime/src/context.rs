//! The context of the task running now: its key and whether its computation was
//! cancelled.
//!
//! Threads cannot be killed, so a long blocking task that wants to stop early when its
//! computation is cancelled checks [`TaskContext::is_cancelled`] from time to time:
//!
//! ```
//! fn long_job(n: u64) -> u64 {
//!     let mut acc = 0;
//!     for i in 0..n {
//!         if i % 1024 == 0 && taskloom_runtime::context::cancelled() {
//!             break; // nobody wants the result any more
//!         }
//!         acc += i;
//!     }
//!     acc
//! }
//! # assert_eq!(long_job(10), 45);
//! ```

use std::cell::RefCell;
use std::sync::Arc;

use taskloom_core::Key;

use crate::executor::Cancel;

/// The key and cancellation state of a running task.
#[derive(Clone, Debug)]
pub struct TaskContext {
    key: Key,
    cancel: Arc<Cancel>,
}

impl TaskContext {
    /// The running task's key.
    pub fn key(&self) -> &Key {
        &self.key
    }

    /// Whether the task's computation was cancelled (dropped, cancelled through its
    /// token, or failed elsewhere): the result will not be used.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

thread_local! {
    static CURRENT: RefCell<Option<TaskContext>> = const { RefCell::new(None) };
}

tokio::task_local! {
    static ASYNC_CURRENT: TaskContext;
}

/// The context of the task running on this thread or in this Tokio task, if any.
pub fn current() -> Option<TaskContext> {
    CURRENT
        .with(|c| c.borrow().clone())
        .or_else(|| ASYNC_CURRENT.try_with(Clone::clone).ok())
}

/// Whether the task running here belongs to a cancelled computation (`false` outside
/// a task).
pub fn cancelled() -> bool {
    CURRENT
        .with(|c| c.borrow().as_ref().map(TaskContext::is_cancelled))
        .or_else(|| ASYNC_CURRENT.try_with(TaskContext::is_cancelled).ok())
        .unwrap_or(false)
}

/// Restores the previous context when dropped (tasks may nest through inline
/// sub-computations).
pub(crate) struct Entered {
    previous: Option<TaskContext>,
}

/// Makes `key` the current task of this thread until the guard drops.
pub(crate) fn enter(key: &Key, cancel: &Arc<Cancel>) -> Entered {
    let context = TaskContext {
        key: key.clone(),
        cancel: Arc::clone(cancel),
    };
    Entered {
        previous: CURRENT.with(|c| c.replace(Some(context))),
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

/// Runs `fut` with `key` as the current task of its Tokio task.
pub(crate) fn scope<F: std::future::Future>(
    key: &Key,
    cancel: &Arc<Cancel>,
    fut: F,
) -> impl std::future::Future<Output = F::Output> {
    ASYNC_CURRENT.scope(
        TaskContext {
            key: key.clone(),
            cancel: Arc::clone(cancel),
        },
        fut,
    )
}
