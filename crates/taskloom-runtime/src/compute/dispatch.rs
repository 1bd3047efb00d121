//! The dispatch strategy: ready tasks go to the executor in batches.
//!
//! At most `2 × workers × chunk` tasks of the computation are handed out at once
//! (Dask #7583's back-pressure), in batches of `chunk`: the rest wait in core's
//! ready set, where tasks the order placed earlier can still overtake them. `chunk`
//! adapts to the measured task duration (batches of about [`TARGET_BATCH`] of work,
//! from the mean the scheduler's previous computation learned), unless the scheduler
//! fixes it; near the end of a computation an adaptive batch
//! never takes more than a `1 / (2 × workers)` share of the tasks left (guided
//! self-scheduling), so no worker finishes alone, nor less than about
//! [`GUIDED_FLOOR`] of work, which costs less than the round trips of smaller
//! batches. A linear chain is handed to one worker whole (core's fusion rule), so
//! its links cost no round trip each; and a waiting task whose inputs are all made
//! in the batch being built follows them into it (see `follow`), so a producer and
//! its consumers share one round trip.
//!
//! Two modes, chosen at every turn of the loop:
//!
//! - **throughput**: results are known to be small (no task reports one of
//!   [`LARGE_RESULT`] or more, and every result's type tells its size: it owns no
//!   heap memory, see `size::may_be_large`), and tasks are shorter than
//!   [`LONG_TASK`]. Batches run ahead of the order as far as the back-pressure
//!   allows: a few hundred small results more than the plan cost nothing.
//! - **plan-following** (a byte budget is set, a result of [`LARGE_RESULT`] or more
//!   was seen, tasks take [`LONG_TASK`] or more on average, or some results may be
//!   large and nobody said how large, as most users never do): the ledger's gate
//!   holds the results to the static order's max pressure plus one per worker
//!   beyond the first (see `gate`), whatever their size. The tasks that add a
//!   result share the room the plan leaves: each batch takes at most its
//!   `1 / (2 × workers)` part of it, so every worker gets some. A fused chain whose
//!   head has inputs counts as adding a result: a job keeps its inputs until it
//!   completes (they go back to the loop, which drops them), so the head's inputs
//!   stay alive while the rest of the chain runs.
//!
//! The plan's count costs time where the plan leaves little room and tasks are
//! short: batches of a few tasks, a round trip each. Results that may be large are
//! worth it (a 2-worker run holding eight times Dask's memory is an out-of-memory
//! kill where Dask succeeds); results of types that own no heap memory never pay it.
//!
//! Batch length is the price of a round trip: each batch that completes wakes the
//! loop, and on a machine whose cores all run workers that wake-up takes a core from
//! a worker (about 5–10 µs each on the 2-core development machine, context switches
//! included). Batches of about 2 ms keep that under 1 % of the work.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use taskloom_core::TaskId;

use super::follow::Followers;
use super::held::Missing;
use super::spawn::Spawner;
use super::{Ledger, Step};
use crate::body::{BlockingFnBox, TaskBody};
use crate::error::{ComputeError, TaskError};
use crate::executor::{
    Batch, Chain, Completion, Executor, Inputs, Local, Locals, Packed, PackedJob, task_span,
};

/// Input buffers kept for reuse, at most.
const MAX_SPARE_INPUTS: usize = 1024;
/// Largest adaptive chunk: a batch of tasks of a microsecond or less is about
/// 0.5 ms of work, and its buffers (about 60 and 110 kB) stay below glibc's
/// threshold for mapping allocations of their own.
const MAX_CHUNK: usize = 512;
/// The adaptive chunk aims at batches of about this much work.
const TARGET_BATCH: Duration = Duration::from_millis(2);
/// Guided self-scheduling shrinks no batch below this much work: a worker finishing
/// that much after the others costs less than the round trips smaller batches take.
const GUIDED_FLOOR: Duration = Duration::from_micros(50);
/// Tasks this long, on average, are announced to listening callbacks as they start
/// (see [`Dispatcher::announces`]): a message and a wake-up of the loop each (some
/// microseconds) then cost under 1 %.
const ANNOUNCE_FROM: Duration = Duration::from_millis(1);
/// Tasks observed before their mean may stop the announcing (see
/// [`Dispatcher::announces`]) or size batches alone (before, a batch holds at most
/// as many tasks as were observed).
const ANNOUNCE_EVIDENCE: u32 = 16;
/// Results this large (bytes, as they report them) make the run follow the plan.
const LARGE_RESULT: u64 = 64 * 1024;
/// Tasks this long, on average, make the run follow the plan. At 10 ms a round trip
/// per task (tens of microseconds) costs under 0.5 %; at 1 ms it would cost the
/// 1–3 % that fine-grained runs cannot spare (the target: ≥ 98 % efficiency at 1 ms).
const LONG_TASK: Duration = Duration::from_millis(10);

