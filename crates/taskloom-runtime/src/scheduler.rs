//! `Scheduler`: the handle a program keeps and computes graphs with.
//!
//! A scheduler is an executor plus settings, behind an `Arc`: cloning it is cheap, it
//! is `Send + Sync`, and every clone shares the same workers. One per process is the
//! intended use; any number of computations may run on it at once, each with its own
//! scheduling loop, state and callbacks (no process-global state).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::task::{Context, Poll};

use futures::FutureExt;
use futures::future::BoxFuture;
use taskloom_core::{Key, TaskId};

use crate::body::TaskBody;
use crate::compute::{Setup, run};
use crate::error::{ComputeError, ConfigError};
use crate::executor::{CurrentThread, Executor, ThreadPool};
use crate::graph::Graph;
use crate::options::ComputeOptions;
use crate::targets::{Output, Request, Take, Targets};

/// Runs task graphs on an executor. Cheap to clone; clones share the executor.
///
/// ```
/// use taskloom::{Graph, Scheduler};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let scheduler = Scheduler::threads(2)?;
/// let mut g = Graph::new();
/// let x = g.add("x", (), || 20_i64)?;
/// let y = g.add("y", (), || 1_i64)?;
/// let z = g.add("z", (&x, &y), |x: &i64, y: &i64| 2 * x + y)?;
/// assert_eq!(scheduler.compute(&g, &z).await?, 41);
/// assert_eq!(scheduler.compute(&g, (&x, &z)).await?, (20, 41));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Scheduler {
    inner: Arc<Setup>,
}

impl fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scheduler")
            .field("executor", &self.inner.executor.name())
            .field("workers", &self.inner.executor.num_workers())
            .field("chunksize", &self.inner.chunksize)
            .finish()
    }
}

/// Default bound on async tasks running at once in one computation.
pub const DEFAULT_MAX_ASYNC_TASKS: usize = 1024;

impl Scheduler {
    /// A scheduler on a [`ThreadPool`] with one worker per core.
    ///
    /// # Errors
    /// [`ConfigError::Spawn`] if the OS refuses a thread.
    pub fn new() -> Result<Self, ConfigError> {
        Self::builder().executor(ThreadPool::per_core()?).build()
    }

    /// A scheduler on a [`ThreadPool`] of `num_workers` threads.
    ///
    /// # Errors
    /// [`ConfigError::NumWorkers`] for zero; [`ConfigError::Spawn`] if the OS refuses
    /// a thread.
    pub fn threads(num_workers: usize) -> Result<Self, ConfigError> {
        Self::builder()
            .executor(ThreadPool::new(num_workers)?)
            .build()
    }

    /// A scheduler that runs every task inline, one at a time, in the static order
    /// ([`CurrentThread`]): the debugging scheduler, like `dask.get`.
    pub fn current_thread() -> Self {
        Scheduler {
            inner: Arc::new(Setup {
                executor: Arc::new(CurrentThread),
                chunksize: Some(1),
                max_async_tasks: DEFAULT_MAX_ASYNC_TASKS,
                runtime: tokio::runtime::Handle::try_current().ok(),
                task_ns: AtomicU64::new(0),
            }),
        }
    }

    /// Configures a scheduler.
    pub fn builder() -> SchedulerBuilder {
        SchedulerBuilder::default()
    }

    /// The executor.
    pub fn executor(&self) -> &dyn Executor {
        &*self.inner.executor
    }

    /// Computes `targets` of `graph`: a handle (returns its value), a tuple of
    /// handles (a tuple), or a slice of handles (a `Vec`).
    ///
    /// The returned future owns everything it needs (the graph is snapshotted), so it
    /// can be spawned. Dropping it cancels the computation: nothing new starts,
    /// held results are dropped, queued tasks are skipped.
    pub fn compute<R: Targets>(&self, graph: &Graph, targets: R) -> Compute<R::Output> {
        self.compute_with(graph, targets, ComputeOptions::default())
    }

