//! Graphs of real tasks, typed.
//!
//! [`Graph::add`] wires a Rust function to the results of other tasks and returns a
//! typed [`Handle<T>`] to its own result, so a task that takes `&i64` can only be given
//! a producer of `i64`: Dask finds such mistakes when the task runs, we find them when
//! the program compiles. Inside, the graph is a `taskloom_core::Graph` whose payload is
//! the type-erased body of each task ([`TaskBody`]).
//!
//! A graph can be computed many times and by many computations at once: a computation
//! takes a snapshot (an `Arc` clone); adding tasks afterwards copies the graph only if
//! a computation still holds the old snapshot.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::FutureExt;
use futures::future::BoxFuture;
use taskloom_core::{GraphError, Key, TaskId};

use crate::error::{BoxError, TaskError, TaskErrorKind};
use crate::remote_call::RemoteCall;
use crate::size::{ResultSize, Sizes, Sizing};
use crate::value::{Value, value};

/// A blocking task body: takes its inputs' values, returns its own.
/// Inputs are borrowed (`&[&Value]`): an inline run then hands a task references into
/// the results it holds, with no reference-count traffic per input.
pub(crate) type BlockingFn = Arc<dyn Fn(&[&Value]) -> Result<Value, TaskError> + Send + Sync>;
/// An async task body: takes its inputs' values, returns a future of its own.
pub(crate) type AsyncFn =
    Arc<dyn Fn(Vec<Value>) -> BoxFuture<'static, Result<Value, TaskError>> + Send + Sync>;

/// How a task runs: a plain function on an executor's worker, or a future on Tokio.
#[derive(Clone)]
pub enum TaskBody {
    /// Runs on the executor (a worker thread, or inline for `CurrentThread`).
    Blocking(BlockingFnBox),
    /// Runs as a Tokio task, whatever the executor.
    Async(AsyncFnBox),
}

/// Opaque blocking task function (see [`TaskBody::Blocking`]). A remote task (see
/// [`Graph::add_remote`]) also carries a neutral descriptor of the call
/// ([`RemoteCall`]: a registered name and how to move its values) that executors
/// with workers in other processes interpret; other executors call the in-process
/// function.
#[derive(Clone)]
pub struct BlockingFnBox {
    pub(crate) func: BlockingFn,
    pub(crate) remote: Option<Arc<RemoteCall>>,
}

impl BlockingFnBox {
    pub(crate) fn local(func: BlockingFn) -> Self {
        BlockingFnBox { func, remote: None }
    }
}

/// Opaque async task function (see [`TaskBody::Async`]).
#[derive(Clone)]
pub struct AsyncFnBox(pub(crate) AsyncFn);

impl fmt::Debug for TaskBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TaskBody::Blocking(_) => "Blocking",
            TaskBody::Async(_) => "Async",
        })
    }
}

/// A typed reference to the result of a task in one [`Graph`].
///
/// Cheap to copy. Only valid for the graph that returned it: using it in another
/// graph is an error ([`GraphError::InvalidDependency`]).
pub struct Handle<T> {
    id: TaskId,
    graph: u64,
    _type: PhantomData<fn() -> T>,
}

impl<T> Handle<T> {
    /// The task's id in its graph.
    pub fn id(&self) -> TaskId {
        self.id
    }

    pub(crate) fn graph_id(&self) -> u64 {
        self.graph
    }

    /// The untyped handle.
    pub fn erase(&self) -> AnyHandle {
        AnyHandle {
            id: self.id,
            graph: self.graph,
        }
    }
}

impl<T> Clone for Handle<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Handle<T> {}

impl<T> fmt::Debug for Handle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Handle({} of graph {})", self.id, self.graph)
    }
}

/// An untyped reference to a task's result, for graphs built from data (Dask dicts,
/// JSON) where types are only known at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnyHandle {
    id: TaskId,
    graph: u64,
}

