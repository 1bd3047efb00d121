//! The scheduling loop of one computation.
//!
//! One async function owns everything mutable about a computation: core's `State`,
//! the results held, the count of tasks handed out. Executors and async tasks talk to
//! it only through one mpsc channel. Each turn of the loop keeps the rule of core's
//! driving contract: start what is ready, wait for completions, feed every one to
//! `State`, drop what it releases.
//!
//! Ready tasks start by one of two strategies, chosen once per computation (as
//! Tokio's runtime picks its current-thread or multi-thread scheduler):
//!
//! - `dispatch`: hand them to the executor in batches, up to the back-pressure limit;
//! - `inline`: run them one at a time on this thread, in the static order, on
//!   references to the results held (`CurrentThread`, and computations started
//!   from inside a task on one of the executor's own workers).
//!
//! Async tasks are neither: `spawn` runs them as Tokio tasks under both.
//!
//! The loop lives inside the future the user awaits (nothing is spawned for it), so
//! dropping that future is cancellation: the hooks' guard marks the computation
//! cancelled (queued jobs are skipped, async tasks stop), the results held are
//! dropped with the loop, and `on_finish` callbacks hear `Cancelled`.
//!
//! It does bounded work per wake-up: after [`BUDGET`] tasks without waiting it yields
//! to the runtime, so a million-task graph does not starve the server it runs in.
//!
//! # Layout
//!
//! - this file: [`run`], the loop, and the [`Ledger`] every part shares (graph,
//!   state, results, hooks) with the one path a completion takes and the one gate
//!   every start goes through ([`Ledger::next_ready`]);
//! - `held`: the results held, counted with their bytes, dropped without letting a
//!   panic escape;
//! - `gate`: what may start when memory matters (the plan's count, the byte
//!   budget);
//! - `hooks`: the callbacks, with `on_finish` exactly once;
//! - `dispatch`, `inline`, `spawn`: the two strategies and the async spawner;
//! - `spin`: waiting for a few tiny tasks' completions without parking; `turns`: each
//!   wait as a TRACE event, the loop's own work against its waits for the workers;
//! - `cached` (feature `cache`): the result cache's plan (entries found are loaded,
//!   what only they needed is culled) and its reports;
//! - `watch`: task policies (retries waiting for their time, deadlines of blocking
//!   tasks), made only when a task has one.

#[cfg(feature = "cache")]
mod cached;
mod dispatch;
mod follow;
mod gate;
mod held;
mod hooks;
mod inline;
mod spawn;
mod spin;
mod turns;
mod watch;

use std::cell::RefCell;
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use taskloom_core::{Graph as CoreGraph, State, Status, TaskId};
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::body::TaskBody;
use crate::callbacks::{ComputationId, MemoryStats, Outcome, StartInfo, TaskFinish, TaskStart};
use crate::error::{ComputeError, TaskError, TaskErrorKind};
use crate::executor::running;
use crate::executor::{Attempt, DEFAULT_RETRIES};
use crate::executor::{CancelLink, Scope};
use crate::executor::{Completion, Executor, Inputs, Message, Sink, Started, Worker};
use crate::graph::PerTask;
use crate::options::ComputeOptions;
use crate::policy::Resolved;
use crate::size::Sizes;
use crate::traffic::Traffic;
use crate::unwind::{discard, drop_value};

use dispatch::Dispatcher;
use gate::{Admitted, Gate};
pub(crate) use held::Held;
use held::Missing;
use hooks::Hooks;
use inline::InlineRunner;
use spawn::Spawner;
use spin::Spin;
use turns::Turns;
use watch::{Verdict, Watch};

/// How many times one result lost with its worker runs again, at most. Losses come
/// from worker deaths, which the executors' retry limit already bounds (a task that
/// kills its worker runs `DEFAULT_RETRIES + 1` times, and may take a result with it
/// each time): this is a safety net against a worker lost over and over, generous
/// enough that the task that kills workers fails first, with its own error.
const RERUN_LIMIT: u32 = 4 * (DEFAULT_RETRIES + 1);

/// Tasks dispatched or completed before the loop yields to the runtime.
const BUDGET: usize = 2048;

/// What every computation of one [`Scheduler`](crate::Scheduler) runs with: its
/// executor and its settings. The scheduler holds it behind an `Arc` (cloning a
/// scheduler clones the `Arc`) and hands it to each computation's loop.
pub(crate) struct Setup {
    pub(crate) executor: Arc<dyn Executor>,
    /// Tasks per handoff; `None` adapts to the measured task duration.
    pub(crate) chunksize: Option<usize>,
    /// Most async tasks of one computation running at once.
    pub(crate) max_async_tasks: usize,
    /// The runtime async tasks run on when the computation is driven outside one.
    pub(crate) runtime: Option<tokio::runtime::Handle>,
    /// The mean task duration (ns) the last computation handed to the executor
    /// learned, 0 before any: the next one's batches start from it.
    pub(crate) task_ns: AtomicU64,
}

