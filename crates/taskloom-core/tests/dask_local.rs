//! Behaviour of Dask's local scheduler (`dask/tests/test_local.py`,
//! `dask/tests/test_order.py::test_local_parents_of_reduction`), ported to `State`
//! driven by one worker.

#![allow(clippy::unwrap_used)] // tests panic on unexpected errors by design

use taskloom_core::{Graph, GraphBuilder, GraphError, Key, State, Status, TaskId};

/// Builds a graph from `(key, deps)` pairs named by key, in any order.
fn graph(tasks: &[(&str, &[&str])]) -> Result<Graph<()>, GraphError> {
    let mut b = GraphBuilder::new();
    for (key, deps) in tasks {
        b.add(*key, deps.iter().copied(), ())?;
    }
    b.build()
}

fn ids(g: &Graph<()>, keys: &[&str]) -> Vec<TaskId> {
    g.resolve(&keys.iter().map(|k| Key::from(*k)).collect::<Vec<_>>())
        .unwrap()
}

/// Runs the computation with one worker, like `dask.get`, and returns the keys in
/// the order they ran.
fn run_one_worker(g: &Graph<()>, targets: &[TaskId]) -> Vec<String> {
    let mut state = State::new(g, targets).unwrap();
    let mut log = Vec::new();
    while let Some(task) = state.pop_ready() {
        log.push(g.key(task).to_string());
        state.finish(task).unwrap();
        while state.pop_release().is_some() {}
    }
    assert_eq!(state.status(), Status::Done);
    log
}

#[test]
fn local_parents_of_reduction() {
    // a3 -> a2 -> a1, b3 -> b2 -> b1, c3 -> c2 -> c1; b2 also needs a2, c2 needs b2.
    let g = graph(&[
        ("a1", &["a2"]),
        ("a2", &["a3"]),
        ("a3", &[]),
        ("b1", &["b2"]),
        ("b2", &["b3", "a2"]),
        ("b3", &[]),
        ("c1", &["c2"]),
        ("c2", &["c3", "b2"]),
        ("c3", &[]),
    ])
    .unwrap();
    let log = run_one_worker(&g, &ids(&g, &["a1", "b1", "c1"]));
    assert_eq!(log, ["a3", "a2", "a1", "b3", "b2", "b1", "c3", "c2", "c1"]);
}

#[test]
fn ensure_calculate_only_whats_needed() {
    // x1 is in the graph but y does not need it: it must never run.
    let g = graph(&[("x1", &[]), ("x2", &[]), ("y", &["x2"])]).unwrap();
    let log = run_one_worker(&g, &ids(&g, &["y"]));
    assert_eq!(log, ["x2", "y"]);
}

#[test]
fn detect_malformed_graph() {
    let err = graph(&[("y", &["x"])]).unwrap_err();
    assert_eq!(
        err,
        GraphError::MissingDependency {
            key: "y".into(),
            dependency: "x".into()
        }
    );
    assert!(err.to_string().contains("`y`") && err.to_string().contains("`x`"));
}

