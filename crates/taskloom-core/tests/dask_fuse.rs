//! Dask's linear fusion tests (`test_fuse`, `test_fuse_keys` in
//! `dask/tests/test_optimization.py`, `test_fuse_doesnt_clobber_intermediates` in
//! `test_multiprocessing.py`, dask 2026.8.0) ported to [`fuse`], and properties over
//! random DAGs: fusing never changes what is computed.
//!
//! Dask returns a new dict in which a fused chain is one nested task; with
//! `rename_keys=True` it is stored under a new name (`z-y-x-w`) and the last key
//! becomes an alias of it. taskloom keeps the last member's key on the fused task
//! and lists the members instead; [`Fused::dask_key`] gives Dask's new name. So each
//! expected Dask graph is checked as: which tasks remain (by key), what each one
//! runs (its members, in order), what it depends on, and Dask's name for it. Dask's
//! data literals (`"a": 1`) are tasks here. With `keys=None` Dask requests nothing
//! in particular; here every sink is requested, which fuses the same way (a sink has
//! no dependent to merge into).

#![allow(clippy::unwrap_used)] // tests panic on unexpected errors by design

use proptest::prelude::*;
use taskloom_core::{Fused, Graph, GraphBuilder, Key, State, TaskId, cull, fuse};

mod common;
use common::Rng;

fn graph(tasks: &[(&str, &[&str])]) -> Graph<()> {
    let mut b = GraphBuilder::new();
    for (key, deps) in tasks {
        b.add(*key, deps.iter().copied(), ()).unwrap();
    }
    b.build().unwrap()
}

fn id(g: &Graph<()>, key: &str) -> TaskId {
    g.id(&Key::from(key)).unwrap()
}

fn sinks(g: &Graph<()>) -> Vec<TaskId> {
    let all = cull(g, &g.ids().collect::<Vec<_>>()).unwrap();
    g.ids().filter(|&t| all.dependents(t).is_empty()).collect()
}

/// One fused task as a test expects it: its key, its members in run order, its
/// dependencies (by key, in argument order) and Dask's renamed key for it.
type Expected<'a> = (&'a str, &'a [&'a str], &'a [&'a str], &'a str);

