//! Panics in user code outside task bodies — a result's `Drop`, a custom executor —
//! become errors naming the key; nothing hangs, no worker thread dies, and the
//! scheduler keeps working.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use taskloom::executor::{Batch, Executor, Worker};
use taskloom::{ComputeError, ComputeOptions, Graph, Scheduler, TaskErrorKind};

async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("the computation hung")
}

/// A value whose `Drop` panics.
struct Bomb(u64);

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("bomb {} went off", self.0);
    }
}

/// `a` makes a bomb, `b` reads it: the bomb goes off when `a`'s result is released
/// (in the loop), or dropped in the worker that runs the fused chain `a → b`.
fn bomb_graph() -> (Graph, taskloom::Handle<u64>) {
    let mut g = Graph::new();
    let a = g.add("a", (), || Bomb(7)).unwrap();
    let b = g.add("b", &a, |x: &Bomb| x.0 + 1).unwrap();
    (g, b)
}

/// A small graph that must still compute after a fault.
async fn still_works(s: &Scheduler) {
    let mut g = Graph::new();
    let parts: Vec<_> = (0..50_i64)
        .map(|i| g.add(("part", i), (), move || i).unwrap())
        .collect();
    let total = g
        .add("total", &parts, |xs: &[&i64]| {
            xs.iter().copied().sum::<i64>()
        })
        .unwrap();
    assert_eq!(within(s.compute(&g, &total)).await.unwrap(), 1225);
}

fn assert_drop_panicked(err: &ComputeError, key: &str, path: &str) {
    let ComputeError::Task { key: k, error } = err else {
        panic!("{path}: expected a task error, got {err}");
    };
    assert_eq!(k.to_string(), key, "{path}: {err}");
    assert_eq!(error.kind(), TaskErrorKind::DropPanicked, "{path}: {err}");
    assert!(error.message().contains("bomb 7 went off"), "{path}: {err}");
    assert!(
        err.to_string().contains("when its result was dropped"),
        "{path}: {err}"
    );
}

#[tokio::test]
async fn a_result_whose_drop_panics_fails_naming_its_key_on_every_path() {
    let inline = Scheduler::current_thread();
    let threads = Scheduler::threads(1).unwrap();
    let paths = [
        ("inline", &inline, true),
        ("released by the loop", &threads, false),
        ("dropped inside a fused chain", &threads, true),
    ];
    for (path, s, fuse) in paths {
        let (g, b) = bomb_graph();
        let options = ComputeOptions::new().fuse(fuse);
        let err = within(s.compute_with(&g, &b, options)).await.unwrap_err();
        assert_drop_panicked(&err, "a", path);
        // The one worker thread survived: the pool still computes.
        still_works(s).await;
    }
}

#[tokio::test]
async fn two_panicking_drops_in_one_step_fail_once_and_unwind_nowhere() {
    // Finishing `b` releases `a`, whose bomb goes off; `b`'s own result is a bomb
    // too, and must be dropped as safely as `a`'s, after the failure.
    let mut g = Graph::new();
    let a = g.add("a", (), || Bomb(7)).unwrap();
    let b = g.add("b", &a, |x: &Bomb| Bomb(x.0 + 1)).unwrap();
    let c = g.add("c", &b, |x: &Bomb| x.0).unwrap();
    for s in [Scheduler::current_thread(), Scheduler::threads(1).unwrap()] {
        let options = ComputeOptions::new().fuse(false);
        let err = within(s.compute_with(&g, &c, options)).await.unwrap_err();
        assert_drop_panicked(&err, "a", "release while finishing");
        still_works(&s).await;
    }
}

#[tokio::test]
async fn dropping_a_computation_that_holds_a_panicking_result_does_not_panic() {
    let s = Scheduler::threads(2).unwrap();
    let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let release_rx = Arc::new(std::sync::Mutex::new(release_rx));
    let mut g = Graph::new();
    // `c` holds `a` as its input, and so does the loop until `c` finishes: the bomb
    // goes off where the last of them drops it (the loop's results, or the worker
    // whose completion finds the loop gone), and must not unwind from there.
    let a = g.add("a", (), || Bomb(1)).unwrap();
    let c = g
        .add("c", &a, move |_: &Bomb| {
            let _ = started_tx.send(());
            let _ = release_rx
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(30));
            0_u64
        })
        .unwrap();
    let mut compute = Box::pin(s.compute_with(&g, &c, ComputeOptions::new().fuse(false)));
    // Run until `c` is running, then drop the computation.
    tokio::select! {
        r = &mut compute => panic!("the computation ended early: {:?}", r.map(|_| ())),
        () = async {
            let _ = tokio::task::spawn_blocking(move || started_rx.recv()).await;
        } => {}
    }
    drop(compute); // drops the results held: the bomb goes off here, caught
    let _ = release_tx.send(());
    still_works(&s).await;
}

