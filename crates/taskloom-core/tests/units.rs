//! Units of work: a driver hands several tasks to one worker at once, running ones
//! and, after them, waiting ones whose unfinished dependencies are all in the unit
//! (`State::dependents`, `State::unfinished_deps`). Fed back in the unit's order, each
//! waiting one is ready by the time its turn comes, and `take_ready` takes it.

#![allow(clippy::unwrap_used)] // tests panic on unexpected errors by design

use std::collections::HashMap;

use taskloom_core::{Graph, State, Status, TaskId, TaskState};

mod common;
use common::Rng;

#[test]
fn a_task_whose_unfinished_inputs_are_all_in_the_unit_joins_it() {
    let mut g = Graph::new();
    let a = g.push("a", &[], ()).unwrap();
    let b = g.push("b", &[], ()).unwrap();
    let c = g.push("c", &[a, b, a], ()).unwrap();
    let e = g.push("e", &[b], ()).unwrap();
    let mut state = State::new(&g, &[c, e]).unwrap();
    assert_eq!(state.dependents(a), &[c, c]);
    assert_eq!(state.dependents(b), &[c, e]);
    assert_eq!(state.unfinished_deps(c), 3);
    let first = state.pop_ready().unwrap();
    let second = state.pop_ready().unwrap();
    assert_eq!([first, second].map(|t| t == a || t == b), [true, true]);
    // Both inputs of `c` are in the unit: it follows them.
    state.finish(first).unwrap();
    assert_eq!(state.unfinished_deps(c), if first == a { 1 } else { 2 });
    state.finish(second).unwrap();
    assert_eq!(state.unfinished_deps(c), 0);
    assert_eq!(state.task_state(c), TaskState::Ready);
    state.take_ready(c).unwrap();
    state.finish(c).unwrap();
    assert_eq!(state.unfinished_deps(c), 0, "finished: waits for nothing");
}

/// Units built greedily on random graphs: ready tasks by priority, each followed by
/// the waiting tasks it completes. Fed back unit by unit, every task runs once and
/// the computation ends.
#[test]
fn units_of_running_and_following_tasks_run_every_task_once() {
    let mut rng = Rng(0x5eed_u64);
    for _ in 0..200 {
        let n = 1 + rng.below(60);
        let mut g = Graph::new();
        let mut ids = Vec::new();
        for i in 0..n {
            let k = if i == 0 { 0 } else { rng.below(4.min(i) + 1) };
            let deps: Vec<TaskId> = (0..k).map(|_| ids[rng.below(i)]).collect();
            ids.push(g.push(("t", i as i64), &deps, ()).unwrap());
        }
        let targets: Vec<TaskId> = ids.iter().copied().filter(|_| rng.below(4) == 0).collect();
        let targets = if targets.is_empty() {
            vec![ids[n - 1]]
        } else {
            targets
        };
        let mut state = State::new(&g, &targets).unwrap();
        let size = 1 + rng.below(8);
        let mut ran = vec![0; n];
        while state.status() == Status::Running {
            // Build one unit.
            let mut unit: Vec<(TaskId, bool)> = Vec::new();
            let mut claimed: HashMap<TaskId, u32> = HashMap::new();
            let mut follow: Vec<TaskId> = Vec::new();
            while unit.len() < size {
                let (task, following) = match follow.pop() {
                    Some(t) => (t, true),
                    None => match state.pop_ready() {
                        Some(t) => (t, false),
                        None => break,
                    },
                };
                unit.push((task, following));
                for &d in state.dependents(task) {
                    if state.task_state(d) != TaskState::Waiting {
                        continue;
                    }
                    let c = claimed.entry(d).or_insert(0);
                    *c += 1;
                    if *c == state.unfinished_deps(d) {
                        follow.push(d);
                    }
                }
            }
            assert!(!unit.is_empty(), "nothing ready while running");
            // Feed it back in its order.
            for (task, following) in unit {
                if following {
                    state.take_ready(task).unwrap();
                }
                ran[task.index()] += 1;
                state.finish(task).unwrap();
                while state.pop_release().is_some() {}
            }
        }
        assert_eq!(state.status(), Status::Done);
        assert!(ran.iter().all(|r| *r <= 1));
        assert_eq!(ran.iter().sum::<usize>(), state.counts().total);
    }
}
