//! The scheduling state machine of one computation: events in, decisions out.
//!
//! [`State`] decides which task runs next and when a result can be dropped; it never
//! runs anything, waits, or reads a clock. A driver (taskloom-runtime's scheduling
//! loop, or a plain test) feeds it completions and carries out its decisions. Every
//! event costs `O(1)` in the size of the graph and `O(dependencies + dependents)` of
//! the task involved, and allocates nothing beyond amortised growth of its release
//! queue.

use crate::ready::RankSet;
use crate::{Culled, Graph, GraphError, Priorities, StateError, TaskId, cull, order};

/// Where a task is in its life. Stored as one byte per task.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum TaskState {
    /// Not part of this computation (culled away).
    NotNeeded,
    /// Waiting for at least one dependency.
    Waiting,
    /// All dependencies done; among the ready tasks.
    Ready,
    /// Handed to the driver by [`State::pop_ready`]; not yet finished.
    Running,
    /// Finished; its result is held because a dependent still needs it, or because
    /// it is a target.
    Held,
    /// Finished and no longer needed: the driver was told to drop its result.
    Released,
    /// Reported failed by the driver.
    Failed,
}

/// How the computation stands.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Status {
    /// Tasks remain to run.
    Running,
    /// Every needed task finished; the targets' results are held.
    Done,
    /// A task failed; no further task is handed out.
    Failed(TaskId),
    /// [`State::cancel`] was called; no further task is handed out.
    Cancelled,
}

/// Counters of a computation, for progress reporting and tests.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Counts {
    /// Tasks the computation needs (after culling).
    pub total: usize,
    /// Tasks that finished successfully.
    pub finished: usize,
    /// Tasks handed out and not yet finished or failed.
    pub running: usize,
    /// Tasks ready and not yet handed out.
    pub ready: usize,
    /// Results finished and not yet released (targets included).
    pub held: usize,
    /// Results released.
    pub released: usize,
}

