//! One connected worker's life on the scheduler's side: a task on the cluster's
//! runtime that takes batches for it and watches it, from its welcome to its end.
//!
//! Like a process pool's slot, a member waits for a batch and watches its idle
//! worker at the same time, so a worker that closes, goes silent (missed
//! heartbeats), retires or is ended by its engine is noticed when it happens, and no
//! task is blamed for an idle loss. A batch runs over the connection through the
//! shared driver ([`crate::link::drive`]), and a loss in the middle of
//! one is settled by the shared rule ([`crate::link::loss`]): calls that
//! never started go back to the queue for free, the running one is retried on
//! another worker up to the cluster's limit, then fails naming the key, the worker
//! (node, job, pid) and how it ended, with the engine's word on the job ("slurm job
//! 42: NODE_FAIL (NodeDown)").
//!
//! Unlike a slot, a member does not replace its worker: it leaves, and the
//! supervisor asks the launcher for another, within the cluster's budget.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::conn::TcpConn;
use super::shared::{Admitted, Event, Left, Shared};
use crate::executor::{Batch, Worker};
use crate::link::End;
use crate::link::batch::{Here, Lost};
use crate::link::drive::{self, Seat};
use crate::link::place::Work;
use crate::link::resident;

/// How long a loss waits for the engine's answer about the lost worker's job.
const ASK_ENGINE: Duration = Duration::from_secs(5);

/// How long a closed connection's job may still look alive to its engine before
/// that is taken as the engine's word.
const ENGINE_LAG: Duration = Duration::from_secs(2);

/// What woke an idle member.
enum Wake {
    Evicted,
    Lost(End),
    Work(Option<Work>),
}

/// Serves worker `admitted` over `conn` until it leaves or the cluster shuts down.
pub(super) async fn run(shared: Arc<Shared>, admitted: Admitted, mut conn: TcpConn) {
    let Admitted {
        index,
        worker,
        evict,
        launch,
    } = admitted;
    tracing::info!(%worker, "taskloom cluster worker joined");
    // Cluster workers do not serve each other: values move through the scheduler.
    let home = shared.places.arrive(index, worker, None);
    let left = loop {
        let wake = tokio::select! {
            biased;
            () = shared.shutdown.cancelled() => break Left::Stopped,
            () = evict.cancelled() => Wake::Evicted,
            end = conn.ended() => Wake::Lost(end),
            work = shared.next_work(home) => Wake::Work(work),
        };
        match wake {
            Wake::Work(None) => break Left::Stopped,
            Wake::Work(Some(Work::Batch(batch))) => {
                let here = Here {
                    worker,
                    home,
                    places: &shared.places,
                };
                if let Some(left) = run_batch(
                    &shared,
                    &mut conn,
                    batch,
                    here,
                    index,
                    &evict,
                    launch.as_deref(),
                )
                .await
                {
                    break left;
                }
            }
            Wake::Work(Some(Work::Fetch(fetch))) => {
                if let Err(end) = resident::answer(&mut conn, fetch, &evict).await {
                    // Evicted meanwhile: lost as the eviction says.
                    let end = end.unwrap_or(End::Closed);
                    break lost_idle(&shared, &end, index, worker, launch.as_deref()).await;
                }
            }
            Wake::Work(Some(Work::Release(ids))) => {
                if let Err(end) = resident::release(&mut conn, ids).await {
                    break lost_idle(&shared, &end, index, worker, launch.as_deref()).await;
                }
            }
            Wake::Lost(End::Retired) => break Left::Retired,
            Wake::Evicted => {
                let reason = shared
                    .evicted(index)
                    .unwrap_or_else(|| "was evicted".into());
                tracing::warn!(%worker, %reason, "taskloom cluster worker lost while idle");
                break Left::Lost {
                    reason,
                    busy: false,
                };
            }
            Wake::Lost(end) => {
                let reason = how(&shared, &end, launch.as_deref()).await;
                tracing::warn!(%worker, %reason, "taskloom cluster worker lost while idle");
                break Left::Lost {
                    reason,
                    busy: false,
                };
            }
        }
    };
    // What it held is gone with it; its queued batches go to the others.
    shared.places.leave(home);
    let gone = match &left {
        Left::Stopped => None,
        Left::Retired => {
            tracing::info!(%worker, "taskloom cluster worker retired");
            Some(false)
        }
        Left::Cancelled => {
            tracing::debug!(%worker, "taskloom cluster worker dropped: its computation was cancelled");
            Some(false)
        }
        Left::TimedOut => {
            tracing::warn!(%worker, "taskloom cluster worker dropped: its call ran past its timeout");
            Some(false)
        }
        Left::Lost { .. } => Some(true),
    };
    shared.left(index, left);
    conn.close().await;
    if let (Some(lost), Some(launch)) = (gone, launch) {
        shared.tell(Event::Gone { launch, lost });
    }
}

