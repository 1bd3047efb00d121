//! Graphs of real tasks, typed: the graph-building API.
//!
//! [`Graph::add`] wires a Rust function to the results of other tasks and returns a
//! typed [`Handle<T>`] to its own result, so a task that takes `&i64` can only be given
//! a producer of `i64`: Dask finds such mistakes when the task runs, we find them when
//! the program compiles. Inside, the graph is a `taskloom_core::Graph` whose payload is
//! the type-erased body of each task ([`TaskBody`]).
//!
//! This module holds the API only. What it builds on lives below it, each in its own
//! module: the handles (`handle`), the task bodies (`body`), and the machinery that
//! matches a function's parameters to its inputs ([`crate::inputs`]).
//! [`Graph::add_remote`] sits with the registry it takes, in [`crate::remote`].
//!
//! A graph can be computed many times and by many computations at once: a computation
//! takes a snapshot (an `Arc` clone); adding tasks afterwards copies the graph only if
//! a computation still holds the old snapshot.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

use futures::FutureExt;
use taskloom_core::{GraphError, Key, TaskId};

use crate::body::{AsyncFn, AsyncFnBox, BlockingFn, BlockingFnBox, TaskBody};
use crate::error::{BoxError, TaskError};
use crate::handle::{AnyHandle, Handle};
use crate::inputs::{AsyncTaskFn, Inputs, TaskFn};
use crate::policy::{Policy, Table};
use crate::size::{ResultSize, Sizes, Sizing, Unknown, may_be_large};
use crate::value::{Value, value};

/// A graph of tasks with typed results.
///
/// ```
/// use taskloom::{Graph, Scheduler};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut g = Graph::new();
/// let a = g.add("a", (), || 1_i64)?;
/// let b = g.add("b", &a, |x: &i64| x + 1)?;
/// let c = g.add("c", (&a, &b), |x: &i64, y: &i64| x * 10 + y)?;
/// let s = g.add("s", &[a, b, c][..], |xs: &[&i64]| xs.iter().copied().sum::<i64>())?;
/// let scheduler = Scheduler::current_thread();
/// assert_eq!(scheduler.compute(&g, &s).await?, 1 + 2 + 12);
/// # Ok(())
/// # }
/// ```
///
/// Closures must name their parameter types (`|x: &i64|`): the handle's type is what
/// they are checked against.
pub struct Graph {
    id: u64,
    core: Arc<taskloom_core::Graph<TaskBody>>,
    /// What tasks say about their results' sizes; shared with computations like
    /// `core`, copied on write.
    sizes: Arc<Sizes>,
    /// What tasks do besides run once (timeouts, retries), and which results are
    /// cached: like `sizes`, shared with computations and copied on write.
    per_task: PerTask,
    /// Which tasks make results of unknown size that may be large.
    unknown: Unknown,
    scratch: Vec<TaskId>,
}

/// The per-task settings of a graph that live beside its core (most graphs set none:
/// empty tables, no cost).
#[derive(Clone, Debug)]
pub(crate) struct PerTask {
    pub(crate) policies: Arc<Table>,
    #[cfg(feature = "cache")]
    pub(crate) cached: Arc<crate::cache::Specs>,
}

impl Default for PerTask {
    fn default() -> Self {
        static NO_POLICIES: LazyLock<Arc<Table>> = LazyLock::new(Arc::default);
        #[cfg(feature = "cache")]
        static NOT_CACHED: LazyLock<Arc<crate::cache::Specs>> = LazyLock::new(Arc::default);
        PerTask {
            policies: Arc::clone(&NO_POLICIES),
            #[cfg(feature = "cache")]
            cached: Arc::clone(&NOT_CACHED),
        }
    }
}

/// The sizes of a graph that sets none. Every new graph starts from these shared
/// empty tables (and the policies' and cache's above) rather than allocating its
/// own: a small computation's graph is a few allocations, and these would be three
/// more. The first setting copies the empty table (`Arc::make_mut`).
fn no_sizes() -> Arc<Sizes> {
    static NO_SIZES: LazyLock<Arc<Sizes>> = LazyLock::new(Arc::default);
    Arc::clone(&NO_SIZES)
}

impl Default for Graph {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.core, f)
    }
}

