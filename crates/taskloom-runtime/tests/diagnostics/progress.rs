//! The progress bar (feature `progress`), drawn into an in-memory terminal: quiet for
//! short computations, 100 % or the failure at the end, one line per computation.

use std::sync::Arc;
use std::time::Duration;

use indicatif::{InMemoryTerm, ProgressDrawTarget};
use taskloom::diagnostics::Progress;
use taskloom::{ComputeOptions, Graph, Scheduler};

use crate::support::{block_until, tree};

fn terminal() -> (InMemoryTerm, Progress) {
    let term = InMemoryTerm::new(10, 120);
    let progress =
        Progress::with_draw_target(ProgressDrawTarget::term_like(Box::new(term.clone())));
    (term, progress)
}

#[tokio::test]
async fn a_short_computation_prints_nothing() {
    let (term, progress) = terminal();
    // Far above the milliseconds this takes, even on a loaded machine.
    let progress = progress.min_duration(Duration::from_secs(30));
    let (g, root) = tree("quick", 64);
    let bar = progress.bar("quick");
    let options = ComputeOptions::new().callback(bar.clone());
    assert_eq!(
        Scheduler::threads(2)
            .unwrap()
            .compute_with(&g, &root, options)
            .await
            .unwrap(),
        64
    );
    assert!(!bar.is_visible());
    assert_eq!(term.contents().trim(), "");
}

#[tokio::test]
async fn a_bar_ends_at_100_percent() {
    let (term, progress) = terminal();
    let progress = progress.min_duration(Duration::ZERO);
    let (g, root) = tree("sum", 100); // 100 + 25 + 7 + 2 + 1 tasks
    let bar = progress.bar("sum");
    let options = ComputeOptions::new().callback(bar.clone());
    Scheduler::current_thread()
        .compute_with(&g, &root, options)
        .await
        .unwrap();
    assert!(bar.is_visible());
    let screen = term.contents();
    assert!(screen.contains("sum"), "{screen}");
    assert!(screen.contains("135/135 tasks"), "{screen}");
    assert!(screen.contains("done in"), "{screen}");
}

#[tokio::test]
async fn the_bar_appears_once_the_minimum_has_passed() {
    let (term, progress) = terminal();
    let progress = progress.min_duration(Duration::from_millis(30));
    let bar = progress.bar("slow");
    // The only task runs until the bar is shown: only the timer can show it then,
    // since no task finishes (however long the machine takes to get there).
    let shown = bar.clone();
    let mut g = Graph::new();
    let slow = g
        .add("slow", (), move || block_until(|| shown.is_visible()))
        .unwrap();
    let options = ComputeOptions::new().callback(bar.clone());
    let seen_while_running = Scheduler::threads(1)
        .unwrap()
        .compute_with(&g, &slow, options)
        .await
        .unwrap();
    assert!(
        seen_while_running,
        "shown by the timer while the only task ran"
    );
    assert!(term.contents().contains("1/1 tasks"), "{}", term.contents());
}

#[tokio::test]
async fn a_failed_computation_shows_the_failure() {
    let (term, progress) = terminal();
    let progress = progress.min_duration(Duration::ZERO);
    let mut g = Graph::new();
    let a = g.add("a", (), || 1_u32).unwrap();
    let bad = g
        .try_add("bad", &a, |_: &u32| Err::<u32, _>("disk on fire"))
        .unwrap();
    let options = ComputeOptions::new().callback(progress.bar("doomed"));
    Scheduler::current_thread()
        .compute_with(&g, &bad, options)
        .await
        .unwrap_err();
    let screen = term.contents();
    assert!(
        screen.contains("failed: task `bad` failed: disk on fire"),
        "{screen}"
    );
    assert!(!screen.contains("done in"), "{screen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_computations_get_a_line_each() {
    let (term, progress) = terminal();
    let progress = progress.min_duration(Duration::ZERO);
    let scheduler = Scheduler::threads(2).unwrap();
    let gate = Arc::new(tokio::sync::Barrier::new(2));
    let mut runs = Vec::new();
    for (label, leaves) in [("left", 16_usize), ("right", 64)] {
        let (mut g, root) = tree(label, leaves);
        let gate = Arc::clone(&gate);
        // Both computations are on screen at once: each waits for the other.
        let met = g
            .add_async(format!("{label}-meet"), &root, move |x: Arc<u64>| {
                let gate = Arc::clone(&gate);
                async move {
                    gate.wait().await;
                    *x
                }
            })
            .unwrap();
        let options = ComputeOptions::new().callback(progress.bar(label));
        runs.push(tokio::spawn(scheduler.compute_with(&g, &met, options)));
    }
    for run in runs {
        run.await.unwrap().unwrap();
    }
    let screen = term.contents();
    let lines: Vec<&str> = screen.lines().filter(|l| l.contains("tasks")).collect();
    assert_eq!(lines.len(), 2, "{screen}");
    // 16 leaves + 4 + 1 + meet; 64 + 16 + 4 + 1 + meet.
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("left") && l.contains("22/22 tasks")),
        "{screen}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("right") && l.contains("86/86 tasks")),
        "{screen}"
    );
}
