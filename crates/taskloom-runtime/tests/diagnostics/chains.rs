//! Callbacks and fused chains: a linear chain is still handed to a worker whole
//! while a callback listens to task events, and the callback hears every member of
//! it, once, in order, on the worker that ran it, with times of its own.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use taskloom::callbacks::{Callback, FinishInfo, TaskFinish, TaskStart};
use taskloom::executor::{Batch, Executor, ThreadPool, Worker};
use taskloom::{ComputeOptions, Graph, Handle, Scheduler};
use tokio::time::timeout;

use crate::support::LIMIT;

/// How long the middle member of [`sleepy_chain`] sleeps.
const NAP: Duration = Duration::from_millis(30);

/// What a [`Timeline`] heard, in order.
#[derive(Clone, Debug)]
enum Heard {
    Start {
        key: String,
        worker: Worker,
        at: Instant,
    },
    Finish {
        key: String,
        worker: Worker,
        started: Instant,
        finished: Instant,
        ok: bool,
    },
}

/// Records task events with their workers and times, and the peak of results the
/// loop held.
#[derive(Default)]
struct Timeline {
    heard: Mutex<Vec<Heard>>,
    peak_results: Mutex<Option<usize>>,
}

impl Callback for Timeline {
    fn on_task_start(&self, e: &TaskStart<'_>) {
        self.heard.lock().unwrap().push(Heard::Start {
            key: e.key.to_string(),
            worker: e.worker,
            at: e.at,
        });
    }

    fn on_task_finish(&self, e: &TaskFinish<'_>) {
        self.heard.lock().unwrap().push(Heard::Finish {
            key: e.key.to_string(),
            worker: e.worker,
            started: e.started,
            finished: e.finished,
            ok: e.is_ok(),
        });
    }

    fn on_finish(&self, info: &FinishInfo) {
        *self.peak_results.lock().unwrap() = Some(info.memory.peak_results);
    }
}

impl Timeline {
    /// Checks that every task of `keys` was heard starting once, then finishing
    /// once, with its start's time and worker, and that the tasks one worker ran
    /// do not overlap. Returns each task's (worker, started, finished).
    fn check(&self, keys: &[String]) -> HashMap<String, (Worker, Instant, Instant)> {
        let heard = self.heard.lock().unwrap().clone();
        let mut starts: HashMap<String, (Worker, Instant)> = HashMap::new();
        let mut runs = HashMap::new();
        for h in &heard {
            match h {
                Heard::Start { key, worker, at } => {
                    assert!(!runs.contains_key(key), "{key} started after it finished");
                    let before = starts.insert(key.clone(), (*worker, *at));
                    assert!(before.is_none(), "{key} started twice");
                }
                Heard::Finish {
                    key,
                    worker,
                    started,
                    finished,
                    ok,
                } => {
                    assert!(ok, "{key} failed");
                    let (start_worker, at) = starts[key];
                    assert_eq!(start_worker, *worker, "{key} started and ended apart");
                    assert_eq!(at, *started, "{key}: its start and its finish disagree");
                    assert!(started <= finished, "{key} ended before it started");
                    let before = runs.insert(key.clone(), (*worker, *started, *finished));
                    assert!(before.is_none(), "{key} finished twice");
                }
            }
        }
        let mut heard_keys: Vec<&String> = runs.keys().collect();
        heard_keys.sort();
        let mut want: Vec<&String> = keys.iter().collect();
        want.sort();
        assert_eq!(heard_keys, want, "every task, and only those, heard");
        let mut lanes: HashMap<Worker, Vec<(Instant, Instant)>> = HashMap::new();
        for &(worker, started, finished) in runs.values() {
            lanes.entry(worker).or_default().push((started, finished));
        }
        for (worker, mut lane) in lanes {
            lane.sort();
            for pair in lane.windows(2) {
                assert!(
                    pair[0].1 <= pair[1].0,
                    "tasks overlap on {worker}: {pair:?}"
                );
            }
        }
        runs
    }
}

