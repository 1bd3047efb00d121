//! Property tests of `State` over random DAGs driven in random completion orders.
//!
//! A harness plays the driver: it keeps up to `workers` tasks running, completes a
//! random one at each step, drains releases, and checks the scheduling invariants at
//! every event rather than only at the end.

#![allow(clippy::unwrap_used)] // tests panic on unexpected errors by design

use proptest::prelude::*;
use taskloom_core::{Graph, State, StateError, Status, TaskId, TaskState};

mod common;
use common::Rng;

/// A random DAG: task `i` depends on up to `max_deps` earlier tasks, mostly recent
/// ones (so there are long paths as well as wide fan-in), sometimes the same one twice.
fn random_dag(n: usize, max_deps: usize, rng: &mut Rng) -> Graph<()> {
    let mut g = Graph::with_capacity(n, n * max_deps);
    let mut deps = Vec::new();
    for i in 0..n {
        deps.clear();
        if i > 0 {
            for _ in 0..rng.below(max_deps + 1) {
                let back = if rng.below(4) == 0 { i } else { i.min(8) };
                deps.push(TaskId::from_index(i - 1 - rng.below(back)));
            }
        }
        g.push(("t", i as i64), &deps, ()).unwrap();
    }
    g
}

fn random_targets(n: usize, rng: &mut Rng) -> Vec<TaskId> {
    if n == 0 {
        return Vec::new();
    }
    let count = 1 + rng.below(4.min(n));
    let mut targets: Vec<TaskId> = (0..count)
        .map(|_| TaskId::from_index(n - 1 - rng.below(n)))
        .collect();
    if rng.below(2) == 0 {
        targets.push(TaskId::from_index(n - 1)); // usually the last sink is wanted
    }
    targets
}

/// Which tasks the targets need, computed naively (for checking `cull`).
fn needed_naive(g: &Graph<()>, targets: &[TaskId]) -> Vec<bool> {
    let mut needed = vec![false; g.len()];
    let mut stack: Vec<TaskId> = targets.to_vec();
    while let Some(t) = stack.pop() {
        if !needed[t.index()] {
            needed[t.index()] = true;
            stack.extend_from_slice(g.deps(t));
        }
    }
    needed
}

/// What one drive of a computation observed.
struct Run {
    order: Vec<TaskId>,
}

/// How the harness takes ready tasks.
#[derive(Clone, Copy, Debug)]
enum Pick {
    /// `pop_ready` only.
    Priority,
    /// Like a driver over its memory budget: `pop_releasing` first, `pop_ready` when
    /// it has nothing; and the next link of a finished task's linear chain with
    /// `take_ready`, as a driver running chains as one unit does.
    Releasing,
}

/// The ready tasks, worked out from scratch: needed, not started, every dependency
/// finished. (Checked against `State` on small graphs only: `O(n)` per pop.)
fn ready_naive(g: &Graph<()>, needed: &[bool], ran: &[u32], finished: &[bool]) -> Vec<TaskId> {
    g.ids()
        .filter(|t| {
            needed[t.index()]
                && ran[t.index()] == 0
                && g.deps(*t).iter().all(|d| finished[d.index()])
        })
        .collect()
}

