//! What may start next, when memory matters: the plan's count of results and the
//! byte budget.
//!
//! Both strategies take their next task from the ledger's gate
//! ([`Ledger::next_ready`](super::Ledger::next_ready)). Without a byte budget and
//! outside plan-following mode that is simply the ready task the static order placed
//! first. Otherwise [`Gate::next`] applies two meters to each task that would add a
//! result without freeing one (it is not the last user of any of its inputs):
//!
//! - **the plan** (plan-following mode): results held (requested ones aside) plus
//!   one for each such task started stay within the static order's max pressure
//!   `M` plus `workers - 1`. One worker running the order holds at most `M`
//!   results before each task, `M + 1` with the one it makes; a batch of several
//!   tasks, or more workers, run ahead of it wherever the order's next task waits
//!   for a running one, and this keeps that running ahead within `M + workers`
//!   (with a finishing task's result before its inputs go), `M + workers + 1` with
//!   the requested result: "within workers + 1 of the plan";
//! - **the byte budget** (`ComputeOptions::memory_limit`): bytes held plus one
//!   *expected result* per such task started stay under the budget. The expected
//!   result is the largest seen so far in the computation (a result is known only
//!   once made, and tasks of a graph tend to make alike results); reserving it keeps
//!   several workers from all starting on the last free bytes. Until the first task
//!   completes nothing is known, and one such task per worker starts.
//!
//! At a meter's limit only tasks that free memory start (core's
//! `State::pop_releasing`: the last user of one of their inputs, which includes the
//! next link of any chain started). When none is ready and nothing is running,
//! nothing will come back to free memory: the next task by priority starts anyway,
//! one at a time, and if the byte budget was what held it back the overrun is
//! counted. The computation always proceeds.

use taskloom_core::{State, TaskId};

use super::held::Tally;

/// In [`Gate::adding`]: the task counts for the byte meter.
const BYTES: u8 = 1;
/// In [`Gate::adding`]: the task counts for the plan's count.
const PLAN: u8 = 2;
/// In [`Gate::adding`]: the task was started and counts against the plan's room
/// (see [`Gate::room`]).
const RUN: u8 = 4;
/// In [`Gate::adding`]: the task heads a fused chain (two results alive at once).
const CHAIN: u8 = 8;

/// How a task got past the gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Admitted {
    /// Within the meters, or it frees memory.
    Within,
    /// Over the byte budget: nothing else could run.
    Overrun,
}

pub(super) struct Gate {
    /// Tasks of the graph.
    tasks: usize,
    /// The byte budget, if any.
    limit: Option<u64>,
    /// Results (requested ones aside) held and coming that a run following the
    /// plan stays within: the order's max pressure plus `workers - 1`.
    plan: u64,
    /// Whether each task was started as one that frees nothing, until it completes
    /// (sized on first use): [`BYTES`] for the byte meter, and [`PLAN`] too unless
    /// it makes a requested result (the plan sets those aside).
    adding: Vec<u8>,
    /// How many of those are started and not completed.
    pending: u64,
    /// How many of those count for the plan.
    pending_plan: u64,
    /// The weight of the started tasks that count against the room (see
    /// [`Gate::started`]) and have not completed.
    running: u64,
    /// The largest result seen so far: what each pending task is expected to add.
    largest: u64,
    /// Whether any task completed: until one does, no result's size is known, and the
    /// byte budget admits one task that adds a result per worker.
    seen: bool,
    workers: u64,
    overruns: usize,
    peak_over: u64,
}

impl Gate {
    /// A gate for a computation of `tasks` tasks whose order holds at most
    /// `planned` results, run by `workers`, within `limit` bytes if given.
    pub(super) fn new(tasks: usize, limit: Option<u64>, planned: u32, workers: usize) -> Self {
        Gate {
            tasks,
            limit,
            plan: u64::from(planned) + workers as u64 - 1,
            adding: Vec::new(),
            pending: 0,
            pending_plan: 0,
            running: 0,
            largest: 0,
            seen: false,
            workers: workers as u64,
            overruns: 0,
            peak_over: 0,
        }
    }

    /// Whether a byte budget applies.
    pub(super) fn budgeted(&self) -> bool {
        self.limit.is_some()
    }