/// The scheduling state of one computation over a [`Graph`].
///
/// # Driving contract
///
/// `State` is a sans-I/O state machine in the manner of `quinn-proto`'s `Connection`:
/// methods that take `&mut self` either feed an event in or drain a decision out, and
/// the driver's loop keeps one rule — **after every event, drain every decision before
/// waiting for the next event.**
///
/// 1. Create it with [`State::new`] (culls the graph to what the targets need and
///    orders it). Malformed input is rejected here, before anything runs.
/// 2. Drain *ready tasks*: call [`pop_ready`](State::pop_ready) and start each task it
///    returns, as many as the executor has room for (a bounded driver may stop early
///    and come back after the next completion; the rest stay ready). A driver short
///    of memory may take only [`pop_releasing`](State::pop_releasing)'s tasks, those
///    whose finish releases a result; a driver running a linear chain as one unit
///    takes each next link with [`take_ready`](State::take_ready).
/// 3. Wait for a completion, then feed it: [`finish`](State::finish) for a success,
///    [`fail`](State::fail) for a failure. [`cancel`](State::cancel) may be fed at any
///    time.
/// 4. Drain *releases*: call [`pop_release`](State::pop_release) until `None` and drop
///    each result it names; no task still to run needs it.
/// 5. Check [`status`](State::status): [`Status::Done`] means every target's result is
///    held (read them, then drop the state); [`Status::Failed`] or
///    [`Status::Cancelled`] means stop; otherwise go to 2.
///
/// Ready tasks come out by static priority: `pop_ready` returns the ready task that
/// [`order()`] placed first (lowest rank), whenever it became ready. With one task
/// running at a time the run is then exactly the static order, so it holds what the
/// order planned ([`order::diagnostics`] measures it): a
/// shuffle's split does not start all its consumers at once, it starts the one the
/// order placed next. With several workers, each takes the first of what is ready.
/// (Before the memory work the ready tasks were a LIFO stack: the same order on chains and
/// trees, up to fifteen times the plan's results on real graphs.) A result is
/// released when its last dependent finishes, unless it is a target; targets are
/// never released.
///
/// ```
/// use taskloom_core::{Graph, State, Status};
///
/// let mut g = Graph::new();
/// let a = g.push("a", &[], ())?;
/// let b = g.push("b", &[a], ())?;
/// let c = g.push("c", &[b], ())?;
/// let mut state = State::new(&g, &[c])?;
/// let mut ran = Vec::new();
/// let mut dropped = Vec::new();
/// while state.status() == Status::Running {
///     let task = state.pop_ready().expect("a chain always has a ready task here");
///     ran.push(task); // a real driver would run the task here
///     state.finish(task).expect("the task was running");
///     while let Some(r) = state.pop_release() {
///         dropped.push(r);
///     }
/// }
/// assert_eq!(ran, [a, b, c]);
/// assert_eq!(dropped, [a, b]); // c is the target: kept
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct State {
    state: Vec<TaskState>,
    target: Vec<bool>,
    /// Unfinished dependencies of each waiting task.
    waiting_deps: Vec<u32>,
    /// Unfinished needed dependents of each task whose result is (or will be) held.
    waiting_dependents: Vec<u32>,
    rank: Vec<u32>,
    /// Needed tasks by rank: `sequence[rank[t]] == t`.
    sequence: Vec<TaskId>,
    /// The order's max pressure (see [`State::planned_pressure`]).
    planned_pressure: u32,
    dep_offsets: Vec<u32>,
    deps: Vec<TaskId>,
    dependent_offsets: Vec<u32>,
    dependents: Vec<TaskId>,
    /// Ranks of the ready tasks.
    ready: RankSet,
    /// Ranks of the ready tasks whose finish would release a result: made on the
    /// first [`State::pop_releasing`], kept up to date by every event after it.
    releasing: Option<RankSet>,
    releases: Vec<TaskId>,
    /// Position in `releases` of the next release to hand out.
    release_cursor: usize,
    counts: Counts,
    status: Status,
}

impl State {
    /// Starts a computation of `targets` over `graph`: culls what they do not need
    /// and orders the rest with [`order()`].
    ///
    /// # Errors
    /// [`GraphError::InvalidTarget`] if a target is not a task of `graph`.
    pub fn new<T>(graph: &Graph<T>, targets: &[TaskId]) -> Result<Self, GraphError> {
        let culled = cull(graph, targets)?;
        let priorities = order(graph, &culled);
        Ok(Self::with_priorities(graph, culled, priorities))
    }

    /// Starts a computation from an already culled graph and a precomputed order
    /// (for drivers that cache the order of a graph they run many times).
    ///
    /// # Panics
    /// If `culled` or `priorities` were computed for a graph of another size.
    pub fn with_priorities<T>(graph: &Graph<T>, culled: Culled, priorities: Priorities) -> Self {
        let n = graph.len();
        assert_eq!(culled.graph_len(), n, "culled from another graph");
        assert_eq!(priorities.ranks().len(), n, "ordered for another graph");
        let mut state = vec![TaskState::NotNeeded; n];
        let mut waiting_deps = vec![0u32; n];
        let (dep_offsets, deps) = graph.dep_csr();
        for id in culled.ids() {
            let i = id.index();
            let count = dep_offsets[i + 1] - dep_offsets[i];
            waiting_deps[i] = count;
            state[i] = TaskState::Waiting;
        }
        let total = culled.len();
        let (target, dependent_offsets, dependents) = culled.into_parts();
        let waiting_dependents = dependent_offsets.windows(2).map(|w| w[1] - w[0]).collect();
        let (rank, sequence, planned_pressure) = priorities.into_parts();

        let mut ready = RankSet::new(sequence.len());
        for (r, t) in sequence.iter().enumerate() {
            if waiting_deps[t.index()] == 0 {
                state[t.index()] = TaskState::Ready;
                ready.insert(r as u32);
            }
        }
        let counts = Counts {
            total,
            ready: ready.len(),
            ..Counts::default()
        };
        State {
            state,
            target,
            waiting_deps,
            waiting_dependents,
            rank,
            sequence,
            planned_pressure,
            dep_offsets: dep_offsets.to_vec(),
            deps: deps.to_vec(),
            dependent_offsets,
            dependents,
            ready,
            releasing: None,
            releases: Vec::with_capacity(64),
            release_cursor: 0,
            counts,
            status: if total == 0 {
                Status::Done
            } else {
                Status::Running
            },
        }
    }

