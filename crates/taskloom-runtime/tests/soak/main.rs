//! The chaos soak: random graphs × random faults on every executor (the cluster's
//! too, on two local workers over TCP).
//!
//! Each computation is a random DAG whose tasks compute `id + sum(inputs)`, with
//! faults injected at random tasks: an `Err`, a panic in the body, a panic in the
//! result's `Drop`, a panic in its `Serialize`, a slow task, a worker process that
//! crashes (aborts) running it, a worker killed by SIGKILL from outside while busy or
//! idle, and cancellation by token or by dropping the future at random moments. After
//! each computation: it ended within its deadline; its result is the simulated one,
//! or its error names a key that really faulted, or it was cancelled. After the soak:
//! no growth in threads, open file descriptors or child processes, and RSS bounded.
//!
//! A `harness = false` test binary: `main` calls `remote::init` first, so the
//! process pool can use this binary as its workers' program. Sized for CI (a few
//! hundred computations); `TASKLOOM_SOAK_COMPUTATIONS=N` runs longer, and
//! `TASKLOOM_SOAK_SEED=S` replays a run. It prints the counts the closing note of the
//! hardening issue asks for: computations, faults injected by kind, hangs, leaks.
#![allow(clippy::unwrap_used)] // tests panic on unexpected errors by design

mod faults;
mod graph;
mod leaks;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use taskloom::cluster::{Cluster, Local};
use taskloom::executor::Worker;
use taskloom::process::ProcessPool;
use taskloom::remote;
use taskloom::{CancellationToken, ComputeError, ComputeOptions, Scheduler};

use faults::{Fault, Plan};
use graph::{Case, Rng};

/// How long one computation may take before it counts as a hang.
const DEADLINE: Duration = Duration::from_secs(60);

fn main() {
    let registry = graph::registry();
    quiet_injected_panics(); // in the workers too
    remote::init(&registry); // in a worker: serves and never returns

    // `cargo test` passes libtest flags and filters: run unless filtered out.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        println!("soak: test");
        return;
    }
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    if !filters.is_empty() && !filters.iter().any(|f| "soak".contains(f.as_str())) {
        println!("\nrunning 0 tests\n\ntest result: ok. 0 passed; 0 failed; 1 filtered out\n");
        return;
    }
    println!("\nrunning 1 test");
    let started = Instant::now();
    let outcome = std::panic::catch_unwind(soak);
    if let Err(payload) = &outcome {
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        println!("soak failed: {message}");
    }
    let ok = outcome.is_ok();
    println!("test soak ... {}", if ok { "ok" } else { "FAILED" });
    println!(
        "\ntest result: {}. {} passed; {} failed; finished in {:.2}s\n",
        if ok { "ok" } else { "FAILED" },
        usize::from(ok),
        usize::from(!ok),
        started.elapsed().as_secs_f64()
    );
    if !ok {
        std::process::exit(101);
    }
}

/// Injected panics are expected by the hundred: keep their messages (and
/// backtraces) out of the output, and print any other panic as usual.
fn quiet_injected_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // Injected panics are raised in graph.rs; anything else is news.
        let injected = info
            .location()
            .is_some_and(|l| l.file().ends_with("soak/graph.rs"));
        if !injected {
            default(info);
        }
    }));
}

/// What happened, for the report and the final checks.
#[derive(Default)]
struct Tally {
    computations: usize,
    by_executor: BTreeMap<&'static str, usize>,
    faults: BTreeMap<&'static str, usize>,
    outcomes: BTreeMap<&'static str, usize>,
    hangs: usize,
    wrong: Vec<String>,
}

