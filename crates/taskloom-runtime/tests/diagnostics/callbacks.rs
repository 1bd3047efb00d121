//! Callbacks belong to one computation: overlapping computations each see only their
//! own tasks, a panicking callback ends its computation with an error (never a hang),
//! and `on_finish` is called exactly once whatever the outcome.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use taskloom::callbacks::Outcome;
use taskloom::{CancellationToken, ComputeError, ComputeOptions, Graph, Scheduler};
use tokio::time::timeout;

// Every test bounds its computation by `LIMIT`, so a regression shows as a failure,
// not a hang.
use crate::support::{Event, Hook, LIMIT, Panicker, Recorder, tree, wait_for_cancel};

fn schedulers() -> Vec<(&'static str, Scheduler)> {
    vec![
        ("current-thread", Scheduler::current_thread()),
        ("threads", Scheduler::threads(2).unwrap()),
    ]
}

/// Sorted keys of every task of `g`.
fn keys_of(g: &Graph) -> Vec<String> {
    let mut keys: Vec<String> = g.core().keys().iter().map(ToString::to_string).collect();
    keys.sort();
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_computes_each_see_only_their_own_tasks() {
    let scheduler = Scheduler::threads(2).unwrap();
    // Each graph holds an async task that waits at a barrier for the other graph's:
    // both computations are provably running at the same time.
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let mut graphs = Vec::new();
    for prefix in ["left", "right"] {
        let (mut g, root) = tree(prefix, 64);
        let b = Arc::clone(&barrier);
        let met = g
            .add_async(format!("{prefix}-meet"), &root, move |sum: Arc<u64>| {
                let b = Arc::clone(&b);
                async move {
                    let met = timeout(LIMIT, b.wait()).await.is_ok();
                    (*sum, met)
                }
            })
            .unwrap();
        graphs.push((g, met));
    }
    let (left, right) = (Recorder::new(), Recorder::new());
    let run = |(g, met): &(Graph, _), rec: &Arc<Recorder>| {
        scheduler.compute_with(
            g,
            met,
            ComputeOptions::new().shared_callback(Arc::clone(rec) as _),
        )
    };
    let (l, r) = timeout(
        LIMIT,
        futures::future::join(run(&graphs[0], &left), run(&graphs[1], &right)),
    )
    .await
    .unwrap();
    assert_eq!(l.unwrap(), (64, true), "left did not meet right");
    assert_eq!(r.unwrap(), (64, true), "right did not meet left");

    for ((g, _), rec) in graphs.iter().zip([&left, &right]) {
        let own = keys_of(g);
        assert_eq!(rec.started_keys(), own, "each task started once, only own");
        assert_eq!(
            rec.finished_keys(),
            own,
            "each task finished once, only own"
        );
        let events = rec.events();
        assert_eq!(events.first(), Some(&Event::Start { tasks: own.len() }));
        assert_eq!(events.last(), Some(&Event::Finish(Outcome::Done)));
        assert_eq!(rec.finishes().len(), 1);
    }
}

#[tokio::test]
async fn each_task_starts_before_it_finishes() {
    for (name, scheduler) in schedulers() {
        let (g, root) = tree("t", 40);
        let rec = Recorder::new();
        let options = ComputeOptions::new().shared_callback(Arc::clone(&rec) as _);
        let sum = timeout(LIMIT, scheduler.compute_with(&g, &root, options))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(sum, 40);
        let events = rec.events();
        for (i, event) in events.iter().enumerate() {
            if let Event::TaskFinish { key, ok } = event {
                assert!(ok, "{name}: {key} failed");
                let started = events[..i]
                    .iter()
                    .filter(|e| **e == Event::TaskStart(key.clone()))
                    .count();
                assert_eq!(started, 1, "{name}: {key} finished without one start");
            }
        }
    }
}

#[tokio::test]
async fn a_panicking_callback_ends_the_computation_with_an_error() {
    for (name, scheduler) in schedulers() {
        for hook in [Hook::Start, Hook::TaskStart, Hook::TaskFinish] {
            let (g, root) = tree("p", 16);
            let observer = Recorder::new();
            let options = ComputeOptions::new()
                .callback(Panicker(hook))
                .shared_callback(Arc::clone(&observer) as _);
            let result = timeout(LIMIT, scheduler.compute_with(&g, &root, options))
                .await
                .unwrap_or_else(|_| panic!("{name}/{hook:?}: computation hung"));
            match result {
                Err(ComputeError::CallbackPanicked { callback, message }) => {
                    assert_eq!(callback, "panicker");
                    assert!(message.starts_with("boom in on_"), "{message}");
                }
                other => panic!("{name}/{hook:?}: expected CallbackPanicked, got {other:?}"),
            }
            let finishes = observer.finishes();
            assert_eq!(finishes.len(), 1, "{name}/{hook:?}: {finishes:?}");
            assert!(
                matches!(&finishes[0], Outcome::Failed(m) if m.contains("panicker")),
                "{name}/{hook:?}: on_finish saw {:?}",
                finishes[0]
            );
        }
    }
}

#[tokio::test]
async fn on_finish_hears_done_and_task_errors_once() {
    for (name, scheduler) in schedulers() {
        let (g, root) = tree("ok", 8);
        let rec = Recorder::new();
        let options = ComputeOptions::new().shared_callback(Arc::clone(&rec) as _);
        timeout(LIMIT, scheduler.compute_with(&g, &root, options))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rec.finishes(), vec![Outcome::Done], "{name}");

        let mut g = Graph::new();
        let a = g.add("a", (), || 1_u64).unwrap();
        let bad = g
            .try_add("bad", &a, |_: &u64| Err::<u64, _>("no luck"))
            .unwrap();
        let rec = Recorder::new();
        let options = ComputeOptions::new().shared_callback(Arc::clone(&rec) as _);
        let err = timeout(LIMIT, scheduler.compute_with(&g, &bad, options))
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(err.key().map(ToString::to_string).as_deref(), Some("bad"));
        let finishes = rec.finishes();
        assert_eq!(finishes.len(), 1, "{name}: {finishes:?}");
        assert!(
            matches!(&finishes[0], Outcome::Failed(m) if m.contains("no luck")),
            "{name}: {finishes:?}"
        );
        assert!(
            rec.events().contains(&Event::TaskFinish {
                key: "bad".into(),
                ok: false
            }),
            "{name}: the failing task is reported as failed"
        );
    }
}

