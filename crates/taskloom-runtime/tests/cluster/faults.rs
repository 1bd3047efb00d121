//! Workers lost while running calls (killed, stopped, retiring) and clusters
//! without workers: tasks are retried elsewhere up to the limit, then fail naming
//! the key, node and job; lost workers are replaced within the budget; nothing
//! waits forever.

use std::time::Duration;

use taskloom::cluster::{JobState, Local};
use taskloom::executor::Worker;
use taskloom::{ComputeError, ComputeOptions, Graph, Handle, Scheduler, TaskErrorKind};

use crate::functions::Fns;
use crate::support::{self, Starts, WAIT, Workers};

pub(crate) const TESTS: &[crate::Test] = &[
    (
        "faults::a_killed_worker_costs_its_task_a_retry_and_is_replaced",
        a_killed_worker_costs_its_task_a_retry_and_is_replaced,
    ),
    (
        "faults::out_of_retries_the_error_names_key_node_and_job",
        out_of_retries_the_error_names_key_node_and_job,
    ),
    (
        "faults::a_silent_worker_is_lost_and_its_task_retried",
        a_silent_worker_is_lost_and_its_task_retried,
    ),
    (
        "faults::a_retiring_worker_finishes_its_call_and_hands_back_the_rest",
        a_retiring_worker_finishes_its_call_and_hands_back_the_rest,
    ),
    (
        "faults::no_worker_is_a_clear_error_not_a_hang",
        no_worker_is_a_clear_error_not_a_hang,
    ),
    (
        "faults::calls_unanswered_by_a_dead_worker_run_alone_to_find_the_killer",
        calls_unanswered_by_a_dead_worker_run_alone_to_find_the_killer,
    ),
    (
        "faults::an_oversized_frame_loses_the_worker_not_the_scheduler",
        an_oversized_frame_loses_the_worker_not_the_scheduler,
    ),
];

/// `n` calls of `started` reporting to `starts`, all ready at once.
pub(crate) fn calls(f: &Fns, starts: &Starts, n: usize) -> (Graph, Vec<Handle<i64>>) {
    let mut g = Graph::new();
    let addr = starts.addr();
    let addr = g.add("addr", (), move || addr.clone()).unwrap();
    let handles = (0..n)
        .map(|i| g.add_remote(("call", i as i64), &addr, &f.started).unwrap())
        .collect();
    (g, handles)
}

fn a_killed_worker_costs_its_task_a_retry_and_is_replaced(f: &Fns) {
    let rt = support::runtime();
    let (cluster, scheduler) = support::local(&rt, 2, support::builder());
    let starts = Starts::new();
    let (g, handles) = calls(f, &starts, 1);
    let workers = Workers::default();
    let options = ComputeOptions::new().callback(workers.clone());
    let computing = rt.spawn(scheduler.compute_with(&g, &handles[0], options));
    let first = starts.next();
    let victim = support::worker_with_pid(&cluster.status(), first.pid);
    support::signal(first.pid, "KILL");
    // The call runs again, on the other worker, and this time returns.
    let second = starts.next();
    assert_ne!(second.pid, first.pid);
    second.answer(42);
    assert_eq!(rt.block_on(computing).unwrap().unwrap(), 42);
    assert_ne!(workers.of("('call', 0)"), vec![victim]);

    let status = support::wait_for(&rt, &cluster, "a replacement", |s| {
        s.replacements == 1 && s.workers.len() == 2
    });
    let [loss] = &status.losses[..] else {
        panic!("{status:?}");
    };
    assert_eq!(loss.worker, victim);
    assert!(loss.busy);
    // Noticed by the connection (or, rarely, by the launcher's poll first), with
    // the launcher's word on the process.
    assert!(
        loss.reason.contains("local-") && loss.reason.ends_with("was killed by signal 9 (SIGKILL)"),
        "{}",
        loss.reason
    );
    assert_eq!(status.launches.len(), 3);
    assert!(status.launches[2].replacement);
}

