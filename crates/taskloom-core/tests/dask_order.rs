//! Dask's ordering tests (`dask/tests/test_order.py`, dask 2026.8.0) ported to
//! taskloom's [`order`] and [`diagnostics`].
//!
//! Each test builds the same graph as Dask's and checks the same property. Dask
//! orders the whole graph, so every test here requests every sink. Where taskloom's
//! order differs from an exact Dask expectation, the test says why and checks instead
//! that taskloom holds no more results at once than Dask did on that graph (the
//! `max(diagnostics(...)[1])` Dask's own order reaches, recorded from dask 2026.8.0).
//!
//! Differences that apply throughout:
//! - Dask treats a few literal values (`1`, `(0,)`, aliases like `("b", 0)`) as data
//!   rather than tasks and orders them apart; taskloom has no such distinction, so
//!   those nodes are ordinary tasks here.
//! - Dask breaks final ties by `str(key)`; taskloom by [`Key`]'s order (name, then
//!   indices as integers), and between equally big branches of the walk it takes
//!   the lowest key first where Dask takes the highest (`break_ties_by_str`). The
//!   two orders of keys agree on every graph below: none has indices of different
//!   digit counts in a tie.
//! - Many Dask tests run twice, with the letters `a..e` swapped for `e..a`, to show
//!   that structure and not names decides; [`LETTERS`] does the same.

#![allow(clippy::unwrap_used)] // tests panic on unexpected errors by design

use taskloom_core::order::diagnostics;
use taskloom_core::{
    Culled, Graph, GraphBuilder, GraphError, Key, Priorities, State, Status, TaskId, cull, order,
};

/// The two spellings of Dask's `abcde` fixture.
const LETTERS: [[&str; 5]; 2] = [["a", "b", "c", "d", "e"], ["e", "d", "c", "b", "a"]];

fn k(name: &str, i: i64) -> Key {
    Key::tuple(name, [i])
}

fn s(name: &str) -> Key {
    Key::from(name)
}

/// A graph ordered the way Dask's tests order it: every sink requested.
struct Ordered {
    g: Graph<()>,
    culled: Culled,
    p: Priorities,
}

impl Ordered {
    fn new(tasks: Vec<(Key, Vec<Key>)>) -> Self {
        let mut b = GraphBuilder::new();
        for (key, deps) in tasks {
            b.add(key, deps, ()).unwrap();
        }
        let g = b.build().unwrap();
        let all = cull(&g, &g.ids().collect::<Vec<_>>()).unwrap();
        let sinks: Vec<TaskId> = g.ids().filter(|&t| all.dependents(t).is_empty()).collect();
        let culled = cull(&g, &sinks).unwrap();
        let p = order(&g, &culled);
        let ordered = Ordered { g, culled, p };
        ordered.assert_topological();
        ordered
    }

    /// Dask's `o[key]`.
    fn o(&self, key: &Key) -> u32 {
        let id = self.g.id(key).unwrap_or_else(|| panic!("no task {key}"));
        self.p.rank(id).unwrap()
    }

    fn keys_in_order(&self) -> Vec<String> {
        self.p
            .sequence()
            .iter()
            .map(|t| self.g.key(*t).to_string())
            .collect()
    }

    fn max_pressure(&self) -> u32 {
        diagnostics(&self.g, &self.culled, &self.p).max_pressure
    }

    /// Dask's `assert_topological_sort`: every task is ordered, after its
    /// dependencies.
    fn assert_topological(&self) {
        assert_eq!(self.p.sequence().len(), self.g.len());
        for t in self.g.ids() {
            let r = self.p.rank(t).unwrap();
            for d in self.g.deps(t) {
                assert!(
                    self.p.rank(*d).unwrap() < r,
                    "{} before its dependency",
                    self.g.key(t)
                );
            }
        }
    }
}

fn deps(keys: &[Key]) -> Vec<Key> {
    keys.to_vec()
}