pub(super) struct Dispatcher {
    workers: usize,
    /// Tasks per batch, if the scheduler fixes it.
    chunksize: Option<usize>,
    chunk: Chunk,
    /// The mean task duration an earlier computation of the same scheduler learned:
    /// only for [`Dispatcher::expected_mean`], never to size batches.
    inherited: Option<Duration>,
    /// Blocking tasks handed to the executor and not yet completed.
    in_flight: usize,
    /// Whether linear chains are handed out as one job.
    fuse: bool,
    /// Whether chains of remote tasks are too. A worker process answers a chain
    /// with its last member's result and the chain's time only: while callbacks
    /// listen, remote tasks run in worker processes go one by one, so that each is
    /// reported with times of its own.
    fuse_remote: bool,
    /// Waiting tasks that follow their inputs into a batch (see `follow`), where
    /// chains are fused too.
    followers: Option<Followers>,
    /// Input buffers handed back by completions, for the next jobs.
    spare_inputs: Vec<Inputs>,
    /// The first start, last end and number of the jobs read from the current
    /// message, for [`Dispatcher::learn`].
    run: Option<Instant>,
    run_end: Instant,
    run_jobs: u32,
}

impl Dispatcher {
    /// `inherited`: the mean task duration an earlier computation of the same
    /// scheduler learned, if any. Batches start from one task whatever it says: a
    /// scheduler may serve unlike workloads one after the other (Python's `get`
    /// shares one), and batches sized by another graph's tiny tasks ran far past a
    /// failure, ahead of the plan, and queued a task behind another that waited for
    /// it. It only tells a tiny computation it may spin (`spin`).
    pub(super) fn new(
        workers: usize,
        chunksize: Option<usize>,
        (fuse, fuse_remote): (bool, bool),
        inherited: Option<Duration>,
    ) -> Self {
        Dispatcher {
            workers,
            chunksize,
            chunk: Chunk::new(),
            inherited,
            in_flight: 0,
            fuse,
            fuse_remote: fuse && fuse_remote,
            followers: fuse.then(Followers::new),
            spare_inputs: Vec::new(),
            run: None,
            run_end: Instant::now(),
            run_jobs: 0,
        }
    }

