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
//! Setting the context must cost next to nothing, since it happens for every task: a
//! thread enters its computation's `Scope` once per batch (one reference count), and
//! each task only writes its id into a `Cell`. The key is looked up when asked for.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::task::{Context, Poll};

use futures::task::ArcWake;
use taskloom_core::{Graph as CoreGraph, Key, TaskId};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::body::TaskBody;
use crate::callbacks::ComputationId;
use crate::executor::Sink;
use crate::traffic::Counters;

/// What every task of one computation shares: the graph (for keys), the
/// computation's cancellation state, and the channel back to its scheduling loop.
#[derive(Debug)]
pub(crate) struct Scope {
    pub(crate) graph: Arc<CoreGraph<TaskBody>>,
    pub(crate) cancel: Cancel,
    pub(crate) sink: Sink,
    pub(crate) id: ComputationId,
    /// The computation's targets (their results come back to the caller).
    pub(crate) targets: Arc<[TaskId]>,
    /// Which results may stay in the worker that made them, worked out on first use
    /// (only executors that keep results ask).
    stays: OnceLock<Box<[bool]>>,
    /// Bytes its remote tasks produced and moved.
    pub(crate) traffic: Counters,
}

impl Scope {
    pub(crate) fn new(
        graph: Arc<CoreGraph<TaskBody>>,
        sink: Sink,
        id: ComputationId,
        targets: Arc<[TaskId]>,
    ) -> Self {
        Scope {
            graph,
            cancel: Cancel::default(),
            sink,
            id,
            targets,
            stays: OnceLock::new(),
            traffic: Counters::default(),
        }
    }

    /// Whether `task`'s result may stay in the worker that made it: it is a remote
    /// task, not a target, and every task that takes it is a remote task too (a
    /// local or async one needs the value in the parent). O(tasks + edges) on the
    /// first call, O(1) after.
    pub(crate) fn stays(&self, task: TaskId) -> bool {
        let stays = self.stays.get_or_init(|| {
            let remote = |t: TaskId| {
                matches!(self.graph.payload(t), TaskBody::Blocking(b) if b.remote.is_some())
            };
            let mut stays: Vec<bool> = self.graph.ids().map(remote).collect();
            for t in self.graph.ids() {
                if !remote(t) {
                    for d in self.graph.deps(t) {
                        stays[d.index()] = false;
                    }
                }
            }
            for t in self.targets.iter() {
                if let Some(s) = stays.get_mut(t.index()) {
                    *s = false;
                }
            }
            stays.into_boxed_slice()
        });
        stays.get(task.index()).copied().unwrap_or(false)
    }
}

/// The cancellation state of one computation, shared with its jobs.
///
/// Blocking tasks and the loop check the flag (an atomic load: a
/// [`CancellationToken`]'s own check takes a lock); async tasks wait on the token.
/// Both are set together, by the loop, by a dropped `compute` future, or by a
/// [`CancelLink`] from the user's token or from an enclosing computation.
#[derive(Debug, Default)]
pub(crate) struct Cancel {
    flag: AtomicBool,
    token: CancellationToken,
}

impl Cancel {
    pub(crate) fn cancel(&self) {
        self.flag.store(true, Ordering::Release);
        self.token.cancel();
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    pub(crate) fn token(&self) -> &CancellationToken {
        &self.token
    }
}

/// Cancels a computation the moment another token is cancelled, from the thread
/// that cancels it: the running tasks' [`cancelled`] turns true at once, even while
/// the loop itself is busy running a task inline and cannot look.
///
/// It registers a waker on the source token's cancellation future; the waker trips
/// the computation's [`Cancel`]. Keep the link for as long as the computation runs.
pub(crate) struct CancelLink {
    _wait: Pin<Box<WaitForCancellationFutureOwned>>,
}

struct Trip(Weak<Scope>);

impl ArcWake for Trip {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        if let Some(scope) = arc_self.0.upgrade() {
            scope.cancel.cancel();
        }
    }
}

impl CancelLink {
    /// Links `scope` to `source`: cancelling `source` cancels the computation.
    pub(crate) fn new(source: CancellationToken, scope: &Arc<Scope>) -> Self {
        let mut wait = Box::pin(source.cancelled_owned());
        let waker = futures::task::waker(Arc::new(Trip(Arc::downgrade(scope))));
        if wait.as_mut().poll(&mut Context::from_waker(&waker)) == Poll::Ready(()) {
            scope.cancel.cancel(); // already cancelled
        }
        CancelLink { _wait: wait }
    }
}

/// The cancellation token of the computation whose task runs here, if any: a
/// computation started from inside a task is cancelled with it.
pub(crate) fn enclosing_token() -> Option<CancellationToken> {
    let here = TASK
        .with(Cell::get)
        .and_then(|_| SCOPE.with(|s| s.borrow().as_ref().map(|s| s.cancel.token().clone())));
    here.or_else(|| {
        ASYNC_CURRENT
            .try_with(|c| c.scope.cancel.token().clone())
            .ok()
    })
}

/// The key and cancellation state of a running task.
#[derive(Clone)]
pub struct TaskContext {
    scope: Arc<Scope>,
    task: TaskId,
}

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
        self.scope.graph.key(self.task)
    }

    /// Whether the task's computation was cancelled (dropped, cancelled through its
    /// token, or failed elsewhere): the result will not be used.
    pub fn is_cancelled(&self) -> bool {
        self.scope.cancel.is_cancelled()
    }
}

thread_local! {
    static SCOPE: RefCell<Option<Arc<Scope>>> = const { RefCell::new(None) };
    static TASK: Cell<Option<TaskId>> = const { Cell::new(None) };
}

tokio::task_local! {
    static ASYNC_CURRENT: TaskContext;
}

/// The context of the task running on this thread or in this Tokio task, if any.
pub fn current() -> Option<TaskContext> {
    let here = TASK.with(Cell::get).and_then(|task| {
        SCOPE.with(|s| {
            s.borrow().as_ref().map(|scope| TaskContext {
                scope: Arc::clone(scope),
                task,
            })
        })
    });
    here.or_else(|| ASYNC_CURRENT.try_with(Clone::clone).ok())
}

/// Whether the task running here belongs to a cancelled computation (`false` outside
/// a task).
pub fn cancelled() -> bool {
    if TASK.with(Cell::get).is_some() {
        if let Some(c) = SCOPE.with(|s| s.borrow().as_ref().map(|s| s.cancel.is_cancelled())) {
            return c;
        }
    }
    ASYNC_CURRENT
        .try_with(TaskContext::is_cancelled)
        .unwrap_or(false)
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
        TaskContext {
            scope: Arc::clone(scope),
            task,
        },
        fut,
    )
}
