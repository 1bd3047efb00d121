//! The Slurm launcher on the project's two-node dev cluster
//! (`scripts/slurm-dev-cluster.sh start`: nodes n1 and n2, one CPU each, partition
//! `ci`). Every worker is a Slurm batch job running this very test binary.
//!
//! Without Slurm these tests say why and pass, on a developer's machine; with
//! `TASKLOOM_REQUIRE_SLURM=1` (CI) a missing cluster fails them instead.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use taskloom::Scheduler;
use taskloom::cluster::{Cluster, ClusterBuilder, Secret, Slurm};
use taskloom::executor::Worker;

use crate::functions::Fns;
use crate::local::spread;
use crate::support::{self, Starts, WAIT};

pub(crate) const TESTS: &[crate::Test] = &[
    (
        "slurm::a_graph_spreads_over_both_nodes",
        a_graph_spreads_over_both_nodes,
    ),
    (
        "slurm::scancel_mid_task_is_survived_and_reported",
        scancel_mid_task_is_survived_and_reported,
    ),
    ("slurm::a_node_down_is_node_fail", a_node_down_is_node_fail),
    (
        "slurm::a_wrong_secret_is_refused",
        a_wrong_secret_is_refused,
    ),
    (
        "slurm::the_walltime_warning_retires_a_worker",
        the_walltime_warning_retires_a_worker,
    ),
    (
        "slurm::a_pending_job_is_reported_with_its_reason",
        a_pending_job_is_reported_with_its_reason,
    ),
    (
        "slurm::dropping_the_cluster_cancels_every_job",
        dropping_the_cluster_cancels_every_job,
    ),
];

/// The variable that makes a missing Slurm a failure.
const REQUIRE: &str = "TASKLOOM_REQUIRE_SLURM";

/// The partition of the dev cluster.
const PARTITION: &str = "ci";