/// Runs the computation of `targets` to the end and returns the results held: the
/// targets' values. `sizes`: what tasks say of their results' sizes, and whether some
/// result may be large and of unknown size.
pub(crate) async fn run(
    setup: Arc<Setup>,
    graph: Arc<CoreGraph<TaskBody>>,
    (sizes, unknown_sizes): (Arc<Sizes>, bool),
    per_task: PerTask,
    targets: Vec<TaskId>,
    options: ComputeOptions,
) -> Result<Held, ComputeError> {
    #[cfg(feature = "cache")]
    let (graph, cache_report) = match &options.cache {
        Some(caching) => {
            match cached::plan(
                &setup,
                &graph,
                (&sizes, unknown_sizes),
                &per_task,
                &targets,
                &options,
                caching,
            )? {
                // A recomputation inside another computation reports into that
                // one's report, which that one's loop tells its callbacks.
                Some(planned) => (
                    planned.graph,
                    caching.report.is_none().then_some(planned.report),
                ),
                None => (graph, None),
            }
        }
        None => (graph, None),
    };
    let state = State::new(&graph, &targets)?;
    let policy = Resolved::new(&per_task.policies, options.timeout, options.retry.clone());
    // A task's deadline counts from its own start, which the loop hears as it
    // happens: tasks with deadlines are handed out one by one, never fused.
    let timeouts = policy.as_ref().is_some_and(|p| p.any_timeout());
    let planned = state.planned_pressure();
    let executor = Arc::clone(&setup.executor);
    let about = About::ask(&*executor)?;
    let (tx, rx) = mpsc::unbounded_channel();
    let listening = Hooks::want_task_events(&options.callbacks);
    let scope = Arc::new(Scope::new(
        Arc::clone(&graph),
        Sink::new(tx, listening),
        ComputationId::next(),
        Arc::from(targets.as_slice()),
        policy.clone(),
    ));
    let watch = policy.map(|p| Box::new(Watch::new(p, about.stops_remote, setup.runtime.clone())));
    // Cancelled with the user's token, and with the computation this one was started
    // from (a sub-graph computed inside a task).
    let links: Vec<CancelLink> = options
        .cancel
        .into_iter()
        .chain(running::enclosing_token())
        .map(|token| CancelLink::new(token, &scope))
        .collect();
    let workers = if about.inline { 1 } else { about.workers };
    let span = tracing::info_span!(
        "compute",
        tasks = state.counts().total,
        executor = %about.name,
        workers,
        inline = about.inline,
        bytes_produced = tracing::field::Empty,
        bytes_kept = tracing::field::Empty,
        bytes_to_parent = tracing::field::Empty,
        bytes_from_parent = tracing::field::Empty,
        bytes_moved = tracing::field::Empty,
        bytes_worker_to_worker = tracing::field::Empty,
        bytes_held_peak = tracing::field::Empty,
        memory_limit = options.memory_limit,
        peak_held = tracing::field::Empty,
        peak_held_bytes = tracing::field::Empty,
        memory_overruns = tracing::field::Empty,
    );
    let hooks = Hooks::new(options.callbacks, Arc::clone(&scope), listening);
    let strategy = if about.inline {
        Strategy::Inline(InlineRunner::new())
    } else {
        let fuse = options.fuse && !timeouts;
        // Remote tasks run in worker processes (by an executor that stops them
        // itself) come back with one time per chain: see `Dispatcher::fuse_remote`.
        let fuse_remote = !(hooks.listening() && about.stops_remote);
        // What the last computation learned; the dispatcher sizes no batch by it.
        let inherited = match setup.task_ns.load(Ordering::Relaxed) {
            0 => None,
            ns => Some(std::time::Duration::from_nanos(ns)),
        };
        Strategy::Dispatch(Dispatcher::new(
            workers,
            setup.chunksize,
            (fuse, fuse_remote),
            inherited,
        ))
    };
    let graph_len = graph.len();
    let mut computation = Computation {
        ledger: Ledger {
            held: Held::new(graph.len(), sizes.any()),
            gate: Gate::new(graph.len(), options.memory_limit, planned, workers),
            unknown_sizes,
            sizes,
            graph,
            state,
            hooks,
            scope,
            span: span.clone(),
            worked: 0,
            reruns: HashMap::new(),
            attempts: RefCell::new(HashMap::new()),
            announced: Announced::new(graph_len, listening),
            watch,
            #[cfg(feature = "cache")]
            cache_report,
        },
        strategy,
        spawner: Spawner::new(setup.max_async_tasks, setup.runtime.clone()),
        spin: Spin::new(),
        rx,
        _links: links,
    };
    async move {
        let started = computation.ledger.hooks.start(&StartInfo {
            computation: computation.ledger.scope.id,
            tasks: computation.ledger.state.counts().total,
            executor: about.name.clone(),
            workers,
            at: Instant::now(),
        });
        // A panic in `on_start` fails the computation, and `on_finish` hears that
        // (returning early would leave it to the drop guard, which says Cancelled).
        let result = match started.and_then(|()| computation.ledger.tell_cache()) {
            Ok(()) => computation.drive(&*executor, &about.name).await,
            Err(e) => Err(e),
        };
        // The cache's entries are written off the workers' path: done or failed, the
        // computation returns once every entry it made is on disk.
        #[cfg(feature = "cache")]
        if let Some(report) = &computation.ledger.cache_report {
            report.flushed().await;
        }
        let result = result.and_then(|()| computation.ledger.tell_cache());
        if let Strategy::Dispatch(d) = &computation.strategy {
            if let Some(mean) = d.learned() {
                let ns = u64::try_from(mean.as_nanos()).unwrap_or(u64::MAX).max(1);
                setup.task_ns.store(ns, Ordering::Relaxed);
            }
        }
        let traffic = computation.ledger.scope.traffic.snapshot();
        if traffic != Traffic::default() {
            let span = &computation.ledger.span;
            span.record("bytes_produced", traffic.produced);
            span.record("bytes_kept", traffic.kept);
            span.record("bytes_to_parent", traffic.to_parent);
            span.record("bytes_from_parent", traffic.from_parent);
            span.record("bytes_moved", traffic.moved);
            span.record("bytes_worker_to_worker", traffic.worker_to_worker);
            let peak = computation
                .ledger
                .scope
                .traffic
                .held()
                .iter()
                .map(|w| w.peak)
                .max();
            span.record("bytes_held_peak", peak.unwrap_or(0));
        }
        let memory = computation.ledger.memory();
        computation.ledger.record(&memory);
        computation.ledger.hooks.finish(
            match &result {
                Ok(()) => Outcome::Done,
                Err(ComputeError::Cancelled) => Outcome::Cancelled,
                Err(e) => Outcome::Failed(e.to_string()),
            },
            memory,
        );
        result?;
        Ok(std::mem::replace(
            &mut computation.ledger.held,
            Held::new(0, false),
        ))
    }
    .instrument(span)
    .await
}

