//! Values cross the process boundary and come back equal; the same graph computes
//! the same results under every executor.

use std::sync::{Arc, Mutex};

use taskloom::callbacks::{Callback, TaskFinish};
use taskloom::executor::Worker;
use taskloom::process::ProcessPool;
use taskloom::remote::Registry;
use taskloom::{ComputeOptions, Graph, Scheduler};

use crate::functions::{Fns, Record};

pub(crate) const TESTS: &[crate::Test] = &[
    ("roundtrip::values_of_many_types", values_of_many_types),
    (
        "roundtrip::same_graph_on_every_executor",
        same_graph_on_every_executor,
    ),
    (
        "roundtrip::local_and_remote_tasks_mix",
        local_and_remote_tasks_mix,
    ),
    (
        "roundtrip::completions_name_the_process",
        completions_name_the_process,
    ),
    (
        "roundtrip::concurrent_computes_share_workers",
        concurrent_computes_share_workers,
    ),
    (
        "roundtrip::registry_refuses_duplicate_names",
        registry_refuses_duplicate_names,
    ),
];

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

pub(crate) fn pool(workers: usize) -> (ProcessPool, Scheduler) {
    let pool = ProcessPool::builder().workers(workers).build().unwrap();
    let scheduler = Scheduler::builder().executor(pool.clone()).build().unwrap();
    (pool, scheduler)
}

fn record() -> Record {
    Record {
        id: 41,
        name: "leaf".into(),
        values: vec![1.5, -2.0, 3.25],
        parent: None,
    }
}

fn values_of_many_types(f: &Fns) {
    let rt = runtime();
    let (_pool, s) = pool(2);
    let mut g = Graph::new();
    let one = g.add_remote("one", (), &f.one).unwrap();
    let nine = g.add("nine", (), || 9_i64).unwrap();
    let sq = g.add_remote("square", &nine, &f.square).unwrap();
    let added = g.add_remote("add", (&sq, &one), &f.add).unwrap();
    let sum = g.add_remote("sum", &[one, sq, added][..], &f.sum).unwrap();
    let name = g.add("name", (), || "taskloom".to_owned()).unwrap();
    let times = g.add("times", (), || 2_u32).unwrap();
    let greet = g.add_remote("greet", (&name, &times), &f.greet).unwrap();
    let rec = g.add("record", (), record).unwrap();
    let grown = g.add_remote("grow", &rec, &f.grow).unwrap();
    let x = g.add("x", (), || 0.25_f64).unwrap();
    let bytes = g.add("bytes", (), || vec![7_u8; 100_000]).unwrap();
    let text = g.add("text", (), || Some("ü∑ unicode".to_owned())).unwrap();
    let flag = g.add("flag", (), || true).unwrap();
    let mixed = g
        .add_remote("mix", (&x, &bytes, &text, &flag), &f.mix)
        .unwrap();
    let len = g.add_remote("len", &bytes, &f.len).unwrap();

    let (sum, greet, grown) = rt.block_on(s.compute(&g, (&sum, &greet, &grown))).unwrap();
    let (mixed, len) = rt.block_on(s.compute(&g, (&mixed, &len))).unwrap();
    assert_eq!(sum, 1 + 81 + 82);
    assert_eq!(greet, "hellohello taskloom");
    let expected = Record {
        id: 42,
        name: "leaf+".into(),
        values: vec![3.0, -4.0, 6.5],
        parent: Some(Box::new(record())),
    };
    assert_eq!(grown, expected);
    assert_eq!(mixed, (0.5, 100_000, "ü∑ unicode".to_owned(), false));
    assert_eq!(len, 100_000);
}

/// A tree sum of remote tasks, built once and computed by each executor.
fn same_graph_on_every_executor(f: &Fns) {
    let rt = runtime();
    let mut g = Graph::new();
    let mut level: Vec<_> = (0..64_i64)
        .map(|i| g.add(format!("leaf-{i}"), (), move || i).unwrap())
        .collect();
    let mut n = 0;
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| {
                n += 1;
                match pair {
                    [a, b] => g.add_remote(format!("add-{n}"), (a, b), &f.add).unwrap(),
                    [a] => *a,
                    _ => unreachable!(),
                }
            })
            .collect();
    }
    let root = level[0];
    let expected: i64 = (0..64).sum();
    let (_pool, processes) = pool(2);
    for scheduler in [
        Scheduler::current_thread(),
        Scheduler::threads(2).unwrap(),
        processes,
    ] {
        let out = rt.block_on(scheduler.compute(&g, &root)).unwrap();
        assert_eq!(out, expected, "{scheduler:?}");
    }
}

