//! Static priorities: the order in which one worker should run a computation so that
//! it holds few results at once (the job of `dask.order`), and the ruler to check it
//! with ([`diagnostics`], Dask's `dask.order.diagnostics`).
//!
//! Terms, as in Dask: a *root* has no dependencies; a *sink* has no needed dependents
//! (it is a requested result); a result is *held* from the run of its task until the
//! run of its last dependent. "Placing" a task gives it the next rank.
//!
//! # How tasks are placed
//!
//! The order is built goal by goal. From a goal, a depth-first walk places the goal's
//! not-yet-placed dependencies in post-order, and the goal last (Dask's "critical
//! path"). Around that walk, three rules decide what runs when:
//!
//! 1. **Heavy branch first.** A task's dependencies are walked largest first by Dask's
//!    sort key: total dependencies (`1 +` those of each dependency: the work below),
//!    then number of dependencies, then fewest dependents of its roots. The
//!    big branch runs first and the small one last, so the small branch's result is
//!    held for little time (the Sethi–Ullman idea behind Dask's critical path).
//!    Branches of equal size go by key, lowest first, where Dask takes the highest:
//!    the chunks of a collection are numbered along the array, and rule 3 takes
//!    started tasks lowest key first too, so the walk sweeps a grid of chunks in
//!    one direction instead of starting each part from its far end and leaving
//!    the seam between two parts held (`map_overlap`, FFTs, scans: up to a third
//!    fewer results held).
//!
//!    **1b. Owed branches first.** A task *owes* when it is the last consumer of a
//!    held result (or of a root's, once all but two have read it, one of those
//!    two) but still misses a dependency, and the walk is not inside it: the product of a loaded row block
//!    of `x` with a column block of `y` not loaded yet, the halo of a stencil's
//!    cell whose neighbour was made. So does each task above it through single
//!    dependents (the reduction it feeds), up to a task the walk has open. That
//!    task's owing dependency is walked next, before heavier ones, and a task the
//!    walk opens takes its owing dependencies first. Rule 1 alone goes on into the
//!    heaviest branch and the held results wait through all of it: on `(x @ y).sum()`
//!    with `x` 10 × 10 blocks and `y` 10 × 3 the sum tree pairs the output's first
//!    two columns, so the rows of `x` loaded for them stayed held for the third until
//!    the tree came back to it (69 results held; 48 with the rule: `y`, and `x` a
//!    row at a time). With `x` 4 × 16 and `y` 16 × 8 blocks, a block of `y` is read
//!    by four output rows that the sum tree takes two by two: once two are left,
//!    the other pair of rows goes next and `y`'s first columns are released
//!    (122 → 91), where waiting for the last consumer alone kept them. Only roots'
//!    last two consumers are looked for: there is where operands are shared, and
//!    looking through every result's consumers costs a tenth more on lattices. On
//!    trees and chains nothing owes (the consumer of a finished branch is on the
//!    walk's stack, or ready), so they pay next to nothing for it.
//! 2. **Free moves.** Each time a task is placed, every task that thereby became ready
//!    and either (a) is now the last consumer of some held result, or (b) is a sink,
//!    is placed at once (and so on, as those placements make more tasks eligible). Such
//!    a move never raises the number of results held at any later step: the task's
//!    run was coming anyway, it releases at least one result the moment it runs (or,
//!    as a sink, is not counted as held), and every result it releases is released no
//!    later than before. Chains are followed link by link this way, a reduction runs
//!    as soon as its inputs are there, and results are handed on instead of waiting
//!    while unrelated work runs in between. This is where taskloom holds fewer results
//!    than Dask (see the guide's ordering chapter). Counting sinks as outputs, not held
//!    results, is Dask's model and [`diagnostics`]'; a [`State`](crate::State) keeps
//!    a requested result to the end wherever it runs, so an early sink makes its
//!    result sooner but lets its inputs go sooner too.
//!
//!    **2b. Ready chains into a reducer.** A task that became ready (its inputs are
//!    all placed) but is no free move, because the results it reads have other
//!    consumers still to come, may head a *chain*: each task the only dependent of
//!    the one before and depending on nothing else, ending in a *reducer* (a task of
//!    several dependencies). Once every dependency a reducer still misses ends such a
//!    ready chain, the chains and the reducer are placed (largest first, by rule 1's
//!    order). Loading no new input, this turns many held partial results into one,
//!    and consumes inputs shared with other reductions while they are held anyway
//!    (a chunk read by three reductions, a row of one matrix multiplied by every
//!    column of another, a shuffle's split feeding every output): Dask's
//!    `process_runnables` does the same. It can also make a result too early, held
//!    while the walk works elsewhere, so when this rule placed anything the order is
//!    built again without it, and that one is kept only if it holds fewer results
//!    at most, by more than a 64th of the first's most (on a small graph, any
//!    fewer). The walk counts those results as it places tasks, exactly as
//!    [`diagnostics`] does, and the second one stops as soon as it holds that many:
//!    where the two orders hold about as much, as on the crosstalk lattices, the
//!    second stops early instead of walking to the end to save a result or two (a
//!    fifth of a small computation's time there; no benchmark or corpus graph holds
//!    more for it). When several reducers become complete at once, the one with the
//!    fewest chains left goes first: it releases its inputs soonest.
//! 3. **Finish what was started.** The next goal is the cheapest *started* task: not
//!    placed, with at least one dependency placed; fewest dependencies still missing,
//!    then smallest by Dask's sort key. From it, the walk climbs to a sink through the
//!    cheapest dependents and takes that sink as the goal, so partial results are
//!    consumed before new roots are loaded (Dask's "finish reductions before starting
//!    new roots", for which Dask counts the unfinished roots of every sink). Only when
//!    nothing is started does a fresh sink become the goal: independent parts of the
//!    graph (which share no results, so their order costs no memory) with the longest
//!    critical path first, and within one part the smallest sink first, as Dask does
//!    for graphs whose roots feed different numbers of sinks: small goals finish soon
//!    and release what they share with the rest. Where there are far fewer sinks
//!    than roots (`|roots - sinks| >= 0.8 roots`: reductions), the largest sink of a
//!    part comes first instead, as in Dask (`use_longest_path`): a small reduction
//!    taken first leaves every input of the big one held while the big one runs.
//!
//! 4. **Breadth-first where it holds fewer.** The order above is depth-first, right
//!    for reductions, chains and trees; on a stencil (each cell's step reads its
//!    neighbours' previous step) it holds the edges of a cone of the past, where
//!    sweeping the grid level by level holds about one row. So the finished order
//!    is also sorted by level (ties in its own order), and that one is kept where it
//!    holds fewer results: `delayed_stencil` 75 → 42, the crosstalk lattices 6–17 %
//!    fewer. A level with as many results to hold as the depth-first order's maximum
//!    rules the candidate out at once, so chains, trees and sums pay next to
//!    nothing (see `breadth`).
//!
//! Where this differs from an exact expectation in Dask's tests, taskloom holds no
//! more results than Dask: see `tests/dask_order.rs`.
//!
//! # Determinism
//!
//! Every choice is made by the graph's structure, then by key, never by insertion
//! order, so the same graph gets the same order however it was built. The last tie
//! breaker is [`Key`]'s order (name, then indices as integers), where Dask compares
//! `str(key)` (so `('x', 10)` comes before `('x', 9)` there, after it here).
//!
//! # Cost
//!
//! `O((n + e) log n)` time and `O(n + e)` memory for `n` needed tasks and `e`
//! dependency edges; every loop is iterative, so a million-task chain needs no stack.
//! Rule 1b flags each task once and queues at most one entry per edge. Rule 2b
//! follows each task's chain once and, when it placed anything, up to doubles
//! the cost (the second build of the order, which stops once it is not better by
//! more than a 64th); on chains, trees and wide sums neither applies.
//! Dask's roots-per-sink counts, which can cost `O(n × roots)`, are not computed:
//! rule 3 stands in for them.