#[test]
fn ordering_keeps_groups_together() {
    for [a, b, ..] in LETTERS {
        let roots = |tasks: &mut Vec<(Key, Vec<Key>)>| {
            for i in 0..4 {
                tasks.push((k(a, i), vec![]));
            }
        };
        let mut tasks = Vec::new();
        roots(&mut tasks);
        tasks.push((k(b, 0), deps(&[k(a, 0), k(a, 1)])));
        tasks.push((k(b, 1), deps(&[k(a, 2), k(a, 3)])));
        let o = Ordered::new(tasks);
        assert_eq!(o.o(&k(a, 0)).abs_diff(o.o(&k(a, 1))), 1);
        assert_eq!(o.o(&k(a, 2)).abs_diff(o.o(&k(a, 3))), 1);

        let mut tasks = Vec::new();
        roots(&mut tasks);
        tasks.push((k(b, 0), deps(&[k(a, 0), k(a, 2)])));
        tasks.push((k(b, 1), deps(&[k(a, 1), k(a, 3)])));
        let o = Ordered::new(tasks);
        assert_eq!(o.o(&k(a, 0)).abs_diff(o.o(&k(a, 2))), 1);
        assert_eq!(o.o(&k(a, 1)).abs_diff(o.o(&k(a, 3))), 1);
    }
}

#[test]
fn avoid_broker_nodes() {
    // b0 b1 b2
    // |   \ /
    // a0   a1
    // Whichever root runs first, its branch is finished before the other root starts.
    for [a, b, ..] in LETTERS {
        let o = Ordered::new(vec![
            (k(a, 0), vec![]),
            (k(a, 1), vec![]),
            (k(b, 0), deps(&[k(a, 0)])),
            (k(b, 1), deps(&[k(a, 1)])),
            (k(b, 2), deps(&[k(a, 1)])),
        ]);
        assert!(
            o.o(&k(a, 1)) < o.o(&k(b, 0))
                || (o.o(&k(b, 1)) < o.o(&k(a, 0)) && o.o(&k(b, 2)) < o.o(&k(a, 0))),
            "{:?}",
            o.keys_in_order()
        );
    }
}

#[test]
fn base_of_reduce_preferred() {
    //             a3
    //            /|
    //          a2 |
    //         /|  |
    //       a1 |  |
    //      /|  |  |
    //    a0 |  |  |
    //    |  |  |  |
    //    b0 b1 b2 b3
    //      \ \ / /
    //         c
    // Dask runs this with `c` as data and as a task; both are a task here.
    for [a, b, ..] in LETTERS {
        let mut tasks = vec![(k(a, 0), deps(&[k(b, 0)])), (s("c"), vec![])];
        for i in 1..4 {
            tasks.push((k(a, i), deps(&[k(a, i - 1), k(b, i)])));
        }
        for i in 0..4 {
            tasks.push((k(b, i), deps(&[s("c")])));
        }
        let o = Ordered::new(tasks);
        assert!(o.o(&k(b, 0)) <= 1, "{:?}", o.keys_in_order());
        assert!(o.o(&k(b, 1)) <= 3, "{:?}", o.keys_in_order());
    }
}

#[test]
fn deep_bases_win_over_dependents() {
    // a depends on b, c, d; b on d and e; c on d. The deeper base b runs before c.
    for [a, b, c, d, e] in LETTERS {
        let o = Ordered::new(vec![
            (s(a), deps(&[s(b), s(c), s(d)])),
            (s(b), deps(&[s(d), s(e)])),
            (s(c), deps(&[s(d)])),
            (s(d), vec![]),
            (s(e), vec![]),
        ]);
        assert!(o.o(&s(b)) < o.o(&s(c)), "{:?}", o.keys_in_order());
    }
}

#[test]
fn prefer_deep() {
    //  c
    //  |
    //  b   e
    //  |   |
    //  a   d
    // Two independent chains: the longer one starts first (its critical path is
    // longer; memory is the same either way).
    for [a, b, c, d, e] in LETTERS {
        let o = Ordered::new(vec![
            (s(a), vec![]),
            (s(b), deps(&[s(a)])),
            (s(c), deps(&[s(b)])),
            (s(d), vec![]),
            (s(e), deps(&[s(d)])),
        ]);
        assert!(o.o(&s(a)) < o.o(&s(d)), "{:?}", o.keys_in_order());
        assert!(o.o(&s(b)) < o.o(&s(d)), "{:?}", o.keys_in_order());
    }
}

