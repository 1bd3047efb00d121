//! Lost results run again from their inputs (`State::lose`, `State::retract`): a
//! worker that died with results in it costs the computation those results, never
//! its end.

#![allow(clippy::unwrap_used)] // tests panic on unexpected errors by design

use taskloom_core::{Graph, State, StateError, Status, TaskId, TaskState};

mod common;
use common::Rng;

/// a → b → c → d, d the target.
fn chain() -> (Graph<()>, [TaskId; 4]) {
    let mut g = Graph::new();
    let a = g.push("a", &[], ()).unwrap();
    let b = g.push("b", &[a], ()).unwrap();
    let c = g.push("c", &[b], ()).unwrap();
    let d = g.push("d", &[c], ()).unwrap();
    (g, [a, b, c, d])
}

fn run_one(state: &mut State) -> TaskId {
    let t = state.pop_ready().unwrap();
    state.finish(t).unwrap();
    while state.pop_release().is_some() {}
    t
}

#[test]
fn a_lost_result_runs_again_from_its_lineage() {
    let (g, [a, b, c, d]) = chain();
    let mut state = State::new(&g, &[d]).unwrap();
    assert_eq!(
        [
            run_one(&mut state),
            run_one(&mut state),
            run_one(&mut state)
        ],
        [a, b, c]
    );
    assert_eq!(state.task_state(a), TaskState::Released);
    assert_eq!(state.task_state(c), TaskState::Held);
    // `d` was handed out and found `c` gone with its worker.
    assert_eq!(state.pop_ready(), Some(d));
    assert_eq!(state.lose(&[c]).unwrap(), 3); // c, and b and a before it
    state.retract(d).unwrap();
    assert_eq!(state.task_state(d), TaskState::Waiting);
    let mut again = Vec::new();
    while state.status() == Status::Running {
        again.push(run_one(&mut state));
    }
    assert_eq!(again, [a, b, c, d]);
    assert_eq!(state.status(), Status::Done);
    let counts = state.counts();
    assert_eq!((counts.finished, counts.held, counts.released), (4, 1, 3));
}

#[test]
fn a_lost_result_nobody_needs_costs_nothing() {
    let (g, [a, b, c, d]) = chain();
    let mut state = State::new(&g, &[d, b]).unwrap();
    run_one(&mut state);
    run_one(&mut state);
    run_one(&mut state); // c done: b held as a target, a released
    assert_eq!(state.lose(&[a]).unwrap(), 0);
    assert_eq!(state.lose(&[b]).unwrap(), 2); // a target, and `a` before it
    assert_eq!(state.task_state(b), TaskState::Waiting);
    let mut again = Vec::new();
    while state.status() == Status::Running {
        again.push(run_one(&mut state));
    }
    // `a` before `b` again; `d` needs only `c`, still held.
    assert!(again.contains(&a) && again.contains(&b) && again.contains(&d));
    assert_eq!(state.status(), Status::Done);
    let _ = c;
}

#[test]
fn only_finished_results_can_be_lost() {
    let (g, [a, _, _, d]) = chain();
    let mut state = State::new(&g, &[d]).unwrap();
    assert_eq!(state.lose(&[a]), Err(StateError::NotFinished { id: a }));
    let t = state.pop_ready().unwrap();
    assert_eq!(state.lose(&[t]), Err(StateError::NotFinished { id: t }));
    assert_eq!(state.retract(d), Err(StateError::NotRunning { id: d }));
}

/// Random DAGs, random completions, and every so often a random set of finished
/// results lost (with the running tasks that took one of them retracted): every
/// computation still ends done, every needed task finished, targets held, and no
/// task ever runs before its inputs are held.
#[test]
fn random_losses_never_stop_a_computation() {
    let mut rng = Rng(0x005e_ed11);
    for case in 0..200 {
        let n = 1 + rng.below(60);
        let mut g = Graph::with_capacity(n, 3 * n);
        for i in 0..n {
            let deps: Vec<TaskId> = (0..rng.below(4).min(i))
                .map(|_| TaskId::from_index(i - 1 - rng.below(i.min(6))))
                .collect();
            g.push(("t", i as i64), &deps, ()).unwrap();
        }
        let targets = vec![TaskId::from_index(n - 1), TaskId::from_index(rng.below(n))];
        let mut state = State::new(&g, &targets).unwrap();
        let mut held = vec![false; n];
        let mut running: Vec<TaskId> = Vec::new();
        let mut steps = 0;
        while state.status() == Status::Running {
            steps += 1;
            assert!(steps < 100_000, "case {case}: no end");
            while running.len() < 3 {
                let Some(t) = state.pop_ready() else { break };
                for d in g.deps(t) {
                    assert!(held[d.index()], "case {case}: {t} ran without {d}");
                }
                running.push(t);
            }
            if rng.below(6) == 0 {
                // Lose some held results; running tasks that take one stop.
                let lost: Vec<TaskId> = (0..n)
                    .map(TaskId::from_index)
                    .filter(|t| held[t.index()] && rng.below(3) == 0)
                    .collect();
                for t in &lost {
                    held[t.index()] = false;
                }
                state.lose(&lost).unwrap();
                running.retain(|&r| {
                    if g.deps(r).iter().any(|d| lost.contains(d)) {
                        state.retract(r).unwrap();
                        false
                    } else {
                        true
                    }
                });
                continue;
            }
            assert!(
                !running.is_empty(),
                "case {case}: nothing running, nothing ready"
            );
            let t = running.swap_remove(rng.below(running.len()));
            state.finish(t).unwrap();
            held[t.index()] = true;
            while let Some(r) = state.pop_release() {
                held[r.index()] = false;
            }
        }
        assert_eq!(state.status(), Status::Done, "case {case}");
        for t in &targets {
            assert!(held[t.index()], "case {case}: target {t} not held");
        }
        assert_eq!(state.counts().finished, state.counts().total);
    }
}