use std::cell::Cell;
use std::cmp::Ordering;

use crate::{Culled, Graph, Key, TaskId};

mod breadth;
mod diagnostics;

pub use diagnostics::{Diagnostics, OrderInfo, diagnostics};

/// The planned run order of a computation's needed tasks.
///
/// `rank(id)` is the position of task `id` in [`sequence`](Priorities::sequence): lower
/// runs first. Every task comes after all its dependencies.
#[derive(Clone, Debug)]
pub struct Priorities {
    rank: Vec<u32>,
    sequence: Vec<TaskId>,
    /// The most results one worker running `sequence` holds: [`diagnostics`]'
    /// `max_pressure`, counted as the order was built.
    max_pressure: u32,
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

    /// The most results one worker running this order holds at once, sinks not
    /// counted: [`diagnostics`]' `max_pressure`, known without running it (the
    /// order counts them as it places tasks).
    #[inline]
    pub fn max_pressure(&self) -> u32 {
        self.max_pressure
    }

    pub(crate) fn into_parts(self) -> (Vec<u32>, Vec<TaskId>, u32) {
        (self.rank, self.sequence, self.max_pressure)
    }
}

/// Computes the static priorities of the needed tasks of `graph` (see the
/// [module docs](self) for how).
///
/// ```
/// use taskloom_core::{cull, order, Graph};
/// use taskloom_core::order::diagnostics;
///
/// // Two chains into one sum: one chain is finished before the other starts.
/// let mut g = Graph::new();
/// let a1 = g.push("a1", &[], ())?;
/// let a2 = g.push("a2", &[a1], ())?;
/// let b1 = g.push("b1", &[], ())?;
/// let b2 = g.push("b2", &[b1], ())?;
/// let total = g.push("total", &[a2, b2], ())?;
/// let culled = cull(&g, &[total])?;
/// let p = order(&g, &culled);
/// assert_eq!(p.sequence(), &[a1, a2, b1, b2, total]);
/// // One worker running that order never holds more than two results.
/// assert_eq!(diagnostics(&g, &culled, &p).max_pressure, 2);
/// # Ok::<(), taskloom_core::GraphError>(())
/// ```
///
/// # Panics
/// If `culled` was computed for a graph of another size.
pub fn order<T>(graph: &Graph<T>, culled: &Culled) -> Priorities {
    assert_eq!(culled.graph_len(), graph.len(), "culled from another graph");
    let mut walk = Walk::new(graph, culled, true);
    walk.run();
    let (mut sequence, mut max_held) = (std::mem::take(&mut walk.sequence), walk.max_held);
    if let Some(mut plain) = walk.plain.take() {
        // Rule 2b changed the order: keep the order without it only where that one
        // holds fewer results, by more than a 64th (a result or two on a large
        // graph is not worth walking on to the end). Both are the same up to the
        // rule's first placement, where `plain` was copied; it goes on from there
        // without the rule, and stops as soon as it holds that many results.
        plain.give_up_at = max_held - max_held / 64;
        plain.resume();
        if !plain.gave_up {
            (sequence, max_held) = (plain.sequence, plain.max_held);
        }
    }
    if let Some(by_level) = breadth::by_level(graph, culled, &sequence, max_held) {
        (sequence, max_held) = by_level;
    }
    if cfg!(debug_assertions) {
        let check = diagnostics::max_pressure(graph, culled, &sequence);
        assert_eq!(
            max_held, check,
            "the walk counts pressure as `diagnostics` does"
        );
    }
    let mut rank = vec![Priorities::UNRANKED; graph.len()];
    for (r, id) in sequence.iter().enumerate() {
        rank[id.index()] = r as u32;
    }
    debug_assert_eq!(sequence.len(), culled.len());
    Priorities {
        rank,
        sequence,
        max_pressure: max_held,
    }
}

