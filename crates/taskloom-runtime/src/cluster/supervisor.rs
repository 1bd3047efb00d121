//! The cluster's supervisor: a thread with a current-thread Tokio runtime of its own
//! (so the cluster works whatever runtime, or none, drives the computations), on
//! which the listener, every member, and the watch over the launcher run.
//!
//! The watch:
//!
//! - **polls the launcher** every `poll_interval` (`squeue` for Slurm): a job that
//!   ended while its worker was connected evicts the worker (its engine's word is
//!   the loss's reason: `NODE_FAIL (NodeDown)`); a job that ended before its worker
//!   connected is logged with its state and replaced; a job still without a worker
//!   after the no-worker timeout is logged with its state (`PENDING (Resources)`);
//! - **replaces** every launched worker that is lost, within the cluster's
//!   replacement budget (a crash loop ends there); a worker that retired (walltime)
//!   or was dropped for a cancelled computation is replaced outside the budget;
//! - **never lets a batch wait forever**: queued batches with no worker connected
//!   fail after the no-worker timeout, or at once when no worker can come any more
//!   (every launched job over, the budget spent), with an error naming every job and
//!   its state.
//!
//! When the cluster is dropped, the members close their connections (idle workers
//! exit at once, busy ones when their heartbeat finds the connection gone), every
//! launched job not known to be over is stopped (`scancel`), and the cluster's
//! directory (the secret file, the workers' logs) is removed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::listener;
use super::shared::{Event, Shared};

/// How often the no-worker watchdog looks.
const WATCHDOG: Duration = Duration::from_millis(100);

/// The supervisor thread's body.
pub(super) async fn supervise(
    shared: Arc<Shared>,
    listener: std::net::TcpListener,
    news: mpsc::UnboundedReceiver<Event>,
    dir: Option<std::path::PathBuf>,
) {
    match TcpListener::from_std(listener) {
        Ok(listener) => {
            let listening = tokio::spawn(listener::listen(Arc::clone(&shared), listener));
            watch(&shared, news).await;
            let _ = listening.await;
        }
        Err(error) => {
            tracing::error!(%error, "taskloom cluster cannot listen");
            shared.fail_queued(&format!("the cluster cannot listen: {error}"));
            shared.shutdown.cancelled().await;
        }
    }
    stop_launches(&shared).await;
    if let Some(dir) = dir {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Watches the launcher and the queue until the cluster shuts down.
async fn watch(shared: &Arc<Shared>, mut news: mpsc::UnboundedReceiver<Event>) {
    let mut poll = tokio::time::interval(shared.config.poll_interval);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut watchdog = tokio::time::interval(WATCHDOG);
    watchdog.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut idle_since: Option<Instant> = None;
    loop {
        tokio::select! {
            biased;
            () = shared.shutdown.cancelled() => return,
            Some(event) = news.recv() => gone(shared, event).await,
            _ = poll.tick(), if shared.engine.is_some() => poll_launches(shared).await,
            _ = watchdog.tick() => idle_since = check_idle(shared, idle_since),
        }
    }
}

/// A launched worker left: stop its job, and replace it.
async fn gone(shared: &Arc<Shared>, event: Event) {
    let Event::Gone { launch, lost } = event;
    if let Some(engine) = &shared.engine {
        let ids = vec![launch.clone()];
        if let Some(Err(error)) = engine.call(move |launcher| launcher.stop(&ids)).await {
            tracing::warn!(%error, job = %launch, "taskloom cluster could not stop a lost worker's job");
        }
    }
    replace(shared, lost).await;
}

/// Launches a replacement: counted against the budget when the worker was `lost`.
async fn replace(shared: &Arc<Shared>, counted: bool) {
    if shared.shutdown.is_cancelled() {
        return;
    }
    let Some(engine) = &shared.engine else {
        return;
    };
    if counted && !shared.may_replace() {
        tracing::warn!(
            budget = shared.config.replacements,
            "taskloom cluster lost a worker and its replacement budget is spent"
        );
        return;
    }
    let spec = shared.config.spec.clone();
    match engine.call(move |launcher| launcher.launch(&spec)).await {
        Some(Ok(id)) => {
            let label = engine.launcher().describe(&id);
            tracing::info!(job = %label, "taskloom cluster submitted a replacement worker");
            shared.launched(id, label, counted);
        }
        Some(Err(error)) => {
            tracing::warn!(%error, "taskloom cluster could not submit a replacement worker");
            if counted {
                shared.replacement_failed();
            }
        }
        None => {}
    }
}

/// Asks the launcher for the state of every job not known to be over.
async fn poll_launches(shared: &Arc<Shared>) {
    let Some(engine) = &shared.engine else {
        return;
    };
    let ids = shared.live_launches();
    if ids.is_empty() {
        return;
    }
    let asked = ids.clone();
    let states = match engine.call(move |launcher| launcher.status(&asked)).await {
        Some(Ok(states)) => states,
        Some(Err(error)) => {
            tracing::warn!(%error, "taskloom cluster could not poll its launcher");
            return;
        }
        None => return,
    };
    let polled = shared.polled(&ids, states);
    for (worker, job) in &polled.evict {
        tracing::warn!(%worker, %job, "taskloom cluster worker's job ended; the worker is dropped");
    }
    for job in &polled.slow {
        tracing::warn!(
            %job,
            waited = ?shared.config.no_worker_timeout,
            "taskloom cluster worker has not connected yet"
        );
    }
    for job in polled.ended_unconnected {
        tracing::warn!(%job, "taskloom cluster worker's job ended before it connected");
        replace(shared, true).await;
    }
}

/// Fails queued batches that no worker can take: none connected for the no-worker
/// timeout, or none can come. Returns when the wait without a worker began.
fn check_idle(shared: &Shared, idle_since: Option<Instant>) -> Option<Instant> {
    if !shared.has_queued() || shared.connected() > 0 {
        return None;
    }
    let now = Instant::now();
    let since = idle_since.unwrap_or(now);
    let timeout = shared.config.no_worker_timeout;
    let may_come = shared.worker_may_come();
    if may_come && now.duration_since(since) < timeout {
        return Some(since);
    }
    let why = if may_come {
        format!(
            "no worker connected to the cluster at {} within {:.1} s",
            shared.config.advertised,
            timeout.as_secs_f64()
        )
    } else {
        format!(
            "no worker can run it: every job the cluster's launcher started is over and its \
             replacement budget ({}) is spent",
            shared.config.replacements
        )
    };
    let message = format!("{why} (workers: {})", shared.launch_summary());
    tracing::error!(%message, "taskloom cluster has no worker for its queued tasks");
    shared.fail_queued(&message);
    None
}

/// Stops every launched job not known to be over.
async fn stop_launches(shared: &Arc<Shared>) {
    let Some(engine) = &shared.engine else {
        return;
    };
    let ids = shared.live_launches();
    if ids.is_empty() {
        return;
    }
    if let Some(Err(error)) = engine.call(move |launcher| launcher.stop(&ids)).await {
        tracing::warn!(%error, "taskloom cluster could not stop its workers' jobs");
    }
}