/// Waits for the watch's timer (forever without a watch).
fn tick(watch: &mut Option<Box<Watch>>) -> watch::Tick<'_> {
    match watch {
        Some(w) => w.tick(),
        None => watch::Tick::never(),
    }
}

/// What the loop asks the executor once, before anything runs. A custom executor
/// that panics here fails the computation with an error instead of unwinding into
/// the caller.
struct About {
    name: String,
    workers: usize,
    inline: bool,
    /// Whether it kills the worker of a remote task past its timeout.
    stops_remote: bool,
}

impl About {
    fn ask(executor: &dyn Executor) -> Result<Self, ComputeError> {
        let name = guarded("(unnamed)", "name", || executor.name().to_owned())?;
        let ask = |method, f: &dyn Fn() -> usize| guarded(&name, method, f);
        let workers = ask("num_workers", &|| executor.num_workers())?.max(1);
        let inline = ask("is_inline", &|| usize::from(executor.is_inline()))? == 1
            || ask("is_worker_thread", &|| {
                usize::from(executor.is_worker_thread())
            })? == 1;
        let stops_remote = ask("stops_remote_tasks", &|| {
            usize::from(executor.stops_remote_tasks())
        })? == 1;
        Ok(About {
            name,
            workers,
            inline,
            stops_remote,
        })
    }
}

/// Calls `f`, turning a panic into [`ComputeError::ExecutorPanicked`].
fn guarded<T>(
    executor: &str,
    method: &'static str,
    f: impl FnOnce() -> T,
) -> Result<T, ComputeError> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| ComputeError::ExecutorPanicked {
        executor: executor.to_owned(),
        method,
        key: None,
        message: TaskError::panicked(&*payload).message().to_owned(),
    })
}

/// How ready tasks start.
enum Strategy {
    /// Handed to the executor in batches.
    Dispatch(Dispatcher),
    /// Run one at a time on the loop's thread.
    Inline(InlineRunner),
}

/// What a strategy asks of the loop after starting what it could.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// Nothing more can start now: wait for a completion.
    Wait,
    /// The work budget or time slice is spent: let the runtime run others, then
    /// come back (more may be ready).
    Yield,
}

/// The loop: its ledger, how it starts tasks, and its mailbox.
struct Computation {
    ledger: Ledger,
    strategy: Strategy,
    spawner: Spawner,
    /// What is left of the busy wait allowed to a tiny computation (see `spin`).
    spin: Spin,
    rx: mpsc::UnboundedReceiver<Message>,
    /// Registered with the tokens that cancel this computation, for its lifetime.
    _links: Vec<CancelLink>,
}