    /// The ready task with the highest static priority (the lowest rank), marked
    /// running; `None` if no task is ready now, or the computation failed or was
    /// cancelled.
    #[inline]
    pub fn pop_ready(&mut self) -> Option<TaskId> {
        if self.status != Status::Running {
            return None;
        }
        let rank = self.ready.pop_first()?;
        if let Some(releasing) = &mut self.releasing {
            if releasing.contains(rank) {
                releasing.remove(rank);
            }
        }
        let id = self.sequence[rank as usize];
        self.mark_running(id);
        Some(id)
    }

    /// The ready task with the highest static priority among those whose finish
    /// would release at least one result (it is the last dependent still to run of
    /// one of its inputs, and that input is not a target), marked running; `None` if
    /// there is none, or the computation failed or was cancelled.
    ///
    /// For a driver over its memory budget: these tasks free memory, and the next
    /// link of a started chain is one of them. The first call sorts the ready tasks
    /// out (`O(ready × dependencies)`); from then on every event keeps them sorted,
    /// at `O(dependencies)` more per task that becomes ready and `O(dependents)` per
    /// result that comes down to its last dependent. An input a task lists twice
    /// counts as released only where no other task needs it and the task lists it
    /// once.
    pub fn pop_releasing(&mut self) -> Option<TaskId> {
        if self.status != Status::Running {
            return None;
        }
        if self.releasing.is_none() {
            let mut releasing = RankSet::new(self.sequence.len());
            let mut ready = self.ready.clone();
            for rank in ready.drain() {
                if self.releases_on_finish(self.sequence[rank as usize]) {
                    releasing.insert(rank);
                }
            }
            self.releasing = Some(releasing);
        }
        let rank = self.releasing.as_mut()?.pop_first()?;
        self.ready.remove(rank);
        let id = self.sequence[rank as usize];
        self.mark_running(id);
        Some(id)
    }

    /// Hands out the ready task `id`, whatever its priority: for a driver that runs a
    /// linear chain as one unit (see [`State::linear_successor`]) and feeds its links
    /// one after the other.
    ///
    /// # Errors
    /// [`StateError::NotReady`] if `id` is not ready (or the computation stopped);
    /// the state is unchanged.
    pub fn take_ready(&mut self, id: TaskId) -> Result<(), StateError> {
        if self.status != Status::Running || self.state.get(id.index()) != Some(&TaskState::Ready) {
            return Err(StateError::NotReady { id });
        }
        let rank = self.rank[id.index()];
        self.ready.remove(rank);
        if let Some(releasing) = &mut self.releasing {
            if releasing.contains(rank) {
                releasing.remove(rank);
            }
        }
        self.mark_running(id);
        Ok(())
    }

    #[inline]
    fn mark_running(&mut self, id: TaskId) {
        self.state[id.index()] = TaskState::Running;
        self.counts.ready -= 1;
        self.counts.running += 1;
    }

    /// Whether finishing task `id` now would release at least one result: it is the
    /// last unfinished dependent of an input that is not a target. `O(dependencies)`.
    ///
    /// # Panics
    /// If `id` is not a task of the graph.
    pub fn releases_on_finish(&self, id: TaskId) -> bool {
        let i = id.index();
        self.deps[self.dep_offsets[i] as usize..self.dep_offsets[i + 1] as usize]
            .iter()
            .any(|d| self.waiting_dependents[d.index()] == 1 && !self.target[d.index()])
    }