    pub(super) fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Hands ready tasks to the executor in batches, up to the back-pressure limit;
    /// ready async tasks go to the spawner.
    pub(super) fn start(
        &mut self,
        ledger: &mut Ledger,
        spawner: &mut Spawner,
        executor: &dyn Executor,
        name: &str,
    ) -> Result<Step, ComputeError> {
        spawner.start_waiting(ledger)?;
        let gated = self.follows_plan(ledger);
        let chunk = self.chunksize.unwrap_or_else(|| self.chunk.size());
        let limit = 2 * self.workers * chunk;
        // An adaptive chunk shrinks near the end (guided self-scheduling).
        let guided = self.chunksize.is_none();
        let graph = Arc::clone(&ledger.graph);
        let listening = ledger.hooks.listening();
        // While callbacks listen and tasks may be long, workers announce each start,
        // and no task follows into a batch: its finish would be told with the
        // batch's, and a progress bar over a chain of long tasks must move task by
        // task (as with fused chains, see `job`).
        let announce = listening && self.announces();
        let follow = !announce;
        while self.in_flight < limit {
            let counts = ledger.state.counts();
            let size = if guided {
                let left = counts
                    .total
                    .saturating_sub(counts.finished + counts.running);
                let share = left.div_ceil(2 * self.workers).max(self.chunk.floor());
                chunk.min(share).max(1)
            } else {
                chunk
            }
            .min(limit - self.in_flight);
            // Following the plan, the tasks started share the room the plan leaves
            // among the batches of every worker, two each, so that none takes it all;
            // with no room left, wait for what runs (unless nothing does).
            let cap = if gated {
                let room = ledger.gate.room(ledger.held.tally()) as usize;
                if room == 0 && self.in_flight > 0 {
                    break;
                }
                room.div_ceil(2 * self.workers).max(1)
            } else {
                usize::MAX
            };
            let mut weight = 0;
            let mut jobs = Vec::with_capacity(size.min(counts.ready));
            let mut results = Vec::new();
            let mut timed = listening;
            // Following the plan, followers may lengthen a batch to twice its size: a
            // consumer cut off from the inputs its batch makes would wait for the
            // next batch back, and its inputs with it, while other batches run ahead.
            let most = if gated { 2 * size } else { size };
            while jobs.len() < most && weight < cap {
                // A waiting task whose inputs this batch makes goes first (see
                // `follow`), then the next ready one.
                let follower = self.followers.as_mut().filter(|_| follow).and_then(|f| {
                    // Following the plan, only a follower that frees an input, or one
                    // the order runs before every task ready now (the first of a
                    // pair of consumers that free their inputs together, as `x + x.T`
                    // has). Any other adds a result the plan would make later (a
                    // split whose parts wait for a far reducer), and held results
                    // grow.
                    std::iter::from_fn(|| f.next()).find(|&t| {
                        !gated
                            || ledger.state.releases_on_finish(t)
                            || ledger.state.precedes_ready(t)
                    })
                });
                let (task, follows) = match follower {
                    Some(task) => {
                        // Following the plan, a follower counts as adding a result
                        // even where it frees its inputs: those its batch made are
                        // counted until the batch is back, and a result it sends back
                        // would be one more.
                        if gated {
                            ledger.gate.reserve(task, ledger.state.is_target(task));
                        }
                        (task, true)
                    }
                    None if jobs.len() >= size => break,
                    None => {
                        let outstanding = self.in_flight + jobs.len() + spawner.outstanding();
                        let Some(task) = ledger.next_ready(outstanding, gated) else {
                            break;
                        };
                        (task, false)
                    }
                };
                match graph.payload(task) {
                    TaskBody::Blocking(body) => {
                        let job = self.job(ledger, task, body, gated, follows, announce)?;
                        timed |= !job.span.is_disabled();
                        let result = job
                            .chain
                            .as_ref()
                            .and_then(|c| c.members.last())
                            .map_or(task, |(t, _)| *t);
                        if let Some(f) = self.followers.as_mut() {
                            f.added(&ledger.state, &graph, task, result, jobs.len());
                            results.push(result);
                        }
                        let chain = job.chain.is_some();
                        if !ledger.state.is_target(result) {
                            // Counted whether the run follows the plan yet or not: it
                            // may start to at any completion (the first large result),
                            // and the room must then see what still runs from before.
                            // A requested result is set aside, as the plan sets it.
                            ledger.gate.started(task, chain);
                            weight += 1 + usize::from(chain);
                        }
                        jobs.push(job);
                    }
                    TaskBody::Async(_) => spawner.enqueue(ledger, task)?,
                }
            }
            if let Some(f) = self.followers.as_mut() {
                f.seal(&ledger.state, &mut jobs, &results);
            }
            let Some(first) = jobs.first().map(|j| j.task) else {
                break;
            };
            self.in_flight += jobs.len();
            ledger.worked += jobs.len();
            let batch = Batch::packed(Packed::new(
                Arc::clone(&ledger.scope),
                Instant::now(),
                (timed, announce),
                jobs,
            ));
            // A panicking custom executor: its batch's jobs report themselves lost as
            // they unwind, and the computation stops with the panic named.
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| executor.submit(batch))) {
                ledger.scope.cancel.cancel();
                return Err(ComputeError::ExecutorPanicked {
                    executor: name.to_owned(),
                    method: "submit",
                    key: Some(ledger.graph.key(first).clone()),
                    message: TaskError::panicked(&*payload).message().to_owned(),
                });
            }
        }
        Ok(Step::Wait)
    }

    /// Whether the workers send each task's start to the loop as it starts, for
    /// callbacks that listen: only where tasks are long enough (or not yet
    /// measured) for a message and a wake-up of the loop each to cost little. Else
    /// the loop reports each start from the task's completion, right before its
    /// end: at most about a batch's work ([`TARGET_BATCH`]) late.
    fn announces(&self) -> bool {
        // A few tasks say little: a graph's data (constants, taking nothing) would
        // make a chain of long tasks after it look short.
        self.chunk.observed < ANNOUNCE_EVIDENCE || self.chunk.mean() >= ANNOUNCE_FROM
    }

    /// Whether the run follows the plan closely (see the module docs): a byte
    /// budget is set, results are large or may be, or tasks are long.
    fn follows_plan(&self, ledger: &Ledger) -> bool {
        ledger.budgeted()
            || ledger.largest_result() >= LARGE_RESULT
            || (self.chunksize.is_none() && self.chunk.mean() >= LONG_TASK)
            || ledger.unknown_sizes
    }

    /// The job of a ready blocking task: its inputs' values (its body is read from
    /// the graph where it runs), and the linear chain after it unless workers
    /// `announce` starts.
    fn job(
        &mut self,
        ledger: &mut Ledger,
        task: TaskId,
        body: &BlockingFnBox,
        gated: bool,
        follows: bool,
        announce: bool,
    ) -> Result<PackedJob, ComputeError> {
        let remote = body.remote.is_some();
        // While workers announce starts (callbacks listen, and tasks may be long), no
        // chain is fused: its members are told at the chain's end, and a progress bar
        // over a chain of long tasks must move task by task.
        let fuse = if remote { self.fuse_remote } else { self.fuse } && !announce;
        let chain = if fuse {
            chain_after(ledger, task, remote)
        } else {
            None
        };
        if gated && chain.is_some() && !ledger.graph.deps(task).is_empty() {
            // The head's inputs stay alive until the whole chain completes: counted
            // as a result added, even where the head would free them.
            ledger.gate.reserve(task, ledger.state.is_target(task));
        }
        // A buffer that came back with an earlier completion when there is one:
        // tasks with many inputs then cost no allocation per job.
        let mut inputs = self.spare_inputs.pop().unwrap_or_default();
        let local = match self.followers.as_ref() {
            Some(f) if follows => {
                // The inputs made in this batch come from the worker; the loop's
                // held values are the others.
                let mut local = Locals::new();
                for (at, &d) in ledger.graph.deps(task).iter().enumerate() {
                    if let Some(job) = f.maker(d) {
                        local.push(Local { at: at as u32, job });
                        continue;
                    }
                    let value = ledger
                        .held
                        .get(d)
                        .ok_or_else(|| ledger.missing(Missing { task, input: d }))?;
                    inputs.push(value);
                }
                local
            }
            _ => {
                ledger
                    .held
                    .clone_inputs(&ledger.graph, task, &mut inputs)
                    .map_err(|m| ledger.missing(m))?;
                Locals::new()
            }
        };
        let (attempts, alone) = ledger.take_attempts(task);
        Ok(PackedJob {
            task,
            inputs,
            span: task_span(Some(&ledger.span), &ledger.scope, task),
            chain,
            attempts,
            alone,
            local,
            uses: 0,
            returns: true,
        })
    }

    /// A completion of a job this strategy handed out: one fewer in flight, and its
    /// times noted for [`Dispatcher::learn`] (not those of a follower handed back
    /// unrun).
    pub(super) fn finished(&mut self, c: &Completion) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if c.members == 0 {
            return;
        }
        self.run.get_or_insert(c.started);
        self.run_end = c.finished;
        self.run_jobs += 1;
    }

    /// The mean task duration learned so far, if any task was seen.
    pub(super) fn learned(&self) -> Option<Duration> {
        self.chunk.seen().then(|| self.chunk.mean())
    }

    /// The mean task duration to expect: this computation's, once it has seen its
    /// own tasks, else what the last one learned.
    pub(super) fn expected_mean(&self) -> Option<Duration> {
        self.learned().or(self.inherited)
    }

    /// Learns the mean duration of the jobs of the message just read. A message holds
    /// one batch, run back to back: one mean per batch costs one duration instead of
    /// one per task, and feeds the same average.
    pub(super) fn learn(&mut self) {
        if let Some(start) = self.run.take() {
            let jobs = std::mem::take(&mut self.run_jobs).max(1);
            self.chunk
                .observe(self.run_end.saturating_duration_since(start) / jobs, jobs);
        }
    }

    /// Keeps a job's emptied input buffer for the next job, if it grew past its
    /// inline room (small ones cost no allocation anyway).
    pub(super) fn recycle(&mut self, inputs: Inputs) {
        if inputs.spilled() && self.spare_inputs.len() < MAX_SPARE_INPUTS {
            self.spare_inputs.push(inputs);
        }
    }
}