/// What every part of the loop reads and changes.
struct Ledger {
    graph: Arc<CoreGraph<TaskBody>>,
    state: State,
    held: Held,
    /// What each task says about its result's size.
    sizes: Arc<Sizes>,
    /// Whether some task makes results that may be large, of a size nobody declared.
    unknown_sizes: bool,
    /// What may start when memory matters.
    gate: Gate,
    /// Shared with every job: the graph (for keys), cancellation, the channel back.
    scope: Arc<Scope>,
    hooks: Hooks,
    span: tracing::Span,
    /// Tasks started or completed since the loop last waited or yielded.
    worked: usize,
    /// How many times each result lost with its worker ran again (rare: a map).
    reruns: HashMap<TaskId, u32>,
    /// Runs lost with their worker of tasks that went back to wait (an input lost):
    /// their next job counts on from them, so a task that kills its worker still
    /// fails after the retry limit.
    attempts: RefCell<HashMap<TaskId, (Vec<Attempt>, bool)>>,
    /// Tasks whose start the callbacks heard as it happened, while they run: their
    /// completion does not tell it again.
    announced: Announced,
    /// Task policies: retries waiting, deadlines watched (`None`: no task has one).
    watch: Option<Box<Watch>>,
    /// What the result cache did, for the callbacks (`None`: no cache).
    #[cfg(feature = "cache")]
    cache_report: Option<Arc<crate::cache::Report>>,
}

impl Computation {
    async fn drive(&mut self, executor: &dyn Executor, name: &str) -> Result<(), ComputeError> {
        // Grows as messages come (and keeps its room from one wait to the next): an
        // inline computation receives none, and a small one a few, so neither pays
        // for room for 64 (an allocation past the allocator's small-size caches).
        let mut inbox = Vec::new();
        let mut turns = Turns::start();
        loop {
            if self.ledger.scope.cancel.is_cancelled() {
                return Err(self.ledger.cancelled());
            }
            let step = match &mut self.strategy {
                Strategy::Dispatch(d) => {
                    d.start(&mut self.ledger, &mut self.spawner, executor, name)?
                }
                Strategy::Inline(i) => i.start(&mut self.ledger, &mut self.spawner)?,
            };
            match self.ledger.state.status() {
                // A task that saw the cancel may have cut its work short: a
                // cancelled computation never returns results.
                Status::Done if self.ledger.scope.cancel.is_cancelled() => {
                    return Err(self.ledger.cancelled());
                }
                Status::Done => return Ok(()),
                Status::Running => {}
                Status::Cancelled => return Err(ComputeError::Cancelled),
                Status::Failed(t) => {
                    return Err(ComputeError::Protocol(format!(
                        "task `{}` failed without an error",
                        self.ledger.graph.key(t)
                    )));
                }
            }
            let outstanding = self.outstanding();
            if step == Step::Yield {
                self.ledger.worked = 0;
                tokio::task::yield_now().await;
                continue;
            }
            if outstanding == 0 {
                return Err(ComputeError::Protocol(
                    "no task is running or ready, yet the computation is not done".into(),
                ));
            }
            if let Some(watch) = &mut self.ledger.watch {
                let graph = &self.ledger.graph;
                watch.arm(|t| graph.key(t).clone())?;
            }
            let timed = self.ledger.watch.as_ref().is_some_and(|w| w.armed());
            let turn = turns.waiting(outstanding);
            let spun = if self.may_spin() {
                self.spin
                    .wait(&mut self.rx, &mut inbox, &self.ledger.scope.cancel)
            } else {
                0
            };
            let received = if spun > 0 {
                spun
            } else {
                tokio::select! {
                biased;
                () = self.ledger.scope.cancel.token().cancelled() => {
                    return Err(self.ledger.cancelled());
                }
                n = self.rx.recv_many(&mut inbox, 64) => n,
                () = tick(&mut self.ledger.watch), if timed => {
                    turns.waited(turn, &self.ledger.span, 0, false);
                    self.ledger.wake()?;
                    continue;
                }
                }
            };
            turns.waited(turn, &self.ledger.span, received, spun > 0);
            if received == 0 {
                // The loop's own scope holds a sender: the channel cannot close.
                return Err(ComputeError::Protocol(
                    "the completion channel closed".into(),
                ));
            }
            for message in inbox.drain(..) {
                self.handle(message)?;
            }
            if self.ledger.worked >= BUDGET {
                self.ledger.worked = 0;
                tokio::task::yield_now().await;
            }
        }
    }

    /// Whether the loop may wait for the next completion in a busy loop (see
    /// `spin`): tasks handed to the executor, the work left known to be tiny, and
    /// neither async tasks nor a watch that need the runtime meanwhile.
    fn may_spin(&self) -> bool {
        let Strategy::Dispatch(d) = &self.strategy else {
            return false;
        };
        if d.in_flight() == 0 || self.spawner.outstanding() > 0 || self.ledger.watch.is_some() {
            return false;
        }
        // What is in flight, not what is left of the computation: a small graph
        // on a pool waits several times for a few tasks (inputs that came back in
        // different batches), and each such wait is worth a spin as much as a tiny
        // computation's one wait is.
        self.spin.worth(d.expected_mean(), d.in_flight())
    }