#[test]
fn break_ties_by_str() {
    // Ten structurally identical inputs of one sum: only the key can decide. Dask
    // takes the largest `str(key)` first and asserts ('x', 9), ('x', 8), ...;
    // taskloom takes the lowest key first (rule 1 of the order: a grid of chunks is
    // then swept the way rule 3 goes). Either way the sum waits for all ten.
    let mut tasks: Vec<(Key, Vec<Key>)> = (0..10).map(|i| (k("x", i), vec![])).collect();
    tasks.push((s("y"), (0..10).map(|i| k("x", i)).collect()));
    let o = Ordered::new(tasks);
    assert_eq!(o.o(&s("y")), 10);
    for i in 0..10 {
        assert_eq!(o.o(&k("x", i)), i as u32, "{:?}", o.keys_in_order());
    }
    assert_eq!(o.max_pressure(), 10, "as Dask's order");
}

#[test]
fn favor_longest_critical_path() {
    //   a
    //   |
    // d b e
    //  \|/
    //   c
    // Dask asserts o[d] > o[b] and o[e] > o[b]: start the longest path (c, b, a) first,
    // for the sake of parallel runs. taskloom places d and e right after c instead:
    // they are sinks, so running them holds nothing, and b then releases c as soon as
    // it runs. One worker holds 1 result at most instead of Dask's 2. (With several
    // workers, b starts one step later than in Dask; the order aims at memory first.)
    for [a, b, c, d, e] in LETTERS {
        let o = Ordered::new(vec![
            (s(c), vec![]),
            (s(d), deps(&[s(c)])),
            (s(e), deps(&[s(c)])),
            (s(b), deps(&[s(c)])),
            (s(a), deps(&[s(b)])),
        ]);
        assert_eq!(o.o(&s(c)), 0);
        assert!(o.o(&s(d)) < o.o(&s(b)), "{:?}", o.keys_in_order());
        assert!(o.o(&s(e)) < o.o(&s(b)), "{:?}", o.keys_in_order());
        assert_eq!(o.o(&s(a)), o.o(&s(b)) + 1, "{:?}", o.keys_in_order());
        assert_eq!(o.max_pressure(), 1, "Dask's order holds 2");
    }
}

/// The graph of Dask's `test_local_parents_of_reduction`:
///
/// ```text
///         c1
///         |
///     b1  c2
///     |  /|
/// a1  b2  c3
/// |  /|
/// a2  b3
/// |
/// a3
/// ```
fn local_parents_graph([a, b, c, ..]: [&str; 5]) -> Vec<(Key, Vec<Key>)> {
    let n = |x: &str, i: u8| s(&format!("{x}{i}"));
    vec![
        (n(a, 1), deps(&[n(a, 2)])),
        (n(a, 2), deps(&[n(a, 3)])),
        (n(a, 3), vec![]),
        (n(b, 1), deps(&[n(b, 2)])),
        (n(b, 2), deps(&[n(b, 3), n(a, 2)])),
        (n(b, 3), vec![]),
        (n(c, 1), deps(&[n(c, 2)])),
        (n(c, 2), deps(&[n(c, 3), n(b, 2)])),
        (n(c, 3), vec![]),
    ]
}

#[test]
fn local_parents_of_reduction() {
    // "Prefer to finish a1 stack before proceeding to b2": the static order and a
    // one-worker run (Dask: `dask.get`, here: `State`) both run the a-chain, then
    // the b-chain, then the c-chain.
    for letters @ [a, b, c, ..] in LETTERS {
        let expected: Vec<String> = [
            (a, 3),
            (a, 2),
            (a, 1),
            (b, 3),
            (b, 2),
            (b, 1),
            (c, 3),
            (c, 2),
            (c, 1),
        ]
        .iter()
        .map(|(x, i)| format!("{x}{i}"))
        .collect();
        let o = Ordered::new(local_parents_graph(letters));
        assert_eq!(o.keys_in_order(), expected);

        let targets: Vec<TaskId> = ["1"]
            .iter()
            .flat_map(|i| [a, b, c].map(|x| o.g.id(&s(&format!("{x}{i}"))).unwrap()))
            .collect();
        let mut state = State::new(&o.g, &targets).unwrap();
        let mut log = Vec::new();
        while let Some(t) = state.pop_ready() {
            log.push(o.g.key(t).to_string());
            state.finish(t).unwrap();
            while state.pop_release().is_some() {}
        }
        assert_eq!(state.status(), Status::Done);
        assert_eq!(log, expected);
    }
}

