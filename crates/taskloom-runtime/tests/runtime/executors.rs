//! Executors: a user-written one, batching and back-pressure, the current-thread
//! order, and fairness to the rest of the runtime.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use taskloom::executor::{Batch, Executor, ThreadPool, Worker};
use taskloom::{ConfigError, Graph, Handle, Scheduler};

use crate::support::Log;

/// A user executor: one OS thread per batch, recording how much is handed out.
#[derive(Default)]
struct Recording {
    outstanding: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    batch_sizes: Arc<Mutex<Vec<usize>>>,
}

impl Executor for Recording {
    fn name(&self) -> &str {
        "recording"
    }

    fn num_workers(&self) -> usize {
        2
    }

    fn submit(&self, batch: Batch) {
        let n = batch.len();
        self.batch_sizes.lock().unwrap().push(n);
        let now = self.outstanding.fetch_add(n, Ordering::SeqCst) + n;
        self.peak.fetch_max(now, Ordering::SeqCst);
        let outstanding = Arc::clone(&self.outstanding);
        std::thread::spawn(move || {
            // Run the jobs one by one and stop counting them before reporting, so the
            // loop never sees a completion whose job is still counted.
            let done: Vec<_> = batch
                .into_jobs()
                .into_iter()
                .map(|job| job.run(Worker::Thread(99)))
                .collect();
            outstanding.fetch_sub(n, Ordering::SeqCst);
            done.into_iter().for_each(|c| c.report());
        });
    }
}

/// `n` independent leaves summed by one task.
fn wide(n: i64) -> (Graph, Handle<i64>) {
    let mut g = Graph::new();
    let leaves: Vec<_> = (0..n)
        .map(|i| g.add(("leaf", i), (), move || i).unwrap())
        .collect();
    let total = g
        .add("total", &leaves, |xs: &[&i64]| xs.iter().copied().sum())
        .unwrap();
    (g, total)
}

#[tokio::test]
async fn a_user_executor_runs_graphs_and_respects_chunksize_and_back_pressure() {
    let executor = Recording::default();
    let (peak, sizes) = (
        Arc::clone(&executor.peak),
        Arc::clone(&executor.batch_sizes),
    );
    let s = Scheduler::builder()
        .executor(executor)
        .chunksize(3)
        .build()
        .unwrap();
    let (g, total) = wide(1000);
    assert_eq!(s.compute(&g, &total).await.unwrap(), (0..1000).sum::<i64>());
    // Never more than 2 × num_workers × chunksize handed out at once.
    let peak = peak.load(Ordering::SeqCst);
    assert!(peak <= 2 * 2 * 3, "peak of {peak} tasks handed out");
    let sizes = sizes.lock().unwrap();
    assert!(sizes.iter().all(|&n| (1..=3).contains(&n)), "{sizes:?}");
    assert!(sizes.contains(&3), "batches were never full: {sizes:?}");
}

#[test]
fn bad_settings_are_rejected_with_clear_errors() {
    let err = Scheduler::builder().chunksize(0).build().unwrap_err();
    assert_eq!(err, ConfigError::Chunksize(0));
    assert_eq!(err.to_string(), "chunksize must be at least 1, got 0");
    assert_eq!(
        Scheduler::threads(0).unwrap_err(),
        ConfigError::NumWorkers(0)
    );
    assert_eq!(
        Scheduler::builder().max_async_tasks(0).build().unwrap_err(),
        ConfigError::MaxAsyncTasks(0)
    );
}

#[tokio::test]
async fn current_thread_runs_in_static_order_on_the_calling_thread() {
    // Dask's test_local_parents_of_reduction, with real tasks.
    let log = Log::default();
    let mut g = Graph::new();
    let mut task = |name: &'static str, deps: &[Handle<()>]| {
        let l = log.clone();
        let here = std::thread::current().id();
        g.add(name, deps, move |_: &[&()]| {
            assert_eq!(
                std::thread::current().id(),
                here,
                "ran off the calling thread"
            );
            l.push(name);
        })
        .unwrap()
    };
    let a3 = task("a3", &[]);
    let a2 = task("a2", &[a3]);
    let a1 = task("a1", &[a2]);
    let b3 = task("b3", &[]);
    let b2 = task("b2", &[b3, a2]);
    let b1 = task("b1", &[b2]);
    let c3 = task("c3", &[]);
    let c2 = task("c2", &[c3, b2]);
    let c1 = task("c1", &[c2]);
    Scheduler::current_thread()
        .compute(&g, &[a1, b1, c1][..])
        .await
        .unwrap();
    assert_eq!(
        log.entries(),
        ["a3", "a2", "a1", "b3", "b2", "b1", "c3", "c2", "c1"]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_long_computation_does_not_starve_other_tasks() {
    // On a single-threaded runtime, a 200,000-task inline computation must let a
    // ticker task run while it works (the loop yields every few thousand tasks).
    let ticks = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ticker = {
        let (ticks, done) = (Arc::clone(&ticks), Arc::clone(&done));
        tokio::spawn(async move {
            while !done.load(Ordering::SeqCst) {
                ticks.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
            }
        })
    };
    let mut g = Graph::new();
    let mut last = g.add(("chain", 0), (), || 0_u64).unwrap();
    for i in 1..200_000 {
        last = g.add(("chain", i), &last, |x: &u64| x + 1).unwrap();
    }
    let out = Scheduler::current_thread()
        .compute(&g, &last)
        .await
        .unwrap();
    let ticks_during = ticks.load(Ordering::SeqCst);
    done.store(true, Ordering::SeqCst);
    ticker.await.unwrap();
    assert_eq!(out, 199_999);
    assert!(
        ticks_during >= 20,
        "ticker ran only {ticks_during} times during the computation"
    );
}

#[tokio::test]
async fn thread_pool_runs_tasks_on_its_workers_in_parallel() {
    // Two tasks that each wait for the other to start can only finish if they run
    // at the same time on two workers.
    let barrier = Arc::new(std::sync::Barrier::new(2));
    let names = Arc::new(Mutex::new(HashSet::new()));
    let mut g = Graph::new();
    let pair: Vec<_> = (0..2)
        .map(|i| {
            let (barrier, names) = (Arc::clone(&barrier), Arc::clone(&names));
            g.add(("meet", i), (), move || {
                names
                    .lock()
                    .unwrap()
                    .insert(std::thread::current().name().map(str::to_owned));
                barrier.wait();
                i
            })
            .unwrap()
        })
        .collect();
    let s = Scheduler::builder()
        .executor(ThreadPool::new(2).unwrap())
        .chunksize(1)
        .build()
        .unwrap();
    let out = tokio::time::timeout(std::time::Duration::from_secs(20), s.compute(&g, &pair))
        .await
        .expect("the two tasks did not run in parallel");
    assert_eq!(out.unwrap(), vec![0, 1]);
    let names = names.lock().unwrap();
    assert_eq!(names.len(), 2);
    assert!(names.iter().all(|n| {
        n.as_deref()
            .is_some_and(|n| n.starts_with("taskloom-worker-"))
    }));
}