/// Runs one batch on the worker; `Some` if the worker was lost meanwhile.
async fn run_batch(
    shared: &Shared,
    conn: &mut TcpConn,
    batch: Batch,
    here: Here<'_>,
    index: u32,
    evict: &CancellationToken,
    launch: Option<&str>,
) -> Option<Left> {
    let taken = drive::take(batch)?;
    let requeue = |jobs| shared.requeue(jobs);
    let seat = Seat {
        here,
        settings: &shared.config.settings,
        // A child of the cluster's shutdown: the batch stops for either.
        stop: evict,
        requeue: &requeue,
        shut_down: "the cluster shut down",
    };
    let mut unfinished = seat.run(conn, taken).await.err()?;
    let lost = &mut unfinished.loss.lost;
    if matches!(lost, Lost::Shutdown) && !shared.shutdown.is_cancelled() {
        // Evicted, not shut down: a lost worker like any other.
        *lost = Lost::Worker(End::Closed);
    }
    let (reason, left) = match &unfinished.loss.lost {
        Lost::Worker(End::Retired) => (String::new(), Left::Retired),
        Lost::Worker(end) => {
            let reason = match shared.evicted(index) {
                Some(reason) => reason,
                None => how(shared, end, launch).await,
            };
            let busy = unfinished.loss.running;
            (reason.clone(), Left::Lost { reason, busy })
        }
        // The computation was cancelled: the worker may be running one of its calls,
        // and a connection cannot be interrupted mid-call; dropping it is the kill.
        Lost::Cancelled => (String::new(), Left::Cancelled),
        // The same for a call past its timeout: the task fails as timed out, and the
        // worker's job is stopped and replaced.
        Lost::TimedOut(_) => (String::new(), Left::TimedOut),
        Lost::Shutdown => (String::new(), Left::Stopped),
    };
    seat.settle(unfinished, &reason);
    Some(left)
}

/// The worker was lost while idle (or answering a fetch or a release).
async fn lost_idle(
    shared: &Shared,
    end: &End,
    index: u32,
    worker: Worker,
    launch: Option<&str>,
) -> Left {
    if matches!(end, End::Retired) {
        return Left::Retired;
    }
    let reason = match shared.evicted(index) {
        Some(reason) => reason,
        None => how(shared, end, launch).await,
    };
    tracing::warn!(%worker, %reason, "taskloom cluster worker lost while idle");
    Left::Lost {
        reason,
        busy: false,
    }
}

/// How a worker ended, as a verb phrase, with its engine's word on its job when the
/// launcher started it: "closed its connection; slurm job 42: CANCELLED".
async fn how(shared: &Shared, end: &End, launch: Option<&str>) -> String {
    let how = match end {
        End::Closed => "closed its connection".to_owned(),
        End::Silent(after) => format!("sent no heartbeat for {:.1} s", after.as_secs_f64()),
        End::Misbehaved(reason) => reason.clone(),
        End::Retired => "retired".to_owned(),
    };
    let (Some(engine), Some(id)) = (shared.engine.as_ref(), launch) else {
        return how;
    };
    let label = shared.label_of(id).unwrap_or_else(|| id.to_owned());
    // The engine's word may lag the connection by a moment (a process that closed
    // its socket is not reaped yet; Slurm marks a job whose process ended a little
    // later): for a closed connection, ask again while the job still looks alive.
    let patience = if matches!(end, End::Closed) {
        ENGINE_LAG
    } else {
        Duration::ZERO
    };
    let deadline = tokio::time::Instant::now() + patience;
    let mut pause = Duration::from_millis(20);
    loop {
        let ids = vec![id.to_owned()];
        let asked = tokio::time::timeout(
            ASK_ENGINE,
            engine.call(move |launcher| launcher.status(&ids)),
        )
        .await;
        let state = match asked {
            Ok(Some(Ok(states))) => match states.into_iter().next() {
                Some(state) => state,
                None => return how,
            },
            Ok(Some(Err(error))) => {
                return format!("{how}; {label}: its state is unknown ({error})");
            }
            _ => {
                return format!("{how}; {label}: its state is unknown (the engine did not answer)");
            }
        };
        if state.is_over() || tokio::time::Instant::now() + pause > deadline {
            return format!("{how}; {label}: {state}");
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}
