//! Linear fusion: merging chains of single-dependent tasks into one task each, to cut
//! the per-task cost of scheduling (Dask's `fuse_linear`).
//!
//! A task is merged into its dependent when that dependent is its only (needed)
//! dependent and has no other dependency: the two always run back to back, and the
//! result in between is never needed by anything else. Following such links gives
//! maximal chains `m1 -> m2 -> ... -> mk`; each becomes one *fused task* that runs its
//! members in order, handing each result to the next. Only `m1` may have several
//! dependencies, only `mk` several dependents.
//!
//! What fusion keeps, so a runtime can use the fused graph in place of the original:
//!
//! - **requested results**: a target is never merged into its dependent; it can only
//!   end a chain, so its result is still produced and kept;
//! - **names**: a fused task carries the key of its last member, the one other tasks
//!   depend on, so requested and referenced keys keep their names. Dask instead
//!   renames the fused task (`z-y-x-w`) and leaves an alias under the old key;
//!   [`Fused::dask_key`] gives that readable name for display;
//! - **what is computed**: every needed task is a member of exactly one fused task,
//!   after the members it depends on; tasks that no target needs are dropped, as
//!   [`cull()`](crate::cull::cull) drops them.
//!
//! One pass over the culled graph: `O(n + e)` time and memory, no recursion.

use std::fmt;

use crate::{Graph, GraphError, Key, TaskId, cull};

/// The payload of a fused task: where its members are in [`Fused::members`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FusedTask {
    start: u32,
    len: u32,
}

impl FusedTask {
    /// Number of original tasks merged into this one (1 for a task left alone).
    #[inline]
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Always `false`: a fused task has at least one member.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A graph with its linear chains fused, from [`fuse`].
///
/// Its [`graph`](Fused::graph) has one task per chain, keyed by the chain's last
/// member; dependencies are those of the chain's first member, in argument order.
/// To run fused task `f`, run [`members(f)`](Fused::members) in order: the first
/// with the results of `f`'s dependencies, each next one with the result of the one
/// before. The last member's result is `f`'s result.
///
/// ```
/// use taskloom_core::{fuse, Graph, Key};
///
/// // load -> clean -> stats, and stats -> report and stats -> plot.
/// let mut g = Graph::new();
/// let load = g.push("load", &[], ())?;
/// let clean = g.push("clean", &[load], ())?;
/// let stats = g.push("stats", &[clean], ())?;
/// let report = g.push("report", &[stats], ())?;
/// let plot = g.push("plot", &[stats], ())?;
/// let fused = fuse(&g, &[report, plot])?;
/// assert_eq!(fused.graph().len(), 3); // load-clean-stats, report, plot
/// let f = fused.fused_id(stats).unwrap();
/// assert_eq!(fused.members(f), &[load, clean, stats]);
/// assert_eq!(fused.graph().key(f), &Key::from("stats"));
/// assert_eq!(fused.dask_key(&g, f), Key::from("load-clean-stats"));
/// assert_eq!(fused.graph().deps(fused.targets()[0]), &[f]);
/// # Ok::<(), taskloom_core::GraphError>(())
/// ```
#[derive(Clone)]
pub struct Fused {
    graph: Graph<FusedTask>,
    /// Original ids, grouped by fused task, each group in run order.
    members: Vec<TaskId>,
    /// For each original task: its fused task, or `u32::MAX` if it is not needed.
    fused_of: Vec<u32>,
    targets: Vec<TaskId>,
}

impl Fused {
    /// The fused graph.
    #[inline]
    pub fn graph(&self) -> &Graph<FusedTask> {
        &self.graph
    }

    /// The targets, as ids of the fused graph (in the order they were given).
    #[inline]
    pub fn targets(&self) -> &[TaskId] {
        &self.targets
    }

    /// The original tasks merged into fused task `id`, in the order they run.
    ///
    /// # Panics
    /// If `id` is not a task of the fused graph.
    #[inline]
    pub fn members(&self, id: TaskId) -> &[TaskId] {
        let task = self.graph.payload(id);
        &self.members[task.start as usize..(task.start + task.len) as usize]
    }