/// What the ordering knows and tracks about one task, kept together (48 bytes)
/// because the walk visits tasks in graph order, not array order.
///
/// A task that lists a dependency twice counts it twice here (in `weight` and in the
/// consumer counts). That only makes rule 2 miss a free move now and then; a free move
/// it does make is always a real one. (Dask works on sets of dependencies.)
#[derive(Clone, Default)]
struct Node {
    /// How big a goal the task is, as two integers compared in turn: Dask's
    /// `sort_key` without the count of connected roots and without the key, which
    /// comes next (see [`Node::size`] and [`Shape::cmp_size`]).
    size: (u64, u64),
    /// The first 8 bytes of the key's name, big-endian, once a comparison reached
    /// them (`u64::MAX`, which no UTF-8 text starts with, until then). Lazy: reading
    /// every key costs a cache miss per task on big graphs, and many graphs never
    /// compare keys.
    key_prefix: Cell<u64>,
    /// Dependencies not yet placed.
    missing: u32,
    /// Needed dependents not yet placed.
    unplaced_dependents: u32,
    /// XOR of the ids of the dependents not yet placed: once one is left, its id.
    unplaced_xor: u32,
    /// For an unplaced task: how many of its dependencies it is the last unplaced
    /// consumer of, i.e. how many results its run would release.
    releases: u32,
    /// The last goal round in which the task was queued as touched (rule 3).
    touched_in: u32,
    placed: bool,
    sink: bool,
    /// The task ends a ready chain counted in its dependent's entry of
    /// `Walk::ready_chains`.
    counted_chain: bool,
    /// [`Node::OWED`] and [`Node::OPEN`].
    flags: u8,
}

impl Node {
    /// Flag of a task that owes (rule 1b): it is the last consumer of a held
    /// result (or one of a root's last two) but misses a dependency, or it is the
    /// ancestor of such a task below an open frame.
    const OWED: u8 = 1;
    /// Flag of a task the walk opened a frame for (it stays set once the task is
    /// placed; the walk only reads it on unplaced tasks).
    const OPEN: u8 = 2;

    #[inline]
    fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// Whether a consumer a held result waits for starts to owe (rule 1b): it
    /// misses a dependency, is not on the walk's stack and did not owe already.
    #[inline]
    fn owes_now(&self) -> bool {
        self.missing > 0 && !self.has(Node::OWED | Node::OPEN)
    }

    /// Packs Dask's sort key but the key: total dependencies (`weight`), number of
    /// dependencies, minus the most dependents of a root below (`max_dependents`).
    ///
    /// `weight` is Dask's `total_dependencies`: `1 +` the weights of the dependencies
    /// (it counts paths, not distinct tasks). It is a float because on lattice-like
    /// graphs it grows exponentially with depth, and a saturated integer would turn
    /// every comparison into a tie; positive floats order like their bits.
    fn size(weight: f64, deps: u32, max_dependents: u32) -> (u64, u64) {
        (
            weight.to_bits(),
            u64::from(deps) << 32 | u64::from(u32::MAX - max_dependents),
        )
    }

    /// The key's first 8 name bytes (see `key_prefix`), computed on first use.
    #[inline]
    fn key_prefix(&self, key: &Key) -> u64 {
        let cached = self.key_prefix.get();
        if cached != u64::MAX {
            return cached;
        }
        let name = key.name().as_bytes();
        let mut bytes = [0u8; 8];
        match name.get(..8) {
            Some(first) => bytes.copy_from_slice(first),
            None => bytes[..name.len()].copy_from_slice(name),
        }
        let prefix = u64::from_be_bytes(bytes);
        self.key_prefix.set(prefix);
        prefix
    }

    fn weight(&self) -> f64 {
        f64::from_bits(self.size.0)
    }

    fn max_dependents(&self) -> u32 {
        u32::MAX - self.size.1 as u32
    }
}

/// A task as [`Shape::sort_by_size`] compares it: [`Shape::cmp_size`]'s order read
/// ahead, up to the key's indices.
#[derive(Clone, Copy)]
struct SortEntry<'g> {
    /// In rule 1's order only: the task owes (rule 1b).
    owes: bool,
    size: (u64, u64),
    /// [`Node::key_prefix`].
    prefix: u64,
    /// The address of the key's name: the chunks of one collection share one (the
    /// graph and the file loader see to it), so equal addresses mean equal names.
    name: usize,
    /// The key's indices (none for a string key): what decides between two keys of
    /// one name, without going back to the keys.
    indices: &'g [i64],
    task: TaskId,
}

/// The graph as the ordering reads it: borrowed CSR arrays, indexed by task id.
#[derive(Clone, Copy)]
struct Shape<'g> {
    keys: &'g [Key],
    dep_offsets: &'g [u32],
    deps: &'g [TaskId],
    dependent_offsets: &'g [u32],
    dependents: &'g [TaskId],
}