/// Drives `state` to the end with `workers` tasks at once, checking every invariant
/// on the way. `fail_at`: fail the k-th completion instead of finishing it.
fn drive(
    g: &Graph<()>,
    targets: &[TaskId],
    workers: usize,
    rng: &mut Rng,
    fail_at: Option<usize>,
    pick: Pick,
) -> Run {
    let n = g.len();
    let needed = needed_naive(g, targets);
    let mut is_target = vec![false; n];
    for t in targets {
        is_target[t.index()] = true;
    }
    let mut state = State::new(g, targets).unwrap();
    let ranks: Vec<u32> = g.ids().map(|t| state.rank(t).unwrap_or(u32::MAX)).collect();
    let rank = |t: TaskId| ranks[t.index()];
    let small = n <= 300;
    let mut ran = vec![0u32; n];
    let mut finished = vec![false; n];
    let mut released = vec![0u32; n];
    let mut running: Vec<TaskId> = Vec::new();
    let mut order = Vec::new();
    let mut completions = 0;
    let mut failed = None;
    let mut chained: Option<TaskId> = None;

    loop {
        while running.len() < workers || chained.is_some() {
            let t = if let Some(next) = chained.take() {
                state.take_ready(next).unwrap();
                next
            } else {
                let ready = small.then(|| ready_naive(g, &needed, &ran, &finished));
                let popped = match pick {
                    Pick::Priority => state.pop_ready(),
                    Pick::Releasing => {
                        let releasing = state.pop_releasing();
                        if let (Some(ready), true) = (ready.clone(), failed.is_none()) {
                            // The first ready task whose finish releases a result.
                            let expect = ready
                                .into_iter()
                                .filter(|t| {
                                    g.deps(*t).iter().any(|d| {
                                        !is_target[d.index()]
                                            && g.ids().all(|u| {
                                                u == *t
                                                    || !needed[u.index()]
                                                    || finished[u.index()]
                                                    || !g.deps(u).contains(d)
                                            })
                                            && g.deps(*t).iter().filter(|x| *x == d).count() == 1
                                    })
                                })
                                .min_by_key(|t| rank(*t));
                            assert_eq!(releasing, expect, "pop_releasing");
                        }
                        releasing.or_else(|| state.pop_ready())
                    }
                };
                if let (Some(t), Some(ready), Pick::Priority) = (popped, ready, pick) {
                    let first = ready.into_iter().min_by_key(|t| rank(*t));
                    assert_eq!(
                        Some(t),
                        first,
                        "pop_ready did not give the first ready task"
                    );
                }
                let Some(t) = popped else { break };
                t
            };
            assert!(failed.is_none(), "a task was handed out after a failure");
            assert!(needed[t.index()], "unneeded task {t} was scheduled");
            assert_eq!(ran[t.index()], 0, "task {t} ran twice");
            for d in g.deps(t) {
                assert!(finished[d.index()], "{t} started before its dependency {d}");
                assert_ne!(state.task_state(*d), TaskState::Released);
            }
            ran[t.index()] += 1;
            order.push(t);
            running.push(t);
        }
        if running.is_empty() {
            break;
        }
        let t = running.swap_remove(rng.below(running.len()));
        if Some(completions) == fail_at {
            state.fail(t).unwrap();
            failed = Some(t);
        } else {
            state.finish(t).unwrap();
            finished[t.index()] = true;
            if let (Pick::Releasing, Some(next)) = (pick, state.linear_successor(t)) {
                if failed.is_none() && rng.below(2) == 0 {
                    chained = Some(next);
                }
            }
        }
        completions += 1;
        while let Some(r) = state.pop_release() {
            assert!(!is_target[r.index()], "target {r} was released");
            assert!(finished[r.index()], "{r} released before it finished");
            assert_eq!(released[r.index()], 0, "{r} released twice");
            assert!(
                g.deps(t).contains(&r),
                "{r} released on the completion of {t}, which does not use it"
            );
            released[r.index()] += 1;
        }
        // Everything released is no longer needed by any unfinished needed task.
        let counts = state.counts();
        assert_eq!(counts.running, running.len());
    }

    match failed {
        Some(t) => {
            assert_eq!(state.status(), Status::Failed(t));
            assert_eq!(state.pop_ready(), None);
            assert_eq!(state.pop_releasing(), None);
        }
        None => {
            assert_eq!(state.status(), Status::Done);
            for i in 0..n {
                let id = TaskId::from_index(i);
                assert_eq!(
                    ran[i],
                    u32::from(needed[i]),
                    "task {id} ran {} times",
                    ran[i]
                );
                let expect_release = needed[i] && !is_target[i];
                assert_eq!(
                    released[i],
                    u32::from(expect_release),
                    "release count of {id}"
                );
                // A release came only after every needed dependent finished.
                if expect_release {
                    for j in i + 1..n {
                        if needed[j] && g.deps(TaskId::from_index(j)).contains(&id) {
                            assert!(finished[j]);
                        }
                    }
                }
            }
            let counts = state.counts();
            assert_eq!(counts.finished, counts.total);
            assert_eq!(counts.held, targets_count(&is_target));
        }
    }
    Run { order }
}