/// Whether the dev cluster is up; if not, panics when Slurm is required, and
/// otherwise says why the test is skipped. Asked once per run (`sinfo` takes
/// seconds to give up on a controller that is not there).
fn slurm_is_up(test: &str) -> bool {
    static DOWN: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let down = DOWN.get_or_init(|| {
        let answer = Command::new("sinfo")
            .args(["-h", "-p", PARTITION, "-o", "%a"])
            .output();
        match answer {
            Ok(out)
                if out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "up" =>
            {
                None
            }
            Ok(out) => Some(format!(
                "partition `{PARTITION}` is not up (sinfo: {})",
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Err(e) => Some(format!("sinfo cannot run ({e})")),
        }
    });
    let Some(why) = down else {
        return true;
    };
    let required = std::env::var(REQUIRE).is_ok_and(|v| v == "1");
    assert!(
        !required,
        "{test}: Slurm is required ({REQUIRE}=1) but {why}; start it with \
         scripts/slurm-dev-cluster.sh start"
    );
    println!("{test}: skipped: {why} (scripts/slurm-dev-cluster.sh start brings it up)");
    false
}

/// A Slurm cluster builder with the tests' settings: one CPU per worker, so two
/// workers take both nodes.
fn slurm(b: ClusterBuilder) -> ClusterBuilder {
    b.launcher(Slurm::new().partition(PARTITION).cpus_per_worker(1))
}

/// `n` Slurm workers, connected, and a scheduler on them.
fn connected(rt: &tokio::runtime::Runtime, n: usize, b: ClusterBuilder) -> (Cluster, Scheduler) {
    let cluster = slurm(b).workers(n).build().unwrap();
    rt.block_on(cluster.wait_for_workers(n, WAIT)).unwrap();
    let scheduler = Scheduler::builder()
        .executor(cluster.clone())
        .build()
        .unwrap();
    (cluster, scheduler)
}

/// The node of a cluster worker.
fn node(worker: Worker) -> String {
    match worker {
        Worker::Remote { node, .. } => node.as_str().to_owned(),
        other => panic!("not a cluster worker: {other}"),
    }
}

/// Runs a command that must succeed; its standard output.
fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn a_graph_spreads_over_both_nodes(f: &Fns) {
    if !slurm_is_up("slurm::a_graph_spreads_over_both_nodes") {
        return;
    }
    let rt = support::runtime();
    // Over TLS, as off loopback: the jobs read the certificate's fingerprint from the
    // secret file the cluster wrote.
    let (cluster, scheduler) = connected(&rt, 2, support::builder().require_tls());
    let status = cluster.status();
    assert!(status.workers.iter().all(|w| w.tls), "{status:?}");
    let mut nodes: Vec<String> = status.workers.iter().map(|w| node(w.worker)).collect();
    nodes.sort();
    assert_eq!(nodes, ["n1", "n2"]);
    for w in &status.workers {
        let job = w.launch.as_deref().unwrap();
        assert!(
            w.worker
                .to_string()
                .contains(&format!("(slurm job {job}, pid ")),
            "{}",
            w.worker
        );
    }
    // Each call says where it ran: SLURMD_NODENAME in the job.
    let (g, wheres) = spread(f, 12, 100);
    let out = rt.block_on(scheduler.compute(&g, &wheres[..])).unwrap();
    let mut per_node: BTreeMap<String, usize> = BTreeMap::new();
    for (node, _) in out {
        *per_node.entry(node).or_default() += 1;
    }
    assert_eq!(
        per_node.keys().collect::<Vec<_>>(),
        ["n1", "n2"],
        "{per_node:?}"
    );
}

fn scancel_mid_task_is_survived_and_reported(f: &Fns) {
    if !slurm_is_up("slurm::scancel_mid_task_is_survived_and_reported") {
        return;
    }
    let rt = support::runtime();
    let (cluster, scheduler) = connected(&rt, 2, support::builder());
    let starts = Starts::new();
    let (g, handles) = crate::faults::calls(f, &starts, 1);
    let computing = rt.spawn(scheduler.compute(&g, &handles[0]));
    let first = starts.next();
    let status = cluster.status();
    let victim = status
        .workers
        .iter()
        .find(|w| support::pid(w.worker) == first.pid)
        .unwrap();
    let job = victim.launch.clone().unwrap();
    run("scancel", &[&job]);
    let second = starts.next();
    assert_ne!(second.pid, first.pid);
    second.answer(5);
    assert_eq!(rt.block_on(computing).unwrap().unwrap(), 5);
    let status = support::wait_for(&rt, &cluster, "the loss", |s| !s.losses.is_empty());
    let loss = status
        .losses
        .iter()
        .find(|l| l.worker == victim.worker)
        .unwrap();
    assert!(loss.busy);
    assert!(
        loss.reason.contains(&format!("slurm job {job}: CANCELLED")),
        "{}",
        loss.reason
    );
    drop(first);
}

/// Sets a node back to service, whatever the test did (ReturnToService=2 often did
/// already: then `resume` is refused, which is fine).
struct Resume(String);

impl Drop for Resume {
    fn drop(&mut self) {
        let _ = Command::new("scontrol")
            .args(["update", &format!("nodename={}", self.0), "state=resume"])
            .output();
    }
}

fn a_node_down_is_node_fail(f: &Fns) {
    if !slurm_is_up("slurm::a_node_down_is_node_fail") {
        return;
    }
    let rt = support::runtime();
    let (cluster, scheduler) = connected(&rt, 2, support::builder());
    let starts = Starts::new();
    let (g, handles) = crate::faults::calls(f, &starts, 1);
    let computing = rt.spawn(scheduler.compute(&g, &handles[0]));
    let first = starts.next();
    let victim = support::worker_with_pid(&cluster.status(), first.pid);
    let down = node(victim);
    let _resume = Resume(down.clone());
    run(
        "scontrol",
        &[
            "update",
            &format!("nodename={down}"),
            "state=down",
            "reason=taskloom-test",
        ],
    );
    let second = starts.next();
    second.answer(9);
    assert_eq!(rt.block_on(computing).unwrap().unwrap(), 9);
    let status = support::wait_for(&rt, &cluster, "the loss", |s| !s.losses.is_empty());
    let loss = status.losses.iter().find(|l| l.worker == victim).unwrap();
    assert!(loss.reason.contains(": NODE_FAIL"), "{}", loss.reason);
    drop(first);
}

fn a_wrong_secret_is_refused(_: &Fns) {
    if !slurm_is_up("slurm::a_wrong_secret_is_refused") {
        return;
    }
    let rt = support::runtime();
    // No launcher: the impostor is submitted by hand, with a secret of its own.
    let cluster = support::builder().workers(1).build().unwrap();
    let wrong = Secret::generate().unwrap().to_hex();
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("sbatch")
        .args([
            "--parsable",
            "--no-requeue",
            "--partition",
            PARTITION,
            "--output=/dev/null",
        ])
        .arg("--export=ALL")
        .arg("--wrap")
        .arg(format!("exec {}", exe.display()))
        .env("TASKLOOM_CLUSTER_ADDR", cluster.advertised())
        .env("TASKLOOM_CLUSTER_SECRET", &wrong)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let job = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let status = support::wait_for(&rt, &cluster, "a refusal", |s| !s.refusals.is_empty());
    assert!(
        status.refusals[0]
            .reason
            .starts_with("refused the scheduler"),
        "{:?}",
        status.refusals
    );
    assert!(status.workers.is_empty());
    let _ = Command::new("scancel").arg(&job).output();
}

fn the_walltime_warning_retires_a_worker(_: &Fns) {
    if !slurm_is_up("slurm::the_walltime_warning_retires_a_worker") {
        return;
    }
    let rt = support::runtime();
    let cluster = support::builder()
        .launcher(
            Slurm::new()
                .partition(PARTITION)
                .cpus_per_worker(1)
                .walltime(Duration::from_secs(600)),
        )
        .workers(1)
        .build()
        .unwrap();
    rt.block_on(cluster.wait_for_workers(1, WAIT)).unwrap();
    let status = cluster.status();
    let worker = status.workers[0].worker;
    let job = status.workers[0].launch.clone().unwrap();
    // What `--signal=B:USR1@60` sends a minute before the walltime, sent now.
    run("scancel", &["--signal=USR1", "--batch", &job]);
    let status = support::wait_for(&rt, &cluster, "a retirement and its replacement", |s| {
        s.retired == [worker] && s.workers.len() == 1
    });
    assert!(status.losses.is_empty(), "{status:?}");
    assert_eq!(status.launches.len(), 2);
}

fn a_pending_job_is_reported_with_its_reason(f: &Fns) {
    if !slurm_is_up("slurm::a_pending_job_is_reported_with_its_reason") {
        return;
    }
    let rt = support::runtime();
    // A job that may not start for an hour: Slurm says PENDING (BeginTime).
    let cluster = support::builder()
        .launcher(Slurm::new().partition(PARTITION).arg("--begin=now+3600"))
        .workers(1)
        .no_worker_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let scheduler = Scheduler::builder()
        .executor(cluster.clone())
        .build()
        .unwrap();
    let (g, wheres) = spread(f, 1, 0);
    let error = rt.block_on(scheduler.compute(&g, &wheres[0])).unwrap_err();
    let message = error.to_string();
    let job = cluster.status().launches[0].id.clone();
    assert!(
        message.contains("within 2.0 s")
            && message.contains(&format!("slurm job {job}: PENDING (BeginTime)")),
        "{message}"
    );
}

fn dropping_the_cluster_cancels_every_job(f: &Fns) {
    if !slurm_is_up("slurm::dropping_the_cluster_cancels_every_job") {
        return;
    }
    let rt = support::runtime();
    let (cluster, scheduler) = connected(&rt, 2, support::builder());
    let (g, wheres) = spread(f, 2, 0);
    rt.block_on(scheduler.compute(&g, &wheres[..])).unwrap();
    let status = cluster.status();
    let jobs: Vec<String> = status
        .workers
        .iter()
        .filter_map(|w| w.launch.clone())
        .collect();
    let pids: Vec<u32> = status
        .workers
        .iter()
        .map(|w| support::pid(w.worker))
        .collect();
    assert_eq!(jobs.len(), 2);
    drop(scheduler);
    drop(cluster);
    // Slurm lists jobs that are still pending, running or completing; none is left.
    let start = std::time::Instant::now();
    loop {
        let left = run("squeue", &["-h", "-j", &jobs.join(","), "-o", "%i %T"]);
        if left.trim().is_empty() {
            break;
        }
        assert!(start.elapsed() < WAIT, "still queued: {left}");
        std::thread::sleep(Duration::from_millis(100));
    }
    for pid in pids {
        support::wait_gone(pid);
    }
}