impl<'g> Shape<'g> {
    #[inline]
    fn deps(self, t: TaskId) -> &'g [TaskId] {
        let i = t.index();
        &self.deps[self.dep_offsets[i] as usize..self.dep_offsets[i + 1] as usize]
    }

    #[inline]
    fn dependents(self, t: TaskId) -> &'g [TaskId] {
        let i = t.index();
        &self.dependents[self.dependent_offsets[i] as usize..self.dependent_offsets[i + 1] as usize]
    }

    /// How big a goal is: [`Node::size`], then [`Key`]'s order, through the first 8
    /// bytes of the names (names order by bytes, so a difference there decides) and
    /// only then the keys themselves. On regular graphs (a lattice, a wide fan-in)
    /// nearly every comparison of the walk comes down to the key.
    #[inline]
    fn cmp_size(self, nodes: &[Node], a: TaskId, b: TaskId) -> Ordering {
        let (na, nb) = (&nodes[a.index()], &nodes[b.index()]);
        let (ka, kb) = (&self.keys[a.index()], &self.keys[b.index()]);
        na.size
            .cmp(&nb.size)
            .then_with(|| na.key_prefix(ka).cmp(&nb.key_prefix(kb)))
            .then_with(|| self.cmp_keys(a, b))
    }

    /// [`Key`]'s order. Keys of one collection usually share their name's storage
    /// (Dask's `('sum-partial-ebd2…', i)`: the file loader interns names, builders
    /// clone one `Arc`): then the names are equal without reading them, and the
    /// indices decide, as in `Key::cmp` (a string key has none and comes first).
    #[inline]
    fn cmp_keys(self, a: TaskId, b: TaskId) -> Ordering {
        let (ka, kb) = (&self.keys[a.index()], &self.keys[b.index()]);
        if std::ptr::eq(ka.name(), kb.name()) {
            ka.indices().cmp(kb.indices())
        } else {
            ka.cmp(kb)
        }
    }

    /// Sorts `tasks` by [`Shape::cmp_size`], or if `walk_order` in rule 1's order:
    /// those that owe first, then largest first, equal sizes by key, lowest first. Each
    /// task's packed size, name prefix, name address and indices are read once
    /// into `scratch` ([`SortEntry`]), so the comparisons of the sort touch no task
    /// state, and no key unless two names differ past their first 8 bytes; on
    /// regular graphs (where most sizes tie) nearly every comparison used to read
    /// both keys.
    fn sort_by_size(
        self,
        nodes: &[Node],
        tasks: &mut [TaskId],
        walk_order: bool,
        scratch: &mut Vec<SortEntry<'g>>,
    ) {
        if tasks.len() < 2 {
            return;
        }
        let entry = |t: TaskId| {
            let node = &nodes[t.index()];
            let key = &self.keys[t.index()];
            SortEntry {
                owes: walk_order && node.has(Node::OWED),
                size: node.size,
                prefix: node.key_prefix(key),
                name: key.name().as_ptr() as usize,
                indices: key.indices(),
                task: t,
            }
        };
        let cmp = |a: &SortEntry, b: &SortEntry| {
            let size = if walk_order {
                b.owes.cmp(&a.owes).then(b.size.cmp(&a.size))
            } else {
                a.size.cmp(&b.size)
            };
            let o = a.prefix.cmp(&b.prefix).then_with(|| {
                // Equal addresses are equal names: `Key`'s order is then the
                // indices', and a key without indices comes first.
                if a.name == b.name {
                    a.indices.cmp(b.indices)
                } else {
                    self.cmp_keys(a.task, b.task)
                }
            });
            size.then(o)
        };
        // Two tasks, the most common case past one (a binary operation's inputs, a
        // pair of free moves): one comparison, no scratch.
        if let [a, b] = tasks {
            if cmp(&entry(*a), &entry(*b)) == Ordering::Greater {
                std::mem::swap(a, b);
            }
            return;
        }
        scratch.clear();
        scratch.extend(tasks.iter().map(|&t| entry(t)));
        // Keys are unique, so no two entries compare equal. Tasks often come in key
        // order (the chunks of a collection, added in a loop), sorted already, or in
        // the reverse order, turned round in one pass, where the standard sort's
        // insertion sort (below 20 elements) moves every element past all the others.
        match scratch.windows(2).try_fold(None, |run, w| {
            let o = cmp(&w[0], &w[1]);
            (run.is_none() || run == Some(o)).then_some(Some(o))
        }) {
            Some(Some(Ordering::Greater)) => scratch.reverse(),
            Some(_) => {}
            None => scratch.sort_unstable_by(cmp),
        }
        for (slot, entry) in tasks.iter_mut().zip(scratch.iter()) {
            *slot = entry.task;
        }
    }

    /// The sinks in the order fresh goals are taken (rule 3 of the module docs):
    /// weakly connected parts by the weight of their heaviest sink, heaviest first
    /// (their longest critical path); parts that tie, and the sinks within a part,
    /// smallest first, or within a part largest first if `largest_first`.
    fn sinks_in_goal_order(
        self,
        nodes: &[Node],
        parts: &mut [u32],
        culled: &Culled,
        largest_first: bool,
    ) -> Vec<TaskId> {
        let mut sinks: Vec<TaskId> = culled.ids().filter(|t| nodes[t.index()].sink).collect();
        if sinks.len() < 2 {
            return sinks;
        }
        // Group the sinks by part, smallest (or largest) first within a part.
        let mut by_part: Vec<(u32, TaskId)> = sinks
            .iter()
            .map(|&t| (find(parts, t.index() as u32), t))
            .collect();
        by_part.sort_unstable_by(|&(pa, a), &(pb, b)| {
            let size = if largest_first {
                self.cmp_size(nodes, b, a)
            } else {
                self.cmp_size(nodes, a, b)
            };
            pa.cmp(&pb).then_with(|| size)
        });
        // One entry per part: (weight of its heaviest sink, its smallest sink, range).
        let mut groups: Vec<(f64, TaskId, std::ops::Range<usize>)> = Vec::new();
        let mut start = 0;
        for (i, &(part, t)) in by_part.iter().enumerate() {
            let weight = nodes[t.index()].weight();
            match groups.last_mut() {
                Some(group) if by_part[start].0 == part => {
                    group.0 = group.0.max(weight);
                    group.2.end = i + 1;
                }
                _ => {
                    start = i;
                    groups.push((weight, t, i..i + 1));
                }
            }
        }
        groups.sort_unstable_by(|(wa, sa, _), (wb, sb, _)| {
            wb.total_cmp(wa)
                .then_with(|| self.cmp_size(nodes, *sa, *sb))
        });
        sinks.clear();
        for (_, _, range) in groups {
            sinks.extend(by_part[range].iter().map(|&(_, t)| t));
        }
        sinks
    }
}