fn out_of_retries_the_error_names_key_node_and_job(f: &Fns) {
    let rt = support::runtime();
    let (cluster, scheduler) = support::local(&rt, 1, support::builder().retries(0));
    let starts = Starts::new();
    let (g, handles) = calls(f, &starts, 1);
    let computing = rt.spawn(scheduler.compute(&g, &handles[0]));
    let started = starts.next();
    let victim = support::worker_with_pid(&cluster.status(), started.pid);
    support::signal(started.pid, "KILL");
    let error = rt.block_on(computing).unwrap().unwrap_err();
    let ComputeError::Task { key, error } = &error else {
        panic!("{error}");
    };
    assert_eq!(key.to_string(), "('call', 0)");
    assert_eq!(error.kind(), TaskErrorKind::WorkerLost);
    let Worker::Remote { node, job, pid, .. } = victim else {
        panic!("{victim:?}");
    };
    let message = error.message();
    for part in [
        &format!("cluster-0 on {node} ({job}, pid {pid})"),
        "closed its connection",
        "was killed by signal 9 (SIGKILL)",
        "no retries allowed",
    ] {
        assert!(message.contains(part), "{part:?} in {message}");
    }
}

fn a_silent_worker_is_lost_and_its_task_retried(f: &Fns) {
    let rt = support::runtime();
    let builder = support::builder().heartbeat(Duration::from_millis(100), Duration::from_secs(1));
    let (cluster, scheduler) = support::local(&rt, 2, builder);
    let starts = Starts::new();
    let (g, handles) = calls(f, &starts, 1);
    let computing = rt.spawn(scheduler.compute(&g, &handles[0]));
    let first = starts.next();
    let victim = support::worker_with_pid(&cluster.status(), first.pid);
    // A stopped process: its connection stays open, but nothing comes through it,
    // as from a node that lost power.
    support::signal(first.pid, "STOP");
    let second = starts.next();
    second.answer(7);
    assert_eq!(rt.block_on(computing).unwrap().unwrap(), 7);
    let status = support::wait_for(&rt, &cluster, "the loss", |s| !s.losses.is_empty());
    let loss = status.losses.iter().find(|l| l.worker == victim).unwrap();
    assert!(
        loss.reason
            .starts_with("sent no heartbeat for 1.0 s; local-")
            && loss.reason.ends_with(": RUNNING"),
        "{}",
        loss.reason
    );
    // The lost worker's job is stopped (its process group killed), not left behind.
    support::wait_gone(first.pid);
    drop(first);
}

fn a_retiring_worker_finishes_its_call_and_hands_back_the_rest(f: &Fns) {
    let rt = support::runtime();
    let (cluster, _) = support::local(&rt, 2, support::builder());
    // Batches of four calls: the worker that takes them has three queued behind the
    // one it runs when it is told to retire.
    let scheduler = Scheduler::builder()
        .executor(cluster.clone())
        .chunksize(4)
        .build()
        .unwrap();
    let starts = Starts::new();
    let (g, handles) = calls(f, &starts, 4);
    let workers = Workers::default();
    let options = ComputeOptions::new().callback(workers.clone());
    let computing = rt.spawn(scheduler.compute_with(&g, &handles[..], options));
    let first = starts.next();
    let first_pid = first.pid;
    let retiring = support::worker_with_pid(&cluster.status(), first_pid);
    support::signal(first_pid, "USR1"); // Slurm's walltime warning
    // The worker tells the scheduler at once: the three calls it will not start run
    // on the other worker while its own call still runs.
    let mut others = Vec::new();
    for i in 0..3 {
        let next = starts.next();
        others.push(next.pid);
        next.answer(101 + i);
    }
    first.answer(100);
    let out = rt.block_on(computing).unwrap().unwrap();
    let mut sorted = out.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, vec![100, 101, 102, 103]);
    assert!(others.iter().all(|pid| *pid != first_pid), "{others:?}");
    // The call it ran is its own, not a retry; nothing was lost.
    let ran_by_retiring = workers
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, w)| *w == retiring)
        .count();
    assert_eq!(ran_by_retiring, 1);
    let status = support::wait_for(&rt, &cluster, "a replacement", |s| {
        s.retired == [retiring] && s.workers.len() == 2
    });
    assert!(status.losses.is_empty(), "{status:?}");
    assert_eq!(
        status.replacements, 0,
        "a retirement is replaced outside the budget"
    );
    support::wait_gone(first_pid);
}