    /// The next task to start with `held` results held (`targets` of them
    /// requested) and `outstanding` tasks started and not completed; `follow_plan`:
    /// whether the plan's count applies. `None`: wait for a completion (or nothing
    /// is ready).
    pub(super) fn next(
        &mut self,
        state: &mut State,
        held: Tally,
        outstanding: usize,
        follow_plan: bool,
    ) -> Option<(TaskId, Admitted)> {
        let coming = self.pending;
        let within_bytes = self.limit.is_none_or(|limit| {
            if !self.seen {
                return coming < self.workers;
            }
            held.bytes
                .saturating_add(coming.saturating_mul(self.largest))
                < limit
        });
        let within_plan = !follow_plan
            || held.results.saturating_sub(held.targets) as u64 + self.pending_plan < self.plan;
        if within_bytes && within_plan {
            let task = state.pop_ready()?;
            if !state.releases_on_finish(task) {
                self.reserve_new(task, state.is_target(task));
            }
            return Some((task, Admitted::Within));
        }
        if let Some(task) = state.pop_releasing() {
            return Some((task, Admitted::Within));
        }
        if outstanding > 0 {
            return None;
        }
        let task = state.pop_ready()?;
        self.reserve_new(task, state.is_target(task));
        if within_bytes {
            return Some((task, Admitted::Within));
        }
        self.overruns += 1;
        Some((task, Admitted::Overrun))
    }

    /// How many more tasks that free nothing may start now within the plan's count,
    /// with `held` results held.
    ///
    ///
    /// Each task started and not completed counts (see [`Gate::started`]), whether it
    /// frees a result or not: a batch's completions come back together, so a task
    /// that frees its inputs still holds its result beside them until its whole batch
    /// is back. The room keeps the results alive within the plan's max pressure plus
    /// one per worker, requested results aside.
    pub(super) fn room(&self, held: Tally) -> u64 {
        (self.plan + 1)
            .saturating_sub(held.results.saturating_sub(held.targets) as u64 + self.running)
    }

    /// Counts `task`, just started, against the room until it completes: once, or
    /// twice for the head of a fused `chain` (a link's result beside the next one's).
    /// (A task that makes a requested result is not counted: the plan sets those
    /// aside.)
    pub(super) fn started(&mut self, task: TaskId, chain: bool) {
        if self.adding.is_empty() {
            self.adding = vec![0; self.tasks];
        }
        if let Some(adding) = self.adding.get_mut(task.index()) {
            if *adding & RUN == 0 {
                *adding |= if chain { RUN | CHAIN } else { RUN };
                self.running += 1 + u64::from(chain);
            }
        }
    }

    /// Counts `task`, started, as one that adds a result until it completes (a task
    /// that would free an input but keeps it alive longer: the head of a fused
    /// chain); `target`: it makes a requested result.
    pub(super) fn reserve(&mut self, task: TaskId, target: bool) {
        if self
            .adding
            .get(task.index())
            .is_none_or(|a| *a & (BYTES | PLAN) == 0)
        {
            self.reserve_new(task, target);
        }
    }

    fn reserve_new(&mut self, task: TaskId, target: bool) {
        if self.adding.is_empty() {
            self.adding = vec![0; self.tasks];
        }
        if let Some(adding) = self.adding.get_mut(task.index()) {
            *adding |= if target { BYTES } else { BYTES | PLAN };
            self.pending += 1;
            self.pending_plan += u64::from(!target);
        }
    }

    /// `task` (the one handed out: the first link of a chain run as a unit)
    /// completed with a result of `bytes` bytes; `held` bytes are held with it.
    pub(super) fn completed(&mut self, task: TaskId, bytes: u64, held: u64) {
        if let Some(adding) = self.adding.get_mut(task.index()) {
            let was = std::mem::take(adding);
            if was & BYTES != 0 {
                self.pending -= 1;
            }
            if was & PLAN != 0 {
                self.pending_plan -= 1;
            }
            if was & RUN != 0 {
                self.running -= 1 + u64::from(was & CHAIN != 0);
            }
        }
        self.largest = self.largest.max(bytes);
        self.seen = true;
        if let Some(limit) = self.limit {
            self.peak_over = self.peak_over.max(held.saturating_sub(limit));
        }
    }

    /// The byte budget, if any.
    pub(super) fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// Tasks started over the byte budget, and the most bytes held above it.
    pub(super) fn overruns(&self) -> (usize, u64) {
        (self.overruns, self.peak_over)
    }
}

#[cfg(test)]
mod tests {
    use taskloom_core::Graph;

    use super::*;