/// Union-find root of `x` in `parent`, with path halving.
fn find(parent: &mut [u32], mut x: u32) -> u32 {
    while parent[x as usize] != x {
        let up = parent[parent[x as usize] as usize];
        parent[x as usize] = up;
        x = up;
    }
    x
}

/// A task on the depth-first walk's stack: its unplaced dependencies, largest first,
/// are `children[start..]`, of which those before `next` have been walked.
#[derive(Clone, Copy)]
struct Frame {
    task: TaskId,
    start: u32,
    next: u32,
    /// Entries of `Walk::owed_below` before this one were looked at for this frame.
    seen: u32,
}

/// A started task waiting to become a goal, with its missing dependencies when it
/// was queued.
#[derive(Clone, Copy)]
struct Started {
    missing: u32,
    task: TaskId,
}

/// The state of the placement: what is placed, what each task still waits for, and
/// the queues of the three rules.
#[derive(Clone)]
struct Walk<'g> {
    shape: Shape<'g>,
    /// Indexed by task id; tasks that are not needed stay at their default.
    nodes: Vec<Node>,
    /// Sinks in the order fresh goals are taken ...
    sinks: Vec<TaskId>,
    /// ... of which those before this one have been taken.
    next_sink: usize,
    sequence: Vec<TaskId>,
    /// Tasks to place by rule 2, placed from the end.
    free: Vec<TaskId>,
    /// Ready chains to place by rule 2b, placed from the end once `free` is empty.
    chains: Vec<TaskId>,
    /// Reducers whose chains rule 2b is about to place (see `place_one`).
    fire: Vec<TaskId>,
    /// Rule 2b, per reducer: how many of its unplaced dependencies end a ready chain
    /// (see [`Walk::note_ready`]). Empty until the first chain is counted, as it
    /// stays on chains, trees and wide sums.
    ready_chains: Vec<u32>,
    /// Whether rule 2b applies.
    reducers: bool,
    /// Whether rule 2b placed anything.
    fired: bool,
    /// A copy of the walk made just before rule 2b first placed anything, with the
    /// rule off: the same walk as one without the rule up to there.
    plain: Option<Box<Walk<'g>>>,
    /// Results held after the last placement, and the most held before any
    /// placement: [`diagnostics`]' pressure, kept as the order is built.
    held: u32,
    max_held: u32,
    /// The walk stops (`gave_up`) once `max_held` reaches this.
    give_up_at: u32,
    gave_up: bool,
    /// Rule 3: a min-heap of started tasks (stale entries are skipped when popped) ...
    started: Vec<Started>,
    /// ... fed lazily: tasks whose inputs changed since the last goal was chosen,
    /// once each (`touched_in == round`). Queuing every change directly would cost a
    /// heap push per edge, for a heap that is only read between goals.
    touched: Vec<TaskId>,
    round: u32,
    stack: Vec<Frame>,
    children: Vec<TaskId>,
    /// Rule 1b: (open task, its dependency that owes below), for the frame of the
    /// open task to take that dependency next.
    owed_below: Vec<(TaskId, TaskId)>,
    /// Reused by [`Shape::sort_by_size`].
    scratch: Vec<SortEntry<'g>>,
}

impl<'g> Walk<'g> {
    fn new<T>(graph: &'g Graph<T>, culled: &'g Culled, reducers: bool) -> Self {
        let (dep_offsets, deps) = graph.dep_csr();
        let (dependent_offsets, dependents) = culled.dependent_csr();
        let shape = Shape {
            keys: graph.keys(),
            dep_offsets,
            deps,
            dependent_offsets,
            dependents,
        };
        let n = graph.len();
        let sink_count = culled
            .ids()
            .filter(|t| dependent_offsets[t.index()] == dependent_offsets[t.index() + 1])
            .count();
        // Weakly connected parts, for the order of fresh goals; only needed when
        // there is a choice of sinks.
        let mut parts: Vec<u32> = match sink_count {
            0 | 1 => Vec::new(),
            _ => (0..n as u32).collect(),
        };
        let mut nodes: Vec<Node> = Vec::with_capacity(n);
        let mut roots = 0usize;
        // Ids are a topological order: a task's dependencies are filled in before it.
        for i in 0..n {
            let t = TaskId::from_index(i);
            if !culled.contains(t) {
                nodes.push(Node::default());
                continue;
            }
            let ds = shape.deps(t);
            let dependents = dependent_offsets[i + 1] - dependent_offsets[i];
            let (mut weight, mut max_dependents, mut releases) = (1.0, 0, 0);
            // `t`'s part so far, a union-find root.
            let mut root = i as u32;
            for d in ds {
                let dn = &mut nodes[d.index()];
                weight += dn.weight();
                max_dependents = max_dependents.max(dn.max_dependents());
                // A dependency with a single dependent is released by that dependent.
                releases += u32::from(dn.unplaced_dependents == 1);
                dn.unplaced_xor ^= i as u32;
                // Join `t`'s part with `d`'s, unless `d` points at it already (the
                // common case once a part has been walked into).
                if !parts.is_empty() && parts[d.index()] != root {
                    let other = find(&mut parts, d.index() as u32);
                    if other != root {
                        let (low, high) = (root.min(other), root.max(other));
                        parts[high as usize] = low;
                        root = low;
                    }
                }
            }
            if ds.is_empty() {
                max_dependents = dependents;
                roots += 1;
            }
            // (`unplaced_xor` is filled in by the dependents, which come later.)
            nodes.push(Node {
                size: Node::size(weight, ds.len() as u32, max_dependents),
                key_prefix: Cell::new(u64::MAX),
                missing: ds.len() as u32,
                unplaced_dependents: dependents,
                unplaced_xor: 0,
                releases,
                touched_in: u32::MAX,
                placed: false,
                sink: dependents == 0,
                counted_chain: false,
                flags: 0,
            });
        }
        // Dask's `use_longest_path`: with far fewer sinks than roots (reductions),
        // the biggest sink of a part is the first goal, else the smallest.
        let largest_first = roots.abs_diff(sink_count) as f64 >= 0.8 * roots as f64;
        let sinks = shape.sinks_in_goal_order(&nodes, &mut parts, culled, largest_first);
        Walk {
            shape,
            nodes,
            sinks,
            next_sink: 0,
            sequence: Vec::with_capacity(culled.len()),
            free: Vec::new(),
            chains: Vec::new(),
            fire: Vec::new(),
            ready_chains: Vec::new(),
            reducers,
            fired: false,
            plain: None,
            held: 0,
            max_held: 0,
            give_up_at: u32::MAX,
            gave_up: false,
            started: Vec::new(),
            touched: Vec::new(),
            round: 0,
            stack: Vec::new(),
            children: Vec::new(),
            owed_below: Vec::new(),
            scratch: Vec::new(),
        }
    }