#[test]
fn nearest_neighbor() {
    // a1  a2  a3  a4  a5  a6  a7 a8  a9
    //  \  |  /  \ |  /  \ |  / \ |  /
    //     b1      b2      b3     b4
    // Finish a local group before moving on, although every group is connected.
    for [a, b, ..] in LETTERS {
        let n = |x: &str, i: u8| s(&format!("{x}{i}"));
        let mut tasks: Vec<(Key, Vec<Key>)> = (1..=4).map(|i| (n(b, i), vec![])).collect();
        let groups: [(u8, &[u8]); 9] = [
            (1, &[1]),
            (2, &[1]),
            (3, &[1, 2]),
            (4, &[2]),
            (5, &[2, 3]),
            (6, &[3]),
            (7, &[3, 4]),
            (8, &[4]),
            (9, &[4]),
        ];
        for (i, bs) in groups {
            tasks.push((n(a, i), bs.iter().map(|&j| n(b, j)).collect()));
        }
        let o = Ordered::new(tasks);
        let half = o.g.len() as f64 / 2.0;
        let early = |x: &str, range: std::ops::RangeInclusive<u8>| {
            range.filter(|&i| f64::from(o.o(&n(x, i))) < half).count()
        };
        let (early_a, early_b) = (early(a, 1..=9), early(b, 1..=4));
        assert!(3 < early_a && early_a < 7, "{:?}", o.keys_in_order());
        assert!(1 < early_b && early_b < 4, "{:?}", o.keys_in_order());
    }
}