/// Fuses `tasks` for `keys` (every sink when `None`) and checks the result against
/// `expected`, which lists every fused task.
fn check(tasks: &[(&str, &[&str])], keys: Option<&[&str]>, expected: &[Expected<'_>]) {
    let g = graph(tasks);
    let targets: Vec<TaskId> = match keys {
        Some(keys) => keys.iter().map(|k| id(&g, k)).collect(),
        None => sinks(&g),
    };
    let fused = fuse(&g, &targets).unwrap();
    let f = fused.graph();
    assert_eq!(f.len(), expected.len(), "fused tasks: {f:?}");
    for (key, members, deps, dask_name) in expected {
        let t = f
            .id(&Key::from(*key))
            .unwrap_or_else(|| panic!("no fused task {key}"));
        let got: Vec<String> = fused
            .members(t)
            .iter()
            .map(|m| g.key(*m).to_string())
            .collect();
        assert_eq!(got, *members, "members of {key}");
        let got: Vec<String> = f.deps(t).iter().map(|d| f.key(*d).to_string()).collect();
        assert_eq!(got, *deps, "dependencies of {key}");
        assert_eq!(
            fused.dask_key(&g, t).to_string(),
            *dask_name,
            "Dask's name of {key}"
        );
        assert_eq!(f.payload(t).len(), members.len());
    }
    // Targets keep their keys.
    for (&t, &ft) in targets.iter().zip(fused.targets()) {
        assert_eq!(f.key(ft), g.key(t));
    }
}

#[test]
fn fuse_a_chain_into_its_end() {
    // d = {"w": (inc, "x"), "x": (inc, "y"), "y": (inc, "z"), "z": (add, "a", "b"),
    //      "a": 1, "b": 2}
    // -> {"w": (inc, (inc, (inc, (add, "a", "b")))), "a": 1, "b": 2}, renamed z-y-x-w.
    let tasks: &[(&str, &[&str])] = &[
        ("w", &["x"]),
        ("x", &["y"]),
        ("y", &["z"]),
        ("z", &["a", "b"]),
        ("a", &[]),
        ("b", &[]),
    ];
    check(
        tasks,
        None,
        &[
            ("w", &["z", "y", "x", "w"], &["a", "b"], "z-y-x-w"),
            ("a", &["a"], &[], "a"),
            ("b", &["b"], &[], "b"),
        ],
    );
}

#[test]
fn fuse_stops_at_a_task_with_two_dependents() {
    // As above plus "NEW": (inc, "y"): y has two dependents, so the chain breaks there.
    // -> {"NEW": (inc, "z-y"), "x-w": (inc, (inc, "z-y")), "z-y": (inc, (add, "a", "b")),
    //     "a": 1, "b": 2, "w": "x-w", "y": "z-y"}
    let tasks: &[(&str, &[&str])] = &[
        ("NEW", &["y"]),
        ("w", &["x"]),
        ("x", &["y"]),
        ("y", &["z"]),
        ("z", &["a", "b"]),
        ("a", &[]),
        ("b", &[]),
    ];
    check(
        tasks,
        None,
        &[
            ("NEW", &["NEW"], &["y"], "NEW"),
            ("w", &["x", "w"], &["y"], "x-w"),
            ("y", &["z", "y"], &["a", "b"], "z-y"),
            ("a", &["a"], &[], "a"),
            ("b", &["b"], &[], "b"),
        ],
    );
}

#[test]
fn fuse_chains_above_and_below_a_reduction() {
    // {"v": (inc, "y"), "u": (inc, "w"), "w": (inc, "x"), "x": (inc, "y"),
    //  "y": (inc, "z"), "z": (add, "a", "b"), "a": (inc, "c"), "b": (inc, "d"),
    //  "c": 1, "d": 2}
    // -> {"x-w-u": ..., "v": (inc, "z-y"), "z-y": (inc, (add, "c-a", "d-b")),
    //     "c-a": (inc, 1), "d-b": (inc, 2), ...}
    let tasks: &[(&str, &[&str])] = &[
        ("v", &["y"]),
        ("u", &["w"]),
        ("w", &["x"]),
        ("x", &["y"]),
        ("y", &["z"]),
        ("z", &["a", "b"]),
        ("a", &["c"]),
        ("b", &["d"]),
        ("c", &[]),
        ("d", &[]),
    ];
    check(
        tasks,
        None,
        &[
            ("u", &["x", "w", "u"], &["y"], "x-w-u"),
            ("v", &["v"], &["y"], "v"),
            ("y", &["z", "y"], &["a", "b"], "z-y"),
            ("a", &["c", "a"], &[], "c-a"),
            ("b", &["d", "b"], &[], "d-b"),
        ],
    );
}

#[test]
fn fuse_below_a_splitter() {
    // {"a": (inc, "x"), "b": (inc, "x"), "c": (inc, "x"), "d": (inc, "c"),
    //  "x": (inc, "y"), "y": 0}
    // -> {"a": (inc, "y-x"), "b": (inc, "y-x"), "c-d": (inc, (inc, "y-x")),
    //     "y-x": (inc, 0), "d": "c-d", "x": "y-x"}
    let tasks: &[(&str, &[&str])] = &[
        ("a", &["x"]),
        ("b", &["x"]),
        ("c", &["x"]),
        ("d", &["c"]),
        ("x", &["y"]),
        ("y", &[]),
    ];
    check(
        tasks,
        None,
        &[
            ("a", &["a"], &["x"], "a"),
            ("b", &["b"], &["x"], "b"),
            ("d", &["c", "d"], &["x"], "c-d"),
            ("x", &["y", "x"], &[], "y-x"),
        ],
    );
}

#[test]
fn a_dependency_listed_twice_is_not_fused() {
    // {"a": 1, "b": (inc, "a"), "c": (add, "b", "b")}: c uses b twice, so b is not
    // merged into c. -> {"a-b": (inc, 1), "c": (add, "a-b", "a-b"), "b": "a-b"}
    let tasks: &[(&str, &[&str])] = &[("a", &[]), ("b", &["a"]), ("c", &["b", "b"])];
    check(
        tasks,
        None,
        &[
            ("b", &["a", "b"], &[], "a-b"),
            ("c", &["c"], &["b", "b"], "c"),
        ],
    );
}

#[test]
fn fuse_keys_requested_keys_are_never_fused_away() {
    // test_fuse_keys: {"a": 1, "b": (inc, "a"), "c": (inc, "b")} with keys ["b"]:
    // -> {"a-b": (inc, 1), "c": (inc, "a-b"), "b": "a-b"}. (c is not requested: Dask
    // keeps it as it does not cull in fuse; here c is requested as well, or it would
    // be culled away.)
    let tasks: &[(&str, &[&str])] = &[("a", &[]), ("b", &["a"]), ("c", &["b"])];
    check(
        tasks,
        Some(&["b", "c"]),
        &[("b", &["a", "b"], &[], "a-b"), ("c", &["c"], &["b"], "c")],
    );

    // {"w": (inc, "x"), "x": (inc, "y"), "y": (inc, "z"), "z": (add, "a", "b"),
    //  "a": 1, "b": 2} with keys ["x", "z"]:
    // -> {"w": (inc, "y-x"), "y-x": (inc, (inc, "z")), "z": (add, "a", "b"),
    //     "a": 1, "b": 2, "x": "y-x"}
    let tasks: &[(&str, &[&str])] = &[
        ("w", &["x"]),
        ("x", &["y"]),
        ("y", &["z"]),
        ("z", &["a", "b"]),
        ("a", &[]),
        ("b", &[]),
    ];
    check(
        tasks,
        Some(&["x", "z", "w"]),
        &[
            ("w", &["w"], &["x"], "w"),
            ("x", &["y", "x"], &["z"], "y-x"),
            ("z", &["z"], &["a", "b"], "z"),
            ("a", &["a"], &[], "a"),
            ("b", &["b"], &[], "b"),
        ],
    );
}

/// A task of the evaluation test: a constant, an increment, or adding 10 (Dask's
/// `1`, `inc` and `(add, 10, ...)`).
#[derive(Clone, Copy)]
enum Op {
    Const(i64),
    Inc,
    AddTen,
}

fn apply(op: Op, args: &[i64]) -> i64 {
    match op {
        Op::Const(v) => v,
        Op::Inc => args[0] + 1,
        Op::AddTen => args[0] + 10,
    }
}

/// Runs `fused` with one worker driving a [`State`] over the fused graph, each
/// fused task running its members in order; returns the targets' values.
fn run_fused(g: &Graph<Op>, fused: &Fused) -> Vec<i64> {
    let f = fused.graph();
    let mut values = vec![None; f.len()];
    let mut state = State::new(f, fused.targets()).unwrap();
    while let Some(t) = state.pop_ready() {
        let mut args: Vec<i64> = f
            .deps(t)
            .iter()
            .map(|d| values[d.index()].unwrap())
            .collect();
        for &m in fused.members(t) {
            let v = apply(*g.payload(m), &args);
            args = vec![v];
        }
        values[t.index()] = Some(args[0]);
        state.finish(t).unwrap();
        while let Some(r) = state.pop_release() {
            values[r.index()] = None; // released results really go away
        }
    }
    fused
        .targets()
        .iter()
        .map(|t| values[t.index()].unwrap())
        .collect()
}

#[test]
fn fuse_doesnt_clobber_intermediates() {
    // test_multiprocessing.py: d = {"x": 1, "y": (inc, "x"), "z": (add, 10, "y")};
    // get(d, ["y", "z"]) == (2, 12): y is requested, so it survives fusion.
    let mut b = GraphBuilder::new();
    b.add("x", [] as [&str; 0], Op::Const(1)).unwrap();
    b.add("y", ["x"], Op::Inc).unwrap();
    b.add("z", ["y"], Op::AddTen).unwrap();
    let g = b.build().unwrap();
    let key = |k: &str| g.id(&Key::from(k)).unwrap();
    let fused = fuse(&g, &[key("y"), key("z")]).unwrap();
    assert_eq!(fused.graph().len(), 2);
    let y = fused.targets()[0];
    assert_eq!(fused.members(y), &[key("x"), key("y")]);
    assert_eq!(fused.dask_key(&g, y), Key::from("x-y"));
    assert_eq!(run_fused(&g, &fused), [2, 12]);

    // Only z requested: the whole chain is one task, named x-y-z by Dask.
    let fused = fuse(&g, &[key("z")]).unwrap();
    assert_eq!(fused.graph().len(), 1);
    assert_eq!(fused.dask_key(&g, fused.targets()[0]), Key::from("x-y-z"));
    assert_eq!(run_fused(&g, &fused), [12]);
}

#[test]
fn dask_names_of_tuple_keys_and_hashed_names() {
    // default_fused_linear_keys_renamer on tuple keys keeps the last key's indices;
    // key_split drops indices and hex tokens from the other names.
    let mut g = Graph::new();
    let a = g
        .push(
            Key::tuple("ones-1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d", [0]),
            &[],
            (),
        )
        .unwrap();
    let b = g.push(Key::tuple("add-abcdefab", [0]), &[a], ()).unwrap();
    let c = g.push(Key::tuple("sum", [0, 1]), &[b], ()).unwrap();
    let fused = fuse(&g, &[c]).unwrap();
    assert_eq!(
        fused.dask_key(&g, fused.targets()[0]),
        Key::tuple("ones-add-sum", [0, 1])
    );
}

#[test]
fn unneeded_tasks_are_dropped_and_bad_targets_rejected() {
    let g = graph(&[("a", &[]), ("b", &["a"]), ("lonely", &[])]);
    let fused = fuse(&g, &[id(&g, "b")]).unwrap();
    assert_eq!(fused.graph().len(), 1);
    assert_eq!(fused.fused_id(id(&g, "lonely")), None);
    assert_eq!(fused.fused_id(id(&g, "a")), Some(fused.targets()[0]));
    assert!(fuse(&g, &[TaskId::from_index(7)]).is_err());
    let empty = fuse(&g, &[]).unwrap();
    assert!(empty.graph().is_empty());
}

#[test]
fn a_long_chain_fuses_into_one_task_on_a_small_stack() {
    std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(|| {
            let n = 200_000;
            let mut g = Graph::with_capacity(n, n);
            let mut prev = g.push(("c", 0), &[], ()).unwrap();
            for i in 1..n as i64 {
                prev = g.push(("c", i), &[prev], ()).unwrap();
            }
            let fused = fuse(&g, &[prev]).unwrap();
            assert_eq!(fused.graph().len(), 1);
            assert_eq!(fused.members(fused.targets()[0]).len(), n);
        })
        .unwrap()
        .join()
        .unwrap();
}

/// A random DAG with many chains: task `i` mostly depends on `i - 1` alone, else on
/// a few earlier tasks (sometimes one twice). Each task computes a mix of its
/// arguments and its index, so any change in what runs or in argument order shows.
fn random_chains(n: usize, rng: &mut Rng) -> Graph<u64> {
    let mut g = Graph::with_capacity(n, 2 * n);
    for i in 0..n {
        let deps: Vec<TaskId> = match (i, rng.below(3)) {
            (0, _) => vec![],
            (_, 0 | 1) => vec![TaskId::from_index(i - 1 - rng.below(i.min(3)))],
            _ => (0..rng.below(4))
                .map(|_| TaskId::from_index(i - 1 - rng.below(i)))
                .collect(),
        };
        g.push(("t", i as i64), &deps, i as u64).unwrap();
    }
    g
}

fn mix(seed: u64, args: &[u64]) -> u64 {
    args.iter()
        .fold(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15), |h, a| {
            (h ^ a).wrapping_mul(0x0000_0100_0000_01B3).rotate_left(17)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn fusing_never_changes_what_is_computed(n in 1usize..600, seed in any::<u64>()) {
        let mut rng = Rng(seed | 1);
        let g = random_chains(n, &mut rng);
        let mut targets: Vec<TaskId> = (0..1 + rng.below(4))
            .map(|_| TaskId::from_index(rng.below(n)))
            .collect();
        targets.push(TaskId::from_index(n - 1));
        let culled = cull(&g, &targets).unwrap();
        let fused = fuse(&g, &targets).unwrap();
        let f = fused.graph();

        // The original values, computed directly in id (topological) order.
        let mut expected = vec![0u64; n];
        for t in g.ids() {
            let args: Vec<u64> = g.deps(t).iter().map(|d| expected[d.index()]).collect();
            expected[t.index()] = mix(*g.payload(t), &args);
        }

        // Every needed task is a member of exactly one fused task, nothing else is.
        let mut seen = vec![0u32; n];
        for ft in f.ids() {
            let members = fused.members(ft);
            prop_assert!(!members.is_empty());
            // The fused task is its last member's key, and depends on what its first
            // member depends on, in order.
            prop_assert_eq!(f.key(ft), g.key(*members.last().unwrap()));
            let deps: Vec<TaskId> = g.deps(members[0])
                .iter()
                .map(|d| fused.fused_id(*d).unwrap())
                .collect();
            prop_assert_eq!(f.deps(ft), &deps[..]);
            for pair in members.windows(2) {
                // Each next member depends on the previous one alone, which nothing
                // else needs and nobody requested.
                prop_assert_eq!(g.deps(pair[1]), &[pair[0]]);
                prop_assert_eq!(culled.dependents(pair[0]), &[pair[1]]);
                prop_assert!(!culled.is_target(pair[0]));
            }
            for m in members {
                seen[m.index()] += 1;
                prop_assert_eq!(fused.fused_id(*m), Some(ft));
            }
        }
        for t in g.ids() {
            prop_assert_eq!(seen[t.index()], u32::from(culled.contains(t)));
        }
        // Maximal: fusing again merges nothing.
        let again = fuse(f, fused.targets()).unwrap();
        prop_assert_eq!(again.graph().len(), f.len());

        // Running the fused graph gives the targets the same values.
        let mut values = vec![None; f.len()];
        let mut state = State::new(f, fused.targets()).unwrap();
        while let Some(t) = state.pop_ready() {
            let mut args: Vec<u64> = f.deps(t).iter().map(|d| values[d.index()].unwrap()).collect();
            for &m in fused.members(t) {
                args = vec![mix(*g.payload(m), &args)];
            }
            values[t.index()] = Some(args[0]);
            state.finish(t).unwrap();
            while let Some(r) = state.pop_release() {
                values[r.index()] = None;
            }
        }
        for (&t, &ft) in targets.iter().zip(fused.targets()) {
            prop_assert_eq!(values[ft.index()], Some(expected[t.index()]));
            prop_assert_eq!(f.key(ft), g.key(t));
        }
    }
}