/// The linear chain that follows `task`: each next member is the only dependent of
/// the one before and needs nothing else (core's fusion rule), and runs where `task`
/// runs: in this process for a local `task`, in a worker process for a `remote` one
/// (every member remote too: the worker runs the chain as one call, and answers
/// with the last member's result, so a remote task whose result the parent needs
/// ends its chain). Those run on the same worker right after `task`.
fn chain_after(ledger: &Ledger, task: TaskId, remote: bool) -> Option<Box<Chain>> {
    let mut members = Vec::new();
    let mut last = task;
    // A remote chain answers with its last member's result only: a member whose
    // result the parent needs (to cache it) ends the chain.
    let wanted = |t: TaskId| {
        remote
            && matches!(ledger.graph.payload(t),
                TaskBody::Blocking(b) if b.remote.as_ref().is_some_and(|r| r.wants_result()))
    };
    while let Some(next) = ledger.state.linear_successor(last) {
        if wanted(last) {
            break;
        }
        match ledger.graph.payload(next) {
            TaskBody::Blocking(b) if b.remote.is_some() == remote => {
                members.push((next, task_span(Some(&ledger.span), &ledger.scope, next)));
            }
            _ => break,
        }
        last = next;
    }
    (!members.is_empty()).then(|| Box::new(Chain { members }))
}