    /// Feeds the success of a running task: its result is now held, dependents it was
    /// the last missing dependency of become ready, and dependencies it was the last
    /// user of become releasable (drain them with [`pop_release`](State::pop_release)).
    ///
    /// After a failure or cancel, a late success is recorded (its result is held, and
    /// released by nothing) but unlocks no new task.
    ///
    /// # Errors
    /// [`StateError::NotRunning`] if `id` is not running; the state is unchanged.
    pub fn finish(&mut self, id: TaskId) -> Result<(), StateError> {
        let i = id.index();
        if self.state.get(i) != Some(&TaskState::Running) {
            return Err(StateError::NotRunning { id });
        }
        self.state[i] = TaskState::Held;
        self.counts.running -= 1;
        self.counts.finished += 1;
        self.counts.held += 1;
        if self.status != Status::Running {
            return Ok(());
        }

        // Dependents whose last dependency this was become ready. (Only waiting ones
        // count it: after a loss it may run again while some of its dependents had
        // finished, and a running one that took the lost result is the driver's to
        // retract.)
        let range = self.dependent_offsets[i] as usize..self.dependent_offsets[i + 1] as usize;
        for k in range {
            let dependent = self.dependents[k];
            let waiting = self.state[dependent.index()];
            if !matches!(waiting, TaskState::Waiting | TaskState::Running) {
                continue;
            }
            let w = &mut self.waiting_deps[dependent.index()];
            *w = w.saturating_sub(1);
            if *w == 0 && waiting == TaskState::Waiting {
                self.state[dependent.index()] = TaskState::Ready;
                let rank = self.rank[dependent.index()];
                self.ready.insert(rank);
                self.counts.ready += 1;
                if self.releasing.is_some() && self.releases_on_finish(dependent) {
                    self.mark_releasing(rank);
                }
            }
        }

        // Dependencies whose last dependent this was can be dropped.
        let range = self.dep_offsets[i] as usize..self.dep_offsets[i + 1] as usize;
        for k in range {
            let dep = self.deps[k];
            let w = &mut self.waiting_dependents[dep.index()];
            *w = w.saturating_sub(1);
            if *w == 0 && !self.target[dep.index()] && self.state[dep.index()] == TaskState::Held {
                self.state[dep.index()] = TaskState::Released;
                self.releases.push(dep);
            } else if *w == 1 && self.releasing.is_some() && !self.target[dep.index()] {
                // One dependent of `dep` is left: if it is ready, its finish now
                // releases `dep`.
                self.last_dependent_ready(dep);
            }
        }

        // Run again after a loss, it may be needed by nobody any more (its last
        // dependent finished meanwhile, with the value it had): released at once.
        if self.waiting_dependents[i] == 0 && !self.target[i] {
            self.state[i] = TaskState::Released;
            self.releases.push(id);
        }

        if self.counts.finished == self.counts.total {
            self.status = Status::Done;
        }
        Ok(())
    }

    /// `dep` has one unfinished dependent left: if that one is ready, it now releases
    /// a result when it finishes.
    fn last_dependent_ready(&mut self, dep: TaskId) {
        let i = dep.index();
        let range = self.dependent_offsets[i] as usize..self.dependent_offsets[i + 1] as usize;
        let last = self.dependents[range]
            .iter()
            .find(|d| self.state[d.index()] == TaskState::Ready)
            .copied();
        if let Some(last) = last {
            self.mark_releasing(self.rank[last.index()]);
        }
    }

    fn mark_releasing(&mut self, rank: u32) {
        if let Some(releasing) = &mut self.releasing {
            if !releasing.contains(rank) {
                releasing.insert(rank);
            }
        }
    }