fn targets_count(is_target: &[bool]) -> usize {
    is_target.iter().filter(|t| **t).count()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn every_needed_task_runs_once_after_its_deps_and_results_are_released_once(
        n in 0usize..3000,
        max_deps in 0usize..6,
        workers in 1usize..=8,
        seed in any::<u64>(),
    ) {
        let mut rng = Rng(seed | 1);
        let g = random_dag(n, max_deps, &mut rng);
        let targets = random_targets(n, &mut rng);
        drive(&g, &targets, workers, &mut rng, None, Pick::Priority);
        drive(&g, &targets, workers, &mut rng, None, Pick::Releasing);
    }

    #[test]
    fn a_failure_stops_dispatch_and_the_computation_ends(
        n in 1usize..500,
        max_deps in 0usize..4,
        workers in 1usize..=8,
        seed in any::<u64>(),
        fail_fraction in 0.0f64..1.0,
    ) {
        let mut rng = Rng(seed | 1);
        let g = random_dag(n, max_deps, &mut rng);
        let targets = random_targets(n, &mut rng);
        let needed = needed_naive(&g, &targets).iter().filter(|x| **x).count();
        let fail_at = (needed as f64 * fail_fraction) as usize;
        let fail_at = Some(fail_at.min(needed - 1));
        drive(&g, &targets, workers, &mut rng, fail_at, Pick::Priority);
        drive(&g, &targets, workers, &mut rng, fail_at, Pick::Releasing);
    }

    #[test]
    fn one_worker_runs_exactly_the_static_order(
        n in 0usize..2000,
        max_deps in 0usize..6,
        seed in any::<u64>(),
    ) {
        // Ready tasks come out by rank, so the run is the plan: what
        // `order::diagnostics` measures is what one worker holds.
        let mut rng = Rng(seed | 1);
        let g = random_dag(n, max_deps, &mut rng);
        let targets = random_targets(n, &mut rng);
        let culled = taskloom_core::cull(&g, &targets).unwrap();
        let p = taskloom_core::order(&g, &culled);
        let planned = taskloom_core::order::diagnostics(&g, &culled, &p).max_pressure;
        prop_assert_eq!(p.max_pressure(), planned);
        prop_assert_eq!(State::new(&g, &targets).unwrap().planned_pressure(), planned);
        let run = drive(&g, &targets, 1, &mut rng, None, Pick::Priority);
        prop_assert_eq!(run.order, p.sequence());
    }

    #[test]
    fn order_is_a_topological_order_of_exactly_the_needed_tasks(
        n in 0usize..2000,
        max_deps in 0usize..6,
        seed in any::<u64>(),
    ) {
        let mut rng = Rng(seed | 1);
        let g = random_dag(n, max_deps, &mut rng);
        let targets = random_targets(n, &mut rng);
        let needed = needed_naive(&g, &targets);
        let culled = taskloom_core::cull(&g, &targets).unwrap();
        let p = taskloom_core::order(&g, &culled);
        prop_assert_eq!(p.sequence().len(), needed.iter().filter(|x| **x).count());
        for id in g.ids() {
            prop_assert_eq!(culled.contains(id), needed[id.index()]);
            if let Some(r) = p.rank(id) {
                prop_assert_eq!(p.sequence()[r as usize], id);
                for d in g.deps(id) {
                    prop_assert!(p.rank(*d).unwrap() < r);
                }
            }
        }
    }
}

#[test]
fn one_worker_follows_the_static_order_on_trees_and_chains() {
    // Binary reduction tree over 64 leaves, and 8 chains of 20.
    let mut g = Graph::new();
    let mut level: Vec<TaskId> = (0..64)
        .map(|i| g.push(("leaf", i), &[], ()).unwrap())
        .collect();
    let mut depth = 0;
    while level.len() > 1 {
        depth += 1;
        level = level
            .chunks(2)
            .enumerate()
            .map(|(i, pair)| g.push(("sum", depth, i as i64), pair, ()).unwrap())
            .collect();
    }
    let mut targets = vec![level[0]];
    for c in 0..8 {
        let mut prev = g.push(("chain", c, 0), &[], ()).unwrap();
        for i in 1..20 {
            prev = g.push(("chain", c, i), &[prev], ()).unwrap();
        }
        targets.push(prev);
    }
    let culled = taskloom_core::cull(&g, &targets).unwrap();
    let p = taskloom_core::order(&g, &culled);
    let run = drive(&g, &targets, 1, &mut Rng(7), None, Pick::Priority);
    assert_eq!(run.order, p.sequence());
}

