//! Building a [`Graph`] from tasks that name their dependencies by key, in any order,
//! as a Dask graph dict does.
//!
//! This is the one place where a graph can be malformed: a key given twice, a
//! dependency no task provides, or a cycle. [`GraphBuilder::build`] finds each of these
//! and reports the keys involved, then adds the tasks to a [`Graph`] in a topological
//! order (Kahn's algorithm, iterative: a 10-million-task chain needs no stack).

use crate::index::KeyIndex;
use crate::{Graph, GraphError, Key, TaskId};

/// Collects tasks whose dependencies are named by key, then validates them into a
/// [`Graph`].
///
/// ```
/// use taskloom_core::{GraphBuilder, GraphError, Key};
///
/// let mut b = GraphBuilder::new();
/// b.add("total", ["x", "y"], ())?; // dependencies may come later
/// b.add("x", [] as [&str; 0], ())?;
/// b.add("y", ["x"], ())?;
/// let g = b.build()?;
/// let total = g.id(&Key::from("total")).unwrap();
/// assert_eq!(g.deps(total).len(), 2);
///
/// let mut bad = GraphBuilder::new();
/// bad.add("a", ["b"], ())?;
/// bad.add("b", ["a"], ())?;
/// assert!(matches!(bad.build(), Err(GraphError::Cycle { .. })));
/// # Ok::<(), GraphError>(())
/// ```
pub struct GraphBuilder<T> {
    keys: Vec<Key>,
    payloads: Vec<T>,
    dep_offsets: Vec<u32>,
    dep_keys: Vec<Key>,
    index: KeyIndex,
}

impl<T> Default for GraphBuilder<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> GraphBuilder<T> {
    /// An empty builder.
    pub fn new() -> Self {
        Self::with_capacity(0, 0)
    }

    /// An empty builder with room for `tasks` tasks and `edges` dependencies.
    pub fn with_capacity(tasks: usize, edges: usize) -> Self {
        let mut dep_offsets = Vec::with_capacity(tasks + 1);
        dep_offsets.push(0);
        GraphBuilder {
            keys: Vec::with_capacity(tasks),
            payloads: Vec::with_capacity(tasks),
            dep_offsets,
            dep_keys: Vec::with_capacity(edges),
            index: KeyIndex::with_capacity(tasks),
        }
    }

    /// Number of tasks added so far.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no task was added yet.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Adds task `key` depending on the tasks named `deps` (which may be added later).
    ///
    /// # Errors
    /// [`GraphError::DuplicateKey`] if `key` was already added (the builder is then
    /// unchanged); [`GraphError::TooLarge`] past [`TaskId::MAX`] tasks or edges.
    pub fn add<K: Into<Key>>(
        &mut self,
        key: impl Into<Key>,
        deps: impl IntoIterator<Item = K>,
        payload: T,
    ) -> Result<&mut Self, GraphError> {
        let key = key.into();
        if self.keys.len() >= TaskId::MAX as usize {
            return Err(GraphError::TooLarge {
                max: u64::from(TaskId::MAX),
            });
        }
        let start = self.dep_keys.len();
        self.dep_keys.extend(deps.into_iter().map(Into::into));
        if self.dep_keys.len() > TaskId::MAX as usize {
            self.dep_keys.truncate(start);
            return Err(GraphError::TooLarge {
                max: u64::from(TaskId::MAX),
            });
        }
        if !self.index.insert(&self.keys, &key, self.keys.len() as u32) {
            self.dep_keys.truncate(start);
            return Err(GraphError::DuplicateKey { key });
        }
        self.keys.push(key);
        self.payloads.push(payload);
        self.dep_offsets.push(self.dep_keys.len() as u32);
        Ok(self)
    }