    /// Feeds the failure of a running task. The computation stops: no task is ready
    /// any more and [`pop_ready`](State::pop_ready) returns `None` from now on. Tasks
    /// already running may still be fed with [`finish`](State::finish) or `fail`.
    ///
    /// # Errors
    /// [`StateError::NotRunning`] if `id` is not running; the state is unchanged.
    pub fn fail(&mut self, id: TaskId) -> Result<(), StateError> {
        let i = id.index();
        if self.state.get(i) != Some(&TaskState::Running) {
            return Err(StateError::NotRunning { id });
        }
        self.state[i] = TaskState::Failed;
        self.counts.running -= 1;
        if self.status == Status::Running {
            self.status = Status::Failed(id);
            self.clear_ready();
        }
        Ok(())
    }

    /// Stops the computation: nothing more is handed out. Results held so far are the
    /// driver's to drop. Does nothing once the computation is done or failed.
    pub fn cancel(&mut self) {
        if self.status == Status::Running {
            self.status = Status::Cancelled;
            self.clear_ready();
        }
    }

    /// Feeds the loss of finished results (the worker that held them died): each one
    /// still needed (a target, or an input of a task not finished) goes back to
    /// waiting, or to ready, and runs again. Inputs it needs that were released
    /// already run again first, as far back as needed (its lineage); tasks not
    /// finished that take it wait for it again. A running task that takes it keeps
    /// running until the driver [`retract`](State::retract)s it. Returns how many
    /// tasks will run again.
    ///
    /// A lost result that nothing needs any more is only counted as released. After
    /// a failure or cancel, nothing runs again (`Ok(0)`).
    ///
    /// `O((deps + dependents) × tasks run again)`; iterative, so a long lineage
    /// needs no stack.
    ///
    /// # Errors
    /// [`StateError::NotFinished`] if a task in `lost` has not finished; the state is
    /// unchanged.
    pub fn lose(&mut self, lost: &[TaskId]) -> Result<usize, StateError> {
        for &id in lost {
            if !matches!(
                self.state.get(id.index()),
                Some(TaskState::Held | TaskState::Released)
            ) {
                return Err(StateError::NotFinished { id });
            }
        }
        if self.status != Status::Running {
            return Ok(0);
        }
        let mut again = 0;
        let mut stack: Vec<TaskId> = lost.to_vec();
        while let Some(t) = stack.pop() {
            let i = t.index();
            let was = self.state[i];
            if !matches!(was, TaskState::Held | TaskState::Released) {
                continue; // already running again
            }
            if self.waiting_dependents[i] == 0 && !self.target[i] {
                // Nobody needs it any more: its loss costs nothing.
                if was == TaskState::Held {
                    self.state[i] = TaskState::Released;
                    self.counts.held -= 1;
                    self.counts.released += 1;
                }
                continue;
            }
            again += 1;
            self.counts.finished -= 1;
            if was == TaskState::Held {
                self.counts.held -= 1;
            } else {
                self.counts.released -= 1;
            }
            // Its dependents that counted it as done wait for it again.
            let range = self.dependent_offsets[i] as usize..self.dependent_offsets[i + 1] as usize;
            for k in range {
                let d = self.dependents[k];
                match self.state[d.index()] {
                    TaskState::Waiting | TaskState::Running => self.waiting_deps[d.index()] += 1,
                    TaskState::Ready => {
                        self.waiting_deps[d.index()] += 1;
                        self.unready(d);
                    }
                    _ => {}
                }
            }
            // It needs its inputs again: held ones are there, released ones run again
            // (and, when they do, count themselves into its wait).
            let mut missing = 0;
            let range = self.dep_offsets[i] as usize..self.dep_offsets[i + 1] as usize;
            for k in range {
                let p = self.deps[k];
                self.waiting_dependents[p.index()] += 1;
                match self.state[p.index()] {
                    TaskState::Released => stack.push(p),
                    TaskState::Waiting | TaskState::Ready | TaskState::Running => missing += 1,
                    _ => {}
                }
            }
            self.waiting_deps[i] = missing;
            self.state[i] = TaskState::Waiting;
            if missing == 0 {
                self.make_ready(t);
            }
        }
        Ok(again)
    }