fn local_and_remote_tasks_mix(f: &Fns) {
    let rt = runtime();
    let (_pool, s) = pool(1);
    let mut g = Graph::new();
    let mut prev = g.add("start", (), || 1_i64).unwrap();
    for i in 0..50 {
        prev = if i % 2 == 0 {
            g.add_remote(format!("r{i}"), (&prev, &prev), &f.add)
                .unwrap()
        } else {
            g.add(format!("l{i}"), &prev, |x: &i64| x - 1).unwrap()
        };
    }
    let out = rt.block_on(s.compute(&g, &prev)).unwrap();
    // 25 doublings, each followed by a decrement (except the last): x -> 2x -> 2x - 1.
    let mut expected = 1_i64;
    for i in 0..50 {
        expected = if i % 2 == 0 {
            expected * 2
        } else {
            expected - 1
        };
    }
    assert_eq!(out, expected);
}

#[derive(Default)]
struct Finished(Mutex<Vec<(String, Worker, bool)>>);

impl Callback for Finished {
    fn on_task_finish(&self, event: &TaskFinish<'_>) {
        self.0.lock().unwrap().push((
            event.key.to_string(),
            event.worker,
            event.started <= event.finished,
        ));
    }
}

fn completions_name_the_process(f: &Fns) {
    let rt = runtime();
    let (pool, s) = pool(2);
    let mut g = Graph::new();
    let pids: Vec<_> = (0..20)
        .map(|i| g.add_remote(format!("pid-{i}"), (), &f.pid).unwrap())
        .collect();
    let local = g.add("local", (), || 0_u32).unwrap();
    let finished = Arc::new(Finished::default());
    let options = ComputeOptions::new().shared_callback(finished.clone());
    let mut targets = pids.clone();
    let local = g.add("local-pid", &local, |x: &u32| *x).unwrap();
    targets.push(local);
    let reported = rt.block_on(s.compute_with(&g, &targets, options)).unwrap();
    let pool_pids: Vec<u32> = pool.pids().into_iter().map(Option::unwrap).collect();
    assert_eq!(pool_pids.len(), 2);
    let events = finished.0.lock().unwrap();
    assert_eq!(events.len(), 22);
    for (key, worker, ordered) in events.iter() {
        assert!(ordered, "{key}: started after finished");
        if key.starts_with("local") {
            assert!(matches!(worker, Worker::Thread(_)), "{key} ran on {worker}");
            continue;
        }
        let Worker::Process { index, pid } = *worker else {
            panic!("{key} ran on {worker}");
        };
        assert_eq!(pool_pids[index as usize], pid);
        let i: usize = key.trim_start_matches("pid-").parse().unwrap();
        assert_eq!(
            reported[i], pid,
            "the task ran in the process its completion names"
        );
    }
}

fn concurrent_computes_share_workers(f: &Fns) {
    let rt = runtime();
    let (_pool, s) = pool(2);
    let results = rt.block_on(async {
        let computes = (0..20_i64).map(|i| {
            let s = s.clone();
            let sum = f.sum.clone();
            let square = f.square.clone();
            tokio::spawn(async move {
                let mut g = Graph::new();
                let xs: Vec<_> = (0..10)
                    .map(|j| {
                        let x = g.add(format!("x{j}"), (), move || i + j).unwrap();
                        g.add_remote(format!("sq{j}"), &x, &square).unwrap()
                    })
                    .collect();
                let total = g.add_remote("total", &xs, &sum).unwrap();
                s.compute(&g, &total).await.unwrap()
            })
        });
        futures::future::join_all(computes).await
    });
    for (i, r) in results.into_iter().enumerate() {
        let i = i as i64;
        assert_eq!(r.unwrap(), (0..10).map(|j| (i + j) * (i + j)).sum::<i64>());
    }
}

fn registry_refuses_duplicate_names(_: &Fns) {
    let mut r = Registry::new();
    r.register("f", || 1_u8).unwrap();
    let e = r.register("f", |x: &u8| *x).unwrap_err();
    assert!(e.to_string().contains("`f`"), "{e}");
    assert_eq!(r.len(), 1);
}
