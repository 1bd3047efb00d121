//! Which computation and task the running thread (or Tokio task) works for: set by
//! whoever runs a task, read by the public `context` module.
//!
//! Setting it must cost next to nothing, since it happens for every task: a thread
//! enters its computation's [`Scope`] once per batch (one reference count), and each
//! task only writes its id into a `Cell`. An async task carries its [`Running`] in a
//! Tokio task-local instead. Computations nest (a task may compute a sub-graph inline),
//! so each guard restores what was there before it.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::sync::Arc;

use taskloom_core::TaskId;
use tokio_util::sync::CancellationToken;

use super::scope::Scope;

/// A running task: its computation's scope and its id.
#[derive(Clone)]
pub(crate) struct Running {
    pub(crate) scope: Arc<Scope>,
    pub(crate) task: TaskId,
}

thread_local! {
    static SCOPE: RefCell<Option<Arc<Scope>>> = const { RefCell::new(None) };
    static TASK: Cell<Option<TaskId>> = const { Cell::new(None) };
}

tokio::task_local! {
    static ASYNC_CURRENT: Running;
}

/// The task running on this thread or in this Tokio task, if any.
pub(crate) fn current() -> Option<Running> {
    let here = TASK.with(Cell::get).and_then(|task| {
        SCOPE.with(|s| {
            s.borrow().as_ref().map(|scope| Running {
                scope: Arc::clone(scope),
                task,
            })
        })
    });
    here.or_else(|| ASYNC_CURRENT.try_with(Clone::clone).ok())
}

/// Whether the task running here belongs to a cancelled computation (`false` outside
/// a task).
pub(crate) fn cancelled() -> bool {
    if TASK.with(Cell::get).is_some() {
        if let Some(c) = SCOPE.with(|s| s.borrow().as_ref().map(|s| s.cancel.is_cancelled())) {
            return c;
        }
    }
    ASYNC_CURRENT
        .try_with(|r| r.scope.cancel.is_cancelled())
        .unwrap_or(false)
}

/// The cancellation token of the computation whose task runs here, if any: a
/// computation started from inside a task is cancelled with it.
pub(crate) fn enclosing_token() -> Option<CancellationToken> {
    let here = TASK
        .with(Cell::get)
        .and_then(|_| SCOPE.with(|s| s.borrow().as_ref().map(|s| s.cancel.token().clone())));
    here.or_else(|| {
        ASYNC_CURRENT
            .try_with(|r| r.scope.cancel.token().clone())
            .ok()
    })
}

/// Restores the thread's previous scope and task when dropped (computations nest
/// when a task computes a sub-graph inline).
pub(crate) struct ScopeGuard {
    previous: Option<Arc<Scope>>,
    previous_task: Option<TaskId>,
}

/// Makes `scope` this thread's computation until the guard drops. Never hold the
/// guard across an `.await`.
pub(crate) fn enter_scope(scope: &Arc<Scope>) -> ScopeGuard {
    ScopeGuard {
        previous: SCOPE.with(|s| s.replace(Some(Arc::clone(scope)))),
        previous_task: TASK.with(|t| t.replace(None)),
    }
}

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        SCOPE.with(|s| *s.borrow_mut() = previous);
        TASK.with(|t| t.set(self.previous_task));
    }
}

/// Marks `task` as running on this thread until the guard drops (inside a scope).
pub(crate) struct TaskGuard(());

pub(crate) fn enter_task(task: TaskId) -> TaskGuard {
    TASK.with(|t| t.set(Some(task)));
    TaskGuard(())
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        TASK.with(|t| t.set(None));
    }
}

/// Runs `fut` with `task` of `scope` as the current task of its Tokio task.
pub(crate) fn scope_async<F: Future>(
    scope: &Arc<Scope>,
    task: TaskId,
    fut: F,
) -> impl Future<Output = F::Output> {
    ASYNC_CURRENT.scope(
        Running {
            scope: Arc::clone(scope),
            task,
        },
        fut,
    )
}