    /// Takes back a running task that cannot run now (an input of it was lost, see
    /// [`lose`](State::lose)): it waits for its inputs again, or is ready again if
    /// none is missing.
    ///
    /// # Errors
    /// [`StateError::NotRunning`] if `id` is not running; the state is unchanged.
    pub fn retract(&mut self, id: TaskId) -> Result<(), StateError> {
        let i = id.index();
        if self.state.get(i) != Some(&TaskState::Running) {
            return Err(StateError::NotRunning { id });
        }
        self.counts.running -= 1;
        self.state[i] = TaskState::Waiting;
        if self.waiting_deps[i] == 0 && self.status == Status::Running {
            self.make_ready(id);
        }
        Ok(())
    }

    /// A waiting task whose inputs are all held becomes ready.
    fn make_ready(&mut self, id: TaskId) {
        self.state[id.index()] = TaskState::Ready;
        let rank = self.rank[id.index()];
        self.ready.insert(rank);
        self.counts.ready += 1;
        if self.releasing.is_some() && self.releases_on_finish(id) {
            self.mark_releasing(rank);
        }
    }

    /// A ready task waits again.
    fn unready(&mut self, id: TaskId) {
        let rank = self.rank[id.index()];
        self.ready.remove(rank);
        if let Some(releasing) = &mut self.releasing {
            if releasing.contains(rank) {
                releasing.remove(rank);
            }
        }
        self.counts.ready -= 1;
        self.state[id.index()] = TaskState::Waiting;
    }

    fn clear_ready(&mut self) {
        for rank in self.ready.drain() {
            self.state[self.sequence[rank as usize].index()] = TaskState::Waiting;
        }
        if let Some(releasing) = &mut self.releasing {
            releasing.drain().for_each(drop);
        }
        self.counts.ready = 0;
    }

    /// The next result to drop, if any: no task still to run needs it and it is not a
    /// target.
    #[inline]
    pub fn pop_release(&mut self) -> Option<TaskId> {
        let id = *self.releases.get(self.release_cursor)?;
        self.release_cursor += 1;
        self.counts.held -= 1;
        self.counts.released += 1;
        if self.release_cursor == self.releases.len() {
            self.releases.clear();
            self.release_cursor = 0;
        }
        Some(id)
    }

    /// How the computation stands.
    #[inline]
    pub fn status(&self) -> Status {
        self.status
    }

    /// Counters of the computation.
    #[inline]
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// Where task `id` is in its life.
    ///
    /// # Panics
    /// If `id` is not a task of the graph.
    #[inline]
    pub fn task_state(&self, id: TaskId) -> TaskState {
        self.state[id.index()]
    }

    /// Whether task `id` was requested.
    #[inline]
    pub fn is_target(&self, id: TaskId) -> bool {
        self.target[id.index()]
    }

    /// The task that `id` would be merged into by linear fusion
    /// ([`fuse::merges_into`](crate::fuse::merges_into)): its only dependent, which
    /// waits for nothing else. When `id` finishes, that task becomes ready, so a
    /// driver may run the pair (and the rest of the chain) as one unit of work: feed
    /// `finish(id)`, then hand out the successor with
    /// [`take_ready`](State::take_ready), and so on down the chain.
    ///
    /// # Panics
    /// If `id` is not a task of the graph.
    #[inline]
    pub fn linear_successor(&self, id: TaskId) -> Option<TaskId> {
        let i = id.index();
        let dependents = &self.dependents
            [self.dependent_offsets[i] as usize..self.dependent_offsets[i + 1] as usize];
        crate::fuse::merges_into(dependents, self.target[i], |p| {
            (self.dep_offsets[p.index() + 1] - self.dep_offsets[p.index()]) as usize
        })
    }