    fn push(g: &mut Graph<()>, key: (&str, i64), deps: &[TaskId]) -> TaskId {
        g.push(key, deps, ()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn held(results: usize, bytes: u64) -> Tally {
        Tally {
            results,
            bytes,
            ..Tally::default()
        }
    }

    /// `n` roots, each read by its own `use`, all summed: a root adds a result and
    /// frees nothing, a use frees its root.
    fn roots_and_uses(n: i64) -> (Vec<TaskId>, Vec<TaskId>, State) {
        let mut g = Graph::new();
        let (mut roots, mut uses) = (Vec::new(), Vec::new());
        for i in 0..n {
            roots.push(push(&mut g, ("root", i), &[]));
            uses.push(push(&mut g, ("use", i), &[roots[i as usize]]));
        }
        let total = push(&mut g, ("total", 0), &uses);
        let state = State::new(&g, &[total]).unwrap_or_else(|e| panic!("{e}"));
        (roots, uses, state)
    }

    #[test]
    fn at_the_budget_only_tasks_that_free_memory_start() {
        let (roots, uses, mut state) = roots_and_uses(4);
        let mut gate = Gate::new(9, Some(100), state.planned_pressure(), 2);
        let (first, how) = gate
            .next(&mut state, held(0, 0), 0, false)
            .unwrap_or_else(|| panic!());
        assert_eq!(how, Admitted::Within);
        let i = roots
            .iter()
            .position(|r| *r == first)
            .unwrap_or_else(|| panic!());
        state.finish(first).unwrap_or_else(|e| panic!("{e}"));
        gate.completed(first, 100, 100);
        // At the budget: the use of that root frees it, so it starts.
        let next = gate.next(&mut state, held(1, 100), 0, false);
        assert_eq!(next, Some((uses[i], Admitted::Within)));
        // Nothing else frees memory and a task is running: wait.
        assert_eq!(gate.next(&mut state, held(1, 100), 1, false), None);
        state.finish(uses[i]).unwrap_or_else(|e| panic!("{e}"));
        gate.completed(uses[i], 8, 108);
        // The root released: 8 bytes held. One more root starts and reserves a
        // result as large as the largest seen (100): a second would not fit.
        let (second, _) = gate
            .next(&mut state, held(1, 8), 0, false)
            .unwrap_or_else(|| panic!());
        assert!(roots.contains(&second) && second != first);
        assert_eq!(gate.next(&mut state, held(1, 8), 1, false), None);
        assert_eq!(gate.overruns(), (0, 8));
    }

    #[test]
    fn with_nothing_running_and_nothing_to_free_the_next_task_starts_anyway() {
        let mut g = Graph::new();
        let a = push(&mut g, ("a", 0), &[]);
        let b = push(&mut g, ("b", 0), &[]);
        let total = push(&mut g, ("total", 0), &[a, b]);
        let mut state = State::new(&g, &[total]).unwrap_or_else(|e| panic!("{e}"));
        let mut gate = Gate::new(3, Some(50), state.planned_pressure(), 1);
        let (first, _) = gate
            .next(&mut state, held(0, 0), 0, false)
            .unwrap_or_else(|| panic!());
        state.finish(first).unwrap_or_else(|e| panic!("{e}"));
        gate.completed(first, 100, 100);
        let (second, how) = gate
            .next(&mut state, held(1, 100), 0, false)
            .unwrap_or_else(|| panic!());
        assert_eq!(how, Admitted::Overrun);
        state.finish(second).unwrap_or_else(|e| panic!("{e}"));
        gate.completed(second, 100, 200);
        let last = gate.next(&mut state, held(2, 200), 0, false);
        assert_eq!(last, Some((total, Admitted::Within)));
        assert_eq!(gate.overruns(), (1, 150));
    }

    #[test]
    fn following_the_plan_several_workers_hold_its_pressure_plus_one_each() {
        // Eight roots and their uses, the uses requested: the order runs root, use,
        // root, use... and holds one result at most. With two workers a use waits
        // for its root, so roots run ahead: two at most (1 + 2 workers - 1), then
        // only uses.
        let mut g = Graph::new();
        let (mut roots, mut uses) = (Vec::new(), Vec::new());
        for i in 0..8 {
            roots.push(push(&mut g, ("root", i), &[]));
            uses.push(push(&mut g, ("use", i), &[roots[i as usize]]));
        }
        let mut state = State::new(&g, &uses).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(state.planned_pressure(), 1);
        let mut gate = Gate::new(17, None, state.planned_pressure(), 2);
        let mut started = Vec::new();
        while let Some((t, how)) = gate.next(&mut state, held(0, 0), started.len(), true) {
            assert_eq!(how, Admitted::Within);
            started.push(t);
        }
        assert_eq!(started.len(), 2, "{started:?}");
        assert!(started.iter().all(|t| roots.contains(t)));
        for t in &started {
            state.finish(*t).unwrap_or_else(|e| panic!("{e}"));
            gate.completed(*t, 0, 0);
        }
        let (next, _) = gate
            .next(&mut state, held(2, 0), 0, true)
            .unwrap_or_else(|| panic!());
        assert!(!roots.contains(&next), "a use frees a root: it goes first");
        // Without the plan's count a third root would start beside it.
        let (free, _) = gate
            .next(&mut state, held(2, 0), 1, false)
            .unwrap_or_else(|| panic!());
        let (third, _) = gate
            .next(&mut state, held(2, 0), 2, false)
            .unwrap_or_else(|| panic!());
        assert!(
            [free, third].iter().any(|t| roots.contains(t)),
            "{free} {third}"
        );
    }
}
