//! The scheduling loop of one computation.
//!
//! One async function owns everything mutable about a computation: core's `State`,
//! the values of finished tasks, the count of tasks handed out. Executors and async
//! tasks talk to it only through one mpsc channel. Each turn of the loop keeps the
//! rule of core's driving contract: dispatch what is ready (up to the back-pressure
//! limit), wait for completions, feed every one to `State`, drop what it releases.
//!
//! The loop lives inside the future the user awaits (nothing is spawned for it), so
//! dropping that future is cancellation: a guard marks the computation cancelled
//! (queued jobs are skipped, async tasks stop), the values held are dropped with the
//! loop, and `on_finish` callbacks hear `Cancelled`.
//!
//! It does bounded work per wake-up: after [`BUDGET`] tasks without waiting it yields
//! to the runtime, so a million-task graph does not starve the server it runs in.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use smallvec::SmallVec;
use taskloom_core::{Graph as CoreGraph, State, Status, TaskId};
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::callbacks::{Callback, Outcome, StartInfo, TaskFinish, TaskStart};
use crate::context::{self, Scope};
use crate::error::{ComputeError, TaskError};
use crate::executor::{
    Batch, Cancel, Chain, Completion, Inputs, Job, Message, Sink, Worker, execute, record_span,
    task_span,
};
use crate::graph::{BlockingFn, TaskBody};
use crate::scheduler::{ComputeOptions, Inner};
use crate::value::Value;

/// Tasks dispatched or completed before the loop yields to the runtime.
const BUDGET: usize = 2048;
/// Input buffers kept for reuse, at most.
const MAX_SPARE_INPUTS: usize = 1024;
/// Largest adaptive chunk.
const MAX_CHUNK: usize = 64;
/// The adaptive chunk aims at batches of about this much work.
const TARGET_BATCH: Duration = Duration::from_micros(200);

/// The finished computation's results: the values of its targets.
pub(crate) struct Results {
    store: Vec<Option<Value>>,
}

impl Results {
    /// Moves a target's value out.
    pub(crate) fn take(&mut self, id: TaskId) -> Option<Value> {
        self.store.get_mut(id.index())?.take()
    }

    /// Shares a target's value.
    pub(crate) fn get(&self, id: TaskId) -> Option<Value> {
        self.store.get(id.index())?.clone()
    }
}

/// Runs the computation of `targets` to the end.
pub(crate) async fn run(
    inner: Arc<Inner>,
    graph: Arc<CoreGraph<TaskBody>>,
    targets: Vec<TaskId>,
    options: ComputeOptions,
) -> Result<Results, ComputeError> {
    let state = State::new(&graph, &targets)?;
    let executor = Arc::clone(&inner.executor);
    let inline = executor.is_inline() || executor.is_worker_thread();
    let workers = if inline {
        1
    } else {
        executor.num_workers().max(1)
    };
    let span = tracing::info_span!(
        "compute",
        tasks = state.counts().total,
        executor = executor.name(),
        workers,
        inline,
    );
    let (tx, rx) = mpsc::unbounded_channel();
    let scope = Arc::new(Scope {
        graph: Arc::clone(&graph),
        cancel: Cancel::default(),
    });
    let fuse = !inline && options.fuse && options.callbacks.is_empty();
    let callbacks = Callbacks {
        list: options.callbacks,
        finished: false,
        scope: Arc::clone(&scope),
    };
    let mut driver = Driver {
        store: vec![None; graph.len()],
        graph,
        state,
        inner,
        scope,
        sink: Sink {
            tx,
            report_starts: !callbacks.list.is_empty(),
        },
        rx,
        inline,
        workers,
        in_flight: 0,
        async_running: 0,
        async_waiting: VecDeque::new(),
        chunk: Chunk::new(),
        callbacks,
        span: span.clone(),
        worked: 0,
        clock: Instant::now(),
        clock_fresh: true,
        fuse,
        spare_inputs: Vec::new(),
    };
    let user_cancel = options.cancel;
    async move {
        let started = driver.callbacks.start(&StartInfo {
            tasks: driver.state.counts().total,
            executor: executor.name().to_owned(),
            workers,
            at: Instant::now(),
        });
        // A panic in `on_start` fails the computation, and `on_finish` hears that
        // (returning early would leave it to the drop guard, which says Cancelled).
        let result = match started {
            Ok(()) => driver.drive(&*executor, user_cancel).await,
            Err(e) => Err(e),
        };
        driver.callbacks.finish(match &result {
            Ok(()) => Outcome::Done,
            Err(ComputeError::Cancelled) => Outcome::Cancelled,
            Err(e) => Outcome::Failed(e.to_string()),
        });
        result?;
        Ok(Results {
            store: std::mem::take(&mut driver.store),
        })
    }
    .instrument(span)
    .await
}