#[test]
fn order_cycle_is_an_error_naming_the_keys() {
    let err = graph(&[("a", &["a"])]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cycle in the graph: `a` -> `a` (each depends on the next)"
    );
    let err = graph(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"]), ("d", &[])]).unwrap_err();
    let GraphError::Cycle { keys } = err else {
        panic!("expected a cycle")
    };
    assert_eq!(keys.len(), 3);
}

#[test]
fn unknown_target_is_an_error_naming_the_key() {
    let g = graph(&[("x", &[])]).unwrap();
    let err = g
        .resolve(&[Key::from("x"), Key::from("badkey")])
        .unwrap_err();
    assert_eq!(
        err,
        GraphError::UnknownTarget {
            key: "badkey".into()
        }
    );
    // A TaskId from a larger graph is rejected too.
    let err = State::new(&g, &[TaskId::from_index(5)]).unwrap_err();
    assert_eq!(
        err,
        GraphError::InvalidTarget {
            id: TaskId::from_index(5)
        }
    );
}

#[test]
fn get_stack_limit_chain_of_10000() {
    // Dask's test_get_stack_limit: x0 -> x1 -> ... -> x10000, added last-first.
    let mut b = GraphBuilder::new();
    for i in (0..=10_000).rev() {
        let deps: Vec<String> = if i == 0 {
            vec![]
        } else {
            vec![format!("x{}", i - 1)]
        };
        b.add(format!("x{i}"), deps, ()).unwrap();
    }
    let g = b.build().unwrap();
    let target = g.id(&Key::from("x10000")).unwrap();
    let log = run_one_worker(&g, &[target]);
    assert_eq!(log.len(), 10_001);
    assert_eq!(log.first().map(String::as_str), Some("x0"));
    assert_eq!(log.last().map(String::as_str), Some("x10000"));
}

#[test]
fn nothing_recurses_on_a_long_chain() {
    // Build, cull, order and drive a 300,000-task chain on a thread with a 128 KiB
    // stack: any recursion proportional to the chain would overflow it.
    let handle = std::thread::Builder::new()
        .stack_size(128 * 1024)
        .spawn(|| {
            let n = 300_000;
            let mut b = GraphBuilder::new();
            for i in (0..n).rev() {
                let deps: Vec<Key> = if i == 0 {
                    vec![]
                } else {
                    vec![("c", i - 1).into()]
                };
                b.add(("c", i), deps, ()).unwrap();
            }
            let g = b.build().unwrap();
            let target = g.id(&Key::from(("c", n - 1))).unwrap();
            let mut state = State::new(&g, &[target]).unwrap();
            let mut ran = 0;
            while let Some(t) = state.pop_ready() {
                state.finish(t).unwrap();
                while state.pop_release().is_some() {}
                ran += 1;
            }
            assert_eq!(state.status(), Status::Done);
            ran
        })
        .unwrap();
    assert_eq!(handle.join().unwrap(), 300_000);
}

#[test]
fn empty_graph_and_empty_request_are_done_at_once() {
    let g = graph(&[]).unwrap();
    let mut state = State::new(&g, &[]).unwrap();
    assert_eq!(state.status(), Status::Done);
    assert_eq!(state.pop_ready(), None);
    assert_eq!(state.counts().total, 0);

    let g = graph(&[("x", &[])]).unwrap();
    let mut state = State::new(&g, &[]).unwrap();
    assert_eq!(state.status(), Status::Done);
    assert_eq!(state.pop_ready(), None);
}

#[test]
fn tasks_unlocked_together_pop_in_priority_order() {
    // x fans out to three chains; when x finishes all three heads become ready at
    // once and one worker must take them in static order, finishing each chain
    // before starting the next.
    let g = graph(&[
        ("x", &[]),
        ("p1", &["x"]),
        ("p2", &["p1"]),
        ("q1", &["x"]),
        ("q2", &["q1"]),
        ("q3", &["q2"]),
        ("r1", &["x"]),
        ("out", &["p2", "q3", "r1"]),
    ])
    .unwrap();
    let targets = ids(&g, &["out"]);
    let culled = taskloom_core::cull(&g, &targets).unwrap();
    let sequence: Vec<String> = taskloom_core::order(&g, &culled)
        .sequence()
        .iter()
        .map(|t| g.key(*t).to_string())
        .collect();
    // The longest branch first, the shortest last.
    assert_eq!(sequence, ["x", "q1", "q2", "q3", "p1", "p2", "r1", "out"]);
    assert_eq!(run_one_worker(&g, &targets), sequence);
}

#[test]
fn releases_follow_last_use_and_keep_targets() {
    // Dask's test_finish_task: x feeds z, z and y feed w. Finishing z releases x.
    let g = graph(&[("x", &[]), ("y", &[]), ("z", &["x"]), ("w", &["z", "y"])]).unwrap();
    let [x, y, z, w] = ids(&g, &["x", "y", "z", "w"])[..] else {
        unreachable!()
    };
    let mut state = State::new(&g, &[w, y]).unwrap();
    let mut released = Vec::new();
    while let Some(t) = state.pop_ready() {
        state.finish(t).unwrap();
        while let Some(r) = state.pop_release() {
            released.push(r);
        }
    }
    // y is a target as well as a dependency of w: it is kept.
    released.sort();
    let mut expected = vec![x, z];
    expected.sort();
    assert_eq!(released, expected);
    assert_eq!(state.counts().held, 2);
}