    fn run(&mut self) {
        self.resume();
    }

    /// Goes on from wherever the walk stands: a copy made in the middle of a
    /// placement (see `plain`) first finishes that placement's free moves and the walk
    /// of its goal, then takes goals as [`run`](Self::run) does.
    fn resume(&mut self) {
        self.place_free();
        self.walk_on();
        while !self.gave_up {
            let goal = match self.next_started() {
                Some(started) => self.climb(started),
                None => match self.next_fresh_sink() {
                    Some(sink) => sink,
                    None => break,
                },
            };
            self.walk(goal);
        }
    }

    /// The next sink in goal order that is not placed yet.
    fn next_fresh_sink(&mut self) -> Option<TaskId> {
        while let Some(&sink) = self.sinks.get(self.next_sink) {
            self.next_sink += 1;
            if !self.nodes[sink.index()].placed {
                return Some(sink);
            }
        }
        None
    }

    /// Rule 3: from a started task up to a sink, through the cheapest dependents.
    ///
    /// Every task on the way is a dependency of the sink, so the walk from the sink
    /// places all of them: the climbs of a whole run cost `O(e)`.
    fn climb(&self, mut t: TaskId) -> TaskId {
        let (shape, nodes) = (self.shape, &self.nodes);
        while let Some(&up) = shape.dependents(t).iter().min_by(|&&a, &&b| {
            nodes[a.index()]
                .missing
                .cmp(&nodes[b.index()].missing)
                .then_with(|| shape.cmp_size(nodes, a, b))
        }) {
            t = up;
        }
        t
    }

    /// Rule 1: the depth-first post-order walk from `goal`.
    fn walk(&mut self, goal: TaskId) {
        self.descend(goal);
        self.walk_on();
    }

    /// The walk of the current goal, from where its stack stands.
    fn walk_on(&mut self) {
        while let Some(frame) = self.stack.last_mut() {
            if self.gave_up {
                self.stack.clear();
                return;
            }
            // Rule 1b: a dependency that now owes below goes first.
            let mut next = None;
            while (frame.seen as usize) < self.owed_below.len() {
                let (open, child) = self.owed_below[frame.seen as usize];
                frame.seen += 1;
                if open == frame.task && !self.nodes[child.index()].placed {
                    next = Some(child);
                    break;
                }
            }
            let end = self.children.len() as u32;
            while next.is_none() && frame.next < end {
                let child = self.children[frame.next as usize];
                frame.next += 1;
                // A child may have been placed since (by a free move or another branch).
                if !self.nodes[child.index()].placed {
                    next = Some(child);
                    break;
                }
            }
            match next {
                Some(child) => self.descend(child),
                None => {
                    let Frame { task, start, .. } = *frame;
                    self.stack.pop();
                    self.children.truncate(start as usize);
                    // A task on the stack can only have been placed by a free move.
                    if !self.nodes[task.index()].placed {
                        self.place(task);
                    }
                }
            }
        }
        self.owed_below.clear();
    }

    /// Walks into `t`: places it if it is ready, else opens a frame for it. A task
    /// whose only unplaced dependency it is the last consumer of needs no frame: the
    /// free move that follows that dependency places it (rule 2), so the walk goes
    /// straight on to the dependency. That is how a chain is walked without a stack.
    fn descend(&mut self, mut t: TaskId) {
        loop {
            let node = &self.nodes[t.index()];
            if node.missing == 0 {
                self.place(t);
                return;
            }
            if node.missing == 1 {
                let nodes = &self.nodes;
                let only = self.shape.deps(t).iter().find(|d| !nodes[d.index()].placed);
                if let Some(&only) = only {
                    if nodes[only.index()].unplaced_dependents == 1 {
                        t = only;
                        continue;
                    }
                }
            }
            self.open(t);
            return;
        }
    }