    /// The tasks that take `id`'s result, once per time each lists it, in no
    /// particular order (needed tasks only).
    ///
    /// # Panics
    /// If `id` is not a task of the graph.
    #[inline]
    pub fn dependents(&self, id: TaskId) -> &[TaskId] {
        let i = id.index();
        &self.dependents[self.dependent_offsets[i] as usize..self.dependent_offsets[i + 1] as usize]
    }

    /// How many of waiting task `id`'s dependencies have not finished (a dependency
    /// listed twice counts twice); 0 for a task that is not waiting for any.
    ///
    /// A driver that runs several tasks as one unit of work may put a waiting task in
    /// it after its dependencies when each unfinished one is in the unit: the task
    /// becomes ready as the last of them is fed to [`finish`](State::finish), and the
    /// driver then takes it with [`take_ready`](State::take_ready), as it does the
    /// links of a chain.
    ///
    /// # Panics
    /// If `id` is not a task of the graph.
    #[inline]
    pub fn unfinished_deps(&self, id: TaskId) -> u32 {
        match self.state[id.index()] {
            TaskState::Waiting => self.waiting_deps[id.index()],
            _ => 0,
        }
    }

    /// The most results (requested ones aside) that one worker running the static
    /// order holds at once ([`Priorities::max_pressure`]): what a run that follows
    /// the order holds, plus the result being made. A driver with several workers
    /// can hold its run to this plus about one result per worker by starting only
    /// tasks that release a result ([`pop_releasing`](State::pop_releasing)) while
    /// it is there.
    #[inline]
    pub fn planned_pressure(&self) -> u32 {
        self.planned_pressure
    }

    /// Whether the static order places task `id` before every task ready now: a
    /// driver that starts it ahead of them (a consumer handed out with the batch
    /// that makes its inputs) still runs the order, not ahead of it. `O(1)`.
    ///
    /// ```
    /// use taskloom_core::{Graph, State};
    ///
    /// let mut g = Graph::new();
    /// let a = g.push("a", &[], ())?;
    /// let b = g.push("b", &[], ())?;
    /// let ab = g.push("ab", &[a, b], ())?;
    /// let c = g.push("c", &[], ())?;
    /// let total = g.push("total", &[ab, c], ())?;
    /// let mut state = State::new(&g, &[total])?;
    /// let (first, second) = (state.pop_ready().unwrap(), state.pop_ready().unwrap());
    /// assert_eq!((first, second), (a, b));
    /// // `ab` waits for `a` and `b`, and the order runs it before `c`, still ready.
    /// assert!(state.precedes_ready(ab));
    /// assert!(!state.precedes_ready(total));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn precedes_ready(&self, id: TaskId) -> bool {
        self.ready.first().is_none_or(|r| self.rank[id.index()] < r)
    }

    /// Static rank of task `id` (lower runs first); `None` if it is not needed.
    #[inline]
    pub fn rank(&self, id: TaskId) -> Option<u32> {
        let r = self.rank[id.index()];
        (r != Priorities::UNRANKED).then_some(r)
    }

    /// Heap bytes held by this state: its per-task arrays, its copies of the
    /// dependency and dependent lists, and its queues.
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.state.capacity() * size_of::<TaskState>()
            + self.target.capacity()
            + (self.waiting_deps.capacity()
                + self.waiting_dependents.capacity()
                + self.rank.capacity()
                + self.dep_offsets.capacity()
                + self.dependent_offsets.capacity())
                * size_of::<u32>()
            + (self.sequence.capacity()
                + self.deps.capacity()
                + self.dependents.capacity()
                + self.releases.capacity())
                * size_of::<TaskId>()
            + self.ready.heap_bytes()
            + self.releasing.as_ref().map_or(0, RankSet::heap_bytes)
    }
}