/// A thread pool that counts the jobs handed to it (a fused chain is one job).
struct Counting {
    pool: ThreadPool,
    jobs: Arc<AtomicUsize>,
}

impl Executor for Counting {
    fn name(&self) -> &str {
        "counting"
    }

    fn num_workers(&self) -> usize {
        self.pool.num_workers()
    }

    fn submit(&self, batch: Batch) {
        self.jobs.fetch_add(batch.len(), Ordering::SeqCst);
        self.pool.submit(batch);
    }
}

/// A user executor that takes the jobs out of their batch and runs each with
/// `Job::run` on a thread of its own (no start is sent as it happens).
struct OneByOne {
    jobs: Arc<AtomicUsize>,
}

impl Executor for OneByOne {
    fn name(&self) -> &str {
        "one-by-one"
    }

    fn num_workers(&self) -> usize {
        2
    }

    fn submit(&self, batch: Batch) {
        // Batches run at once on threads of their own: each is a worker of its own
        // (numbered by the jobs handed out before it), so no two share a name.
        let before = self.jobs.fetch_add(batch.len(), Ordering::SeqCst);
        let worker = Worker::Thread(u32::try_from(before).unwrap());
        std::thread::spawn(move || {
            for job in batch.into_jobs() {
                job.run(worker).report();
            }
        });
    }
}

/// Quick tasks before the chain: while callbacks listen, a chain is fused only once
/// the computation has seen that many tasks and found them short.
const QUICK: u64 = 16;

/// [`QUICK`] quick tasks `q{i}`, summed by `m0`, then `m0 -> m1 -> m2`: `m1` sleeps
/// [`NAP`], the others return at once.
fn sleepy_chain() -> (Graph, Handle<u64>, Vec<String>) {
    let mut g = Graph::new();
    let quick: Vec<_> = (0..QUICK)
        .map(|i| g.add(("q", i), (), move || i).unwrap())
        .collect();
    let m0 = g
        .add("m0", &quick, |xs: &[&u64]| {
            xs.iter().copied().sum::<u64>() + 1 - (0..QUICK).sum::<u64>()
        })
        .unwrap();
    let m1 = g
        .add("m1", &m0, |x: &u64| {
            std::thread::sleep(NAP);
            x + 1
        })
        .unwrap();
    let m2 = g.add("m2", &m1, |x: &u64| x + 1).unwrap();
    let keys = g.core().keys().iter().map(ToString::to_string).collect();
    (g, m2, keys)
}

/// `n` chains `a{i} -> b{i} -> c{i}` of quick tasks, summed by one task.
fn chains(n: u64) -> (Graph, Handle<u64>, Vec<String>) {
    let mut g = Graph::new();
    let mut ends = Vec::new();
    for i in 0..n {
        let a = g.add(("a", i), (), move || i).unwrap();
        let b = g.add(("b", i), &a, |x: &u64| x + 1).unwrap();
        ends.push(g.add(("c", i), &b, |x: &u64| x * 2).unwrap());
    }
    let total = g
        .add("total", &ends, |xs: &[&u64]| xs.iter().copied().sum())
        .unwrap();
    let keys = g.core().keys().iter().map(ToString::to_string).collect();
    (g, total, keys)
}

