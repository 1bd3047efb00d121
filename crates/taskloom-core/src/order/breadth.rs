//! Rule 4 of the order: a breadth-first candidate, kept where it holds fewer
//! results (stencils and lattices).
//!
//! The walk is depth-first: it finishes what it started, which is what reductions,
//! chains and trees want. A stencil (each step of each cell reads its neighbours'
//! previous step: `delayed_stencil`, the crosstalk lattices) is the other way round:
//! going deep in time for one cell needs a cone of its neighbours' past, and the
//! walk ends up holding about two cones' edges (75 results on `delayed_stencil`,
//! Dask's order 78), where sweeping the grid one time step after the other holds
//! about one row (42). So once the walk's order is made, the same tasks are sorted
//! by *level* (1 + the highest level of their dependencies; roots are level 0),
//! ties kept in the walk's order, and that order is kept if it holds fewer results.
//!
//! It costs little where it cannot win: a level order holds, just before the first
//! task of level `l + 1` runs, every result of level `l` that has a dependent, so a
//! level with as many such tasks as the walk's maximum rules it out. Levels are
//! counted in the walk's order and the candidate is dropped at the first such level:
//! on chains, trees and wide sums that is within the first few roots. Otherwise one
//! pass makes the levels, a counting sort the candidate, and a simulation (stopped
//! as soon as it holds as many as the walk) its pressure: `O(n + e)`.

use crate::{Culled, Graph, TaskId};

use super::diagnostics::max_pressure_under;

/// The walk's `sequence` (holding `max_held` at most) sorted by level, with what it
/// holds at most, if that is fewer.
pub(super) fn by_level<T>(
    graph: &Graph<T>,
    culled: &Culled,
    sequence: &[TaskId],
    max_held: u32,
) -> Option<(Vec<TaskId>, u32)> {
    if max_held <= 1 {
        return None; // nothing does better with a result to hold
    }
    let mut level = vec![0_u32; graph.len()];
    // Tasks per level, and those of them with a dependent (held until a later level).
    let mut tasks: Vec<u32> = Vec::new();
    let mut held: Vec<u32> = Vec::new();
    for &t in sequence {
        let l = graph
            .deps(t)
            .iter()
            .map(|d| level[d.index()] + 1)
            .max()
            .unwrap_or(0);
        level[t.index()] = l;
        let l = l as usize;
        if tasks.len() <= l {
            tasks.resize(l + 1, 0);
            held.resize(l + 1, 0);
        }
        tasks[l] += 1;
        if !culled.dependents(t).is_empty() {
            held[l] += 1;
            if held[l] >= max_held {
                return None;
            }
        }
    }
    // A counting sort by level; within a level, the walk's order.
    let mut next: Vec<u32> = Vec::with_capacity(tasks.len());
    let mut start = 0;
    for count in &tasks {
        next.push(start);
        start += count;
    }
    let mut candidate = vec![TaskId::from_index(0); sequence.len()];
    for &t in sequence {
        let slot = &mut next[level[t.index()] as usize];
        candidate[*slot as usize] = t;
        *slot += 1;
    }
    let candidate_held = max_pressure_under(graph, culled, &candidate, max_held)?;
    Some((candidate, candidate_held))
}
