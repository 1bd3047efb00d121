//! Properties of `order` and `order::diagnostics` over random DAGs: the order depends
//! on the graph only (not on how it was built), the diagnostic counts what a naive
//! simulation counts, and nothing recurses along a million-task chain.

#![allow(clippy::unwrap_used)] // tests panic on unexpected errors by design

use proptest::prelude::*;
use taskloom_core::order::diagnostics;
use taskloom_core::{Graph, GraphBuilder, Key, TaskId, cull, order};

mod common;
use common::Rng;

/// A random DAG as `(key, dependency indices)`: task `i` depends on up to `max_deps`
/// earlier tasks, mostly recent ones, sometimes one twice. Keys mix plain strings and
/// tuples, and many tasks look alike, so ties down to the key are common.
fn random_tasks(n: usize, max_deps: usize, rng: &mut Rng) -> Vec<(Key, Vec<usize>)> {
    (0..n)
        .map(|i| {
            let deps = if i == 0 {
                Vec::new()
            } else {
                (0..rng.below(max_deps + 1))
                    .map(|_| {
                        let back = if rng.below(4) == 0 { i } else { i.min(8) };
                        i - 1 - rng.below(back)
                    })
                    .collect()
            };
            let key = match rng.below(3) {
                0 => Key::from(format!("t{i}")),
                _ => Key::tuple(["x", "y"][rng.below(2)], [i as i64]),
            };
            (key, deps)
        })
        .collect()
}

/// Builds the tasks by key, adding them in the order given by `insertion`.
fn build(tasks: &[(Key, Vec<usize>)], insertion: &[usize]) -> Graph<()> {
    let mut b = GraphBuilder::new();
    for &i in insertion {
        let (key, deps) = &tasks[i];
        b.add(key.clone(), deps.iter().map(|&d| tasks[d].0.clone()), ())
            .unwrap();
    }
    b.build().unwrap()
}

fn sinks(g: &Graph<()>) -> Vec<TaskId> {
    let all = cull(g, &g.ids().collect::<Vec<_>>()).unwrap();
    g.ids().filter(|&t| all.dependents(t).is_empty()).collect()
}

/// The keys of the whole graph's order (every sink requested, and a few inner tasks).
fn ordered_keys(g: &Graph<()>, extra: &[Key]) -> Vec<Key> {
    let mut targets = sinks(g);
    targets.extend(g.resolve(extra).unwrap());
    let culled = cull(g, &targets).unwrap();
    let p = order(g, &culled);
    p.sequence().iter().map(|t| g.key(*t).clone()).collect()
}

/// Results held before each step, counted the slow way: a result is held from its
/// task's run until every needed dependent ran; sinks are not counted.
fn naive_pressure(g: &Graph<()>, targets: &[TaskId]) -> Vec<u32> {
    let culled = cull(g, targets).unwrap();
    let p = order(g, &culled);
    let ran_at = |t: TaskId| p.rank(t).unwrap() as usize;
    let steps = p.sequence().len();
    let mut pressure = vec![0u32; steps];
    for t in culled.ids() {
        let dependents = culled.dependents(t);
        let Some(last_use) = dependents.iter().map(|&d| ran_at(d)).max() else {
            continue; // a sink
        };
        // Held before the steps after its run, up to and including its last use.
        for held in &mut pressure[ran_at(t) + 1..=last_use] {
            *held += 1;
        }
    }
    pressure
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn the_order_depends_on_the_graph_not_on_the_insertion_order(
        n in 1usize..400,
        max_deps in 0usize..5,
        seed in any::<u64>(),
    ) {
        let mut rng = Rng(seed | 1);
        let tasks = random_tasks(n, max_deps, &mut rng);
        let forward: Vec<usize> = (0..n).collect();
        let mut shuffled = forward.clone();
        for i in (1..n).rev() {
            shuffled.swap(i, rng.below(i + 1));
        }
        let extra = [tasks[rng.below(n)].0.clone()];
        let a = ordered_keys(&build(&tasks, &forward), &extra);
        let b = ordered_keys(&build(&tasks, &shuffled), &extra);
        let reversed: Vec<usize> = forward.iter().rev().copied().collect();
        let c = ordered_keys(&build(&tasks, &reversed), &extra);
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(&a, &c);
    }

    #[test]
    fn diagnostics_count_what_a_naive_simulation_counts(
        n in 0usize..400,
        max_deps in 0usize..5,
        seed in any::<u64>(),
    ) {
        let mut rng = Rng(seed | 1);
        let tasks = random_tasks(n, max_deps, &mut rng);
        let g = build(&tasks, &(0..n).collect::<Vec<_>>());
        let mut targets = sinks(&g);
        if n > 0 {
            targets.push(TaskId::from_index(rng.below(n)));
        }
        let culled = cull(&g, &targets).unwrap();
        let p = order(&g, &culled);
        let d = diagnostics(&g, &culled, &p);
        let naive = naive_pressure(&g, &targets);
        prop_assert_eq!(&d.pressure, &naive);
        prop_assert_eq!(d.max_pressure, naive.iter().copied().max().unwrap_or(0));
        let mut freed_total = 0;
        for t in g.ids() {
            match d.info(t) {
                None => prop_assert!(!culled.contains(t)),
                Some(info) => {
                    prop_assert_eq!(info.order, p.rank(t).unwrap());
                    prop_assert_eq!(info.num_data_when_run, d.pressure[info.order as usize]);
                    freed_total += info.num_dependencies_freed;
                }
            }
        }
        // Every needed result that has a needed dependent is released exactly once.
        let releasable = culled.ids().filter(|&t| !culled.dependents(t).is_empty()).count();
        prop_assert_eq!(freed_total as usize, releasable);
    }
}

