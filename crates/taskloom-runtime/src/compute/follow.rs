//! Followers: waiting tasks handed out in the same batch as the jobs that make their
//! inputs, to run right after them on the same worker.
//!
//! Batching separates producers from consumers: a batch of ready tasks runs, its
//! results travel back to the loop, and only then do the tasks that take them become
//! ready and go out in another batch, a round trip later. Where every unfinished
//! input of a waiting task is made in the batch being built, the task can go in it
//! too, after them (as Taskflow's workers run a task's newly ready successor next):
//! the worker hands it those results directly, and a result that only tasks of the
//! batch read is freed there, after its last reader, without reaching the loop (see
//! `executor::packed`). Graphs whose tasks are microseconds long lose most of their
//! round trips (each costs a wake-up of the loop's thread and of a worker's), and
//! producers' results live only as long as their consumers need them.
//!
//! Core's `State` says which tasks may follow (`State::dependents`,
//! `State::unfinished_deps`): while a batch is built, each task's dependents count
//! the inputs they have in it, and one whose count reaches its unfinished inputs may
//! follow; followers go first, by static rank, before the next ready task. A
//! follower stays waiting in `State` until its completion comes back, behind its
//! producers' in the same message: by then feeding those made it ready, and the loop
//! takes it (`State::take_ready`) as it takes the links of a fused chain.
//!
//! Only local blocking tasks follow, and only local blocking tasks: a remote task's
//! result is in a worker process, and an async task runs on the runtime. When the run
//! follows the plan (large or undeclared results), only a task that frees one of its
//! inputs follows, or one the static order runs before every task ready now: any
//! other adds a result the plan would make later (a shuffle's split, whose parts wait
//! for a far reducer), and held results grew by half on `bag_groupby` until it was
//! so. The order's test lets the first of two consumers that free their inputs only
//! together (the partial sums of blocks `(i, j)` and `(j, i)` of `x + x.T`) follow
//! with the second; without it, batches of blocks ran ahead of their sums. There
//! followers may also lengthen a batch to twice its size (see `dispatch`).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use taskloom_core::{Graph as CoreGraph, State, TaskId};

use crate::body::TaskBody;
use crate::executor::PackedJob;

/// The bookkeeping of the batch being built; sized on first use, emptied after each
/// batch in time proportional to what it touched.
pub(super) struct Followers {
    /// Per task: inputs it has in the batch (while it waits), and its job's index in
    /// the batch plus one (0: not in it).
    claims: Vec<u32>,
    slot: Vec<u32>,
    /// Tasks whose `claims` or `slot` are set.
    touched: Vec<TaskId>,
    /// Tasks that may follow now, best rank first.
    ready: BinaryHeap<Reverse<(u32, TaskId)>>,
}

impl Followers {
    pub(super) fn new() -> Self {
        Followers {
            claims: Vec::new(),
            slot: Vec::new(),
            touched: Vec::new(),
            ready: BinaryHeap::new(),
        }
    }

    /// The task that may follow now with the best static rank, if any.
    pub(super) fn next(&mut self) -> Option<TaskId> {
        self.ready.pop().map(|Reverse((_, t))| t)
    }

    /// Notes that the batch's job `index`, of task `task`, makes `result` (`task`, or
    /// the last member of its fused chain): its waiting dependents count it, and
    /// those with every unfinished input in the batch may follow.
    pub(super) fn added(
        &mut self,
        state: &State,
        graph: &CoreGraph<TaskBody>,
        task: TaskId,
        result: TaskId,
        index: usize,
    ) {
        if self.slot.is_empty() {
            self.slot = vec![0; graph.len()];
            self.claims = vec![0; graph.len()];
        }
        for t in [task, result] {
            if self.slot[t.index()] == 0 {
                self.touched.push(t);
            }
            self.slot[t.index()] = index as u32 + 1;
        }
        if !local(graph, result) {
            return;
        }
        for &d in state.dependents(result) {
            let unfinished = state.unfinished_deps(d);
            if unfinished == 0 {
                continue; // not waiting
            }
            let claims = &mut self.claims[d.index()];
            if *claims == 0 {
                self.touched.push(d);
            }
            *claims += 1;
            if *claims == unfinished && local(graph, d) {
                let rank = state.rank(d).unwrap_or(u32::MAX);
                self.ready.push(Reverse((rank, d)));
            }
        }
    }

    /// The job of the batch that makes `input`, if one does.
    #[inline]
    pub(super) fn maker(&self, input: TaskId) -> Option<u32> {
        match self.slot.get(input.index()) {
            Some(&slot) if slot != 0 => Some(slot - 1),
            _ => None,
        }
    }

    /// Whether `task`'s result is made in the batch.
    pub(super) fn in_batch(&self, task: TaskId) -> bool {
        self.slot.get(task.index()).is_some_and(|s| *s != 0)
    }

    /// The batch is built: tells each job how many later jobs read its result and
    /// whether it must go back to the loop (`results[i]` is what job `i` makes),
    /// then forgets the batch.
    pub(super) fn seal(&mut self, state: &State, jobs: &mut [PackedJob], results: &[TaskId]) {
        if self.touched.is_empty() {
            return;
        }
        for i in 0..jobs.len() {
            for k in 0..jobs[i].local.len() {
                let maker = jobs[i].local[k].job as usize;
                if let Some(job) = jobs.get_mut(maker) {
                    job.uses += 1;
                }
            }
        }
        for (job, &result) in jobs.iter_mut().zip(results) {
            if job.uses > 0 {
                job.returns = state.is_target(result)
                    || state.dependents(result).iter().any(|d| !self.in_batch(*d));
            }
        }
        for t in self.touched.drain(..) {
            self.claims[t.index()] = 0;
            self.slot[t.index()] = 0;
        }
        self.ready.clear();
    }
}

/// Whether `task` is a blocking task that runs in this process.
fn local(graph: &CoreGraph<TaskBody>, task: TaskId) -> bool {
    matches!(graph.payload(task), TaskBody::Blocking(b) if b.remote.is_none())
}
