//! How many results a static order holds at once: `dask.order.diagnostics` for
//! taskloom.
//!
//! The simulation runs the needed tasks one at a time in the order of a
//! [`Priorities`] and counts, before each task runs, the results that are held: made
//! by a finished task and still needed by a dependent that has not run. Its
//! semantics are Dask's exactly, so the numbers can be compared with
//! `max(dask.order.diagnostics(dsk, o)[1])` on the same graph:
//!
//! - a result is released by the run of its last dependent (dependents among the
//!   needed tasks only);
//! - a task with no needed dependent (a sink, normally a requested result) is never
//!   counted as held: in Dask's model it leaves the graph as an output;
//! - `pressure[i]` is the count just before the `i`-th task runs.
//!
//! Note that a [`State`](crate::State) never releases a target, and that it runs
//! ready tasks from a LIFO stack, which with one worker follows the static order on
//! trees and chains but not on every graph. The diagnostic measures the static order,
//! the quantity `order` controls, as Dask's does.

use crate::{Culled, Graph, Priorities, TaskId};

/// What the simulation saw for one task (Dask's `OrderInfo`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct OrderInfo {
    /// Position of the task in the run order (its rank).
    pub order: u32,
    /// Steps its result was held: the position of the task that released it minus
    /// its own position; 0 for a sink.
    pub age: u32,
    /// Results held just before it ran.
    pub num_data_when_run: u32,
    /// Results held just before the step that released its result (for a sink: just
    /// before it ran).
    pub num_data_when_released: u32,
    /// How many of its dependencies its run released.
    pub num_dependencies_freed: u32,
}

/// The memory profile of a static order, from [`diagnostics`].
#[derive(Clone, Debug, Default)]
pub struct Diagnostics {
    /// Results held just before each step, in run order (Dask's `pressure` list).
    pub pressure: Vec<u32>,
    /// The largest entry of `pressure` (0 for an empty computation).
    pub max_pressure: u32,
    /// Per task id: what the simulation saw, `None` for tasks not needed.
    pub info: Vec<Option<OrderInfo>>,
}

impl Diagnostics {
    /// What the simulation saw for task `id`; `None` if it is not needed.
    ///
    /// # Panics
    /// If `id` is not a task of the graph.
    pub fn info(&self, id: TaskId) -> Option<&OrderInfo> {
        self.info[id.index()].as_ref()
    }
}

/// Simulates one worker running the needed tasks of `graph` in the order of
/// `priorities`, and reports the results held over time.
///
/// ```
/// use taskloom_core::{cull, order, Graph};
/// use taskloom_core::order::diagnostics;
///
/// // x feeds two sums; one worker holds x and one partial result at most.
/// let mut g = Graph::new();
/// let x = g.push("x", &[], ())?;
/// let a = g.push("a", &[x], ())?;
/// let b = g.push("b", &[x], ())?;
/// let total = g.push("total", &[a, b], ())?;
/// let culled = cull(&g, &[total])?;
/// let p = order(&g, &culled);
/// let d = diagnostics(&g, &culled, &p);
/// assert_eq!(d.pressure, [0, 1, 2, 2]);
/// assert_eq!(d.max_pressure, 2);
/// assert_eq!(d.info(x).unwrap().num_dependencies_freed, 0);
/// assert_eq!(d.info(total).unwrap().num_dependencies_freed, 2);
/// # Ok::<(), taskloom_core::GraphError>(())
/// ```
///
/// # Panics
/// If `culled` or `priorities` belong to a graph of another size, or if
/// `priorities` does not run every task after its dependencies (it always does when
/// it comes from [`order`](crate::order())).
pub fn diagnostics<T>(graph: &Graph<T>, culled: &Culled, priorities: &Priorities) -> Diagnostics {
    let n = graph.len();
    assert_eq!(culled.graph_len(), n, "culled from another graph");
    assert_eq!(priorities.ranks().len(), n, "ordered for another graph");
    let sequence = priorities.sequence();
    // Dependents still to run, counted per listing (a task that lists a dependency
    // twice consumes it twice; it is released on the last one, so once).
    let mut waiting: Vec<u32> = (0..n)
        .map(|i| culled.dependents(TaskId::from_index(i)).len() as u32)
        .collect();
    let mut info: Vec<Option<OrderInfo>> = vec![None; n];
    let mut pressure = Vec::with_capacity(sequence.len());
    let mut held: u32 = 0;
    for (step, &task) in sequence.iter().enumerate() {
        let step = step as u32;
        pressure.push(held);
        let mut freed = 0;
        for &dep in graph.deps(task) {
            let w = &mut waiting[dep.index()];
            assert!(
                *w > 0,
                "{task} runs after the last use of its dependency {dep}"
            );
            *w -= 1;
            if *w == 0 {
                freed += 1;
                let d = info[dep.index()]
                    .as_mut()
                    .expect("a dependency runs before its dependents");
                d.age = step - d.order;
                d.num_data_when_released = held;
            }
        }
        let sink = culled.dependents(task).is_empty();
        info[task.index()] = Some(OrderInfo {
            order: step,
            age: 0,
            num_data_when_run: held,
            num_data_when_released: held,
            num_dependencies_freed: freed,
        });
        // Dask: a sink's own output is not counted as held.
        held = held + u32::from(!sink) - freed;
    }
    let max_pressure = pressure.iter().copied().max().unwrap_or(0);
    Diagnostics {
        pressure,
        max_pressure,
        info,
    }
}

/// The `max_pressure` of [`diagnostics`] for a run order given as a sequence, without
/// the per-task records: checks, in debug builds, the count `order` keeps as it goes.
pub(crate) fn max_pressure<T>(graph: &Graph<T>, culled: &Culled, sequence: &[TaskId]) -> u32 {
    max_pressure_under(graph, culled, sequence, u32::MAX).unwrap_or(u32::MAX)
}

/// [`max_pressure`], or `None` as soon as the count reaches `limit` (a candidate
/// order that cannot beat one holding `limit` results is dropped early).
pub(crate) fn max_pressure_under<T>(
    graph: &Graph<T>,
    culled: &Culled,
    sequence: &[TaskId],
    limit: u32,
) -> Option<u32> {
    let mut waiting: Vec<u32> = (0..graph.len())
        .map(|i| culled.dependents(TaskId::from_index(i)).len() as u32)
        .collect();
    let (mut held, mut max) = (0u32, 0u32);
    for &task in sequence {
        max = max.max(held);
        if max >= limit {
            return None;
        }
        let mut freed = 0;
        for &dep in graph.deps(task) {
            let w = &mut waiting[dep.index()];
            *w -= 1;
            freed += u32::from(*w == 0);
        }
        held = held + u32::from(waiting[task.index()] != 0) - freed;
    }
    Some(max)
}