impl AnyHandle {
    /// The task's id in its graph.
    pub fn id(&self) -> TaskId {
        self.id
    }
}

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
    scratch: Vec<TaskId>,
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
            sizes: Arc::default(),
            scratch: Vec::new(),
        }
    }

    /// Adds a task that calls `f` with references to its inputs' results.
    ///
    /// `inputs` is `()`, a handle `&h`, a tuple of handles `(&a, &b)` (up to four), or a
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
        let body: BlockingFn = Arc::new(move |values: &[&Value]| f.call(values).map(value));
        self.push(
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
        self.set_sizing(handle.id, handle.graph, Sizing::measured::<T>())
    }

    /// Declares that the result of the task behind `handle` holds `bytes` bytes: for
    /// results whose type does not implement [`ResultSize`] (or whose size is known
    /// better than it can tell). Counted as declared, whatever the result holds.
    ///
    /// # Errors
    /// [`GraphError::InvalidTarget`] if `handle` belongs to another graph.
    pub fn declare_size<T>(&mut self, handle: &Handle<T>, bytes: u64) -> Result<(), GraphError> {
        self.set_sizing(handle.id, handle.graph, Sizing::Declared(bytes))
    }

    fn set_sizing(&mut self, id: TaskId, graph: u64, sizing: Sizing) -> Result<(), GraphError> {
        if graph != self.id || id.index() >= self.core.len() {
            return Err(GraphError::InvalidTarget { id });
        }
        Arc::make_mut(&mut self.sizes).set(id.index(), sizing);
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
        let body: BlockingFn = Arc::new(move |values: &[&Value]| match f.call(values)? {
            Ok(v) => Ok(value(v)),
            Err(e) => Err(TaskError::failed(e)),
        });
        self.push(
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
        self.push(key.into(), &inputs, TaskBody::Async(AsyncFnBox(body)))
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
        self.push(key.into(), &inputs, TaskBody::Async(AsyncFnBox(body)))
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
            TaskBody::Blocking(BlockingFnBox::local(Arc::new(f))),
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
        let handle: Handle<()> = self.push(key.into(), &inputs, body)?;
        Ok(handle.erase())
    }

    pub(crate) fn push<I: Inputs + ?Sized, T>(
        &mut self,
        key: Key,
        inputs: &I,
        body: TaskBody,
    ) -> Result<Handle<T>, GraphError> {
        self.scratch.clear();
        if let Err(foreign) = inputs.collect(self.id, &mut self.scratch) {
            return Err(GraphError::InvalidDependency {
                key,
                dependency: foreign,
            });
        }
        let id = Arc::make_mut(&mut self.core).push(key, &self.scratch, body)?;
        Ok(Handle {
            id,
            graph: self.id,
            _type: PhantomData,
        })
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
        assert_eq!(handle.graph, self.id, "handle from another graph");
        self.core.key(handle.id)
    }

    /// The untyped handle of the task with `key`, if any.
    pub fn handle(&self, key: &Key) -> Option<AnyHandle> {
        self.core.id(key).map(|id| AnyHandle { id, graph: self.id })
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

    pub(crate) fn id(&self) -> u64 {
        self.id
    }
}

/// What a task takes as inputs: `()`, `&Handle<A>`, tuples of handles, or slices of
/// same-typed handles. `Args` names the argument types the task function receives.
pub trait Inputs {
    /// Marker of the argument types (`()`, `(A,)`, `(A, B)`, [`Many<A>`]...).
    type Args;

    /// Appends the inputs' task ids; `Err(id)` for a handle of another graph.
    fn collect(&self, graph: u64, out: &mut Vec<TaskId>) -> Result<(), TaskId>;
}

/// Argument marker for a slice of same-typed inputs: the function takes `&[&A]`.
pub struct Many<A>(PhantomData<fn() -> A>);

fn push_checked(
    graph: u64,
    id: TaskId,
    handle_graph: u64,
    out: &mut Vec<TaskId>,
) -> Result<(), TaskId> {
    if handle_graph != graph {
        return Err(id);
    }
    out.push(id);
    Ok(())
}

impl Inputs for () {
    type Args = ();
    fn collect(&self, _: u64, _: &mut Vec<TaskId>) -> Result<(), TaskId> {
        Ok(())
    }
}

impl<A> Inputs for &Handle<A> {
    type Args = (A,);
    fn collect(&self, graph: u64, out: &mut Vec<TaskId>) -> Result<(), TaskId> {
        push_checked(graph, self.id, self.graph, out)
    }
}

impl<A> Inputs for &[Handle<A>] {
    type Args = Many<A>;
    fn collect(&self, graph: u64, out: &mut Vec<TaskId>) -> Result<(), TaskId> {
        self.iter()
            .try_for_each(|h| push_checked(graph, h.id, h.graph, out))
    }
}

impl<A> Inputs for &Vec<Handle<A>> {
    type Args = Many<A>;
    fn collect(&self, graph: u64, out: &mut Vec<TaskId>) -> Result<(), TaskId> {
        self.as_slice().collect(graph, out)
    }
}

/// Argument marker for untyped inputs (see [`Graph::add_dyn`]).
pub struct DynArgs;

impl Inputs for &[AnyHandle] {
    type Args = DynArgs;
    fn collect(&self, graph: u64, out: &mut Vec<TaskId>) -> Result<(), TaskId> {
        self.iter()
            .try_for_each(|h| push_checked(graph, h.id, h.graph, out))
    }
}

macro_rules! tuple_inputs {
    ($($name:ident $idx:tt),+) => {
        impl<$($name),+> Inputs for ($(&Handle<$name>,)+) {
            type Args = ($($name,)+);
            fn collect(&self, graph: u64, out: &mut Vec<TaskId>) -> Result<(), TaskId> {
                $(push_checked(graph, self.$idx.id, self.$idx.graph, out)?;)+
                Ok(())
            }
        }
    };
}

tuple_inputs!(A 0, B 1);
tuple_inputs!(A 0, B 1, C 2);
tuple_inputs!(A 0, B 1, C 2, D 3);

/// Reads input `i` as an `A`. Typed handles guarantee the type; a mismatch can only
/// come from a foreign executor passing wrong values, and is reported, not panicked.
fn arg<'v, A: Any>(values: &[&'v Value], i: usize) -> Result<&'v A, TaskError> {
    values
        .get(i)
        .and_then(|v| v.downcast_ref::<A>())
        .ok_or_else(|| mismatch::<A>(i))
}