    /// Validates the tasks and returns the graph, with ids in a topological order
    /// (look tasks up by key with [`Graph::id`]).
    ///
    /// # Errors
    /// [`GraphError::MissingDependency`] naming the first task (in the order added)
    /// whose dependency no task provides; [`GraphError::Cycle`] with the keys on one
    /// cycle, in dependency order.
    pub fn build(self) -> Result<Graph<T>, GraphError> {
        let GraphBuilder {
            keys,
            payloads,
            dep_offsets,
            dep_keys,
            mut index,
        } = self;
        let n = keys.len();
        // Resolve dependency keys to builder positions.
        let mut deps = Vec::with_capacity(dep_keys.len());
        for task in 0..n {
            let range = dep_offsets[task] as usize..dep_offsets[task + 1] as usize;
            for dep in &dep_keys[range] {
                match index.find(&keys, dep) {
                    Some(d) => deps.push(d),
                    None => {
                        return Err(GraphError::MissingDependency {
                            key: keys[task].clone(),
                            dependency: dep.clone(),
                        });
                    }
                }
            }
        }
        drop(dep_keys);
        let order = topological_order(&dep_offsets, &deps).map_err(|cycle| GraphError::Cycle {
            keys: cycle.iter().map(|&i| keys[i as usize].clone()).collect(),
        })?;

        // Permute everything into topological order; `new_id[old]` renumbers.
        let mut new_id = vec![0u32; n];
        for (next, &old) in order.iter().enumerate() {
            new_id[old as usize] = next as u32;
        }
        let mut slots: Vec<Option<(Key, T)>> = keys.into_iter().zip(payloads).map(Some).collect();
        let mut new_keys = Vec::with_capacity(n);
        let mut new_payloads = Vec::with_capacity(n);
        let mut new_offsets = Vec::with_capacity(n + 1);
        let mut new_deps = Vec::with_capacity(deps.len());
        new_offsets.push(0);
        for &old in &order {
            let old = old as usize;
            let (key, payload) = slots[old].take().expect("each task is placed once");
            new_keys.push(key);
            new_payloads.push(payload);
            let range = dep_offsets[old] as usize..dep_offsets[old + 1] as usize;
            new_deps.extend(
                deps[range]
                    .iter()
                    .map(|&d| TaskId::from_index(new_id[d as usize] as usize)),
            );
            new_offsets.push(new_deps.len() as u32);
        }
        index.remap(|old| new_id[old as usize]);
        Ok(Graph::from_parts(
            new_keys,
            new_payloads,
            new_offsets,
            new_deps,
            index,
        ))
    }
}

/// Kahn's algorithm over a CSR dependency list. Returns positions in an order where
/// every task comes after its dependencies (ties keep insertion order), or the
/// positions on one cycle.
fn topological_order(offsets: &[u32], deps: &[u32]) -> Result<Vec<u32>, Vec<u32>> {
    let n = offsets.len() - 1;
    let (dependent_offsets, dependents) = reverse_csr(n, offsets, deps);
    let mut missing: Vec<u32> = (0..n).map(|i| offsets[i + 1] - offsets[i]).collect();
    let mut order: Vec<u32> = (0..n as u32)
        .filter(|&i| missing[i as usize] == 0)
        .collect();
    let mut head = 0;
    while head < order.len() {
        let task = order[head] as usize;
        head += 1;
        let range = dependent_offsets[task] as usize..dependent_offsets[task + 1] as usize;
        for &dependent in &dependents[range] {
            let m = &mut missing[dependent as usize];
            *m -= 1;
            if *m == 0 {
                order.push(dependent);
            }
        }
    }
    if order.len() == n {
        return Ok(order);
    }
    Err(find_cycle(offsets, deps, &missing))
}

/// The reverse of a CSR adjacency list: for each task, the tasks that list it.
fn reverse_csr(n: usize, offsets: &[u32], edges: &[u32]) -> (Vec<u32>, Vec<u32>) {
    let mut rev_offsets = vec![0u32; n + 1];
    for &e in edges {
        rev_offsets[e as usize + 1] += 1;
    }
    for i in 0..n {
        rev_offsets[i + 1] += rev_offsets[i];
    }
    let mut fill = rev_offsets.clone();
    let mut rev = vec![0u32; edges.len()];
    for task in 0..n {
        for &e in &edges[offsets[task] as usize..offsets[task + 1] as usize] {
            rev[fill[e as usize] as usize] = task as u32;
            fill[e as usize] += 1;
        }
    }
    (rev_offsets, rev)
}