fn no_worker_is_a_clear_error_not_a_hang(f: &Fns) {
    let rt = support::runtime();
    // Workers that exit at once, never connecting: the launcher sees them end,
    // replaces them within the budget, then no worker can come.
    let cluster = support::builder()
        .launcher(Local::new())
        .program("/bin/false")
        .workers(1)
        .replacements(1)
        .build()
        .unwrap();
    let scheduler = Scheduler::builder()
        .executor(cluster.clone())
        .build()
        .unwrap();
    let starts = Starts::new();
    let (g, handles) = calls(f, &starts, 1);
    let error = rt.block_on(scheduler.compute(&g, &handles[0])).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("no worker can run it"), "{message}");
    assert!(
        message.contains("local-0: exited with status 1; local-1: exited with status 1"),
        "{message}"
    );
    let status = cluster.status();
    assert!(
        status
            .launches
            .iter()
            .all(|l| matches!(l.state, JobState::Ended { .. }))
    );
    drop(scheduler);
    drop(cluster);

    // Without a launcher, nobody connects: the tasks fail after the timeout.
    let cluster = support::builder()
        .workers(1)
        .no_worker_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let scheduler = Scheduler::builder()
        .executor(cluster.clone())
        .build()
        .unwrap();
    let error = rt.block_on(scheduler.compute(&g, &handles[0])).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains(&format!(
            "no worker connected to the cluster at {} within 0.3 s",
            cluster.advertised()
        )),
        "{message}"
    );
    let waited = rt.block_on(cluster.wait_for_workers(1, Duration::from_millis(100)));
    assert!(
        waited
            .unwrap_err()
            .to_string()
            .contains("1 worker(s) did not connect")
    );
    let _ = WAIT;
}

fn calls_unanswered_by_a_dead_worker_run_alone_to_find_the_killer(f: &Fns) {
    let rt = support::runtime();
    let (cluster, _) = support::local(&rt, 2, support::builder().retries(1));
    let scheduler = Scheduler::builder()
        .executor(cluster.clone())
        .chunksize(4)
        .build()
        .unwrap();
    let starts = Starts::new();
    let mut g = Graph::new();
    let addr = starts.addr();
    let addr = g.add("addr", (), move || addr.clone()).unwrap();
    let handles: Vec<Handle<i64>> = f
        .tagged
        .iter()
        .enumerate()
        .map(|(i, remote)| g.add_remote(("call", i as i64), &addr, remote).unwrap())
        .collect();
    let computing = rt.spawn(scheduler.compute(&g, &handles[..]));
    // One batch of four on one worker: the first call to start answers, the second
    // crashes the worker. The two others may have run too (a socket worker holds
    // short answers back), so nobody is blamed yet: the three run again, each alone.
    let first = starts.next();
    let victim = first.pid;
    let value = 10 + i64::from(first.tag);
    first.answer(value);
    let second = starts.next();
    assert_eq!(second.pid, victim, "one batch, one worker");
    let killer = second.tag;
    second.answer(-1);
    // Alone, the killer crashes two more workers (retries: 1) and fails, named; the
    // others return.
    let mut crashes = 0;
    let mut seen = Vec::new();
    while crashes < 2 {
        let next = starts.next();
        assert_ne!(next.pid, victim);
        seen.push(next.tag);
        if next.tag == killer {
            crashes += 1;
            next.answer(-1);
        } else {
            let value = 10 + i64::from(next.tag);
            next.answer(value);
        }
    }
    let error = rt.block_on(computing).unwrap().unwrap_err();
    let message = error.to_string();
    assert_eq!(
        error.key().unwrap().to_string(),
        format!("('call', {killer})"),
        "{message}"
    );
    assert!(
        message.contains("on each of 2 attempts (retries: 1)"),
        "{message}"
    );
    assert!(message.contains("SIGABRT"), "{message}");
    assert_eq!(seen.iter().filter(|t| **t == killer).count(), 2, "{seen:?}");
}

fn an_oversized_frame_loses_the_worker_not_the_scheduler(f: &Fns) {
    let rt = support::runtime();
    // After the handshake the process pool's frame limit holds: a worker that
    // announces a frame over it is dropped before anything is allocated.
    let builder = support::builder().retries(0).max_frame_length(1 << 20);
    let (cluster, scheduler) = support::local(&rt, 1, builder);
    let mut g = Graph::new();
    let x = g.add("x", (), || 7_i64).unwrap();
    let y = g.add_remote("y", &x, &f.oversized).unwrap();
    let error = rt.block_on(scheduler.compute(&g, &y)).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("sent a malformed frame") && message.contains("no retries allowed"),
        "{message}"
    );
    let status = support::wait_for(&rt, &cluster, "the loss and a replacement", |s| {
        s.losses.len() == 1 && s.replacements == 1 && s.workers.len() == 1
    });
    assert!(status.losses[0].busy, "{status:?}");
    // The scheduler goes on with the replacement.
    let z = g.add_remote("z", &x, &f.square).unwrap();
    assert_eq!(rt.block_on(scheduler.compute(&g, &z)).unwrap(), 49);
}