/// A graph whose only task blocks until its computation is cancelled, and flags that
/// it started and that it saw the cancellation.
fn blocked() -> (
    Graph,
    taskloom::Handle<bool>,
    Arc<AtomicBool>,
    Arc<tokio::sync::Notify>,
) {
    let mut g = Graph::new();
    let started = Arc::new(tokio::sync::Notify::new());
    let saw_cancel = Arc::new(AtomicBool::new(false));
    let (s, c) = (Arc::clone(&started), Arc::clone(&saw_cancel));
    let h = g
        .add("blocked", (), move || {
            s.notify_one();
            let seen = wait_for_cancel();
            c.store(seen, Ordering::SeqCst);
            seen
        })
        .unwrap();
    (g, h, saw_cancel, started)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_finish_hears_cancel_through_the_token() {
    let scheduler = Scheduler::threads(2).unwrap();
    let (g, h, saw_cancel, started) = blocked();
    let rec = Recorder::new();
    let token = CancellationToken::new();
    let options = ComputeOptions::new()
        .cancel_on(token.clone())
        .shared_callback(Arc::clone(&rec) as _);
    let compute = tokio::spawn(scheduler.compute_with(&g, &h, options));
    timeout(LIMIT, started.notified()).await.unwrap();
    token.cancel();
    let result = timeout(LIMIT, compute).await.unwrap().unwrap();
    assert!(matches!(result, Err(ComputeError::Cancelled)), "{result:?}");
    assert_eq!(rec.finishes(), vec![Outcome::Cancelled]);
    // The running task was told through its context.
    timeout(LIMIT, async {
        while !saw_cancel.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_finish_hears_cancel_when_the_future_is_dropped() {
    let scheduler = Scheduler::threads(2).unwrap();
    let (g, h, saw_cancel, started) = blocked();
    let rec = Recorder::new();
    let options = ComputeOptions::new().shared_callback(Arc::clone(&rec) as _);
    let compute = scheduler.compute_with(&g, &h, options);
    tokio::select! {
        result = compute => panic!("finished without being cancelled: {result:?}"),
        () = started.notified() => {} // drops `compute` mid-run
    }
    assert_eq!(rec.finishes(), vec![Outcome::Cancelled]);
    timeout(LIMIT, async {
        while !saw_cancel.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_computation_refused_before_it_starts_calls_no_callback() {
    // on_start and on_finish come in pairs: a graph error is returned before the
    // computation starts, and so is a future dropped before its first poll.
    let mut g = Graph::new();
    let _ = g.add("a", (), || 1_u64).unwrap();
    let rec = Recorder::new();
    let options = ComputeOptions::new().shared_callback(Arc::clone(&rec) as _);
    let missing = taskloom::Request::from(taskloom::Key::from("nope"));
    let err = Scheduler::current_thread()
        .get_with(&g, missing, options.clone())
        .await
        .unwrap_err();
    assert!(matches!(err, ComputeError::Graph(_)), "{err:?}");
    drop(Scheduler::current_thread().get_with(&g, taskloom::Key::from("a"), options));
    assert_eq!(rec.events(), vec![]);
}
