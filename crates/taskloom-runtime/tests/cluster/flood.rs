//! Workers get in under a flood: 500 connections that stay idle, trickle a byte
//! every two seconds, or send garbage, each reopened as soon as it is closed, from
//! this machine's address or from eight others (127.0.0.2 ... 127.0.0.9). A worker
//! started under the flood joins within 2 s, and a computation completes; the
//! refusals are counted by kind and the list of them stays bounded.
//!
//! (How long the computation takes under the flood against without it is a figure,
//! measured by the `cluster` example's `--flood`, not asserted here.)

use std::net::IpAddr;
use std::time::{Duration, Instant};

use taskloom::Scheduler;
use taskloom::cluster::{Cluster, KEPT_REFUSALS, MAX_HANDSHAKES, RefusalKind};

use crate::flood_gen::{Flood, FloodKind, loopback_sources};
use crate::functions::Fns;
use crate::local::spread;
use crate::support::{self, WAIT};

pub(crate) const TESTS: &[crate::Test] = &[
    (
        "flood::a_worker_joins_under_an_idle_flood",
        a_worker_joins_under_an_idle_flood,
    ),
    (
        "flood::a_worker_joins_under_a_slow_flood",
        a_worker_joins_under_a_slow_flood,
    ),
    (
        "flood::a_worker_joins_under_a_garbage_flood",
        a_worker_joins_under_a_garbage_flood,
    ),
];

/// Connections of each flood at least.
const AT_LEAST: usize = 500;

/// The promise: a worker with the secret is in within this.
const JOIN_WITHIN: Duration = Duration::from_secs(2);

fn a_worker_joins_under_an_idle_flood(f: &Fns) {
    joins_under(f, FloodKind::Idle);
}

fn a_worker_joins_under_a_slow_flood(f: &Fns) {
    joins_under(f, FloodKind::Slow);
}

fn a_worker_joins_under_a_garbage_flood(f: &Fns) {
    joins_under(f, FloodKind::Garbage);
}

/// From one address over plain TCP, then from eight over TLS.
fn joins_under(f: &Fns, kind: FloodKind) {
    let connections = connections();
    for (sources, tls) in [(1, false), (8, true)] {
        let sources = loopback_sources(sources);
        joins_under_from(f, kind, connections, &sources, tls, expected(kind, tls));
    }
}

/// How the scheduler refuses most of a flood's connections: idle ones are evicted
/// for newer ones; the others are refused as soon as their first bytes show what
/// they are (a cluster that requires TLS refuses whatever is not a TLS hello).
fn expected(kind: FloodKind, tls: bool) -> RefusalKind {
    match (kind, tls) {
        (FloodKind::Idle, _) | (FloodKind::Slow, false) => RefusalKind::Evicted,
        (FloodKind::Garbage, false) => RefusalKind::Garbage,
        (_, true) => RefusalKind::Transport,
    }
}

fn joins_under_from(
    f: &Fns,
    kind: FloodKind,
    connections: usize,
    sources: &[IpAddr],
    tls: bool,
    refused: RefusalKind,
) {
    let rt = support::runtime();
    let mut builder = support::builder().workers(1);
    if tls {
        builder = builder.require_tls();
    }
    let cluster: Cluster = builder.build().unwrap();
    let flood = Flood::start(cluster.addr(), kind, connections, sources).unwrap();
    assert!(
        flood.wait_opened(connections as u64, WAIT),
        "the {} flood opened only {} connections",
        kind.name(),
        flood.opened()
    );
    let what = format!(
        "{} flood of {connections} from {} address(es), TLS {tls}",
        kind.name(),
        sources.len()
    );
    let file = cluster.secret_file().to_str().unwrap().to_owned();
    let started = Instant::now();
    let worker = support::worker_by_hand(
        &cluster.addr().to_string(),
        &[("TASKLOOM_CLUSTER_SECRET_FILE", Some(&file))],
    );
    rt.block_on(cluster.wait_for_workers(1, WAIT))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let joined = started.elapsed();
    assert!(
        joined <= JOIN_WITHIN,
        "{what}: the worker joined after {joined:?} (at most {JOIN_WITHIN:?})"
    );
    let scheduler = Scheduler::builder()
        .executor(cluster.clone())
        .build()
        .unwrap();
    let (g, wheres) = spread(f, 8, 0);
    let out = rt.block_on(scheduler.compute(&g, &wheres[..])).unwrap();
    assert!(out.iter().all(|(_, pid)| *pid == worker.id()), "{what}");
    assert!(flood.open() > 0, "{what}: the flood was still on");
    let status = cluster.status();
    assert!(status.workers[0].tls == tls, "{what}");
    let count = status.refused.get(&refused).copied().unwrap_or(0);
    assert!(
        count > 0,
        "{what}: no {refused:?} refusal in {:?}",
        status.refused
    );
    assert!(status.refusals.len() <= KEPT_REFUSALS, "{what}");
    eprintln!(
        "{what}: joined in {:.0} ms; {} connections opened, {} open at once at most, \
         refused {:?}",
        joined.as_secs_f64() * 1e3,
        flood.opened(),
        flood.most_open(),
        status.refused
    );
    drop(flood);
    drop(scheduler);
    drop(cluster);
    assert_eq!(support::exit_of(worker).0, Some(0), "{what}");
}

/// Connections of the floods: at least [`AT_LEAST`], and more than the door's
/// handshakes (so that newcomers evict), within this process's file limit (no
/// limit is raised): the flood's ends, the scheduler's, and a margin.
fn connections() -> usize {
    let limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("Max open files"))?;
            line.split_whitespace().nth(3)?.parse::<usize>().ok()
        })
        .unwrap_or(1024);
    let door = MAX_HANDSHAKES.min(limit / 4);
    let connections = (door + door / 4).max(AT_LEAST);
    assert!(
        connections + door + 200 <= limit,
        "the flood tests need {} open files; `ulimit -n` is {limit}",
        connections + door + 200
    );
    connections
}