    /// Sets the mean task duration the scheduler's next computation starts from, as
    /// if its last one had measured it: for this crate's tests of the paths chosen by
    /// it (feature `test-hooks`), not API.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn set_learned_task_ns(&self, ns: u64) {
        self.inner
            .task_ns
            .store(ns, std::sync::atomic::Ordering::Relaxed);
    }

    /// [`Scheduler::compute`] with options: a cancellation token, callbacks.
    pub fn compute_with<R: Targets>(
        &self,
        graph: &Graph,
        targets: R,
        options: ComputeOptions,
    ) -> Compute<R::Output> {
        let extract: Extract<R::Output> = R::extract;
        typed_compute(
            Arc::clone(&self.inner),
            graph,
            targets.ids(graph),
            extract,
            options,
        )
    }

    /// Computes an untyped, possibly nested request of keys, as Dask's
    /// `get(dsk, [["x"], "y"])`.
    ///
    /// # Errors (in the future's output)
    /// [`GraphError::UnknownTarget`](taskloom_core::GraphError::UnknownTarget) for a
    /// key no task has, before anything runs.
    pub fn get(&self, graph: &Graph, request: impl Into<Request>) -> Compute<Output> {
        self.get_with(graph, request, ComputeOptions::default())
    }

    /// [`Scheduler::get`] with options.
    pub fn get_with(
        &self,
        graph: &Graph,
        request: impl Into<Request>,
        options: ComputeOptions,
    ) -> Compute<Output> {
        let inner = Arc::clone(&self.inner);
        let snapshot = graph.snapshot();
        let sizes = graph.sizes();
        let per_task = graph.per_task();
        let unknown_sizes = graph.unknown_sizes();
        let request = request.into();
        Compute {
            future: async move {
                let mut keys = Vec::new();
                request.keys(&mut keys);
                let mut ids = snapshot.resolve(keys.iter().copied())?;
                ids.sort_unstable();
                ids.dedup();
                let results = run(
                    inner,
                    Arc::clone(&snapshot),
                    (sizes, unknown_sizes),
                    per_task,
                    ids,
                    options,
                )
                .await?;
                request.build(&mut |key| snapshot.id(key).and_then(|id| results.get(id)))
            }
            .boxed(),
        }
    }

    /// Computes from synchronous code, blocking the calling thread until done.
    ///
    /// Called from inside a task running on this scheduler's own workers, the
    /// sub-graph runs inline on the calling worker, so nested computations cannot
    /// deadlock waiting for a free worker. Do not call it from an async context (it
    /// would block a runtime thread): `.await` [`Scheduler::compute`] there.
    ///
    /// # Errors
    /// As the computation.
    pub fn compute_blocking<R: Targets>(
        &self,
        graph: &Graph,
        targets: R,
    ) -> Result<R::Output, ComputeError> {
        futures::executor::block_on(self.compute(graph, targets))
    }
}

/// Builds a typed result from the values of the targets.
type Extract<O> = fn(&[TaskId], &mut Take<'_>) -> Result<O, ComputeError>;

/// The body of [`Scheduler::compute_with`], generic only over the output type so the
/// future does not capture the (borrowed) request.
fn typed_compute<O: Send + 'static>(
    inner: Arc<Setup>,
    graph: &Graph,
    ids: Result<Vec<TaskId>, taskloom_core::GraphError>,
    extract: Extract<O>,
    options: ComputeOptions,
) -> Compute<O> {
    let snapshot = graph.snapshot();
    let sizes = graph.sizes();
    let per_task = graph.per_task();
    let unknown_sizes = graph.unknown_sizes();
    Compute {
        future: async move {
            let ids = ids?;
            if let Some(key) = first_duplicate(&ids, &snapshot) {
                return Err(ComputeError::DuplicateTarget { key });
            }
            let mut results = run(
                inner,
                snapshot,
                (sizes, unknown_sizes),
                per_task,
                ids.clone(),
                options,
            )
            .await?;
            extract(&ids, &mut |id| results.take(id))
        }
        .boxed(),
    }
}