#[test]
fn a_million_task_chain_is_ordered_on_a_small_stack() {
    std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(|| {
            let n = 1_000_000;
            let mut g = Graph::with_capacity(n, n);
            let mut prev = g.push(("c", 0), &[], ()).unwrap();
            for i in 1..n as i64 {
                prev = g.push(("c", i), &[prev], ()).unwrap();
            }
            let culled = cull(&g, &[prev]).unwrap();
            let p = order(&g, &culled);
            assert_eq!(p.sequence().len(), n);
            assert!(p.sequence().iter().enumerate().all(|(i, t)| t.index() == i));
            assert_eq!(diagnostics(&g, &culled, &p).max_pressure, 1);
        })
        .unwrap()
        .join()
        .unwrap();
}

/// A one-dimensional stencil: `width` cells, `steps` time steps, each step of a cell
/// reading its own and its neighbours' previous step, and a sum of the last step.
fn stencil(width: i64, steps: i64) -> (Graph<()>, TaskId) {
    let mut g = Graph::new();
    let mut row: Vec<TaskId> = (0..width)
        .map(|i| g.push(("init", i), &[], ()).unwrap())
        .collect();
    for t in 1..=steps {
        row = (0..width)
            .map(|i| {
                let near: Vec<TaskId> = (i - 1..=i + 1)
                    .filter(|j| (0..width).contains(j))
                    .map(|j| row[j as usize])
                    .collect();
                g.push(("step", t, i), &near, ()).unwrap()
            })
            .collect();
    }
    let sum = g.push("sum", &row, ()).unwrap();
    (g, sum)
}

#[test]
fn a_stencil_is_swept_step_by_step() {
    // Depth first, a cell's last step needs a cone of its neighbours' past (35
    // results held here); step by step, about one row (rule 4).
    let (g, sum) = stencil(24, 30);
    let culled = cull(&g, &[sum]).unwrap();
    let p = order(&g, &culled);
    let held = diagnostics(&g, &culled, &p).max_pressure;
    assert_eq!(held, p.max_pressure());
    assert!(held <= 24 + 2, "{held} results held for a row of 24");
}

/// `(x @ y).sum()` over blocks, as Dask builds it: `x` has `rows × inner` blocks and
/// `y` `inner × cols`; each product of two blocks is summed over `inner` in groups
/// of four, then per output block, then over the output blocks, two by two along
/// each axis, down to one task.
fn matmul_sum(rows: i64, inner: i64, cols: i64) -> (Graph<()>, TaskId) {
    let mut g = Graph::new();
    let x: Vec<Vec<TaskId>> = (0..rows)
        .map(|i| {
            (0..inner)
                .map(|k| g.push(("x", i, k), &[], ()).unwrap())
                .collect()
        })
        .collect();
    let y: Vec<Vec<TaskId>> = (0..inner)
        .map(|k| {
            (0..cols)
                .map(|j| g.push(("y", k, j), &[], ()).unwrap())
                .collect()
        })
        .collect();
    let mut out: Vec<Vec<TaskId>> = Vec::new();
    for i in 0..rows {
        let mut row = Vec::new();
        for j in 0..cols {
            let partials: Vec<TaskId> = (0..inner)
                .step_by(4)
                .map(|k0| {
                    let products: Vec<TaskId> = (k0..(k0 + 4).min(inner))
                        .map(|k| {
                            let (a, b) = (x[i as usize][k as usize], y[k as usize][j as usize]);
                            g.push(("product", i, k, j), &[a, b], ()).unwrap()
                        })
                        .collect();
                    g.push(("partial", i, k0 / 4, j), &products, ()).unwrap()
                })
                .collect();
            row.push(g.push(("block", i, j), &partials, ()).unwrap());
        }
        out.push(row);
    }
    let mut level = 0;
    while out.len() > 1 || out[0].len() > 1 {
        level += 1;
        let (h, w) = (out.len().div_ceil(2), out[0].len().div_ceil(2));
        out = (0..h)
            .map(|i| {
                (0..w)
                    .map(|j| {
                        let tile: Vec<TaskId> = (2 * i..(2 * i + 2).min(out.len()))
                            .flat_map(|r| {
                                let row = &out[r];
                                (2 * j..(2 * j + 2).min(row.len())).map(move |c| row[c])
                            })
                            .collect();
                        g.push(("sum", level, i as i64, j as i64), &tile, ())
                            .unwrap()
                    })
                    .collect()
            })
            .collect();
    }
    let total = out[0][0];
    (g, total)
}

#[test]
fn a_product_holds_its_narrow_operand_and_streams_the_wide_one() {
    // x is 10 × 10 blocks, y 10 × 3: the order holds y (30 blocks) and goes
    // through x a row at a time, holding besides a few blocks of x and the partial
    // sums of the row and of the tree (48 at most). Going on into the sum tree's
    // heavier branches instead leaves the rows of x loaded for the third column held
    // until the tree comes back to that column (69); rule 1b takes it first.
    let (g, total) = matmul_sum(10, 10, 3);
    let culled = cull(&g, &[total]).unwrap();
    let p = order(&g, &culled);
    let held = diagnostics(&g, &culled, &p).max_pressure;
    assert_eq!(held, p.max_pressure());
    assert!(held <= 48, "{held} results held");
}
