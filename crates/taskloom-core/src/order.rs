//! Static priorities: the order in which one worker should run a graph so that it
//! finishes what it started and holds few results at once (the aim of `dask.order`).
//!
//! The ordering is a depth-first, post-order walk from the graph's outputs (the needed
//! tasks nothing else needs), iterative so that million-task chains need no stack:
//!
//! - a task's dependencies are visited heaviest first, where the weight of a task is
//!   `1 + the weights of its dependencies` (Dask's `ndependencies`: an upper bound on
//!   the work below it). Running the larger branch first and the smaller one last
//!   means the small branch's results are held for less time (the Sethi–Ullman idea);
//! - a task gets its priority as soon as its last dependency is placed, so each result
//!   is consumed right after it is made: chains are finished before new ones start;
//! - ties are broken by key, never by insertion order, so the same graph gets the same
//!   order however it was built.
//!
//! Cost: `O(n + e log d)` time for `n` tasks, `e` edges and at most `d` dependencies
//! per task, and `O(n + e)` memory.

use std::cmp::Reverse;

use crate::{Culled, Graph, TaskId};

/// The planned run order of a computation's needed tasks.
///
/// `rank(id)` is the position of task `id` in [`sequence`](Priorities::sequence): lower
/// runs first. Every task comes after all its dependencies.
#[derive(Clone, Debug)]
pub struct Priorities {
    rank: Vec<u32>,
    sequence: Vec<TaskId>,
}

impl Priorities {
    /// Marker rank of tasks that are not part of the computation.
    pub const UNRANKED: u32 = u32::MAX;

    /// The position of `id` in the run order, or `None` for a task the computation does
    /// not need.
    #[inline]
    pub fn rank(&self, id: TaskId) -> Option<u32> {
        let r = self.rank[id.index()];
        (r != Self::UNRANKED).then_some(r)
    }

    /// Needed tasks in run order.
    #[inline]
    pub fn sequence(&self) -> &[TaskId] {
        &self.sequence
    }

    /// Ranks indexed by task id; [`Priorities::UNRANKED`] for tasks not needed.
    #[inline]
    pub fn ranks(&self) -> &[u32] {
        &self.rank
    }

    pub(crate) fn into_ranks(self) -> (Vec<u32>, Vec<TaskId>) {
        (self.rank, self.sequence)
    }
}

/// Computes the static priorities of the needed tasks of `graph`.
///
/// ```
/// use taskloom_core::{cull, order, Graph};
///
/// // Two chains into one sum: the first chain is finished before the second starts.
/// let mut g = Graph::new();
/// let a1 = g.push("a1", &[], ())?;
/// let a2 = g.push("a2", &[a1], ())?;
/// let b1 = g.push("b1", &[], ())?;
/// let b2 = g.push("b2", &[b1], ())?;
/// let total = g.push("total", &[a2, b2], ())?;
/// let p = order(&g, &cull(&g, &[total])?);
/// assert_eq!(p.sequence(), &[a1, a2, b1, b2, total]);
/// # Ok::<(), taskloom_core::GraphError>(())
/// ```
pub fn order<T>(graph: &Graph<T>, culled: &Culled) -> Priorities {
    let n = graph.len();
    let keys = graph.keys();
    // Weight: 1 + the weights of the dependencies (saturating; ids are topological).
    let mut weight = vec![0u64; n];
    for id in culled.ids() {
        let w = graph
            .deps(id)
            .iter()
            .fold(1u64, |acc, d| acc.saturating_add(weight[d.index()]));
        weight[id.index()] = w;
    }
    let by_weight_then_key = |a: &TaskId, b: &TaskId| -> std::cmp::Ordering {
        Reverse(weight[a.index()])
            .cmp(&Reverse(weight[b.index()]))
            .then_with(|| keys[a.index()].cmp(&keys[b.index()]))
    };

    let mut sinks: Vec<TaskId> = culled
        .ids()
        .filter(|&id| culled.dependents(id).is_empty())
        .collect();
    sinks.sort_unstable_by(|a, b| keys[a.index()].cmp(&keys[b.index()]));

    let mut rank = vec![Priorities::UNRANKED; n];
    let mut sequence = Vec::with_capacity(culled.len());
    let mut visited = vec![false; n];
    // The walk's stack. The top frame's sorted dependencies are always the tail of
    // `children`, so a frame only records where its own start and cursor are.
    let mut stack: Vec<Frame> = Vec::new();
    let mut children: Vec<TaskId> = Vec::new();
    let open = |task: TaskId, stack: &mut Vec<Frame>, children: &mut Vec<TaskId>| {
        let start = children.len();
        children.extend_from_slice(graph.deps(task));
        if children.len() - start > 1 {
            children[start..].sort_unstable_by(by_weight_then_key);
        }
        stack.push(Frame {
            task,
            start: start as u32,
            next: start as u32,
        });
    };
    for sink in sinks {
        if visited[sink.index()] {
            continue;
        }
        visited[sink.index()] = true;
        open(sink, &mut stack, &mut children);
        while let Some(frame) = stack.last_mut() {
            let end = children.len() as u32;
            while frame.next < end && visited[children[frame.next as usize].index()] {
                frame.next += 1;
            }
            if frame.next < end {
                let child = children[frame.next as usize];
                frame.next += 1;
                visited[child.index()] = true;
                open(child, &mut stack, &mut children);
            } else {
                let Frame { task, start, .. } = *frame;
                stack.pop();
                children.truncate(start as usize);
                rank[task.index()] = sequence.len() as u32;
                sequence.push(task);
            }
        }
    }
    debug_assert_eq!(sequence.len(), culled.len());
    Priorities { rank, sequence }
}

/// One task on the walk's stack: its dependencies are `children[start..]`, of which
/// those before `next` have been visited.
#[derive(Clone, Copy)]
struct Frame {
    task: TaskId,
    start: u32,
    next: u32,
}