    /// Pushes a frame for `t` with its unplaced dependencies, largest first. A task
    /// on the stack cannot be reached again before it is placed: that would take a
    /// cycle.
    fn open(&mut self, t: TaskId) {
        let (shape, nodes) = (self.shape, &self.nodes);
        let start = self.children.len();
        self.children
            .extend(shape.deps(t).iter().filter(|d| !nodes[d.index()].placed));
        shape.sort_by_size(nodes, &mut self.children[start..], true, &mut self.scratch);
        self.nodes[t.index()].flags |= Node::OPEN;
        self.stack.push(Frame {
            task: t,
            start: start as u32,
            next: start as u32,
            seen: self.owed_below.len() as u32,
        });
    }

    /// Places `t`, then every free move that follows (rule 2).
    fn place(&mut self, t: TaskId) {
        self.place_one(t);
        self.place_free();
    }

    /// Places the queued free moves (rule 2), then the queued chains (rule 2b).
    fn place_free(&mut self) {
        while let Some(next) = self.free.pop().or_else(|| self.chains.pop()) {
            if self.gave_up {
                return;
            }
            if !self.nodes[next.index()].placed {
                self.place_one(next);
            }
        }
    }

    fn place_one(&mut self, t: TaskId) {
        let shape = self.shape;
        let node = &mut self.nodes[t.index()];
        debug_assert_eq!(node.missing, 0, "placed before a dependency");
        node.placed = true;
        let counted_chain = node.counted_chain;
        // Pressure as `diagnostics` counts it: before the run, then the task's own
        // result unless it is a sink, less the results it releases (below).
        self.max_held = self.max_held.max(self.held);
        self.gave_up |= self.max_held >= self.give_up_at;
        self.held += u32::from(!node.sink);
        self.sequence.push(t);
        if counted_chain {
            // The end of a counted ready chain is placed: its reducer waits for one
            // chain fewer (and for one dependency fewer, below).
            let r = shape.dependents(t)[0];
            self.ready_chains[r.index()] -= 1;
        }
        let first_free = self.free.len();
        for &d in shape.deps(t) {
            let dn = &mut self.nodes[d.index()];
            dn.unplaced_dependents -= 1;
            dn.unplaced_xor ^= t.index() as u32;
            self.held -= u32::from(dn.unplaced_dependents == 0);
            if dn.unplaced_dependents == 1 {
                // `d`'s result now waits for one consumer only, whose run releases it.
                // (Dependencies with one dependent from the start were counted in
                // `Walk::new`.) When `t` lists `d` twice, the listing left is `t`'s
                // own second one, already placed.
                let last = TaskId::from_index(dn.unplaced_xor as usize);
                if !self.nodes[last.index()].placed {
                    self.nodes[last.index()].releases += 1;
                    self.consider_free(last);
                    if self.nodes[last.index()].owes_now() {
                        self.owe(last);
                    }
                }
            } else if dn.unplaced_dependents == 2 && shape.deps(d).is_empty() {
                // A root's last two consumers (rule 1b) both owe it. Once per root,
                // so the look through its dependents costs `O(e)` over the order.
                // The smaller first, as rule 3 would: the order of the dependents'
                // ids is the graph's insertion order, which must not matter.
                let mut two = [None; 2];
                let mut found = 0;
                for &c in shape.dependents(d) {
                    if !self.nodes[c.index()].placed {
                        two[found] = Some(c);
                        found += 1;
                        if found == 2 {
                            break;
                        }
                    }
                }
                if let [Some(a), Some(b)] = two {
                    if shape.cmp_size(&self.nodes, b, a) == Ordering::Less {
                        two = [Some(b), Some(a)];
                    }
                }
                for c in two.into_iter().flatten() {
                    if self.nodes[c.index()].owes_now() {
                        self.owe(c);
                    }
                }
            }
        }
        let dependents = shape.dependents(t);
        for &c in dependents {
            let node = &mut self.nodes[c.index()];
            node.missing -= 1;
            // (`c` depended on `t`, so it is not placed.)
            if node.missing == 0 && (node.releases > 0 || node.sink) {
                self.free.push(c);
            } else {
                if node.touched_in != self.round {
                    // Free moves are placed before the next goal is chosen; the
                    // others may be started tasks for rule 3.
                    node.touched_in = self.round;
                    self.touched.push(c);
                }
                if dependents.len() == 1 && node.owes_now() {
                    // `c` releases `t` (counted in `Walk::new`) but waits for more.
                    self.owe(c);
                }
                let node = &self.nodes[c.index()];
                if !self.reducers {
                    // (rule 2b is off)
                } else if node.missing == 0 {
                    self.note_ready(c);
                } else if self.ready_chains.get(c.index()) == Some(&node.missing) {
                    self.consider_reducer(c);
                }
            }
        }
        // Several free moves at once: the largest is placed first, as in rule 1.
        let nodes = &self.nodes;
        shape.sort_by_size(
            nodes,
            &mut self.free[first_free..],
            false,
            &mut self.scratch,
        );
        if !self.fire.is_empty() {
            self.fire_reducers();
        }
    }

    /// Rule 2b: `t` became ready but is no free move. If it heads a chain (each task
    /// the only dependent of the one before, and depending on nothing else) into a
    /// reducer, the reducer counts one more ready chain; see
    /// [`consider_reducer`](Self::consider_reducer).
    ///
    /// Each task is on the chain of at most one head and a head becomes ready once,
    /// so following chains costs `O(n)` over the whole order.
    fn note_ready(&mut self, t: TaskId) {
        let shape = self.shape;
        let mut end = t;
        let reducer = loop {
            let &[next] = shape.dependents(end) else {
                return; // a sink or a splitter: no single reducer ahead
            };
            if shape.deps(next).len() == 1 {
                end = next;
            } else {
                break next;
            }
        };
        if self.nodes[end.index()].counted_chain {
            return;
        }
        self.nodes[end.index()].counted_chain = true;
        if self.ready_chains.is_empty() {
            self.ready_chains = vec![0; self.nodes.len()];
        }
        self.ready_chains[reducer.index()] += 1;
        self.consider_reducer(reducer);
    }