fn arg_arc<A: Any + Send + Sync>(values: &[Value], i: usize) -> Result<Arc<A>, TaskError> {
    values
        .get(i)
        .and_then(|v| Arc::clone(v).downcast::<A>().ok())
        .ok_or_else(|| mismatch::<A>(i))
}

fn mismatch<A>(i: usize) -> TaskError {
    TaskError::new(
        TaskErrorKind::TypeMismatch,
        format!("input {i} is not a {}", std::any::type_name::<A>()),
    )
}

/// A function usable as a blocking task taking `Args` and returning `O`.
///
/// Implemented for closures `Fn() -> O`, `Fn(&A) -> O`, `Fn(&A, &B) -> O` (up to four
/// inputs) and `Fn(&[&A]) -> O`; there is no need to implement it by hand.
pub trait TaskFn<Args, O>: Send + Sync + 'static {
    /// Calls the function with the values of its inputs.
    ///
    /// # Errors
    /// [`TaskErrorKind::TypeMismatch`] if an input is not of the expected type.
    fn call(&self, values: &[&Value]) -> Result<O, TaskError>;
}

impl<F, O> TaskFn<(), O> for F
where
    F: Fn() -> O + Send + Sync + 'static,
{
    fn call(&self, _: &[&Value]) -> Result<O, TaskError> {
        Ok(self())
    }
}

impl<F, A, O> TaskFn<Many<A>, O> for F
where
    F: Fn(&[&A]) -> O + Send + Sync + 'static,
    A: Any,
{
    fn call(&self, values: &[&Value]) -> Result<O, TaskError> {
        // Most fan-ins are small: keep the references on the stack.
        let args = (0..values.len())
            .map(|i| arg::<A>(values, i))
            .collect::<Result<smallvec::SmallVec<[&A; 16]>, _>>()?;
        Ok(self(&args))
    }
}

macro_rules! tuple_fn {
    ($($name:ident $idx:tt),+) => {
        impl<F, O, $($name),+> TaskFn<($($name,)+), O> for F
        where
            F: Fn($(&$name),+) -> O + Send + Sync + 'static,
            $($name: Any,)+
        {
            fn call(&self, values: &[&Value]) -> Result<O, TaskError> {
                Ok(self($(arg::<$name>(values, $idx)?),+))
            }
        }
    };
}

tuple_fn!(A 0);
tuple_fn!(A 0, B 1);
tuple_fn!(A 0, B 1, C 2);
tuple_fn!(A 0, B 1, C 2, D 3);

/// A function usable as an async task taking `Args` (as `Arc`s) and returning a
/// future `Fut`.
///
/// Implemented for closures `Fn() -> Fut`, `Fn(Arc<A>) -> Fut`, `Fn(Arc<A>, Arc<B>) ->
/// Fut` (up to four inputs) and `Fn(Vec<Arc<A>>) -> Fut`.
pub trait AsyncTaskFn<Args, Fut>: Send + Sync + 'static {
    /// Calls the function with the values of its inputs.
    ///
    /// # Errors
    /// [`TaskErrorKind::TypeMismatch`] if an input is not of the expected type.
    fn call(&self, values: Vec<Value>) -> Result<Fut, TaskError>;
}

impl<F, Fut> AsyncTaskFn<(), Fut> for F
where
    F: Fn() -> Fut + Send + Sync + 'static,
{
    fn call(&self, _: Vec<Value>) -> Result<Fut, TaskError> {
        Ok(self())
    }
}

impl<F, A, Fut> AsyncTaskFn<Many<A>, Fut> for F
where
    F: Fn(Vec<Arc<A>>) -> Fut + Send + Sync + 'static,
    A: Any + Send + Sync,
{
    fn call(&self, values: Vec<Value>) -> Result<Fut, TaskError> {
        let args = (0..values.len())
            .map(|i| arg_arc::<A>(&values, i))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self(args))
    }
}

macro_rules! tuple_async_fn {
    ($($name:ident $idx:tt),+) => {
        impl<F, Fut, $($name),+> AsyncTaskFn<($($name,)+), Fut> for F
        where
            F: Fn($(Arc<$name>),+) -> Fut + Send + Sync + 'static,
            $($name: Any + Send + Sync,)+
        {
            fn call(&self, values: Vec<Value>) -> Result<Fut, TaskError> {
                Ok(self($(arg_arc::<$name>(&values, $idx)?),+))
            }
        }
    };
}

tuple_async_fn!(A 0);
tuple_async_fn!(A 0, B 1);
tuple_async_fn!(A 0, B 1, C 2);
tuple_async_fn!(A 0, B 1, C 2, D 3);
