//! [`Scope`]: what every task of one computation shares (its graph, its cancellation
//! state, the channel back to its scheduling loop), and how a computation is
//! cancelled from outside ([`Cancel`], [`CancelLink`]).
//!
//! The scheduling loop makes one scope per computation; each job, batch and
//! completion holds it (one reference count per batch on the hot path), and a thread
//! running one of its tasks enters it (`running`). Users never see it: the public
//! `context` module reads it for them.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::task::{Context, Poll};

use futures::task::ArcWake;
use taskloom_core::{Graph as CoreGraph, TaskId};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use super::sink::Sink;
use crate::body::TaskBody;
use crate::callbacks::ComputationId;
use crate::policy::Resolved;
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
    /// The tasks' timeouts and retries (`None`: no task has any).
    pub(crate) policy: Option<Arc<Resolved>>,
    /// Whether any task has a timeout the loop watches (its start is then reported
    /// even without callbacks).
    watching: bool,
}

impl Scope {
    pub(crate) fn new(
        graph: Arc<CoreGraph<TaskBody>>,
        sink: Sink,
        id: ComputationId,
        targets: Arc<[TaskId]>,
        policy: Option<Arc<Resolved>>,
    ) -> Self {
        let watching = policy.as_ref().is_some_and(|p| p.any_timeout());
        Scope {
            policy,
            watching,
            graph,
            cancel: Cancel::default(),
            sink,
            id,
            targets,
            stays: OnceLock::new(),
            traffic: Counters::default(),
        }
    }

    /// `task`'s timeout, if it has one.
    #[inline]
    pub(crate) fn timeout(&self, task: TaskId) -> Option<std::time::Duration> {
        self.policy.as_ref().and_then(|p| p.timeout(task.index()))
    }

    /// Whether the start of `task` must be reported to the loop, which watches its
    /// deadline (a task with a timeout); callbacks aside.
    #[inline]
    pub(crate) fn watched(&self, task: TaskId) -> bool {
        self.watching && self.timeout(task).is_some()
    }

    /// Whether `task`'s result may stay in the worker that made it: it is a remote
    /// task, not a target, whose result the parent has nothing to do with (a cached
    /// task's is stored by the parent), and every task that takes it is a remote task
    /// too (a local or async one needs the value in the parent). O(tasks + edges) on the
    /// first call, O(1) after.
    pub(crate) fn stays(&self, task: TaskId) -> bool {
        let stays = self.stays.get_or_init(|| {
            let remote = |t: TaskId| {
                matches!(self.graph.payload(t), TaskBody::Blocking(b) if b.remote.is_some())
            };
            // A result the parent does something with (the cache stores it) comes
            // back to the parent.
            let wanted = |t: TaskId| {
                matches!(self.graph.payload(t),
                    TaskBody::Blocking(b) if b.remote.as_ref().is_some_and(|r| r.wants_result()))
            };
            let mut stays: Vec<bool> = self
                .graph
                .ids()
                .map(|t| remote(t) && !wanted(t))
                .collect();
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
/// that cancels it: the running tasks' `context::cancelled` turns true at once, even
/// while the loop itself is busy running a task inline and cannot look.
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
