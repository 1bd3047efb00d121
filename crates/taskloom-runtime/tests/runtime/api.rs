//! The typed graph API and what a computation returns.

use std::sync::Arc;

use taskloom::{
    ComputeError, Graph, GraphError, Key, Request, Scheduler, TaskError, TaskErrorKind, Value,
};

use crate::support::{Log, within};

fn schedulers() -> Vec<Scheduler> {
    vec![Scheduler::current_thread(), Scheduler::threads(2).unwrap()]
}

#[tokio::test]
async fn inputs_of_every_arity_and_type() {
    for s in schedulers() {
        let mut g = Graph::new();
        let a = g.add("a", (), || 2_i64).unwrap();
        let name = g.add("name", (), || String::from("x")).unwrap();
        let b = g.add("b", &a, |x: &i64| x + 1).unwrap();
        let c = g
            .add("c", (&a, &name), |x: &i64, n: &String| format!("{n}{x}"))
            .unwrap();
        let d = g
            .add("d", (&a, &b, &c), |x: &i64, y: &i64, s: &String| {
                (x * y) as usize + s.len()
            })
            .unwrap();
        let e = g
            .add(
                "e",
                (&a, &b, &a, &b),
                |w: &i64, x: &i64, y: &i64, z: &i64| w + x + y + z,
            )
            .unwrap();
        let parts: Vec<_> = (0..5)
            .map(|i| g.add(("part", i), (), move || i * i).unwrap())
            .collect();
        let total = g
            .add("total", &parts, |xs: &[&i64]| {
                xs.iter().copied().sum::<i64>()
            })
            .unwrap();
        assert_eq!(s.compute(&g, &c).await.unwrap(), "x2");
        assert_eq!(s.compute(&g, &d).await.unwrap(), 8);
        assert_eq!(s.compute(&g, &e).await.unwrap(), 10);
        assert_eq!(s.compute(&g, &total).await.unwrap(), 30);
        assert_eq!(
            s.compute(&g, (&b, &c)).await.unwrap(),
            (3, "x2".to_string())
        );
        assert_eq!(s.compute(&g, &parts[1..3]).await.unwrap(), vec![1, 4]);
        assert_eq!(g.key(&parts[2]).to_string(), "('part', 2)");
    }
}

#[tokio::test]
async fn fallible_tasks_return_values_or_named_errors() {
    let mut g = Graph::new();
    let text = g.add("text", (), || "42".to_string()).unwrap();
    let good = g
        .try_add("parse", &text, |t: &String| t.parse::<i64>())
        .unwrap();
    let bad = g.try_add("parse-bad", (), || "x".parse::<i64>()).unwrap();
    let s = Scheduler::threads(2).unwrap();
    assert_eq!(s.compute(&g, &good).await.unwrap(), 42);
    let err = s.compute(&g, &bad).await.unwrap_err();
    let ComputeError::Task { key, error } = &err else {
        panic!("expected a task error, got {err}")
    };
    assert_eq!(key, &Key::from("parse-bad"));
    assert_eq!(error.kind(), TaskErrorKind::Failed);
    assert_eq!(
        err.to_string(),
        "task `parse-bad` failed: invalid digit found in string"
    );
    // The original error is the source.
    let source = std::error::Error::source(error).unwrap();
    assert!(source.downcast_ref::<std::num::ParseIntError>().is_some());
}

#[tokio::test]
async fn async_tasks_run_on_tokio_under_every_executor() {
    for s in schedulers() {
        let mut g = Graph::new();
        let a = g.add("a", (), || 5_u32).unwrap();
        let slow = g
            .add_async("slow", &a, |a: Arc<u32>| async move {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                *a * 2
            })
            .unwrap();
        let none = g.add_async("none", (), || async { 1_u32 }).unwrap();
        let both = g
            .add("both", (&slow, &none), |x: &u32, y: &u32| x + y)
            .unwrap();
        let fallible = g
            .try_add_async("fallible", &both, |b: Arc<u32>| async move {
                if *b == 11 {
                    Err(format!("{b} is unlucky"))
                } else {
                    Ok(*b)
                }
            })
            .unwrap();
        assert_eq!(s.compute(&g, &both).await.unwrap(), 11);
        let err = s.compute(&g, &fallible).await.unwrap_err();
        assert_eq!(err.to_string(), "task `fallible` failed: 11 is unlucky");
    }
}