    /// The fused task that original task `original` was merged into; `None` if the
    /// targets do not need it (or it is not a task of the original graph).
    #[inline]
    pub fn fused_id(&self, original: TaskId) -> Option<TaskId> {
        match self.fused_of.get(original.index()) {
            Some(&f) if f != u32::MAX => Some(TaskId::from_index(f as usize)),
            _ => None,
        }
    }

    /// The name Dask's `fuse_linear` would give fused task `id` (its
    /// `default_fused_linear_keys_renamer`), for display: the short names
    /// ([`key_split`]) of the members but the last, then the last member's name,
    /// joined by `-`, with the last member's indices if it is a tuple key. A task
    /// left alone keeps its key. `original` is the graph that was fused.
    ///
    /// # Panics
    /// If `id` is not a task of the fused graph, or `original` is not the graph
    /// that was fused.
    pub fn dask_key<T>(&self, original: &Graph<T>, id: TaskId) -> Key {
        let members = self.members(id);
        let (last, rest) = members.split_last().expect("a fused task has members");
        let last = original.key(*last);
        if rest.is_empty() {
            return last.clone();
        }
        let mut name = String::new();
        for m in rest {
            name.push_str(&key_split(original.key(*m)));
            name.push('-');
        }
        name.push_str(last.name());
        if last.is_tuple() {
            Key::tuple(name, last.indices())
        } else {
            Key::from(name)
        }
    }
}

impl fmt::Debug for Fused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fused")
            .field("tasks", &self.graph.len())
            .field("members", &self.members.len())
            .field("targets", &self.targets)
            .finish()
    }
}

/// The rule of linear fusion, in one place: a task is merged into `p` when `p` is its
/// only needed dependent (listed once), `p` has no other dependency, and the task was
/// not requested. Takes the task's needed dependents, whether it is a target, and a
/// way to count a task's dependencies. [`fuse`] applies it to build a fused graph;
/// [`State::linear_successor`](crate::State::linear_successor) applies it while
/// scheduling, so a runtime can run a chain as one unit of work.
pub fn merges_into(
    dependents: &[TaskId],
    is_target: bool,
    dep_count: impl Fn(TaskId) -> usize,
) -> Option<TaskId> {
    match dependents {
        &[p] if !is_target && dep_count(p) == 1 => Some(p),
        _ => None,
    }
}

/// Fuses the linear chains among the tasks that `targets` need (see the
/// [module docs](self)).
///
/// # Errors
/// [`GraphError::InvalidTarget`] if a target is not a task of `graph`.
pub fn fuse<T>(graph: &Graph<T>, targets: &[TaskId]) -> Result<Fused, GraphError> {
    let culled = cull(graph, targets)?;
    let n = graph.len();
    // `absorbs[p]`: `p`'s single dependency is merged into `p`. A dependency `c`
    // merges into `p` when `p` lists only `c`, `p` is `c`'s only needed dependent
    // (listed once), and `c` is not requested.
    let into = |c: TaskId| {
        merges_into(culled.dependents(c), culled.is_target(c), |p| {
            graph.deps(p).len()
        })
    };
    let absorbs = |p: TaskId| -> Option<TaskId> {
        match graph.deps(p) {
            &[c] if into(c) == Some(p) => Some(c),
            _ => None,
        }
    };
    let merged_up = |c: TaskId| -> bool { into(c).is_some() };

    let mut fused = Graph::with_capacity(culled.len(), graph.edge_count());
    let mut members = Vec::with_capacity(culled.len());
    let mut fused_of = vec![u32::MAX; n];
    // A chain is created at its last member, which comes after every member and
    // after the chain's dependencies, whose chains end before it: fused ids are a
    // topological order too.
    for last in culled.ids() {
        if merged_up(last) {
            continue;
        }
        let start = members.len();
        let mut member = last;
        members.push(member);
        while let Some(below) = absorbs(member) {
            member = below;
            members.push(member);
        }
        members[start..].reverse();
        let id = fused.len() as u32;
        for m in &members[start..] {
            fused_of[m.index()] = id;
        }
        let first = members[start];
        let deps: Vec<TaskId> = graph
            .deps(first)
            .iter()
            .map(|d| TaskId::from_index(fused_of[d.index()] as usize))
            .collect();
        let task = FusedTask {
            start: start as u32,
            len: (members.len() - start) as u32,
        };
        fused.push(graph.key(last).clone(), &deps, task)?;
    }
    let targets = targets
        .iter()
        .map(|t| TaskId::from_index(fused_of[t.index()] as usize))
        .collect();
    Ok(Fused {
        graph: fused,
        members,
        fused_of,
        targets,
    })
}