/// Everything the loop owns.
struct Driver {
    graph: Arc<CoreGraph<TaskBody>>,
    state: State,
    /// Values of finished tasks, by task id; released ones are `None` again.
    store: Vec<Option<Value>>,
    inner: Arc<Inner>,
    /// Shared with every job: the graph (for keys) and the cancellation state.
    scope: Arc<Scope>,
    sink: Sink,
    rx: mpsc::UnboundedReceiver<Message>,
    inline: bool,
    workers: usize,
    /// Blocking tasks handed to the executor and not yet completed.
    in_flight: usize,
    /// Async tasks spawned and not yet completed.
    async_running: usize,
    /// Async tasks popped from the ready stack, waiting for a slot.
    async_waiting: VecDeque<TaskId>,
    chunk: Chunk,
    callbacks: Callbacks,
    span: tracing::Span,
    /// Tasks dispatched or completed since the loop last waited.
    worked: usize,
    /// Inline runs: the end of the last task, which is the start of the next.
    clock: Instant,
    /// Whether `clock` was read at the end of the last task (it goes stale while
    /// nobody reads task times).
    clock_fresh: bool,
    /// Whether linear chains are handed out as one job (see [`Driver::chain_after`]).
    fuse: bool,
    /// Input buffers handed back by completions, for the next jobs.
    spare_inputs: Vec<Inputs>,
}

impl Driver {
    async fn drive(
        &mut self,
        executor: &dyn crate::executor::Executor,
        user_cancel: Option<tokio_util::sync::CancellationToken>,
    ) -> Result<(), ComputeError> {
        let user_cancel = user_cancel.unwrap_or_default();
        let mut inbox = Vec::with_capacity(64);
        loop {
            if user_cancel.is_cancelled() {
                return Err(self.cancelled());
            }
            if self.inline {
                self.clock_fresh = false; // time passed while waiting
                self.run_inline().await?;
            } else {
                self.dispatch(executor)?;
            }
            match self.state.status() {
                Status::Done => return Ok(()),
                Status::Running => {}
                Status::Cancelled => return Err(ComputeError::Cancelled),
                Status::Failed(t) => {
                    return Err(ComputeError::Protocol(format!(
                        "task `{}` failed without an error",
                        self.graph.key(t)
                    )));
                }
            }
            if self.in_flight + self.async_running == 0 && self.state.counts().ready == 0 {
                return Err(ComputeError::Protocol(
                    "no task is running or ready, yet the computation is not done".into(),
                ));
            }
            if self.in_flight + self.async_running == 0 {
                continue; // inline run paused for its budget; more is ready
            }
            let received = tokio::select! {
                biased;
                () = user_cancel.cancelled() => return Err(self.cancelled()),
                n = self.rx.recv_many(&mut inbox, 64) => n,
            };
            if received == 0 {
                return Err(ComputeError::ExecutorStopped {
                    outstanding: self.in_flight + self.async_running,
                });
            }
            for message in inbox.drain(..) {
                self.handle(message)?;
            }
            if self.worked >= BUDGET {
                self.worked = 0;
                tokio::task::yield_now().await;
            }
        }
    }

    fn cancelled(&mut self) -> ComputeError {
        self.state.cancel();
        self.scope.cancel.cancel();
        ComputeError::Cancelled
    }

    /// Runs ready tasks one at a time on this thread, in the static order, yielding to
    /// the runtime every [`BUDGET`] tasks.
    async fn run_inline(&mut self) -> Result<(), ComputeError> {
        while self.run_inline_segment()? {
            self.worked = 0;
            tokio::task::yield_now().await;
            self.clock_fresh = false;
        }
        Ok(())
    }

    /// Runs ready tasks until none is ready (`false`) or the budget is spent (`true`).
    /// The computation's scope is entered for the segment only: it must not be held
    /// across the yield.
    fn run_inline_segment(&mut self) -> Result<bool, ComputeError> {
        let _scope = context::enter_scope(&self.scope);
        // A second handle on the graph lets task bodies be borrowed while `self`
        // changes.
        let graph = Arc::clone(&self.graph);
        while self.worked < BUDGET {
            self.start_waiting_async()?;
            let Some(task) = self.state.pop_ready() else {
                return Ok(false);
            };
            self.worked += 1;
            match graph.payload(task) {
                TaskBody::Blocking(func) => self.run_inline_task(task, &func.0)?,
                TaskBody::Async(_) => {
                    self.async_waiting.push_back(task);
                    self.start_waiting_async()?;
                }
            }
        }
        Ok(true)
    }