fn first_duplicate(ids: &[TaskId], graph: &taskloom_core::Graph<TaskBody>) -> Option<Key> {
    if ids.len() < 2 {
        return None;
    }
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    sorted
        .windows(2)
        .find(|w| w[0] == w[1])
        .map(|w| graph.key(w[0]).clone())
}

/// Builds a [`Scheduler`].
///
/// ```
/// use taskloom::{ConfigError, Scheduler};
/// use taskloom::executor::ThreadPool;
///
/// let s = Scheduler::builder().executor(ThreadPool::new(2)?).chunksize(4).build()?;
/// assert!(matches!(
///     Scheduler::builder().chunksize(0).build(),
///     Err(ConfigError::Chunksize(0))
/// ));
/// # Ok::<(), ConfigError>(())
/// ```
#[derive(Default)]
pub struct SchedulerBuilder {
    executor: Option<Arc<dyn Executor>>,
    chunksize: Option<usize>,
    max_async_tasks: Option<usize>,
    runtime: Option<tokio::runtime::Handle>,
}

impl SchedulerBuilder {
    /// The executor (default: a [`ThreadPool`] with one worker per core).
    pub fn executor(mut self, executor: impl Executor) -> Self {
        self.executor = Some(Arc::new(executor));
        self
    }

    /// An executor already shared with something else.
    pub fn shared_executor(mut self, executor: Arc<dyn Executor>) -> Self {
        self.executor = Some(executor);
        self
    }

    /// Tasks per handoff to the executor; at most about `2 × num_workers ×
    /// chunksize` tasks of one computation are handed out at once. Default: adaptive,
    /// batches of about 2 ms of work, from 1 task for long tasks up to 512 for tasks
    /// of a microsecond, smaller near the end of a computation.
    pub fn chunksize(mut self, chunksize: usize) -> Self {
        self.chunksize = Some(chunksize);
        self
    }

    /// Most async tasks of one computation running at once (default
    /// [`DEFAULT_MAX_ASYNC_TASKS`]).
    pub fn max_async_tasks(mut self, n: usize) -> Self {
        self.max_async_tasks = Some(n);
        self
    }

    /// The Tokio runtime that runs async tasks when a computation is driven outside
    /// any runtime (by [`Scheduler::compute_blocking`] from a plain thread). Default:
    /// the runtime current when `build` is called, if any.
    pub fn runtime(mut self, handle: tokio::runtime::Handle) -> Self {
        self.runtime = Some(handle);
        self
    }

    /// Checks the settings and builds the scheduler.
    ///
    /// # Errors
    /// [`ConfigError`] for a zero chunksize or async limit, or a thread pool that
    /// cannot start.
    pub fn build(self) -> Result<Scheduler, ConfigError> {
        if self.chunksize == Some(0) {
            return Err(ConfigError::Chunksize(0));
        }
        let max_async_tasks = self.max_async_tasks.unwrap_or(DEFAULT_MAX_ASYNC_TASKS);
        if max_async_tasks == 0 {
            return Err(ConfigError::MaxAsyncTasks(0));
        }
        let executor = match self.executor {
            Some(e) => e,
            None => Arc::new(ThreadPool::per_core()?),
        };
        let chunksize = if executor.is_inline() {
            Some(1)
        } else {
            self.chunksize
        };
        Ok(Scheduler {
            inner: Arc::new(Setup {
                executor,
                chunksize,
                max_async_tasks,
                runtime: self
                    .runtime
                    .or_else(|| tokio::runtime::Handle::try_current().ok()),
                task_ns: AtomicU64::new(0),
            }),
        })
    }
}

/// A running computation: a future of its results. Dropping it cancels it.
#[must_use = "a computation does nothing unless awaited"]
pub struct Compute<O> {
    future: BoxFuture<'static, Result<O, ComputeError>>,
}

impl<O> Future for Compute<O> {
    type Output = Result<O, ComputeError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.future.as_mut().poll(cx)
    }
}

impl<O> fmt::Debug for Compute<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Compute")
    }
}