#[test]
fn use_structure_not_keys() {
    // Ten roots and ten sums, each sum over up to three roots, chained so that
    // consecutive sums share two roots: the keys are shuffled, the structure is a
    // path. Run along the path: one new root, one sum, and so on.
    for [a, b, ..] in LETTERS {
        let mut tasks: Vec<(Key, Vec<Key>)> = (0..10).map(|i| (k(a, i), vec![])).collect();
        let sums: [(i64, &[i64]); 10] = [
            (5, &[2]),
            (7, &[0, 2]),
            (9, &[7, 0, 2]),
            (1, &[4, 7, 0]),
            (2, &[9, 4, 7]),
            (4, &[6, 9, 4]),
            (3, &[5, 6, 9]),
            (8, &[1, 5, 6]),
            (6, &[8, 1, 5]),
            (0, &[3, 8, 1]),
        ];
        for (i, roots) in sums {
            tasks.push((k(b, i), roots.iter().map(|&r| k(a, r)).collect()));
        }
        let o = Ordered::new(tasks);
        assert_eq!(o.max_pressure(), 3);
        let mut as_: Vec<u32> = (0..10).map(|i| o.o(&k(a, i))).collect();
        let mut bs: Vec<u32> = (0..10).map(|i| o.o(&k(b, i))).collect();
        as_.sort_unstable();
        bs.sort_unstable();
        assert!([1, 3].contains(&bs[0]), "{:?}", o.keys_in_order());
        if bs[0] == 3 {
            assert_eq!(as_, [0, 1, 2, 4, 6, 8, 10, 12, 14, 16]);
            assert_eq!(bs, [3, 5, 7, 9, 11, 13, 15, 17, 18, 19]);
        } else {
            assert_eq!(as_, [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
            assert_eq!(bs, [1, 3, 5, 7, 9, 11, 13, 15, 17, 19]);
        }
    }
}

#[test]
fn dont_run_all_dependents_too_early() {
    // d_i needs d_{i-1}, b_i and c_i; every b_i hangs off b_0 and every c_i off c_0.
    // b_1..b_9 are all ready once b_0 ran, but each should run just before its d_i.
    //
    // Dask asserts the d_i at positions 3, 6, ..., 30 exactly. taskloom matches that
    // up to d_7; then c_9 runs right after c_8, one step before d_8 (positions 28 and
    // 30 for d_8 and d_9): once c_8 ran, c_9 is the last consumer of c_0, and running
    // it swaps one held result (c_0) for another (c_9). Such a move never holds more,
    // and here holds the same: 5 results at most, as Dask's order.
    for [a, b, c, d, _] in LETTERS {
        let mut tasks = vec![
            (k(a, 0), vec![]),
            (k(b, 0), vec![]),
            (k(c, 0), vec![]),
            (k(d, 0), deps(&[k(a, 0), k(b, 0), k(c, 0)])),
        ];
        for i in 1..10 {
            tasks.push((k(b, i), deps(&[k(b, 0)])));
            tasks.push((k(c, i), deps(&[k(c, 0)])));
            tasks.push((k(d, i), deps(&[k(d, i - 1), k(b, i), k(c, i)])));
        }
        let o = Ordered::new(tasks);
        let mut ds: Vec<u32> = (0..10).map(|i| o.o(&k(d, i))).collect();
        ds.sort_unstable();
        assert_eq!(
            ds,
            [3, 6, 9, 12, 15, 18, 21, 24, 28, 30],
            "{:?}",
            o.keys_in_order()
        );
        // Never more than one of b_i, c_i runs ahead of d_{i-1}.
        for i in 2..10 {
            let ahead = [k(b, i), k(c, i)]
                .iter()
                .filter(|x| o.o(x) < o.o(&k(d, i - 1)))
                .count();
            assert!(ahead <= 1, "{:?}", o.keys_in_order());
        }
        assert_eq!(o.max_pressure(), 5, "Dask's order holds 5");
    }
}

#[test]
fn many_branches_use_ndependencies() {
    // From one root, five branches into one sum: two plain chains, one single task
    // ("short and thin: should go last") and two forks of two chains each. The two
    // heaviest branches (the forks) run first, one after the other.
    for [a, b, c, d, e] in LETTERS {
        let (dd, ee) = (format!("{d}{d}"), format!("{e}{e}"));
        let (dd, ee) = (dd.as_str(), ee.as_str());
        let o = Ordered::new(vec![
            (k(a, 0), vec![]),
            (k(a, 1), deps(&[k(a, 0)])),
            (k(a, 2), deps(&[k(a, 1)])),
            (k(b, 1), deps(&[k(a, 0)])),
            (k(b, 2), deps(&[k(b, 1)])),
            (k(c, 1), deps(&[k(a, 0)])),
            (k(d, 1), deps(&[k(a, 0)])),
            (k(d, 2), deps(&[k(d, 1)])),
            (k(dd, 1), deps(&[k(a, 0)])),
            (k(dd, 2), deps(&[k(dd, 1)])),
            (k(dd, 3), deps(&[k(d, 2), k(dd, 2)])),
            (k(e, 1), deps(&[k(a, 0)])),
            (k(e, 2), deps(&[k(e, 1)])),
            (k(ee, 1), deps(&[k(a, 0)])),
            (k(ee, 2), deps(&[k(ee, 1)])),
            (k(ee, 3), deps(&[k(e, 2), k(ee, 2)])),
            (
                k(a, 3),
                deps(&[k(a, 2), k(b, 2), k(c, 1), k(dd, 3), k(ee, 3)]),
            ),
        ]);
        let mut forks: Vec<u32> = [d, dd, e, ee]
            .iter()
            .flat_map(|x| (1..=3).map(move |i| k(x, i)))
            .filter_map(|key| o.g.id(&key).map(|_| o.o(&key)))
            .collect();
        forks.sort_unstable();
        assert_eq!(
            forks,
            [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
            "{:?}",
            o.keys_in_order()
        );
        assert_eq!(o.o(&k(c, 1)), o.o(&k(a, 3)) - 1, "{:?}", o.keys_in_order());
    }
}

#[test]
fn terminal_node_backtrack() {
    // A terminal `store` depends on everything; the left and right halves meet only
    // there, and each half shares a root between its two chunks. Once a half has
    // started, it is finished before the other half starts: a2 (left) before a3
    // (right). Dask treats the `a` roots as data and `store` chunks as aliases; here
    // all are tasks.
    let st = |i: i64, j: i64| Key::tuple("store", [i, j]);
    let o = Ordered::new(vec![
        (k("a", 0), vec![]),
        (k("a", 1), vec![]),
        (k("a", 2), vec![]),
        (k("b", 0), deps(&[k("a", 0), k("a", 1)])),
        (k("b", 1), deps(&[k("a", 1), k("a", 2)])),
        (st(0, 0), deps(&[k("b", 0)])),
        (st(1, 0), deps(&[k("b", 1)])),
        (k("a", 3), vec![]),
        (k("a", 4), vec![]),
        (k("a", 5), vec![]),
        (k("b", 2), deps(&[k("a", 3), k("a", 4)])),
        (k("b", 3), deps(&[k("a", 4), k("a", 5)])),
        (st(0, 1), deps(&[k("b", 2)])),
        (st(1, 1), deps(&[k("b", 3)])),
        (s("store"), deps(&[st(0, 0), st(1, 0), st(0, 1), st(1, 1)])),
    ]);
    assert!(o.o(&k("a", 2)) < o.o(&k("a", 3)), "{:?}", o.keys_in_order());
}

#[test]
fn diagnostics_match_dask() {
    //     a1  b1  c1  d1  e1
    //     /|\ /|\ /|\ /|  /
    //    / | X | X | X | /
    //   /  |/ \|/ \|/ \|/
    // a0  b0  c0  d0  e0
    for [a, b, c, d, e] in LETTERS {
        let o = Ordered::new(vec![
            (k(a, 0), vec![]),
            (k(b, 0), vec![]),
            (k(c, 0), vec![]),
            (k(d, 0), vec![]),
            (k(e, 0), vec![]),
            (k(a, 1), deps(&[k(a, 0), k(b, 0), k(c, 0)])),
            (k(b, 1), deps(&[k(b, 0), k(c, 0), k(d, 0)])),
            (k(c, 1), deps(&[k(c, 0), k(d, 0), k(e, 0)])),
            (k(d, 1), deps(&[k(d, 0), k(e, 0)])),
            (k(e, 1), deps(&[k(e, 0)])),
        ]);
        let diag = diagnostics(&o.g, &o.culled, &o.p);
        let field = |f: fn(&taskloom_core::order::OrderInfo) -> u32| -> Vec<(String, u32)> {
            let mut v: Vec<(String, u32)> =
                o.g.ids()
                    .map(|t| (o.g.key(t).to_string(), f(diag.info(t).unwrap())))
                    .collect();
            v.sort();
            v
        };
        let expect = |values: [(&str, i64, u32); 10]| -> Vec<(String, u32)> {
            let mut v: Vec<(String, u32)> = values
                .iter()
                .map(|(x, i, n)| (k(x, *i).to_string(), *n))
                .collect();
            v.sort();
            v
        };
        for t in o.g.ids() {
            assert_eq!(diag.info(t).unwrap().order, o.p.rank(t).unwrap());
        }
        let n = o.g.len() as u32;
        if o.o(&k(e, 1)) == 1 {
            assert_eq!(o.o(&k(d, 1)), 3);
            assert_eq!(o.o(&k(c, 1)), 5);
            assert_eq!(diag.pressure, [0, 1, 1, 2, 2, 3, 2, 3, 2, 3]);
            assert_eq!(diag.max_pressure, 3);
            #[rustfmt::skip]
            assert_eq!(field(|i| i.age), expect([
                (a, 0, 1), (b, 0, 3), (c, 0, 5), (d, 0, 5), (e, 0, 5),
                (a, 1, 0), (b, 1, 0), (c, 1, 0), (d, 1, 0), (e, 1, 0)]));
            #[rustfmt::skip]
            assert_eq!(field(|i| i.num_dependencies_freed), expect([
                (a, 0, 0), (b, 0, 0), (c, 0, 0), (d, 0, 0), (e, 0, 0),
                (a, 1, 3), (b, 1, 1), (c, 1, 1), (d, 1, 0), (e, 1, 0)]));
            #[rustfmt::skip]
            assert_eq!(field(|i| i.num_data_when_run), expect([
                (a, 0, 2), (b, 0, 2), (c, 0, 2), (d, 0, 1), (e, 0, 0),
                (a, 1, 3), (b, 1, 3), (c, 1, 3), (d, 1, 2), (e, 1, 1)]));
            #[rustfmt::skip]
            assert_eq!(field(|i| i.num_data_when_released), expect([
                (a, 0, 3), (b, 0, 3), (c, 0, 3), (d, 0, 3), (e, 0, 3),
                (a, 1, 3), (b, 1, 3), (c, 1, 3), (d, 1, 2), (e, 1, 1)]));
        } else {
            assert_eq!(o.o(&k(e, 1)), n - 1);
            assert_eq!(o.o(&k(d, 1)), n - 2);
            assert_eq!(o.o(&k(c, 1)), n - 3);
            assert_eq!(diag.pressure, [0, 1, 2, 3, 2, 3, 2, 3, 2, 1]);
            #[rustfmt::skip]
            assert_eq!(field(|i| i.age), expect([
                (a, 0, 3), (b, 0, 4), (c, 0, 5), (d, 0, 4), (e, 0, 3),
                (a, 1, 0), (b, 1, 0), (c, 1, 0), (d, 1, 0), (e, 1, 0)]));
            #[rustfmt::skip]
            assert_eq!(field(|i| i.num_dependencies_freed), expect([
                (a, 0, 0), (b, 0, 0), (c, 0, 0), (d, 0, 0), (e, 0, 0),
                (a, 1, 1), (b, 1, 1), (c, 1, 1), (d, 1, 1), (e, 1, 1)]));
            #[rustfmt::skip]
            assert_eq!(field(|i| i.num_data_when_run), expect([
                (a, 0, 0), (b, 0, 1), (c, 0, 2), (d, 0, 2), (e, 0, 2),
                (a, 1, 3), (b, 1, 3), (c, 1, 3), (d, 1, 2), (e, 1, 1)]));
            #[rustfmt::skip]
            assert_eq!(field(|i| i.num_data_when_released), expect([
                (a, 0, 3), (b, 0, 3), (c, 0, 3), (d, 0, 2), (e, 0, 1),
                (a, 1, 3), (b, 1, 3), (c, 1, 3), (d, 1, 2), (e, 1, 1)]));
        }
    }
}

#[test]
fn order_cycle() {
    // Dask raises "Cycle detected" from `order`; taskloom cannot even build a graph
    // with a cycle: the builder reports the keys on it.
    let cycle = |tasks: &[(Key, Vec<Key>)]| -> Vec<Key> {
        let mut b = GraphBuilder::<()>::new();
        for (key, deps) in tasks {
            b.add(key.clone(), deps.clone(), ()).unwrap();
        }
        match b.build() {
            Err(GraphError::Cycle { keys }) => keys,
            other => panic!("expected a cycle, got {other:?}"),
        }
    };
    assert_eq!(cycle(&[(s("a"), vec![s("a")])]), [s("a")]);
    assert_eq!(cycle(&[(k("a", 0), vec![k("a", 0)])]), [k("a", 0)]);
    let mut three = cycle(&[
        (s("a"), vec![s("b")]),
        (s("b"), vec![s("c")]),
        (s("c"), vec![s("a")]),
    ]);
    three.sort();
    assert_eq!(three, [s("a"), s("b"), s("c")]);
    let mut with_data = cycle(&[
        (s("a"), vec![s("b")]),
        (s("b"), vec![s("c")]),
        (s("c"), vec![s("a"), s("d")]),
        (s("d"), vec![]),
    ]);
    with_data.sort();
    assert_eq!(with_data, [s("a"), s("b"), s("c")]);
    let mut with_branch = cycle(&[
        (s("a"), vec![s("b")]),
        (s("b"), vec![s("c")]),
        (s("c"), vec![s("a"), s("d")]),
        (s("d"), vec![s("b")]),
    ]);
    with_branch.sort();
    assert!(
        with_branch.len() == 3 && with_branch.contains(&s("b")) && with_branch.contains(&s("c"))
    );
}

#[test]
fn order_empty() {
    let g: Graph<()> = Graph::new();
    let culled = cull(&g, &[]).unwrap();
    let p = order(&g, &culled);
    assert!(p.sequence().is_empty());
    let d = diagnostics(&g, &culled, &p);
    assert!(d.pressure.is_empty());
    assert_eq!(d.max_pressure, 0);
}

#[test]
fn stacklimit_and_recursion_depth_of_long_linear_chains() {
    // Dask's test_stacklimit (x1 <- x2 <- ... <- x10000) and
    // test_recursion_depth_long_linear_chains ("-1" <- "0" <- ... <- "9999"), on a
    // thread with a 64 KiB stack: nothing in `order` may recurse along a chain.
    std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(|| {
            let mut tasks = vec![(s("x1"), vec![])];
            for i in 1..10_000 {
                tasks.push((s(&format!("x{}", i + 1)), vec![s(&format!("x{i}"))]));
            }
            let o = Ordered::new(tasks);
            assert_eq!(o.p.sequence().len(), 10_000);
            assert_eq!(o.max_pressure(), 1);

            let mut tasks = vec![(s("-1"), vec![])];
            for i in 0..10_000 {
                tasks.push((s(&i.to_string()), vec![s(&(i - 1).to_string())]));
            }
            let o = Ordered::new(tasks);
            assert_eq!(o.p.sequence().len(), 10_001);
            assert_eq!(o.o(&s("-1")), 0);
            assert_eq!(o.o(&s("9999")), 10_000);
        })
        .unwrap()
        .join()
        .unwrap();
}