    /// Runs one blocking task right here, on references to its inputs. Clocks are
    /// read only when someone reads the times (callbacks or an enabled span), and then
    /// once per task: the end of one task is the start of the next.
    fn run_inline_task(&mut self, task: TaskId, func: &BlockingFn) -> Result<(), ComputeError> {
        let key = self.graph.key(task);
        let span = task_span(Some(&self.span), &self.scope, task);
        let timed = !self.callbacks.list.is_empty() || !span.is_disabled();
        if timed && !self.clock_fresh {
            self.clock = Instant::now();
        }
        let started = self.clock;
        if !self.callbacks.list.is_empty() {
            self.callbacks.task_start(&TaskStart {
                key,
                worker: Worker::Inline,
                at: started,
            })?;
        }
        // The task borrows its inputs straight from the results held here.
        let mut inputs: SmallVec<[&Value; 8]> = SmallVec::new();
        for d in self.graph.deps(task) {
            match &self.store[d.index()] {
                Some(v) => inputs.push(v),
                None => return Err(self.missing_input(task, *d)),
            }
        }
        let result = execute(func, task, &inputs, &span);
        drop(inputs);
        let finished = if timed { Instant::now() } else { started };
        self.clock = finished;
        self.clock_fresh = timed;
        record_span(&span, Worker::Inline, started, started, finished);
        self.in_flight += 1;
        self.complete(Completion {
            task,
            members: 1,
            inputs: Default::default(),
            result,
            worker: Worker::Inline,
            queued: started,
            started,
            finished,
        })
    }

    /// Hands ready tasks to the executor in batches, up to the back-pressure limit.
    fn dispatch(&mut self, executor: &dyn crate::executor::Executor) -> Result<(), ComputeError> {
        self.start_waiting_async()?;
        let chunk = self.inner.chunksize.unwrap_or_else(|| self.chunk.size());
        let limit = 2 * self.workers * chunk;
        while self.in_flight < limit {
            let mut jobs = Vec::with_capacity(chunk.min(limit - self.in_flight));
            while jobs.len() < chunk && self.in_flight + jobs.len() < limit {
                let Some(task) = self.state.pop_ready() else {
                    break;
                };
                match self.graph.payload(task) {
                    TaskBody::Blocking(_) => jobs.push(self.job(task)?),
                    TaskBody::Async(_) => {
                        self.async_waiting.push_back(task);
                        self.start_waiting_async()?;
                    }
                }
            }
            if jobs.is_empty() {
                break;
            }
            self.in_flight += jobs.len();
            self.worked += jobs.len();
            executor.submit(Batch::new(jobs, self.sink.clone()));
        }
        Ok(())
    }

    /// The job of a ready blocking task: its function and its inputs' values.
    fn job(&mut self, task: TaskId) -> Result<Job, ComputeError> {
        let TaskBody::Blocking(func) = self.graph.payload(task) else {
            return Err(ComputeError::Protocol("job of an async task".into()));
        };
        let chain = if self.fuse && func.1.is_none() {
            self.chain_after(task)
        } else {
            None
        };
        Ok(Job {
            task,
            func: Arc::clone(&func.0),
            remote: func.1.clone(),
            inputs: self.job_inputs(task)?,
            scope: Arc::clone(&self.scope),
            span: task_span(Some(&self.span), &self.scope, task),
            queued: Instant::now(),
            chain,
        })
    }

    /// The linear chain that follows `task`: each next member is the only dependent of
    /// the one before and needs nothing else (core's fusion rule), and runs on an
    /// executor in this process. Those run on the same worker right after `task`.
    fn chain_after(&self, task: TaskId) -> Option<Box<Chain>> {
        let mut members = Vec::new();
        let mut last = task;
        while let Some(next) = self.state.linear_successor(last) {
            match self.graph.payload(next) {
                TaskBody::Blocking(f) if f.1.is_none() => members.push((
                    next,
                    Arc::clone(&f.0),
                    task_span(Some(&self.span), &self.scope, next),
                )),
                _ => break,
            }
            last = next;
        }
        (!members.is_empty()).then(|| Box::new(Chain { members }))
    }