fn soak() {
    let computations: usize = std::env::var("TASKLOOM_SOAK_COMPUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    let seed: u64 = std::env::var("TASKLOOM_SOAK_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    println!("soak: {computations} computations, TASKLOOM_SOAK_SEED={seed}");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let pool = ProcessPool::builder().workers(2).build().unwrap();
    // Every lost worker is replaced: the soak kills hundreds.
    let cluster = Cluster::builder()
        .launcher(Local::new())
        .workers(2)
        .replacements(u32::MAX)
        .poll_interval(Duration::from_millis(200))
        .build()
        .unwrap();
    runtime
        .block_on(cluster.wait_for_workers(2, DEADLINE))
        .unwrap();
    let schedulers: [(&'static str, Scheduler); 4] = [
        ("current-thread", Scheduler::current_thread()),
        ("threads", Scheduler::threads(2).unwrap()),
        (
            "processes",
            Scheduler::builder().executor(pool.clone()).build().unwrap(),
        ),
        (
            "cluster",
            Scheduler::builder()
                .executor(cluster.clone())
                .build()
                .unwrap(),
        ),
    ];
    let victims = Victims { pool, cluster };
    // Warm up every executor once, then take the baseline of what the process holds.
    let mut rng = Rng::new(seed);
    for (name, s) in &schedulers {
        let case = Case::random(&mut rng, name, Plan::none());
        runtime
            .block_on(s.compute(&case.graph, &case.target))
            .unwrap();
    }
    let baseline = leaks::Snapshot::take();

    let mut tally = Tally::default();
    for i in 0..computations {
        let (name, scheduler) = &schedulers[i % schedulers.len()];
        let plan = Plan::random(&mut rng, name);
        for fault in plan.faults() {
            *tally.faults.entry(fault).or_default() += 1;
        }
        let case = Case::random(&mut rng, name, plan);
        *tally.by_executor.entry(name).or_default() += 1;
        tally.computations += 1;
        let verdict = runtime.block_on(run_case(scheduler, victims.of(name), &case));
        match verdict {
            Verdict::Hung => {
                tally.hangs += 1;
                tally.wrong.push(format!("#{i} on {name}: hung ({case:?})"));
            }
            Verdict::Outcome(label, Ok(())) => *tally.outcomes.entry(label).or_default() += 1,
            Verdict::Outcome(_, Err(why)) => {
                tally
                    .wrong
                    .push(format!("#{i} on {name}: {why} ({case:?})"));
            }
        }
    }
    // Workers killed late in the run are replaced in the background: give them time.
    let after = leaks::settled(&baseline, Duration::from_secs(20));
    println!("soak: computations by executor {:?}", tally.by_executor);
    println!("soak: faults injected {:?}", tally.faults);
    println!("soak: outcomes {:?}", tally.outcomes);
    println!("soak: hangs {}", tally.hangs);
    println!("soak: before {baseline:?}");
    println!("soak: after  {after:?}");
    let leaks = baseline.leaks(&after);
    println!("soak: leaks {}", leaks.len());
    for l in &leaks {
        println!("  leak: {l}");
    }
    for w in &tally.wrong {
        println!("  wrong: {w}");
    }
    drop(schedulers);
    drop(victims);
    assert_eq!(tally.hangs, 0, "computations hung");
    assert!(
        tally.wrong.is_empty(),
        "{} computations went wrong",
        tally.wrong.len()
    );
    assert!(leaks.is_empty(), "resources leaked: {leaks:?}");
}

enum Verdict {
    Hung,
    /// How it ended (a label for the tally) and whether that was right.
    Outcome(&'static str, Result<(), String>),
}

/// The executors whose workers the soak kills from outside.
struct Victims {
    pool: ProcessPool,
    cluster: Cluster,
}

impl Victims {
    /// Where to find a worker process of executor `name`, if it has any.
    fn of(&self, name: &str) -> Pids {
        match name {
            "processes" => Pids::Pool(self.pool.clone()),
            "cluster" => Pids::Cluster(self.cluster.clone()),
            _ => Pids::None,
        }
    }
}

/// The live worker processes of one executor, asked when a kill is due.
enum Pids {
    None,
    Pool(ProcessPool),
    Cluster(Cluster),
}

impl Pids {
    fn now(&self) -> Vec<u32> {
        match self {
            Pids::None => Vec::new(),
            Pids::Pool(pool) => pool.pids().into_iter().flatten().collect(),
            Pids::Cluster(cluster) => cluster
                .status()
                .workers
                .iter()
                .filter_map(|w| match w.worker {
                    Worker::Remote { pid, .. } => Some(pid),
                    _ => None,
                })
                .collect(),
        }
    }
}

/// Runs one case with its cancel plan and external kills, and judges the outcome.
async fn run_case(scheduler: &Scheduler, victims: Pids, case: &Case) -> Verdict {
    let token = CancellationToken::new();
    let options = ComputeOptions::new().cancel_on(token.clone());
    let compute = scheduler.compute_with(&case.graph, &case.target, options);
    let plan = &case.plan;
    let killer = plan.kill_after.map(|after| {
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            faults::kill_a_worker(&victims.now());
        })
    });
    if let Some(after) = plan.token_after {
        let token = token.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            token.cancel();
        });
    }
    let limit = plan.drop_after.unwrap_or(DEADLINE).min(DEADLINE);
    let result = tokio::time::timeout(limit, compute).await;
    if let Some(k) = killer {
        let _ = k.await;
    }
    let verdict = match result {
        Err(_) if plan.drop_after.is_some() => Verdict::Outcome("dropped", Ok(())),
        Err(_) => Verdict::Hung,
        Ok(Ok(out)) => Verdict::Outcome(
            "ok",
            if out.value == case.expected {
                Ok(())
            } else {
                Err(format!(
                    "wrong result {} instead of {}",
                    out.value, case.expected
                ))
            },
        ),
        Ok(Err(ComputeError::Cancelled)) if plan.cancels() => Verdict::Outcome("cancelled", Ok(())),
        Ok(Err(e)) => match e.key() {
            Some(key) if case.may_fail(&key.to_string()) => Verdict::Outcome("failed", Ok(())),
            _ => Verdict::Outcome("failed", Err(format!("unexpected error: {e}"))),
        },
    };
    // A computation dropped or failed with slow tasks running: let them finish
    // (they check `context::cancelled()`), so the next case starts from quiet.
    faults::settle().await;
    verdict
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case")
            .field("tasks", &self.tasks)
            .field("faults", &self.plan.injected)
            .field("kill_after", &self.plan.kill_after)
            .field("token_after", &self.plan.token_after)
            .field("drop_after", &self.plan.drop_after)
            .finish()
    }
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::None => "none",
            Fault::Err => "err",
            Fault::Panic => "panic",
            Fault::DropPanic => "drop-panic",
            Fault::SerializePanic => "serialize-panic",
            Fault::Slow => "slow",
            Fault::Crash => "crash",
        }
    }
}