    /// Blocking and async tasks started and not yet completed.
    fn outstanding(&self) -> usize {
        let blocking = match &self.strategy {
            Strategy::Dispatch(d) => d.in_flight(),
            Strategy::Inline(_) => 0,
        };
        let retrying = self.ledger.watch.as_ref().map_or(0, |w| w.waiting());
        blocking + self.spawner.running() + retrying
    }

    fn handle(&mut self, message: Message) -> Result<(), ComputeError> {
        match message {
            Message::Started(started) => {
                let Started { task, worker, at } = *started;
                if task.index() >= self.ledger.graph.len() {
                    return Err(ComputeError::Protocol(format!(
                        "start of unknown task {task}"
                    )));
                }
                if let Some(watch) = &mut self.ledger.watch {
                    watch.started(&self.ledger.graph, task, at);
                }
                if !self.ledger.hooks.listening() {
                    return Ok(());
                }
                self.ledger.announce(task, worker, at)
            }
            Message::Done(mut completions) => {
                // Each completion is read in place (they are large: moving each out
                // of the vector, then into each call, costs more than reading it).
                let mut read = completions.iter_mut();
                for completion in read.by_ref() {
                    completion.settle();
                    if let Err(e) = self.take_in(completion) {
                        // The rest are settled and dropped quietly: the computation
                        // has failed and nobody waits for them.
                        read.for_each(Completion::settle);
                        discard(completions);
                        return Err(e);
                    }
                }
                // What is left of them holds no user value: inputs and results were
                // taken out.
                drop(completions);
                if let Strategy::Dispatch(d) = &mut self.strategy {
                    d.learn();
                }
                self.ledger.tell_cache()
            }
        }
    }

    /// One completion from an executor or an async task: counted by whoever started
    /// it, then fed to the ledger.
    fn take_in(&mut self, c: &mut Completion) -> Result<(), ComputeError> {
        if c.task.index() >= self.ledger.graph.len() {
            return Err(ComputeError::Protocol(format!(
                "completion for unknown task {}",
                c.task
            )));
        }
        let inputs = std::mem::take(&mut c.inputs);
        let dropped = self.ledger.drop_inputs(c.task, inputs);
        match (self.ledger.graph.payload(c.task), &mut self.strategy) {
            (TaskBody::Async(_), _) => self.spawner.finished(),
            (TaskBody::Blocking(_), Strategy::Dispatch(d)) => d.finished(c),
            (TaskBody::Blocking(_), Strategy::Inline(_)) => {}
        }
        let spare = dropped?;
        if let Strategy::Dispatch(d) = &mut self.strategy {
            d.recycle(spare);
        }
        if c.members == 0 {
            // A follower handed back unrun (its executor took its batch's jobs out):
            // it starts again once its inputs are in.
            let held = self.ledger.held.tally().bytes;
            self.ledger.gate.completed(c.task, 0, held);
            return Ok(());
        }
        if c.follows {
            self.ledger.take_follower(c.task)?;
        }
        self.ledger.complete(c)
    }
}

impl Ledger {
    /// The next task to start, or `None` to wait for a completion: the one gate both
    /// strategies take tasks through. `outstanding`: tasks started (blocking and
    /// async) and not completed; `follow_plan`: whether the run is held to the
    /// plan's count of results (plan-following mode). Without a
    /// byte budget and outside that mode, the ready task the static order placed
    /// first; else what [`Gate::next`] allows.
    #[inline]
    fn next_ready(&mut self, outstanding: usize, follow_plan: bool) -> Option<TaskId> {
        if let Some(again) = self.watch.as_mut().and_then(|w| w.next_again()) {
            // A retry whose wait is over: it was started once already.
            return Some(again);
        }
        if !follow_plan && !self.gate.budgeted() {
            return self.state.pop_ready();
        }
        let tally = self.held.tally();
        let (task, admitted) = self
            .gate
            .next(&mut self.state, tally, outstanding, follow_plan)?;
        if admitted == Admitted::Overrun && self.gate.overruns().0 == 1 {
            tracing::info!(
                parent: &self.span,
                limit = self.gate.limit(),
                held_bytes = tally.bytes,
                key = %self.graph.key(task),
                "over the memory budget with nothing running and no task that frees \
                 memory ready: starting the next task anyway",
            );
        }
        Some(task)
    }

    /// Tells the callbacks what the result cache did since the last call.
    #[inline]
    fn tell_cache(&self) -> Result<(), ComputeError> {
        #[cfg(feature = "cache")]
        if let Some(report) = &self.cache_report {
            return cached::tell(report, &self.hooks, &self.graph, self.scope.id);
        }
        Ok(())
    }

    /// Whether a byte budget limits what starts.
    fn budgeted(&self) -> bool {
        self.gate.budgeted()
    }