    /// A job's inputs, in a buffer that came back with an earlier completion when
    /// there is one: tasks with many inputs then cost no allocation per job.
    fn job_inputs(&mut self, task: TaskId) -> Result<Inputs, ComputeError> {
        let mut inputs = self.spare_inputs.pop().unwrap_or_default();
        self.fill_inputs(task, &mut inputs)?;
        Ok(inputs)
    }

    /// Appends the values of `task`'s dependencies, in argument order.
    fn fill_inputs(
        &self,
        task: TaskId,
        inputs: &mut impl Extend<Value>,
    ) -> Result<(), ComputeError> {
        for d in self.graph.deps(task) {
            match &self.store[d.index()] {
                Some(v) => inputs.extend([Arc::clone(v)]),
                None => return Err(self.missing_input(task, *d)),
            }
        }
        Ok(())
    }

    /// A dependency's result is not held when a task is started: a bug, reported.
    fn missing_input(&self, task: TaskId, dep: TaskId) -> ComputeError {
        ComputeError::Protocol(format!(
            "input `{}` of `{}` is not held",
            self.graph.key(dep),
            self.graph.key(task)
        ))
    }

    /// Spawns waiting async tasks while there are free slots.
    fn start_waiting_async(&mut self) -> Result<(), ComputeError> {
        while self.async_running < self.inner.max_async_tasks {
            let Some(task) = self.async_waiting.pop_front() else {
                return Ok(());
            };
            self.spawn_async(task)?;
        }
        Ok(())
    }

    fn spawn_async(&mut self, task: TaskId) -> Result<(), ComputeError> {
        let key = self.graph.key(task).clone();
        let TaskBody::Async(func) = self.graph.payload(task) else {
            return Err(ComputeError::Protocol(
                "async spawn of a blocking task".into(),
            ));
        };
        let runtime = tokio::runtime::Handle::try_current()
            .ok()
            .or_else(|| self.inner.runtime.clone())
            .ok_or_else(|| ComputeError::NoRuntime { key: key.clone() })?;
        let mut inputs = Vec::with_capacity(self.graph.deps(task).len());
        self.fill_inputs(task, &mut inputs)?;
        let queued = Instant::now();
        let future =
            catch_unwind(AssertUnwindSafe(|| (func.0)(inputs))).unwrap_or_else(|payload| {
                futures::future::ready(Err(TaskError::panicked(&*payload))).boxed()
            });
        let scope = Arc::clone(&self.scope);
        let tx = self.sink.tx.clone();
        let report_starts = self.sink.report_starts;
        let span = task_span(Some(&self.span), &self.scope, task);
        let recorded = span.clone();
        runtime.spawn(
            async move {
                let started = Instant::now();
                if report_starts {
                    let _ = tx.send(Message::Started {
                        task,
                        worker: Worker::Async,
                        at: started,
                    });
                }
                let run =
                    AssertUnwindSafe(context::scope_async(&scope, task, future)).catch_unwind();
                let Some(outcome) = scope.cancel.token().run_until_cancelled(run).await else {
                    return; // the computation is gone; nobody wants the result
                };
                let result = outcome.unwrap_or_else(|payload| Err(TaskError::panicked(&*payload)));
                let finished = Instant::now();
                record_span(&recorded, Worker::Async, queued, started, finished);
                let _ = tx.send(Message::Done(vec![Completion {
                    task,
                    members: 1,
                    inputs: Default::default(),
                    result,
                    worker: Worker::Async,
                    queued,
                    started,
                    finished,
                }]));
            }
            .instrument(span),
        );
        self.async_running += 1;
        self.worked += 1;
        Ok(())
    }

    fn handle(&mut self, message: Message) -> Result<(), ComputeError> {
        match message {
            Message::Started { task, worker, at } => self.callbacks.task_start(&TaskStart {
                key: self.graph.key(task),
                worker,
                at,
            }),
            Message::Done(completions) => {
                for completion in completions {
                    self.complete(completion)?;
                }
                Ok(())
            }
        }
    }

    /// Feeds the success of `task` to the state and drops the results it releases.
    fn finish(&mut self, task: TaskId) -> Result<(), ComputeError> {
        self.state
            .finish(task)
            .map_err(|e| ComputeError::Protocol(e.to_string()))?;
        while let Some(released) = self.state.pop_release() {
            self.store[released.index()] = None;
        }
        Ok(())
    }