    /// Rule 2b: once every dependency a reducer still misses ends a ready chain,
    /// the chains and the reducer are placed. The reducer then releases every chain's
    /// result, so running it now costs at most the chains' results for a moment;
    /// waiting would keep the chains' inputs, which other tasks share, held until
    /// the walk comes back for the reducer.
    fn consider_reducer(&mut self, r: TaskId) {
        let node = &self.nodes[r.index()];
        let chains = self.ready_chains[r.index()];
        if node.placed || chains == 0 || chains != node.missing {
            return;
        }
        // Queued once: its chains no longer count (they are about to be placed).
        self.ready_chains[r.index()] = 0;
        for &d in self.shape.deps(r) {
            self.nodes[d.index()].counted_chain = false;
        }
        self.fire.push(r);
    }

    /// Queues the chains of the reducers of rule 2b, largest reducer first and, within
    /// one, its largest dependency first (the order of rule 1), each chain head first.
    /// `chains` is a stack: what goes first is pushed last.
    fn fire_reducers(&mut self) {
        let (shape, nodes) = (self.shape, &self.nodes);
        let mut fire = std::mem::take(&mut self.fire);
        if !self.fired {
            // Up to here the walk is the one without rule 2b: keep a copy of it.
            let mut plain = self.clone();
            plain.reducers = false;
            self.plain = Some(Box::new(plain));
            self.fired = true;
        }
        shape.sort_by_size(nodes, &mut fire, false, &mut self.scratch);
        // The reducers with the fewest chains left go first (pushed last; the sort
        // is stable, so by size within): each releases its held inputs soonest.
        fire.sort_by_key(|r| std::cmp::Reverse(nodes[r.index()].missing));
        for &r in &fire {
            let start = self.children.len();
            let nodes = &self.nodes;
            self.children
                .extend(shape.deps(r).iter().filter(|d| !nodes[d.index()].placed));
            shape.sort_by_size(nodes, &mut self.children[start..], false, &mut self.scratch);
            for i in start..self.children.len() {
                let mut t = self.children[i];
                while !self.nodes[t.index()].placed {
                    self.chains.push(t);
                    if self.nodes[t.index()].missing == 0 {
                        break;
                    }
                    t = shape.deps(t)[0];
                }
            }
            self.children.truncate(start);
        }
        fire.clear();
        self.fire = fire;
    }

    /// Rule 1b: `t` is the last consumer of a held result (or one of a root's
    /// last two) but misses a dependency, and is not on the walk's stack
    /// ([`Node::owes_now`]). It owes: it is flagged, and so is
    /// the chain of its single dependents above it (a reduction tree), up to an
    /// open frame, which gets the last of them queued to walk next
    /// (`owed_below`). A task is flagged once and a chain stops at a flagged
    /// task, so this costs `O(n + e)` over the whole order.
    fn owe(&mut self, mut t: TaskId) {
        let shape = self.shape;
        loop {
            self.nodes[t.index()].flags |= Node::OWED;
            let ups = shape.dependents(t);
            if let &[up] = ups {
                let flags = self.nodes[up.index()].flags;
                if flags & (Node::OPEN | Node::OWED) == 0 {
                    t = up;
                    continue;
                }
            }
            for &up in ups {
                if self.nodes[up.index()].has(Node::OPEN) {
                    self.owed_below.push((up, t));
                }
            }
            return;
        }
    }

    /// Queues `t` for a free move if it is ready and releases a result or is a sink.
    #[inline]
    fn consider_free(&mut self, t: TaskId) {
        let node = &self.nodes[t.index()];
        if node.missing == 0 && !node.placed && (node.releases > 0 || node.sink) {
            self.free.push(t);
        }
    }

    /// Rule 3: the cheapest started task, if any.
    fn next_started(&mut self) -> Option<TaskId> {
        self.round += 1;
        let touched = std::mem::take(&mut self.touched);
        for &t in &touched {
            let node = &self.nodes[t.index()];
            if !node.placed {
                let entry = Started {
                    missing: node.missing,
                    task: t,
                };
                self.push_started(entry);
            }
        }
        self.touched = touched;
        self.touched.clear();
        while let Some(top) = self.pop_started() {
            let node = &self.nodes[top.task.index()];
            // An entry is stale once its task was placed or lost another input since.
            if !node.placed && top.missing == node.missing {
                return Some(top.task);
            }
        }
        None
    }

    fn cheaper(&self, a: &Started, b: &Started) -> bool {
        a.missing
            .cmp(&b.missing)
            .then_with(|| self.shape.cmp_size(&self.nodes, a.task, b.task))
            == Ordering::Less
    }

    fn push_started(&mut self, entry: Started) {
        self.started.push(entry);
        let mut i = self.started.len() - 1;
        while i > 0 {
            let parent = (i - 1) / 2;
            if !self.cheaper(&self.started[i], &self.started[parent]) {
                break;
            }
            self.started.swap(i, parent);
            i = parent;
        }
    }

    fn pop_started(&mut self) -> Option<Started> {
        let last = self.started.len().checked_sub(1)?;
        self.started.swap(0, last);
        let top = self.started.pop();
        let len = self.started.len();
        let mut i = 0;
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut least = i;
            if l < len && self.cheaper(&self.started[l], &self.started[least]) {
                least = l;
            }
            if r < len && self.cheaper(&self.started[r], &self.started[least]) {
                least = r;
            }
            if least == i {
                return top;
            }
            self.started.swap(i, least);
            i = least;
        }
    }
}