    /// The largest result so far, in bytes (0 if no result reports its size).
    fn largest_result(&self) -> u64 {
        self.held.tally().largest
    }

    /// What the computation held, so far.
    fn memory(&self) -> MemoryStats {
        let tally = self.held.tally();
        let (overruns, peak_over_limit) = self.gate.overruns();
        MemoryStats {
            peak_results: tally.peak_results,
            peak_bytes: tally.peak_bytes,
            limit: self.gate.limit(),
            overruns,
            peak_over_limit,
        }
    }

    /// Records the memory figures on the `compute` span.
    fn record(&self, memory: &MemoryStats) {
        self.span.record("peak_held", memory.peak_results);
        self.span.record("peak_held_bytes", memory.peak_bytes);
        self.span.record("memory_overruns", memory.overruns);
    }

    /// Stops the computation: nothing new starts, running tasks are told.
    fn cancelled(&mut self) -> ComputeError {
        self.state.cancel();
        self.scope.cancel.cancel();
        ComputeError::Cancelled
    }

    /// Drops a job's references to its inputs, here on the loop's thread, and hands
    /// back the emptied buffer. A panicking `Drop` (the last reference of a result
    /// released meanwhile) fails the computation naming that input.
    fn drop_inputs(&self, task: TaskId, mut inputs: Inputs) -> Result<Inputs, ComputeError> {
        let mut failed = None;
        for (i, value) in inputs.drain(..).enumerate() {
            if failed.is_some() {
                discard(value); // the computation fails on the first; drop the rest
            } else if let Err(error) = drop_value(value) {
                failed = Some((i, error));
            }
        }
        match failed {
            None => Ok(inputs),
            Some((i, error)) => {
                let key = self.graph.deps(task).get(i).map_or(task, |d| *d);
                self.scope.cancel.cancel();
                Err(ComputeError::Task {
                    key: self.graph.key(key).clone(),
                    error,
                })
            }
        }
    }

    /// Takes `task`, a follower (see `follow`), from the ready tasks as its
    /// completion comes in: its producers' completions, fed just before in the same
    /// message, made it ready.
    fn take_follower(&mut self, task: TaskId) -> Result<(), ComputeError> {
        self.state.take_ready(task).map_err(|_| {
            ComputeError::Protocol(format!(
                "`{}` followed its inputs into a batch, yet they were not all in before it",
                self.graph.key(task)
            ))
        })
    }

    /// Feeds the success of `task` to the state and drops the results it releases.
    fn finish(&mut self, task: TaskId) -> Result<(), ComputeError> {
        self.state
            .finish(task)
            .map_err(|e| ComputeError::Protocol(e.to_string()))?;
        while let Some(released) = self.state.pop_release() {
            if let Err(error) = self.held.release(released) {
                self.state.cancel();
                self.scope.cancel.cancel();
                return Err(ComputeError::Task {
                    key: self.graph.key(released).clone(),
                    error,
                });
            }
        }
        Ok(())
    }

    /// Feeds one completion to the state, keeps its result, drops what it releases.
    /// The one path every finished task takes, whatever ran it.
    fn complete(&mut self, c: &mut Completion) -> Result<(), ComputeError> {
        self.complete_with(c, true)
    }