/// A custom executor that panics in `submit`.
struct PanicsInSubmit;

impl Executor for PanicsInSubmit {
    fn name(&self) -> &str {
        "panics-in-submit"
    }
    fn num_workers(&self) -> usize {
        1
    }
    fn submit(&self, _batch: Batch) {
        panic!("submit is broken");
    }
}

/// A custom executor that panics when asked its number of workers.
struct PanicsInNumWorkers;

impl Executor for PanicsInNumWorkers {
    fn name(&self) -> &str {
        "panics-in-num-workers"
    }
    fn num_workers(&self) -> usize {
        panic!("no idea");
    }
    fn submit(&self, batch: Batch) {
        batch.run(Worker::Inline);
    }
}

/// A custom executor that runs every job and forgets to report one completion.
struct DropsCompletions;

impl Executor for DropsCompletions {
    fn name(&self) -> &str {
        "drops-completions"
    }
    fn num_workers(&self) -> usize {
        1
    }
    fn submit(&self, batch: Batch) {
        std::thread::spawn(move || {
            for job in batch.into_jobs() {
                let forget = job.key().to_string() == "('x', 3)";
                let completion = job.run(Worker::Thread(0));
                if !forget {
                    completion.report();
                }
            }
        });
    }
}

fn xs(n: i64) -> (Graph, taskloom::Handle<i64>) {
    let mut g = Graph::new();
    let parts: Vec<_> = (0..n)
        .map(|i| g.add(("x", i), (), move || i).unwrap())
        .collect();
    let total = g
        .add("sum", &parts, |xs: &[&i64]| xs.iter().copied().sum::<i64>())
        .unwrap();
    (g, total)
}

#[tokio::test]
async fn a_panicking_executor_is_an_error_naming_it_and_the_key() {
    let (g, total) = xs(5);
    let s = Scheduler::builder()
        .executor(PanicsInSubmit)
        .chunksize(1)
        .build()
        .unwrap();
    let err = within(s.compute(&g, &total)).await.unwrap_err();
    let ComputeError::ExecutorPanicked {
        executor,
        method,
        key,
        message,
    } = &err
    else {
        panic!("expected ExecutorPanicked, got {err}");
    };
    assert_eq!((executor.as_str(), *method), ("panics-in-submit", "submit"));
    assert!(
        key.as_ref()
            .is_some_and(|k| k.to_string().starts_with("('x', ")),
        "{err}"
    );
    assert_eq!(message, "submit is broken");

    let s = Scheduler::builder()
        .executor(PanicsInNumWorkers)
        .build()
        .unwrap();
    let err = within(s.compute(&g, &total)).await.unwrap_err();
    assert!(
        matches!(
            &err,
            ComputeError::ExecutorPanicked {
                method: "num_workers",
                key: None,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("no idea"), "{err}");
}

#[tokio::test]
async fn a_completion_dropped_unreported_is_a_lost_task_not_a_hang() {
    let (g, total) = xs(6);
    let s = Scheduler::builder()
        .executor(DropsCompletions)
        .chunksize(2)
        .build()
        .unwrap();
    let err = within(s.compute(&g, &total)).await.unwrap_err();
    let ComputeError::Task { key, error } = &err else {
        panic!("expected a task error, got {err}");
    };
    assert_eq!(key.to_string(), "('x', 3)");
    assert_eq!(error.kind(), TaskErrorKind::WorkerLost);
    assert!(error.message().contains("without reporting it"), "{err}");
}

#[tokio::test]
async fn a_panic_in_an_async_task_future_is_the_tasks_error() {
    // The future's own poll panics (not the function that made it).
    let mut g = Graph::new();
    let counter = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&counter);
    let x = g
        .add_async("boom", (), move || {
            let c = Arc::clone(&c);
            async move {
                c.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                if c.load(Ordering::SeqCst) > 0 {
                    panic!("async boom");
                }
                1_u8
            }
        })
        .unwrap();
    for s in [Scheduler::current_thread(), Scheduler::threads(1).unwrap()] {
        let err = within(s.compute(&g, &x)).await.unwrap_err();
        let ComputeError::Task { key, error } = &err else {
            panic!("expected a task error, got {err}");
        };
        assert_eq!(key.to_string(), "boom");
        assert_eq!(error.kind(), TaskErrorKind::Panicked);
        assert_eq!(error.message(), "async boom");
    }
}
