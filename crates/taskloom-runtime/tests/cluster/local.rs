//! Local workers (the `Local` launcher, and workers started by hand as Kubernetes
//! would): graphs run on them, completions name them, and none outlives its cluster.

use std::collections::BTreeSet;
use std::sync::Arc;

use taskloom::diagnostics::Report;
use taskloom::executor::Worker;
use taskloom::{ComputeOptions, Graph, Scheduler};

use crate::functions::Fns;
use crate::support::{self, WAIT, Workers};

pub(crate) const TESTS: &[crate::Test] = &[
    (
        "local::a_graph_runs_on_every_worker_and_names_them",
        a_graph_runs_on_every_worker_and_names_them,
    ),
    (
        "local::workers_started_by_others_are_served",
        workers_started_by_others_are_served,
    ),
    (
        "local::dropping_the_cluster_leaves_no_worker",
        dropping_the_cluster_leaves_no_worker,
    ),
];

/// `n` calls of `whereami`, each sleeping `ms`, and their sum of squares on top.
pub(crate) fn spread(f: &Fns, n: u64, ms: u64) -> (Graph, Vec<taskloom::Handle<(String, u32)>>) {
    let mut g = Graph::new();
    let handles = (0..n)
        .map(|i| {
            let wait = g.add(("wait", i as i64), (), move || ms).unwrap();
            g.add_remote(("where", i as i64), &wait, &f.whereami)
                .unwrap()
        })
        .collect();
    (g, handles)
}

fn a_graph_runs_on_every_worker_and_names_them(f: &Fns) {
    let rt = support::runtime();
    let (cluster, scheduler) = support::local(&rt, 2, support::builder());
    // Squares and their sum, all remote.
    let mut g = Graph::new();
    let xs: Vec<_> = (0..20_i64)
        .map(|i| g.add(("x", i), (), move || i).unwrap())
        .collect();
    let squares: Vec<_> = xs
        .iter()
        .enumerate()
        .map(|(i, x)| g.add_remote(("square", i as i64), x, &f.square).unwrap())
        .collect();
    let total = g.add_remote("total", &squares[..], &f.sum).unwrap();
    let workers = Workers::default();
    let report = Arc::new(Report::new());
    let options = ComputeOptions::new()
        .callback(workers.clone())
        .shared_callback(report.clone());
    let sum = rt
        .block_on(scheduler.compute_with(&g, &total, options))
        .unwrap();
    assert_eq!(sum, (0..20).map(|i| i * i).sum::<i64>());

    // Every remote completion names a cluster worker: this host, its local job.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let named = workers.of("total");
    let [Worker::Remote { node, job, .. }] = named[..] else {
        panic!("total ran on {named:?}");
    };
    assert_eq!(node.as_str(), host.trim());
    assert!(job.as_str().starts_with("local-"), "{job}");
    // The run report names the lane of that worker as the events name it.
    let html = report.to_html();
    let name = format!("\"{}\"", named[0]);
    assert!(html.contains(&name), "no lane {name} in the report");

    // Calls that take a while spread over both workers.
    let (g, wheres) = spread(f, 12, 100);
    let out = rt.block_on(scheduler.compute(&g, &wheres[..])).unwrap();
    let pids: BTreeSet<u32> = out.iter().map(|(_, pid)| *pid).collect();
    let status = cluster.status();
    let expected: BTreeSet<u32> = status
        .workers
        .iter()
        .map(|w| support::pid(w.worker))
        .collect();
    assert_eq!(pids, expected, "both workers ran calls");
    let shown = status.workers[0].worker.to_string();
    assert!(
        shown.starts_with("cluster-0 on ") && shown.contains("(local-"),
        "{shown}"
    );
    assert!(
        status.losses.is_empty() && status.refusals.is_empty(),
        "{status:?}"
    );
}

fn workers_started_by_others_are_served(f: &Fns) {
    // No launcher: whoever has the address and the secret is a worker (a Kubernetes
    // Deployment's pods, given both by a Service and a Secret).
    let rt = support::runtime();
    let cluster = support::builder().workers(1).build().unwrap();
    let secret = cluster.secret_file().to_str().unwrap().to_owned();
    let worker = support::worker_by_hand(
        cluster.advertised(),
        &[
            ("TASKLOOM_CLUSTER_SECRET_FILE", Some(&secret)),
            ("TASKLOOM_CLUSTER_JOB", Some("pod-7")),
            ("TASKLOOM_CLUSTER_NODE", Some("node-x")),
        ],
    );
    rt.block_on(cluster.wait_for_workers(1, WAIT)).unwrap();
    let scheduler = Scheduler::builder()
        .executor(cluster.clone())
        .build()
        .unwrap();
    let (g, wheres) = spread(f, 3, 0);
    let out = rt.block_on(scheduler.compute(&g, &wheres[..])).unwrap();
    assert!(
        out.iter()
            .all(|(node, pid)| node == "node-x" && *pid == worker.id())
    );
    let shown = cluster.status().workers[0].worker.to_string();
    assert_eq!(
        shown,
        format!("cluster-0 on node-x (pod-7, pid {})", worker.id())
    );
    // Dropping the cluster closes the connection: the worker exits cleanly.
    drop(scheduler);
    drop(cluster);
    let (code, stderr) = support::exit_of(worker);
    assert_eq!(code, Some(0), "{stderr}");
}

fn dropping_the_cluster_leaves_no_worker(f: &Fns) {
    let rt = support::runtime();
    let (cluster, scheduler) = support::local(&rt, 2, support::builder());
    let (g, wheres) = spread(f, 2, 0);
    rt.block_on(scheduler.compute(&g, &wheres[..])).unwrap();
    let pids: Vec<u32> = cluster
        .status()
        .workers
        .iter()
        .map(|w| support::pid(w.worker))
        .collect();
    let dir = cluster.secret_file().parent().unwrap().to_owned();
    assert!(dir.exists());
    drop(scheduler);
    drop(cluster);
    for pid in pids {
        assert!(!support::alive(pid), "worker {pid} outlived its cluster");
    }
    assert!(!dir.exists(), "the cluster's directory is removed");
}