#[tokio::test]
async fn many_async_tasks_overlap_their_waits() {
    // 200 tasks that each wait at a barrier for all 200: the computation can end only
    // if every wait is in progress at once. Run one after the other (or a few at a
    // time), the first would wait forever and `within` would fail the test.
    let barrier = Arc::new(tokio::sync::Barrier::new(200));
    let mut g = Graph::new();
    let parts: Vec<_> = (0..200)
        .map(|i| {
            let barrier = Arc::clone(&barrier);
            g.add_async(("wait", i), (), move || {
                let barrier = Arc::clone(&barrier);
                async move {
                    barrier.wait().await;
                    i
                }
            })
            .unwrap()
        })
        .collect();
    let total = g
        .add("total", &parts, |xs: &[&i64]| {
            xs.iter().copied().sum::<i64>()
        })
        .unwrap();
    let out = within(
        "200 async tasks wait at once",
        Scheduler::current_thread().compute(&g, &total),
    )
    .await
    .unwrap();
    assert_eq!(out, (0..200).sum::<i64>());
}

#[tokio::test]
async fn untyped_get_returns_nested_results_like_dask() {
    // Dask: get({"x": 1, "y": 2, "z": (sum, ["x", "y"])}, [["x"], "y"]) == ((1,), 2)
    let mut g = Graph::new();
    let x = g.add("x", (), || 1_i64).unwrap();
    let y = g.add("y", (), || 2_i64).unwrap();
    g.add("z", (&x, &y), |a: &i64, b: &i64| a + b).unwrap();
    let s = Scheduler::current_thread();
    let out = s
        .get(&g, Request::list([Request::list(["x"]), "y".into()]))
        .await
        .unwrap();
    assert_eq!(format!("{out:?}"), "((1,), 2)");
    let items = out.as_list().unwrap();
    assert_eq!(
        items[0].as_list().unwrap()[0].downcast_ref::<i64>(),
        Some(&1)
    );
    assert_eq!(items[1].downcast_ref::<i64>(), Some(&2));
    let z = s.get(&g, "z").await.unwrap();
    assert_eq!(z.downcast_ref::<i64>(), Some(&3));
    // The same key twice is fine untyped: both get the value.
    let twice = s.get(&g, Request::list(["z", "z"])).await.unwrap();
    assert_eq!(format!("{twice:?}"), "(3, 3)");
    // A key no task has is an error naming it, before anything runs.
    let err = s
        .get(&g, Request::list([Request::list(["badkey"]), "y".into()]))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        ComputeError::Graph(GraphError::UnknownTarget { .. })
    ));
    assert_eq!(
        err.to_string(),
        "requested key `badkey` is not in the graph"
    );
}

#[tokio::test]
async fn untyped_tasks_built_from_data() {
    let mut g = Graph::new();
    let one = g
        .add_dyn("one", &[], |_| Ok(Arc::new(1_i64) as Value))
        .unwrap();
    let two = g
        .add_dyn("two", &[one, one], |v| {
            let a = v[0]
                .downcast_ref::<i64>()
                .ok_or_else(|| TaskError::new(TaskErrorKind::TypeMismatch, "not i64"))?;
            Ok(Arc::new(a * 2) as Value)
        })
        .unwrap();
    assert_eq!(g.handle(&Key::from("two")), Some(two));
    let out = Scheduler::threads(2).unwrap().get(&g, "two").await.unwrap();
    assert_eq!(out.downcast_ref::<i64>(), Some(&2));
}

#[tokio::test]
async fn only_what_the_targets_need_runs_and_each_task_once() {
    let log = Log::default();
    let mut g = Graph::new();
    let l = log.clone();
    let x1 = g.add("x1", (), move || l.push("x1")).unwrap();
    let l = log.clone();
    let x2 = g.add("x2", (), move || l.push("x2")).unwrap();
    let l = log.clone();
    let y = g.add("y", &x2, move |_: &()| l.push("y")).unwrap();
    let l = log.clone();
    g.add("z", (&x1, &y), move |_: &(), _: &()| l.push("z"))
        .unwrap();
    Scheduler::threads(2)
        .unwrap()
        .compute(&g, &y)
        .await
        .unwrap();
    let mut ran = log.entries();
    ran.sort();
    assert_eq!(ran, ["x2", "y"]);
}