/// The adaptive chunk size: batches of about [`TARGET_BATCH`] of work, from a moving
/// average of this computation's task durations. Starts at 1 (nothing known: assume
/// long tasks) and grows with the tasks observed until [`ANNOUNCE_EVIDENCE`] were.
struct Chunk {
    mean_ns: f64,
    /// Tasks observed so far (saturating); none: nothing is known.
    observed: u32,
}

impl Chunk {
    /// Nothing seen yet.
    fn new() -> Self {
        Chunk {
            mean_ns: 0.0,
            observed: 0,
        }
    }

    /// Whether any task was observed.
    fn seen(&self) -> bool {
        self.observed > 0
    }

    /// Feeds `jobs` durations whose mean is `d`: the moving average moves as far as
    /// `jobs` samples of `d` one by one would move it.
    fn observe(&mut self, d: Duration, jobs: u32) {
        let ns = d.as_secs_f64() * 1e9;
        if self.seen() {
            let keep = (7.0_f64 / 8.0).powi(jobs.min(64) as i32);
            self.mean_ns = ns + (self.mean_ns - ns) * keep;
        } else {
            self.mean_ns = ns;
        }
        self.observed = self.observed.saturating_add(jobs.max(1));
    }

    /// The mean task duration; zero before any task is seen.
    fn mean(&self) -> Duration {
        Duration::from_nanos(self.mean_ns as u64)
    }

    /// The fewest tasks worth a batch near the end of a computation: about
    /// [`GUIDED_FLOOR`] of work (1 before any task is seen).
    fn floor(&self) -> usize {
        if self.observed < ANNOUNCE_EVIDENCE {
            return 1;
        }
        let floor = GUIDED_FLOOR.as_nanos() as f64 / self.mean_ns.max(1.0);
        (floor as usize).clamp(1, MAX_CHUNK)
    }

    fn size(&self) -> usize {
        // A slow start: on the evidence of a few tasks (a graph's constants, say),
        // batches grow with the tasks seen (1 before any), not to what the mean alone
        // would make.
        if self.observed < ANNOUNCE_EVIDENCE {
            return (self.observed as usize).max(1);
        }
        let target = TARGET_BATCH.as_nanos() as f64;
        let chunk = target / self.mean_ns.max(1.0);
        (chunk as usize).clamp(1, MAX_CHUNK)
    }
}