#[test]
fn take_ready_hands_out_a_ready_task_only() {
    let mut g = Graph::new();
    let a = g.push("a", &[], ()).unwrap();
    let b = g.push("b", &[], ()).unwrap();
    let c = g.push("c", &[a, b], ()).unwrap();
    let mut state = State::new(&g, &[c]).unwrap();
    assert_eq!(state.take_ready(c), Err(StateError::NotReady { id: c }));
    let first = state.pop_ready().unwrap();
    let second = if first == a { b } else { a };
    assert_eq!(
        state.take_ready(first),
        Err(StateError::NotReady { id: first })
    );
    state.take_ready(second).unwrap(); // any ready task, whatever its rank
    assert_eq!(state.task_state(second), TaskState::Running);
    assert_eq!(state.counts().ready, 0);
    state.finish(first).unwrap();
    state.finish(second).unwrap();
    state.cancel();
    assert_eq!(state.take_ready(c), Err(StateError::NotReady { id: c }));
}

#[test]
fn pop_releasing_gives_the_tasks_that_free_a_result() {
    // x feeds a and b; y feeds c only. Ready: x and y first; then a, b (x held by
    // both) and c (last user of y).
    let mut g = Graph::new();
    let x = g.push("x", &[], ()).unwrap();
    let y = g.push("y", &[], ()).unwrap();
    let a = g.push("a", &[x], ()).unwrap();
    let b = g.push("b", &[x], ()).unwrap();
    let c = g.push("c", &[y], ()).unwrap();
    let total = g.push("total", &[a, b, c], ()).unwrap();
    let mut state = State::new(&g, &[total]).unwrap();
    assert_eq!(state.pop_releasing(), None, "roots release nothing");
    for t in [x, y] {
        state.take_ready(t).unwrap();
        state.finish(t).unwrap();
    }
    assert_eq!(state.pop_releasing(), Some(c));
    assert_eq!(state.pop_releasing(), None, "a and b share x");
    state.take_ready(a).unwrap();
    state.finish(a).unwrap();
    assert_eq!(state.pop_releasing(), Some(b), "now the last user of x");
}

#[test]
fn events_for_tasks_that_are_not_running_are_rejected() {
    let mut g = Graph::new();
    let a = g.push("a", &[], ()).unwrap();
    let b = g.push("b", &[a], ()).unwrap();
    let mut state = State::new(&g, &[b]).unwrap();
    assert_eq!(state.finish(b), Err(StateError::NotRunning { id: b }));
    assert_eq!(state.fail(a), Err(StateError::NotRunning { id: a }));
    assert_eq!(state.pop_ready(), Some(a));
    state.finish(a).unwrap();
    assert_eq!(state.finish(a), Err(StateError::NotRunning { id: a }));
    assert_eq!(state.counts().finished, 1);
}

#[test]
fn cancel_stops_dispatch_and_late_completions_are_accepted() {
    let mut g = Graph::new();
    let roots: Vec<TaskId> = (0..4).map(|i| g.push(("r", i), &[], ()).unwrap()).collect();
    let total = g.push("total", &roots, ()).unwrap();
    let mut state = State::new(&g, &[total]).unwrap();
    let first = state.pop_ready().unwrap();
    state.cancel();
    assert_eq!(state.status(), Status::Cancelled);
    assert_eq!(state.pop_ready(), None);
    assert_eq!(state.counts().ready, 0);
    state.finish(first).unwrap();
    assert_eq!(state.pop_ready(), None);
    assert_eq!(state.status(), Status::Cancelled);
}