/// Tells graphs apart, so a handle from one graph is refused by another.
fn next_graph_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::with_capacity(0, 0)
    }

    /// An empty graph with room for `tasks` tasks and `edges` dependencies.
    pub fn with_capacity(tasks: usize, edges: usize) -> Self {
        Graph {
            id: next_graph_id(),
            core: Arc::new(taskloom_core::Graph::with_capacity(tasks, edges)),
            sizes: no_sizes(),
            per_task: PerTask::default(),
            unknown: Unknown::default(),
            scratch: Vec::new(),
        }
    }

    /// Adds a task that calls `f` with references to its inputs' results.
    ///
    /// `inputs` is `()`, a handle `&h`, a tuple of handles `(&a, &b)` (up to twelve), or a
    /// slice of same-typed handles `&hs[..]`; `f` then takes nothing, `&A`, `(&A, &B)` as
    /// two parameters, or `&[&A]`.
    ///
    /// # Errors
    /// [`GraphError::DuplicateKey`] if a task already has `key`;
    /// [`GraphError::InvalidDependency`] if an input belongs to another graph.
    pub fn add<I, F, T>(
        &mut self,
        key: impl Into<Key>,
        inputs: I,
        f: F,
    ) -> Result<Handle<T>, GraphError>
    where
        I: Inputs,
        F: TaskFn<I::Args, T>,
        T: Any + Send + Sync,
    {
        let body = BlockingFn::new(move |values: &[&Value]| f.call(values).map(value));
        self.push_typed(
            key.into(),
            &inputs,
            TaskBody::Blocking(BlockingFnBox::local(body)),
        )
    }

    /// Adds a task like [`Graph::add`] whose result reports its size: when it
    /// finishes, the scheduling loop counts [`ResultSize::result_size`] bytes held
    /// until the result is released (see
    /// [`ComputeOptions::memory_limit`](crate::ComputeOptions::memory_limit) and the
    /// figures in [`FinishInfo`](crate::callbacks::FinishInfo)). Results of tasks
    /// added otherwise count as 0 bytes unless [`Graph::measure`] or
    /// [`Graph::declare_size`] says more.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use taskloom::{ComputeOptions, Graph, Scheduler};
    /// use taskloom::callbacks::{Callback, FinishInfo};
    ///
    /// struct Peak(std::sync::Mutex<u64>);
    /// impl Callback for Peak {
    ///     fn on_finish(&self, info: &FinishInfo) {
    ///         *self.0.lock().unwrap() = info.memory.peak_bytes;
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut g = Graph::new();
    /// let rows = g.add_sized("rows", (), || vec![1.0_f64; 1000])?; // 24 + 8,000 bytes
    /// let total = g.add("total", &rows, |r: &Vec<f64>| r.iter().sum::<f64>())?; // 0
    /// let peak = Arc::new(Peak(Default::default()));
    /// let options = ComputeOptions::new().shared_callback(peak.clone());
    /// let sum = Scheduler::current_thread().compute_with(&g, &total, options).await?;
    /// assert_eq!((sum, *peak.0.lock().unwrap()), (1000.0, 8024));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// As [`Graph::add`].
    pub fn add_sized<I, F, T>(
        &mut self,
        key: impl Into<Key>,
        inputs: I,
        f: F,
    ) -> Result<Handle<T>, GraphError>
    where
        I: Inputs,
        F: TaskFn<I::Args, T>,
        T: ResultSize + Any + Send + Sync,
    {
        let handle = self.add(key, inputs, f)?;
        self.measure(&handle)?;
        Ok(handle)
    }

    /// Has the result of the task behind `handle` measured through its
    /// [`ResultSize`] when it finishes, whatever kind of task it is (fallible, async,
    /// remote): [`Graph::add_sized`] for any task.
    ///
    /// # Errors
    /// [`GraphError::InvalidTarget`] if `handle` belongs to another graph.
    pub fn measure<T>(&mut self, handle: &Handle<T>) -> Result<(), GraphError>
    where
        T: ResultSize + Any + Send + Sync,
    {
        self.set_sizing(handle.id(), handle.graph_id(), Sizing::measured::<T>())
    }

    /// Has the result of the untyped task behind `handle` measured as a `T`, through
    /// its [`ResultSize`], when it finishes: [`Graph::measure`] for a task added with
    /// [`Graph::add_dyn`], whose values the program knows to be `T`s (a value of
    /// another type counts as 0 bytes). An untyped task's result is otherwise of
    /// unknown size, which keeps the run to the plan's count of results (see
    /// [`ComputeOptions::memory_limit`](crate::ComputeOptions::memory_limit)).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use taskloom::{Graph, ResultSize, Scheduler, Value};
    ///
    /// /// A value of a graph built from data, with its size, taken where it was made.
    /// struct Blob {
    ///     bytes: Vec<u8>,
    /// }
    /// impl ResultSize for Blob {
    ///     fn result_size(&self) -> usize {
    ///         self.bytes.result_size()
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut g = Graph::new();
    /// let blob = g.add_dyn("blob", &[], |_| {
    ///     Ok(Arc::new(Blob { bytes: vec![7; 100] }) as Value)
    /// })?;
    /// g.measure_dyn::<Blob>(&blob)?;
    /// let out = Scheduler::current_thread().get(&g, "blob").await?;
    /// assert_eq!(out.downcast_ref::<Blob>().map(|b| b.bytes.len()), Some(100));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`GraphError::InvalidTarget`] if `handle` belongs to another graph.
    pub fn measure_dyn<T>(&mut self, handle: &AnyHandle) -> Result<(), GraphError>
    where
        T: ResultSize + Any + Send + Sync,
    {
        self.set_sizing(handle.id(), handle.graph_id(), Sizing::measured::<T>())
    }

    /// Declares that the result of the task behind `handle` holds `bytes` bytes: for
    /// results whose type does not implement [`ResultSize`] (or whose size is known
    /// better than it can tell). Counted as declared, whatever the result holds.
    ///
    /// # Errors
    /// [`GraphError::InvalidTarget`] if `handle` belongs to another graph.
    pub fn declare_size<T>(&mut self, handle: &Handle<T>, bytes: u64) -> Result<(), GraphError> {
        self.set_sizing(handle.id(), handle.graph_id(), Sizing::Declared(bytes))
    }

    /// Gives the task behind `handle` a [`Policy`]: a timeout for each attempt,
    /// retries after errors (see [`crate::policy`]). Fields it leaves unset take the
    /// computation's defaults ([`ComputeOptions::timeout`], [`ComputeOptions::retry`]).
    /// Setting a policy again replaces the previous one.
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskloom::{ComputeError, Graph, Scheduler, TaskErrorKind};
    /// use taskloom::policy::Policy;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut g = Graph::new();
    /// let slow = g.add_async("fetch", (), || async {
    ///     tokio::time::sleep(Duration::from_secs(60)).await; // a server that hangs
    ///     0_u8
    /// })?;
    /// g.policy(&slow, Policy::new().timeout(Duration::from_millis(20)))?;
    /// let err = Scheduler::current_thread().compute(&g, &slow).await.unwrap_err();
    /// assert!(matches!(&err, ComputeError::Task { key, error }
    ///     if key.to_string() == "fetch" && error.kind() == TaskErrorKind::TimedOut));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// [`ComputeOptions::timeout`]: crate::ComputeOptions::timeout
    /// [`ComputeOptions::retry`]: crate::ComputeOptions::retry
    ///
    /// # Errors
    /// [`GraphError::InvalidTarget`] if `handle` belongs to another graph.
    pub fn policy<T>(&mut self, handle: &Handle<T>, policy: Policy) -> Result<(), GraphError> {
        let id = self.own(handle.id(), handle.graph_id())?;
        Arc::make_mut(&mut self.per_task.policies).set(id.index(), policy);
        Ok(())
    }

    /// Caches the result of the task behind `handle` (see [`crate::cache`]), keyed
    /// by `cached`: a version (`"v1"`: bump it when the task's code changes) or a
    /// [`Cached`](crate::cache::Cached) with literal inputs. Its value is stored
    /// with serde in postcard. Every input of the task must be cached too (its
    /// entry key is made of theirs), or the task runs uncached.
    ///
    /// Applies to computations given a cache
    /// ([`ComputeOptions::cache`](crate::ComputeOptions::cache)); without one the
    /// task runs as any other.
    ///
    /// # Errors
    /// [`GraphError::InvalidTarget`] if `handle` belongs to another graph.
    #[cfg(feature = "cache")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
    pub fn cached<T>(
        &mut self,
        handle: &Handle<T>,
        cached: impl Into<crate::cache::Cached>,
    ) -> Result<(), GraphError>
    where
        T: serde::Serialize + serde::de::DeserializeOwned + Any + Send + Sync,
    {
        let codec = Arc::new(crate::cache::Postcard::<T>::new());
        self.cached_with(&handle.erase(), cached, codec)
    }

    /// [`Graph::cached`] for any task, with the [`Codec`](crate::cache::Codec) that
    /// stores its value (untyped tasks, values serde does not describe).
    ///
    /// # Errors
    /// [`GraphError::InvalidTarget`] if `handle` belongs to another graph.
    #[cfg(feature = "cache")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
    pub fn cached_with(
        &mut self,
        handle: &AnyHandle,
        cached: impl Into<crate::cache::Cached>,
        codec: Arc<dyn crate::cache::Codec>,
    ) -> Result<(), GraphError> {
        let id = self.own(handle.id(), handle.graph_id())?;
        let spec = crate::cache::Spec {
            cached: cached.into(),
            codec,
        };
        Arc::make_mut(&mut self.per_task.cached).set(id.index(), spec);
        Ok(())
    }

    /// Caches every task of the graph that has no setting of its own, keyed by
    /// `cached` and stored with `codec` (a task whose value the codec cannot encode
    /// is run and not stored). Tasks added later are included.
    #[cfg(feature = "cache")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
    pub fn cache_all(
        &mut self,
        cached: impl Into<crate::cache::Cached>,
        codec: Arc<dyn crate::cache::Codec>,
    ) {
        let spec = crate::cache::Spec {
            cached: cached.into(),
            codec,
        };
        Arc::make_mut(&mut self.per_task.cached).set_all(spec);
    }

    /// `id` if it is a task of this graph (`graph`: the id of the handle's graph).
    pub(crate) fn own(&self, id: TaskId, graph: u64) -> Result<TaskId, GraphError> {
        if graph != self.id || id.index() >= self.core.len() {
            return Err(GraphError::InvalidTarget { id });
        }
        Ok(id)
    }

    fn set_sizing(&mut self, id: TaskId, graph: u64, sizing: Sizing) -> Result<(), GraphError> {
        if graph != self.id || id.index() >= self.core.len() {
            return Err(GraphError::InvalidTarget { id });
        }
        Arc::make_mut(&mut self.sizes).set(id.index(), sizing);
        self.unknown.sized(id.index());
        Ok(())
    }

    /// Adds a fallible task: `f` returns `Result<T, E>`, and an `Err` ends the
    /// computation with an error naming this task's key and carrying `E`'s message.
    ///
    /// # Errors
    /// As [`Graph::add`].
    pub fn try_add<I, F, T, E>(
        &mut self,
        key: impl Into<Key>,
        inputs: I,
        f: F,
    ) -> Result<Handle<T>, GraphError>
    where
        I: Inputs,
        F: TaskFn<I::Args, Result<T, E>>,
        T: Any + Send + Sync,
        E: Into<BoxError>,
    {
        let body = BlockingFn::new(move |values: &[&Value]| match f.call(values)? {
            Ok(v) => Ok(value(v)),
            Err(e) => Err(TaskError::failed(e)),
        });
        self.push_typed(
            key.into(),
            &inputs,
            TaskBody::Blocking(BlockingFnBox::local(body)),
        )
    }

    /// Adds an async task: `f` takes its inputs as `Arc`s and returns a future, which
    /// runs as a Tokio task (I/O inside a graph) whatever the executor.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use taskloom::{Graph, Scheduler};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut g = Graph::new();
    /// let n = g.add("n", (), || 20_u64)?;
    /// let fetched = g.add_async("fetch", &n, |n: Arc<u64>| async move {
    ///     tokio::task::yield_now().await; // stands in for real I/O
    ///     *n * 2 + 2
    /// })?;
    /// assert_eq!(Scheduler::current_thread().compute(&g, &fetched).await?, 42);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// As [`Graph::add`].
    pub fn add_async<I, F, Fut, T>(
        &mut self,
        key: impl Into<Key>,
        inputs: I,
        f: F,
    ) -> Result<Handle<T>, GraphError>
    where
        I: Inputs,
        F: AsyncTaskFn<I::Args, Fut>,
        Fut: Future<Output = T> + Send + 'static,
        T: Any + Send + Sync,
    {
        let body: AsyncFn = Arc::new(move |values: Vec<Value>| match f.call(values) {
            Ok(fut) => fut.map(|v| Ok(value(v))).boxed(),
            Err(e) => futures::future::ready(Err(e)).boxed(),
        });
        self.push_typed(key.into(), &inputs, TaskBody::Async(AsyncFnBox(body)))
    }

    /// Adds a fallible async task (see [`Graph::add_async`] and [`Graph::try_add`]).
    ///
    /// # Errors
    /// As [`Graph::add`].
    pub fn try_add_async<I, F, Fut, T, E>(
        &mut self,
        key: impl Into<Key>,
        inputs: I,
        f: F,
    ) -> Result<Handle<T>, GraphError>
    where
        I: Inputs,
        F: AsyncTaskFn<I::Args, Fut>,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Any + Send + Sync,
        E: Into<BoxError>,
    {
        let body: AsyncFn = Arc::new(move |values: Vec<Value>| match f.call(values) {
            Ok(fut) => fut.map(|r| r.map(value).map_err(TaskError::failed)).boxed(),
            Err(e) => futures::future::ready(Err(e)).boxed(),
        });
        self.push_typed(key.into(), &inputs, TaskBody::Async(AsyncFnBox(body)))
    }

    /// Adds an untyped task: `f` receives its inputs' values in order and returns
    /// its own (for graphs built from data, where types are known only at run time).
    ///
    /// # Errors
    /// As [`Graph::add`].
    pub fn add_dyn<F>(
        &mut self,
        key: impl Into<Key>,
        inputs: &[AnyHandle],
        f: F,
    ) -> Result<AnyHandle, GraphError>
    where
        F: Fn(&[&Value]) -> Result<Value, TaskError> + Send + Sync + 'static,
    {
        let handle: Handle<()> = self.push(
            key.into(),
            &inputs,
            TaskBody::Blocking(BlockingFnBox::local(BlockingFn::new(f))),
            true,
        )?;
        Ok(handle.erase())
    }

    /// Adds a task with an already erased body (used by other task kinds, such as
    /// remote tasks of the process pool).
    ///
    /// # Errors
    /// As [`Graph::add`].
    pub fn add_body(
        &mut self,
        key: impl Into<Key>,
        inputs: &[AnyHandle],
        body: TaskBody,
    ) -> Result<AnyHandle, GraphError> {
        let handle: Handle<()> = self.push(key.into(), &inputs, body, true)?;
        Ok(handle.erase())
    }

    /// Adds a task; `large`: whether its result may be large, its size unknown.
    pub(crate) fn push<I: Inputs + ?Sized, T>(
        &mut self,
        key: Key,
        inputs: &I,
        body: TaskBody,
        large: bool,
    ) -> Result<Handle<T>, GraphError> {
        self.scratch.clear();
        if let Err(foreign) = inputs.collect(self.id, &mut self.scratch) {
            return Err(GraphError::InvalidDependency {
                key,
                dependency: foreign,
            });
        }
        let id = Arc::make_mut(&mut self.core).push(key, &self.scratch, body)?;
        self.unknown.added(id.index(), large);
        Ok(Handle::new(id, self.id))
    }

    /// Adds a task whose result is a `T`: its size is known from its type unless it
    /// may be large (see `size::may_be_large`).
    pub(crate) fn push_typed<I: Inputs + ?Sized, T>(
        &mut self,
        key: Key,
        inputs: &I,
        body: TaskBody,
    ) -> Result<Handle<T>, GraphError> {
        self.push(key, inputs, body, may_be_large::<T>())
    }

    /// Number of tasks.
    pub fn len(&self) -> usize {
        self.core.len()
    }

    /// Whether the graph has no tasks.
    pub fn is_empty(&self) -> bool {
        self.core.is_empty()
    }

    /// The key of the task behind `handle`.
    ///
    /// # Panics
    /// If `handle` belongs to another graph.
    pub fn key<T>(&self, handle: &Handle<T>) -> &Key {
        assert_eq!(handle.graph_id(), self.id, "handle from another graph");
        self.core.key(handle.id())
    }

    /// The untyped handle of the task with `key`, if any.
    pub fn handle(&self, key: &Key) -> Option<AnyHandle> {
        self.core.id(key).map(|id| AnyHandle::new(id, self.id))
    }

    /// The core graph (keys, dependencies and task bodies).
    pub fn core(&self) -> &taskloom_core::Graph<TaskBody> {
        &self.core
    }

    pub(crate) fn snapshot(&self) -> Arc<taskloom_core::Graph<TaskBody>> {
        Arc::clone(&self.core)
    }

    /// What the tasks say about their results' sizes, as of now.
    pub(crate) fn sizes(&self) -> Arc<Sizes> {
        Arc::clone(&self.sizes)
    }

    /// The per-task settings, as of now.
    pub(crate) fn per_task(&self) -> PerTask {
        self.per_task.clone()
    }

    /// Whether some task makes results that may be large, of a size nobody declared.
    pub(crate) fn unknown_sizes(&self) -> bool {
        self.unknown.any()
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }
}
