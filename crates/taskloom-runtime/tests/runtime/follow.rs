//! Followers: a waiting task whose inputs its batch makes goes in that batch, after
//! them, and the results only its batch reads are freed on the worker. Same results
//! as any other schedule; failures still named; an executor that takes the jobs out
//! of their batch still runs every task.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use taskloom::executor::{Batch, Executor, ThreadPool, Worker};
use taskloom::{ComputeError, Graph, Handle, ResultSize, Scheduler};

use crate::support::{Counted, Live};

/// A tree of sums over `leaves` leaves, `fan_in` at a time, every value counted
/// (and sized, so the loop knows them to be small and batches freely).
fn tree(live: &Arc<Live>, leaves: u64, fan_in: usize) -> (Graph, Handle<Counted>) {
    let mut g = Graph::new();
    let mut layer: Vec<Handle<Counted>> = (0..leaves)
        .map(|i| {
            let l = Arc::clone(live);
            g.add_sized(("leaf", i as i64), (), move || l.make(i))
                .unwrap()
        })
        .collect();
    let mut level = 0_i64;
    while layer.len() > 1 {
        level += 1;
        layer = layer
            .chunks(fan_in)
            .enumerate()
            .map(|(j, inputs)| {
                let l = Arc::clone(live);
                g.add_sized(
                    ("sum", level, j as i64),
                    inputs,
                    move |xs: &[&Counted]| l.make(xs.iter().map(|x| x.value).sum()),
                )
                .unwrap()
            })
            .collect();
    }
    (g, layer[0])
}

impl ResultSize for Counted {
    fn result_size(&self) -> usize {
        size_of::<Self>()
    }
}

#[tokio::test]
async fn sums_follow_their_leaves_and_free_them_on_the_worker() {
    // One worker, one batch for the whole tree: each sum follows its leaves, and a
    // leaf is freed as soon as its sum has run, not when the batch is back. Run
    // ahead of their sums (batches of ready tasks only, a round trip between a
    // leaf and its sum), 96 values were alive at once.
    let live = Live::new();
    let (g, root) = tree(&live, 64, 2);
    let s = Scheduler::builder()
        .executor(ThreadPool::new(1).unwrap())
        .chunksize(512)
        .build()
        .unwrap();
    let out = s.compute(&g, &root).await.unwrap();
    assert_eq!(out.value, (0..64).sum::<u64>());
    drop(out);
    assert_eq!(live.live(), 0);
    // Depth first: one value per level (6), the pair being summed and the sum.
    assert!(live.peak() <= 8, "{} values alive at once", live.peak());
}

#[tokio::test]
async fn followers_give_the_same_results_at_every_batch_size() {
    for chunk in [1, 2, 3, 7, 64, 512] {
        for workers in [1, 2, 3] {
            let live = Live::new();
            let (g, root) = tree(&live, 100, 3);
            let s = Scheduler::builder()
                .executor(ThreadPool::new(workers).unwrap())
                .chunksize(chunk)
                .build()
                .unwrap();
            let out = s.compute(&g, &root).await.unwrap();
            assert_eq!(out.value, (0..100).sum::<u64>(), "{chunk} {workers}");
            drop(out);
            assert_eq!(live.live(), 0, "{chunk} {workers}");
        }
    }
}

#[tokio::test]
async fn a_failing_follower_is_named() {
    let mut g = Graph::new();
    let a = g.add("a", (), || 1_i64).unwrap();
    let b = g.add("b", (), || 2_i64).unwrap();
    let c = g
        .try_add("c", (&a, &b), |_: &i64, _: &i64| Err::<i64, _>("c broke"))
        .unwrap();
    let d = g.add("d", &c, |x: &i64| x + 1).unwrap();
    let s = Scheduler::builder()
        .executor(ThreadPool::new(1).unwrap())
        .chunksize(16)
        .build()
        .unwrap();
    let err = s.compute(&g, &d).await.unwrap_err();
    let ComputeError::Task { key, .. } = &err else {
        panic!("expected a task error, got {err}")
    };
    assert_eq!(key.to_string(), "c");
}

/// Runs each batch's jobs one by one, taken out of their batch.
struct OneByOne {
    batches: Arc<AtomicUsize>,
}

impl Executor for OneByOne {
    fn name(&self) -> &str {
        "one-by-one"
    }

    fn num_workers(&self) -> usize {
        2
    }

    fn submit(&self, batch: Batch) {
        self.batches.fetch_add(1, Ordering::SeqCst);
        std::thread::spawn(move || {
            for job in batch.into_jobs() {
                job.run(Worker::Thread(7)).report();
            }
        });
    }
}

#[tokio::test]
async fn an_executor_that_takes_jobs_out_still_runs_every_task() {
    // Followers cannot stand alone: taken out of their batch they come back unrun,
    // and run later, once their inputs are in.
    let batches = Arc::new(AtomicUsize::new(0));
    let s = Scheduler::builder()
        .executor(OneByOne {
            batches: Arc::clone(&batches),
        })
        .chunksize(64)
        .build()
        .unwrap();
    let live = Live::new();
    let (g, root) = tree(&live, 200, 4);
    let out = s.compute(&g, &root).await.unwrap();
    assert_eq!(out.value, (0..200).sum::<u64>());
    drop(out);
    assert_eq!(live.live(), 0);
    assert!(batches.load(Ordering::SeqCst) > 1);
}