    /// Feeds one completion to the state and drops what it releases.
    fn complete(&mut self, c: Completion) -> Result<(), ComputeError> {
        // The job's own references to its inputs go first, here on the loop's thread;
        // a buffer that grew past its inline room is kept for the next job.
        let mut inputs = c.inputs;
        inputs.clear();
        if inputs.spilled() && self.spare_inputs.len() < MAX_SPARE_INPUTS {
            self.spare_inputs.push(inputs);
        }
        let task = c.task;
        if task.index() >= self.graph.len() {
            return Err(ComputeError::Protocol(format!(
                "completion for unknown task {task}"
            )));
        }
        if matches!(self.graph.payload(task), TaskBody::Async(_)) {
            self.async_running = self.async_running.saturating_sub(1);
        } else {
            self.in_flight = self.in_flight.saturating_sub(1);
            if !self.inline {
                self.chunk
                    .observe(c.finished.saturating_duration_since(c.started));
            }
        }
        self.worked += c.members as usize;
        // The members of a fused chain before the last all succeeded: feed them in
        // order. Each next member became ready when the one before finished, so it is
        // on top of the ready stack.
        let mut task = task;
        for _ in 1..c.members {
            self.finish(task)?;
            let next = self.state.linear_successor(task);
            match (next, self.state.pop_ready()) {
                (Some(next), Some(popped)) if next == popped => task = next,
                _ => {
                    return Err(ComputeError::Protocol(format!(
                        "fused chain after `{}` does not match the graph",
                        self.graph.key(task)
                    )));
                }
            }
        }
        if !self.callbacks.list.is_empty() {
            self.callbacks.task_finish(&TaskFinish {
                key: self.graph.key(task),
                worker: c.worker,
                started: c.started,
                finished: c.finished,
                error: c.result.as_ref().err().map(TaskError::message),
            })?;
        }
        match c.result {
            Ok(value) => {
                self.finish(task)?;
                self.store[task.index()] = Some(value);
                Ok(())
            }
            Err(error) => {
                self.state
                    .fail(task)
                    .map_err(|e| ComputeError::Protocol(e.to_string()))?;
                self.scope.cancel.cancel();
                Err(ComputeError::Task {
                    key: self.graph.key(task).clone(),
                    error,
                })
            }
        }
    }
}

/// The adaptive chunk size: batches of about [`TARGET_BATCH`] of work, from a moving
/// average of task durations. Starts at 1 (nothing known: assume long tasks).
struct Chunk {
    mean_ns: f64,
    seen: bool,
}

impl Chunk {
    fn new() -> Self {
        Chunk {
            mean_ns: 0.0,
            seen: false,
        }
    }

    fn observe(&mut self, d: Duration) {
        let ns = d.as_secs_f64() * 1e9;
        if self.seen {
            self.mean_ns += (ns - self.mean_ns) / 8.0;
        } else {
            self.mean_ns = ns;
            self.seen = true;
        }
    }

    fn size(&self) -> usize {
        if !self.seen {
            return 1;
        }
        let target = TARGET_BATCH.as_nanos() as f64;
        let chunk = target / self.mean_ns.max(1.0);
        (chunk as usize).clamp(1, MAX_CHUNK)
    }
}

/// The computation's callbacks, with the promise that `on_finish` runs exactly once.
struct Callbacks {
    list: Vec<Arc<dyn Callback>>,
    finished: bool,
    scope: Arc<Scope>,
}

impl Callbacks {
    /// Calls `f` on every callback; a panic becomes an error that stops the
    /// computation.
    fn each(&self, f: impl Fn(&dyn Callback)) -> Result<(), ComputeError> {
        for callback in &self.list {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| f(&**callback))) {
                return Err(ComputeError::CallbackPanicked {
                    callback: callback.name().to_owned(),
                    message: TaskError::panicked(&*payload).message().to_owned(),
                });
            }
        }
        Ok(())
    }

    fn start(&self, info: &StartInfo) -> Result<(), ComputeError> {
        self.each(|c| c.on_start(info))
    }

    fn task_start(&self, event: &TaskStart<'_>) -> Result<(), ComputeError> {
        self.each(|c| c.on_task_start(event))
    }

    fn task_finish(&self, event: &TaskFinish<'_>) -> Result<(), ComputeError> {
        self.each(|c| c.on_task_finish(event))
    }

    fn finish(&mut self, outcome: Outcome) {
        if !self.finished {
            self.finished = true;
            // The computation is over either way; a panic here has nothing left to stop.
            let _ = self.each(|c| c.on_finish(&outcome));
        }
    }
}

impl Drop for Callbacks {
    /// Dropping the computation's future cancels it: queued jobs are skipped, async
    /// tasks stop, and callbacks hear `Cancelled`.
    fn drop(&mut self) {
        self.scope.cancel.cancel();
        self.finish(Outcome::Cancelled);
    }
}