/// Dask's `key_split`: the human part of a key's name, dropping the trailing
/// words that are not alphabetic (indices, hashes) and 8-letter words that start
/// like hex tokens. `'x-1'` and `('x-2', 1)` give `x`, `hello-world-1` gives
/// `hello-world`, a 32-digit hex name gives `data`, and a name it cannot read gives
/// `Other`.
///
/// ```
/// use taskloom_core::fuse::key_split;
/// use taskloom_core::Key;
///
/// assert_eq!(key_split(&Key::from("hello-world-1")), "hello-world");
/// assert_eq!(key_split(&Key::tuple("x-2", [1])), "x");
/// assert_eq!(key_split(&Key::from("x-abcdefab")), "x");
/// assert_eq!(key_split(&Key::from("ae05086432ca935f6eba409a8ecd4896")), "data");
/// ```
pub fn key_split(key: &Key) -> String {
    let name = key.name();
    let mut words = name.split('-');
    let first = words.next().unwrap_or_default();
    let Some(initial) = first.chars().next() else {
        return "Other".to_string();
    };
    let mut result = if initial.is_alphabetic() {
        first.to_string()
    } else {
        let head = first.split(',').next().unwrap_or_default();
        head.trim_matches(|c| matches!(c, '_' | '\'' | '(' | ')' | '"'))
            .to_string()
    };
    for word in words {
        let alphabetic = !word.is_empty() && word.chars().all(char::is_alphabetic);
        let hex_like =
            word.chars().count() == 8 && word.starts_with(|c: char| ('a'..='f').contains(&c));
        if alphabetic && !hex_like {
            result.push('-');
            result.push_str(word);
        } else {
            break;
        }
    }
    if result.len() == 32
        && result
            .bytes()
            .all(|b| matches!(b, b'a'..=b'f' | b'0'..=b'9'))
    {
        return "data".to_string();
    }
    if let Some(inner) = result.strip_prefix('<') {
        let inner = inner.trim_matches(|c| c == '<' || c == '>');
        return match inner.split_whitespace().next() {
            Some(word) => word.rsplit('.').next().unwrap_or(word).to_string(),
            None => "Other".to_string(),
        };
    }
    if result.is_empty() {
        return "Other".to_string();
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_split_matches_dasks_doctests() {
        let split = |k: Key| key_split(&k);
        assert_eq!(split(Key::from("x")), "x");
        assert_eq!(split(Key::from("x-1")), "x");
        assert_eq!(split(Key::from("x-1-2-3")), "x");
        assert_eq!(split(Key::tuple("x-2", [1])), "x");
        assert_eq!(split(Key::from("('x-2', 1)")), "x");
        assert_eq!(split(Key::from("('x', 1)")), "x");
        assert_eq!(split(Key::from("hello-world-1")), "hello-world");
        assert_eq!(split(Key::from("ae05086432ca935f6eba409a8ecd4896")), "data");
        assert_eq!(
            split(Key::from("<module.submodule.myclass object at 0xdaf372")),
            "myclass"
        );
        assert_eq!(split(Key::from("x-abcdefab")), "x");
        assert_eq!(split(Key::from("_(x)")), "x");
        assert_eq!(split(Key::from("")), "Other");
        assert_eq!(split(Key::from("-x")), "Other");
    }
}
