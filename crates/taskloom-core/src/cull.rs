//! Culling: the part of a graph that the requested results need.
//!
//! A computation runs only the targets and what they transitively depend on; every
//! other task of the graph is left alone (Dask's `cull`). Because a [`Graph`]'s ids are
//! a topological order, marking is one backward sweep with no recursion. The same
//! sweep's output is then reversed into the dependents lists that ordering and the
//! scheduling [`State`](crate::State) walk: "who is waiting for this result", counted
//! only among needed tasks.

use crate::{Graph, GraphError, TaskId};

/// The tasks that a set of targets needs, with their dependents among needed tasks.
///
/// ```
/// use taskloom_core::{cull, Graph};
///
/// let mut g = Graph::new();
/// let a = g.push("a", &[], ())?;
/// let b = g.push("b", &[a], ())?;
/// let unrelated = g.push("c", &[], ())?;
/// let culled = cull(&g, &[b])?;
/// assert!(culled.contains(a) && culled.contains(b));
/// assert!(!culled.contains(unrelated));
/// assert_eq!(culled.len(), 2);
/// assert_eq!(culled.dependents(a), &[b]);
/// # Ok::<(), taskloom_core::GraphError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Culled {
    needed: Vec<bool>,
    target: Vec<bool>,
    count: usize,
    /// `dependents[dependent_offsets[i]..dependent_offsets[i + 1]]`: the needed tasks
    /// that list task `i` as a dependency (once per listing).
    dependent_offsets: Vec<u32>,
    dependents: Vec<TaskId>,
}

/// Marks the tasks `targets` need (the targets and all their transitive
/// dependencies) and lists each needed task's needed dependents.
///
/// # Errors
/// [`GraphError::InvalidTarget`] if a target id is not a task of `graph`.
pub fn cull<T>(graph: &Graph<T>, targets: &[TaskId]) -> Result<Culled, GraphError> {
    let n = graph.len();
    let mut needed = vec![false; n];
    let mut target = vec![false; n];
    for &t in targets {
        if t.index() >= n {
            return Err(GraphError::InvalidTarget { id: t });
        }
        needed[t.index()] = true;
        target[t.index()] = true;
    }
    let (offsets, deps) = graph.dep_csr();
    let mut count = 0;
    let mut dependent_offsets = vec![0u32; n + 1];
    for task in (0..n).rev() {
        if !needed[task] {
            continue;
        }
        count += 1;
        for d in &deps[offsets[task] as usize..offsets[task + 1] as usize] {
            needed[d.index()] = true;
            dependent_offsets[d.index() + 1] += 1;
        }
    }
    for i in 0..n {
        dependent_offsets[i + 1] += dependent_offsets[i];
    }
    let mut fill = dependent_offsets.clone();
    let mut dependents = vec![TaskId::new(0); dependent_offsets[n] as usize];
    for task in 0..n {
        if !needed[task] {
            continue;
        }
        for d in &deps[offsets[task] as usize..offsets[task + 1] as usize] {
            let slot = &mut fill[d.index()];
            dependents[*slot as usize] = TaskId::new(task as u32);
            *slot += 1;
        }
    }
    Ok(Culled {
        needed,
        target,
        count,
        dependent_offsets,
        dependents,
    })
}

impl Culled {
    /// Whether task `id` is needed.
    #[inline]
    pub fn contains(&self, id: TaskId) -> bool {
        self.needed[id.index()]
    }

    /// Whether task `id` was requested.
    #[inline]
    pub fn is_target(&self, id: TaskId) -> bool {
        self.target[id.index()]
    }

    /// Number of needed tasks.
    #[inline]
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether nothing is needed (no targets).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Size of the graph this was culled from.
    #[inline]
    pub fn graph_len(&self) -> usize {
        self.needed.len()
    }

    /// The needed tasks that depend on `id`, in id order (a task listed twice as a
    /// dependency appears twice).
    #[inline]
    pub fn dependents(&self, id: TaskId) -> &[TaskId] {
        let i = id.index();
        &self.dependents[self.dependent_offsets[i] as usize..self.dependent_offsets[i + 1] as usize]
    }

    /// Needed task ids in id (= topological) order.
    pub fn ids(&self) -> impl DoubleEndedIterator<Item = TaskId> + '_ {
        self.needed
            .iter()
            .enumerate()
            .filter(|(_, n)| **n)
            .map(|(i, _)| TaskId::new(i as u32))
    }

    /// The dependents lists as CSR arrays: `(offsets, dependents)`, those of task `i`
    /// at `dependents[offsets[i]..offsets[i + 1]]`.
    #[inline]
    pub(crate) fn dependent_csr(&self) -> (&[u32], &[TaskId]) {
        (&self.dependent_offsets, &self.dependents)
    }

    pub(crate) fn into_parts(self) -> (Vec<bool>, Vec<u32>, Vec<TaskId>) {
        (self.target, self.dependent_offsets, self.dependents)
    }
}