/// Runs `sleepy_chain` on `scheduler` with a [`Timeline`] and checks that it ran
/// as one job and that every member was heard with times of its own.
async fn sleepy_chain_is_heard_whole(scheduler: &Scheduler, jobs: &AtomicUsize, name: &str) {
    let (g, end, keys) = sleepy_chain();
    let timeline = Arc::new(Timeline::default());
    let options = ComputeOptions::new().shared_callback(Arc::clone(&timeline) as _);
    let before = jobs.load(Ordering::SeqCst);
    let out = timeout(LIMIT, scheduler.compute_with(&g, &end, options))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out, 3);
    // Fused: a job per quick task and one for the chain, and the loop held the
    // quick results (until `m0`) and the chain's last result, never `m0` or `m1`.
    let handed = jobs.load(Ordering::SeqCst) - before;
    assert_eq!(handed, QUICK as usize + 1, "{name}: not fused");
    let peak = timeline.peak_results.lock().unwrap().unwrap_or(0);
    assert!(peak <= QUICK as usize + 1, "{name}: {peak} results held");
    let runs = timeline.check(&keys);
    let (w0, s0, f0) = runs["m0"];
    let (w1, s1, f1) = runs["m1"];
    let (w2, s2, _) = runs["m2"];
    assert!(w0 == w1 && w1 == w2, "{name}: a chain runs on one worker");
    assert!(s0 <= f0 && f0 <= s1 && f1 <= s2, "{name}: members in order");
    // The sleeping member has its own time, not a share of the chain's.
    assert!(f1 - s1 >= NAP, "{name}: m1 ran {:?}", f1 - s1);
    // Heard in order: m0, then m1, then m2.
    let order: Vec<String> = timeline
        .heard
        .lock()
        .unwrap()
        .iter()
        .map(|h| match h {
            Heard::Start { key, .. } => format!("start {key}"),
            Heard::Finish { key, .. } => format!("finish {key}"),
        })
        .filter(|h| h.ends_with(" m0") || h.ends_with(" m1") || h.ends_with(" m2"))
        .collect();
    assert_eq!(
        order,
        [
            "start m0",
            "finish m0",
            "start m1",
            "finish m1",
            "start m2",
            "finish m2"
        ],
        "{name}"
    );
}

#[tokio::test]
async fn a_listening_callback_hears_every_member_of_a_fused_chain() {
    let jobs = Arc::new(AtomicUsize::new(0));
    let counting = Counting {
        pool: ThreadPool::new(2).unwrap(),
        jobs: Arc::clone(&jobs),
    };
    let scheduler = Scheduler::builder().executor(counting).build().unwrap();
    // Nothing learned yet: starts are sent as they happen.
    sleepy_chain_is_heard_whole(&scheduler, &jobs, "first run").await;
    // Once the scheduler has learned that tasks are short, starts come with the
    // batch's completions instead: the same events are heard.
    let (g, total, _) = chains(300);
    scheduler.compute(&g, &total).await.unwrap();
    sleepy_chain_is_heard_whole(&scheduler, &jobs, "after short tasks").await;
}

#[tokio::test]
async fn a_user_executor_running_jobs_one_by_one_reports_every_member() {
    let jobs = Arc::new(AtomicUsize::new(0));
    let executor = OneByOne {
        jobs: Arc::clone(&jobs),
    };
    let scheduler = Scheduler::builder().executor(executor).build().unwrap();
    sleepy_chain_is_heard_whole(&scheduler, &jobs, "one by one").await;
}

#[tokio::test]
async fn many_short_chains_are_fused_and_every_task_is_heard_once() {
    let jobs = Arc::new(AtomicUsize::new(0));
    let counting = Counting {
        pool: ThreadPool::new(2).unwrap(),
        jobs: Arc::clone(&jobs),
    };
    let scheduler = Scheduler::builder().executor(counting).build().unwrap();
    let n = 400;
    let (g, total, keys) = chains(n);
    let want: u64 = (0..n).map(|i| (i + 1) * 2).sum();
    // Twice: each run learns on its own.
    for run in 0..2 {
        let timeline = Arc::new(Timeline::default());
        let options = ComputeOptions::new().shared_callback(Arc::clone(&timeline) as _);
        let before = jobs.load(Ordering::SeqCst);
        let out = timeout(LIMIT, scheduler.compute_with(&g, &total, options))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(out, want);
        // One job per chain, and one for the total, but for the chains handed out
        // before the computation had seen enough short tasks to fuse while
        // callbacks listen (some 15 to 30, three jobs each; none fused: 1,201).
        let handed = jobs.load(Ordering::SeqCst) - before;
        assert!(
            handed > n as usize && handed <= n as usize + 1 + 2 * 48,
            "run {run}: {handed} jobs, chains not fused"
        );
        timeline.check(&keys);
    }
}