#[tokio::test]
async fn graph_errors_come_before_any_task_runs() {
    let mut g = Graph::new();
    let a = g.add("a", (), || 1).unwrap();
    assert_eq!(
        g.add("a", (), || 2).unwrap_err(),
        GraphError::DuplicateKey { key: "a".into() }
    );
    // A handle of another graph is refused as an input and as a target.
    let mut other = Graph::new();
    let foreign = other.add("f", (), || 1).unwrap();
    let err = g.add("b", &foreign, |x: &i32| *x).unwrap_err();
    assert!(matches!(err, GraphError::InvalidDependency { .. }), "{err}");
    let err = Scheduler::current_thread()
        .compute(&g, &foreign)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ComputeError::Graph(GraphError::InvalidTarget { .. })),
        "{err}"
    );
    // The same target twice in one typed request.
    let err = Scheduler::current_thread()
        .compute(&g, (&a, &a))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "target `a` requested more than once");
}

#[tokio::test]
async fn a_graph_can_grow_while_a_snapshot_computes() {
    let mut g = Graph::new();
    let a = g.add("a", (), || 1_i64).unwrap();
    let s = Scheduler::threads(2).unwrap();
    let first = s.compute(&g, &a);
    let b = g.add("b", &a, |x: &i64| x + 1).unwrap();
    assert_eq!(first.await.unwrap(), 1);
    assert_eq!(s.compute(&g, &b).await.unwrap(), 2);
    assert_eq!(g.len(), 2);
}

#[test]
fn compute_blocking_from_plain_code() {
    let mut g = Graph::new();
    let a = g.add("a", (), || 20_i64).unwrap();
    let b = g.add("b", &a, |x: &i64| x * 2 + 2).unwrap();
    let s = Scheduler::threads(2).unwrap();
    assert_eq!(s.compute_blocking(&g, &b).unwrap(), 42);
    assert_eq!(
        Scheduler::current_thread()
            .compute_blocking(&g, &b)
            .unwrap(),
        42
    );
}

#[tokio::test]
async fn keys_take_any_integer_type_and_owned_names() {
    // Loop indices are usize; names are often built at run time.
    let mut g = Graph::new();
    let n: usize = 4;
    let leaves: Vec<_> = (0..n)
        .map(|i| g.add(("leaf", i), (), move || i))
        .collect::<Result<_, _>>()
        .unwrap();
    let name = format!("pair-{n}");
    let pair = g
        .add(
            (&name, 0_u32, 1_i8),
            (&leaves[0], &leaves[1]),
            |a: &usize, b: &usize| a + b,
        )
        .unwrap();
    let total = g
        .add(
            (name.clone(), u64::from(u32::MAX)),
            &leaves,
            |xs: &[&usize]| xs.iter().copied().sum::<usize>(),
        )
        .unwrap();
    // The same keys as with i64 indices: a lookup or a duplicate by either finds them.
    assert_eq!(g.key(&leaves[3]), &Key::tuple("leaf", [3]));
    assert_eq!(g.key(&pair).to_string(), "('pair-4', 0, 1)");
    assert_eq!(g.key(&total).to_string(), "('pair-4', 4294967295)");
    assert_eq!(
        g.add(("leaf", 2_i64), (), || 0_usize).unwrap_err(),
        GraphError::DuplicateKey {
            key: Key::tuple("leaf", [2])
        }
    );
    let s = Scheduler::current_thread();
    assert_eq!(s.compute(&g, (&pair, &total)).await.unwrap(), (1, 6));
    let leaf = s.get(&g, Key::from(("leaf", 3_u8))).await.unwrap();
    assert_eq!(leaf.downcast_ref::<usize>(), Some(&3));
}

#[test]
fn a_usize_index_above_i64_max_is_refused_not_wrapped() {
    // `From` cannot fail: it panics naming the index, before the graph is touched.
    let mut g = Graph::new();
    let big = usize::MAX;
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        g.add(("leaf", big), (), || 0_u8)
    }))
    .expect_err("an index above i64::MAX must not make a key");
    let message = panicked.downcast_ref::<String>().unwrap();
    assert!(
        message.contains("of tuple key `leaf` is out of range"),
        "{message}"
    );
    assert!(g.is_empty());
    // Key::try_tuple says so as an error.
    assert!(matches!(
        Key::try_tuple("leaf", [big]),
        Err(taskloom::KeyError::IndexOutOfRange { position: 0, .. })
    ));
}