    /// [`Ledger::complete`]; an error is retried, if the task's policy says so, only
    /// if `retry_allowed` (not a blocking task past its deadline: its thread is
    /// still busy).
    fn complete_with(
        &mut self,
        c: &mut Completion,
        retry_allowed: bool,
    ) -> Result<(), ComputeError> {
        self.worked += c.members as usize;
        let listening = self.hooks.listening();
        // The members of a fused chain before the last all succeeded: feed them in
        // order (and tell the callbacks, with each one's own times). Each next member
        // became ready when the one before finished; it is handed out at once,
        // whatever else is ready.
        let mut task = c.task;
        for member in 1..c.members {
            if listening {
                let times = member_times(c, member - 1);
                self.tell_start_once(task, c.worker, times.0)?;
                self.tell_task_finished(c, task, times, None)?;
            }
            self.finish(task)?;
            match self.state.linear_successor(task) {
                Some(next) if self.state.take_ready(next).is_ok() => task = next,
                _ => {
                    return Err(ComputeError::Protocol(format!(
                        "fused chain after `{}` does not match the graph",
                        self.graph.key(task)
                    )));
                }
            }
        }
        let times = if listening {
            let times = member_times(c, c.members.saturating_sub(1));
            self.tell_start_once(task, c.worker, times.0)?;
            times
        } else {
            (c.started, c.finished)
        };
        match std::mem::replace(&mut c.result, Err(TaskError::placeholder())) {
            Ok(value) => {
                // Kept before its inputs are released: the high point of this step,
                // as a gauge of live values sees it.
                let bytes = self.sizes.bytes(task.index(), &value);
                self.held
                    .put(task, value, bytes, self.state.is_target(task));
                self.gate.completed(c.task, bytes, self.held.tally().bytes);
                self.task_finished(c, task, times, None)?;
                if let Some(watch) = &mut self.watch {
                    watch.succeeded(task);
                }
                self.finish(task)
            }
            Err(placeholder) if c.used_up => {
                // Used up in its batch, and dropped there: nothing to hold.
                discard(placeholder);
                self.gate.completed(c.task, 0, self.held.tally().bytes);
                self.task_finished(c, task, times, None)?;
                self.finish(task)
            }
            Err(error) if error.kind() == TaskErrorKind::InputLost && self.rerun(task)? => {
                self.gate.completed(c.task, 0, self.held.tally().bytes);
                if !c.attempts.is_empty() || c.alone {
                    self.attempts
                        .get_mut()
                        .insert(task, (std::mem::take(&mut c.attempts), c.alone));
                }
                Ok(())
            }
            Err(error) => {
                self.task_finished(c, task, times, Some(error.message()))?;
                let error = match self.retry(c, task, error, retry_allowed) {
                    Some(error) => error,
                    None => return Ok(()),
                };
                if error.kind() == TaskErrorKind::Cancelled && self.scope.cancel.is_cancelled() {
                    // The job saw the cancel before it started (a token cancelled
                    // from another thread between the loop's check and the job's):
                    // the computation was cancelled, no task failed.
                    discard(error);
                    return Err(self.cancelled());
                }
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

    /// A failed attempt of `task` (the last of `c`): `None` if it runs again after a
    /// wait (its policy's retry), else the error it fails with.
    fn retry(
        &mut self,
        c: &Completion,
        task: TaskId,
        error: TaskError,
        retry_allowed: bool,
    ) -> Option<TaskError> {
        let Some(watch) = &mut self.watch else {
            return Some(error);
        };
        if error.kind() == TaskErrorKind::Cancelled || self.scope.cancel.is_cancelled() {
            return Some(error);
        }
        let ran = c.finished.saturating_duration_since(c.started);
        let message = error.to_string();
        match watch.failed(task, error, c.worker, ran, retry_allowed) {
            Verdict::Fail(error) => Some(error),
            Verdict::Retry { next, delay } => {
                self.gate.completed(c.task, 0, self.held.tally().bytes);
                tracing::warn!(
                    parent: &self.span,
                    key = %self.graph.key(task),
                    attempt = next - 1,
                    error = %message,
                    retry_in_ms = delay.as_secs_f64() * 1e3,
                    "taskloom task attempt failed; it runs again"
                );
                None
            }
        }
    }

    /// The timer went off: retries due go to the front of the queue, and a blocking
    /// attempt past its deadline fails the computation.
    fn wake(&mut self) -> Result<(), ComputeError> {
        let Some(watch) = &mut self.watch else {
            return Ok(());
        };
        let Some((task, started, error)) = watch.wake() else {
            return Ok(());
        };
        let mut c = Completion::settled(task, Err(error), Worker::Inline, started, Instant::now());
        self.complete_with(&mut c, false)
    }

    /// `task` found an input lost with the worker that held it: every result the
    /// loop holds from a lost worker runs again from its lineage (core's `lose`),
    /// then `task` (`retract`). The input `task` was given may also have been run
    /// again already (another task found the loss first, while `task` was on its
    /// way): then `task` only goes back to wait for, or take, the new value.
    /// `false` past [`RERUN_LIMIT`] runs of a lost result, or of `task`.
    fn rerun(&mut self, task: TaskId) -> Result<bool, ComputeError> {
        let lost = self.held.lost();
        for &t in lost.iter().chain([&task]) {
            let runs = self.reruns.entry(t).or_insert(0);
            *runs += 1;
            if *runs > RERUN_LIMIT {
                return Ok(false);
            }
        }
        for &l in &lost {
            // A reference to a lost worker's value: its drop sends nothing.
            let _ = self.held.release(l);
        }
        let protocol = |e: taskloom_core::StateError| ComputeError::Protocol(e.to_string());
        let again = self.state.lose(&lost).map_err(protocol)?;
        self.state.retract(task).map_err(protocol)?;
        tracing::warn!(
            key = %self.graph.key(task),
            lost = lost.len(),
            again,
            "taskloom results lost with their worker run again"
        );
        Ok(true)
    }

    /// The lost runs of `task` before it went back to wait, if any, and whether it
    /// must run alone: for its next job.
    fn take_attempts(&self, task: TaskId) -> (Vec<Attempt>, bool) {
        let mut attempts = self.attempts.borrow_mut();
        if attempts.is_empty() {
            return (Vec::new(), false);
        }
        attempts.remove(&task).unwrap_or_default()
    }

    /// Tells the callbacks that `task` (the last of completion `c`) ended.
    ///
    /// Inlined into every completion: without listeners it is one test, which a
    /// call (as the crate's code-generation units happen to fall) would cost more
    /// than.
    #[inline]
    fn task_finished(
        &self,
        c: &Completion,
        task: TaskId,
        times: (Instant, Instant),
        error: Option<&str>,
    ) -> Result<(), ComputeError> {
        if !self.hooks.listening() {
            return Ok(());
        }
        self.tell_task_finished(c, task, times, error)
    }

    /// [`Ledger::task_finished`] with listeners: tells them. `times`: when `task`
    /// started and ended (a member of a fused chain has its own).
    fn tell_task_finished(
        &self,
        c: &Completion,
        task: TaskId,
        (started, finished): (Instant, Instant),
        error: Option<&str>,
    ) -> Result<(), ComputeError> {
        let tally = self.held.tally();
        self.hooks.task_finish(&TaskFinish {
            computation: self.scope.id,
            key: self.graph.key(task),
            attempt: self.watch.as_ref().map_or(1, |w| w.attempt(task)),
            worker: c.worker,
            started,
            finished,
            error,
            held_results: tally.results,
            held_bytes: tally.bytes,
            lost_runs: &c.attempts,
        })
    }

    /// Tells the callbacks that `task` started, as it happens (a worker said so, or
    /// the loop runs it), and notes it: its completion does not tell it again.
    fn announce(&mut self, task: TaskId, worker: Worker, at: Instant) -> Result<(), ComputeError> {
        self.announced.set(task);
        self.tell_started(task, worker, at)
    }

    /// Tells the callbacks that `task` (a member of a completion from `worker`)
    /// started at `at`, unless they heard it as it happened. Either way its next
    /// run is told anew.
    fn tell_start_once(
        &mut self,
        task: TaskId,
        worker: Worker,
        at: Instant,
    ) -> Result<(), ComputeError> {
        if self.announced.take(task) {
            return Ok(());
        }
        self.tell_started(task, worker, at)
    }

    fn tell_started(&self, task: TaskId, worker: Worker, at: Instant) -> Result<(), ComputeError> {
        self.hooks.task_start(&TaskStart {
            computation: self.scope.id,
            key: self.graph.key(task),
            worker,
            at,
            attempt: self.watch.as_ref().map_or(1, |w| w.attempt(task)),
        })
    }

    /// The error for an input that is not held when its dependent starts (a bug).
    fn missing(&self, m: Missing) -> ComputeError {
        ComputeError::Protocol(format!(
            "input `{}` of `{}` is not held",
            self.graph.key(m.input),
            self.graph.key(m.task)
        ))
    }
}

/// When member `i` (0 for the task handed out) of completion `c` started and ended:
/// from the stamps its worker read, or, where it had none (a custom executor's
/// chain), its even share of the chain's time.
#[inline]
fn member_times(c: &Completion, i: u32) -> (Instant, Instant) {
    if c.members <= 1 {
        return (c.started, c.finished);
    }
    let members = c.members;
    let i = i.min(members - 1);
    let last = i + 1 == members;
    if c.stamps.len() + 1 == members as usize {
        let at = |k: u32| c.stamps[k as usize];
        let started = if i == 0 { c.started } else { at(i - 1) };
        let finished = if last { c.finished } else { at(i) };
        return (started, finished.max(started));
    }
    let share = c.finished.saturating_duration_since(c.started) / members;
    let started = c.started + share * i;
    let finished = if last { c.finished } else { started + share };
    (started, finished.max(started))
}

/// Tasks whose start the callbacks heard as it happened, one bit each (no memory
/// without listeners).
struct Announced(Vec<u64>);

impl Announced {
    fn new(tasks: usize, listening: bool) -> Self {
        Announced(if listening {
            vec![0; tasks.div_ceil(64)]
        } else {
            Vec::new()
        })
    }

    fn set(&mut self, task: TaskId) {
        if let Some(word) = self.0.get_mut(task.index() / 64) {
            *word |= 1 << (task.index() % 64);
        }
    }

    /// Whether `task` is marked; unmarks it.
    fn take(&mut self, task: TaskId) -> bool {
        let bit = 1 << (task.index() % 64);
        match self.0.get_mut(task.index() / 64) {
            Some(word) if *word & bit != 0 => {
                *word &= !bit;
                true
            }
            _ => false,
        }
    }
}

impl Drop for Computation {
    /// Completions still in the channel hold user values: drop them here, where a
    /// panicking `Drop` is caught, instead of in the channel's own drop.
    fn drop(&mut self) {
        // A dropped future: callbacks hear Cancelled, with what was held (after a
        // normal end they have already heard, and this does nothing).
        self.ledger.scope.cancel.cancel();
        let memory = self.ledger.memory();
        self.ledger.hooks.finish(Outcome::Cancelled, memory);
        self.rx.close();
        while let Ok(message) = self.rx.try_recv() {
            if let Message::Done(completions) = message {
                for mut c in completions {
                    c.settle();
                    discard(c);
                }
            }
        }
    }
}