/// Every task Kahn's algorithm could not place still waits on another unplaced task,
/// so following unplaced dependencies from any of them must revisit a task: the path
/// from its first visit is a cycle.
fn find_cycle(offsets: &[u32], deps: &[u32], missing: &[u32]) -> Vec<u32> {
    let unplaced = |t: u32| missing[t as usize] > 0;
    let Some(start) = (0..missing.len() as u32).find(|&t| unplaced(t)) else {
        return Vec::new();
    };
    let mut position = vec![u32::MAX; missing.len()];
    let mut path = Vec::new();
    let mut task = start;
    while position[task as usize] == u32::MAX {
        position[task as usize] = path.len() as u32;
        path.push(task);
        let range = offsets[task as usize] as usize..offsets[task as usize + 1] as usize;
        task = deps[range]
            .iter()
            .copied()
            .find(|&d| unplaced(d))
            .expect("an unplaced task waits on an unplaced dependency");
    }
    path.split_off(position[task as usize] as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(tasks: &[(&str, &[&str])]) -> Result<Graph<()>, GraphError> {
        let mut b = GraphBuilder::new();
        for (key, deps) in tasks {
            b.add(*key, deps.iter().copied(), ())?;
        }
        b.build()
    }

    #[test]
    fn orders_dependencies_first_whatever_the_insertion_order() {
        let g = build(&[("c", &["b"]), ("b", &["a"]), ("a", &[])]).unwrap();
        let id = |k: &str| g.id(&Key::from(k)).unwrap();
        assert!(id("a") < id("b") && id("b") < id("c"));
        assert_eq!(g.deps(id("c")), &[id("b")]);
    }

    #[test]
    fn reports_duplicate_key() {
        let mut b = GraphBuilder::new();
        b.add("x", [] as [&str; 0], ()).unwrap();
        let err = b.add("x", ["y"], ()).err().unwrap();
        assert_eq!(err, GraphError::DuplicateKey { key: "x".into() });
        assert_eq!(b.len(), 1);
    }

    #[test]
    fn reports_missing_dependency_with_both_keys() {
        let err = build(&[("a", &[]), ("b", &["a", "zzz"])]).unwrap_err();
        assert_eq!(
            err,
            GraphError::MissingDependency {
                key: "b".into(),
                dependency: "zzz".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "task `b` depends on `zzz`, which is not in the graph"
        );
    }

    #[test]
    fn reports_the_keys_on_a_cycle() {
        // x feeds a cycle a -> b -> c -> a; d hangs off it.
        let err = build(&[
            ("x", &[]),
            ("a", &["b", "x"]),
            ("b", &["c"]),
            ("c", &["a"]),
            ("d", &["a"]),
        ])
        .unwrap_err();
        let GraphError::Cycle { keys } = &err else {
            panic!("expected a cycle, got {err}")
        };
        let mut names: Vec<String> = keys.iter().map(Key::to_string).collect();
        names.sort();
        assert_eq!(names, ["a", "b", "c"]);
        assert!(err.to_string().starts_with("cycle in the graph: `"));
    }

    #[test]
    fn reports_a_self_loop() {
        let err = build(&[("a", &["a"])]).unwrap_err();
        assert_eq!(
            err,
            GraphError::Cycle {
                keys: vec!["a".into()]
            }
        );
    }

    #[test]
    fn builds_the_empty_graph() {
        let g = build(&[]).unwrap();
        assert!(g.is_empty());
    }

    #[test]
    fn long_chain_in_reverse_insertion_order_needs_no_recursion() {
        let n = 200_000;
        let mut b = GraphBuilder::new();
        for i in (0..n).rev() {
            let deps: Vec<Key> = if i == 0 {
                vec![]
            } else {
                vec![("t", i - 1).into()]
            };
            b.add(("t", i), deps, ()).unwrap();
        }
        let g = b.build().unwrap();
        assert_eq!(g.len(), n as usize);
        assert_eq!(g.key(TaskId::new(0)), &Key::from(("t", 0)));
        // A cycle closing the whole chain is found without recursion too.
        let mut b = GraphBuilder::new();
        for i in 0..n {
            b.add(("t", i), [("t", (i + 1) % n)], ()).unwrap();
        }
        let GraphError::Cycle { keys } = b.build().unwrap_err() else {
            panic!("expected a cycle")
        };
        assert_eq!(keys.len(), n as usize);
    }
}
