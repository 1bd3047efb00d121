//! One worker slot of the process pool: a task on the supervisor's runtime that owns
//! one worker process at a time, for the pool's whole life.
//!
//! A slot waits for a batch and watches its worker at the same time, so a worker
//! that dies while idle (the OOM killer, a stray `kill`) is noticed when it happens
//! and replaced (at once when the pool is eager, on next use otherwise): the next
//! computation never meets it. A batch runs through the driver every executor with
//! worker processes shares ([`crate::link::drive`]), which watches the worker the
//! same way.
//!
//! A worker lost in the middle of a batch is killed with its group and reaped first;
//! then the batch's unfinished jobs are settled as every executor with process
//! workers settles them ([`crate::link::loss`]): jobs that never started are queued
//! again, at the front; the job the worker was running is retried up to the pool's
//! `retries` ([`crate::executor::retry`]), or fails naming every attempt.
//!
//! A worker that cannot be started is logged and recorded (the pool's
//! `start_errors`), and the slot rests, trying again after 1 s, then 2, 4... up to
//! 30 s. A resting slot leaves batches to the other slots; when every slot rests, the
//! slots take batches again and try to start a worker for each: the batch fails with
//! the start error if that fails too. No batch waits for a slot that cannot run it.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::StartError;
use super::conn::{Conn, StartFailure};
use super::shared::Shared;
use crate::error::{TaskError, TaskErrorKind};
use crate::executor::{Batch, Worker};
use crate::link::End;
use crate::link::batch::{Here, Lost};
use crate::link::drive::{self, Seat};
use crate::link::loss::Settle;
use crate::link::place::{Fetch, Home, Work};
use crate::link::report::Reporter;
use crate::link::resident;

/// The error of jobs failed because the pool shut down.
const SHUT_DOWN: &str = "the process pool shut down";

/// The first rest after a failed start.
const FIRST_REST: Duration = Duration::from_secs(1);
/// The longest rest after failed starts.
const MAX_REST: Duration = Duration::from_secs(30);

/// One worker slot: its current worker, if any.
pub(super) struct Slot {
    index: usize,
    shared: Arc<Shared>,
    conn: Option<Conn>,
    /// Where its worker is in the pool's table of held values.
    home: Option<Home>,
    /// Set after a failed start: the slot rests until then.
    rest_until: Option<Instant>,
    /// The next rest's length.
    rest: Duration,
}

/// What woke an idle slot.
enum Wake {
    /// Its worker ended or misbehaved.
    Lost(End),
    /// Its rest is over.
    Rested,
    /// Work to do (`None`: the pool shut down).
    Work(Option<Work>),
}

/// How an attempt to start a worker went.
enum Started {
    Yes,
    No(Arc<StartError>),
    Shutdown,
}

impl Slot {
    pub(super) fn new(index: usize, shared: Arc<Shared>, conn: Option<Conn>) -> Self {
        let home = conn.as_ref().map(|c| {
            let worker = worker_at(index, c.pid);
            shared.places.arrive(place(index), worker, c.peer.clone())
        });
        Slot {
            index,
            shared,
            conn,
            home,
            rest_until: None,
            rest: FIRST_REST,
        }
    }

    /// The slot's life: keep a worker (when eager), run batches, replace workers,
    /// until the pool shuts down; then stop the worker.
    pub(super) async fn run(mut self) {
        let shared = Arc::clone(&self.shared);
        while !shared.shutdown.is_cancelled() {
            if self.conn.is_none() && shared.config.eager && self.rest_until.is_none() {
                // Replace the worker now, so the next batch does not wait for it.
                self.start().await;
                continue;
            }
            // A resting slot leaves batches to the others, unless every slot rests:
            // then it takes them and tries a start for each, failing the batch if
            // that fails too. No batch waits for a slot that cannot run it.
            let takes_batches =
                self.conn.is_some() || self.rest_until.is_none() || shared.all_resting();
            let rest_until = self.rest_until;
            let wake = tokio::select! {
                biased;
                () = shared.shutdown.cancelled() => break,
                end = watch(&mut self.conn) => Wake::Lost(end),
                () = sleep_until(rest_until) => Wake::Rested,
                work = next_work(&shared, self.home, takes_batches) => Wake::Work(work),
            };
            match wake {
                Wake::Lost(end) => self.lost_idle(end).await,
                Wake::Rested => self.set_rest(None),
                Wake::Work(Some(Work::Batch(batch))) => self.run_batch(batch).await,
                Wake::Work(Some(Work::Fetch(fetch))) => self.fetch(fetch).await,
                Wake::Work(Some(Work::Release(ids))) => self.release(ids).await,
                Wake::Work(None) => break,
            }
        }
        if let Some(conn) = self.conn.take() {
            self.leave();
            shared.set_pid(self.index, None);
            conn.stop().await;
        }
    }

    /// Starts a worker. A failure is logged, recorded, and makes the slot rest.
    async fn start(&mut self) -> Started {
        let shared = &self.shared;
        let started = Conn::start(
            &shared.config,
            self.index,
            shared.peer_dir(),
            &shared.shutdown,
        );
        match started.await {
            Ok(conn) => {
                shared.set_pid(self.index, Some(conn.pid));
                let worker = worker_at(self.index, conn.pid);
                let peer = conn.peer.clone();
                self.home = Some(shared.places.arrive(place(self.index), worker, peer));
                self.conn = Some(conn);
                self.rest = FIRST_REST;
                self.set_rest(None);
                Started::Yes
            }
            Err(StartFailure::Shutdown) => Started::Shutdown,
            Err(StartFailure::Error(error)) => {
                let error = Arc::new(error);
                tracing::warn!(
                    index = self.index,
                    error = %error,
                    retry_in = ?self.rest,
                    "taskloom worker could not start"
                );
                shared.start_failed(self.index, Arc::clone(&error));
                self.set_rest(Some(Instant::now() + self.rest));
                self.rest = (self.rest * 2).min(MAX_REST);
                Started::No(error)
            }
        }
    }

    fn set_rest(&mut self, until: Option<Instant>) {
        self.rest_until = until;
        self.shared.set_resting(self.index, until.is_some());
    }

    /// The idle worker ended or misbehaved: kill and reap it, say so. The loop
    /// replaces it (at once when eager).
    async fn lost_idle(&mut self, end: End) {
        let Some(conn) = self.conn.take() else { return };
        self.leave();
        let pid = conn.pid;
        self.shared.set_pid(self.index, None);
        let status = conn.kill().await;
        let reason = match end {
            End::Misbehaved(reason) => reason,
            _ => status,
        };
        tracing::warn!(
            index = self.index,
            pid,
            %reason,
            "taskloom worker lost while idle; it is replaced"
        );
    }

    /// Runs one batch of remote jobs (one computation's) on this slot's worker,
    /// starting one first if the slot has none.
    async fn run_batch(&mut self, batch: Batch) {
        let Some(taken) = drive::take(batch) else {
            return;
        };
        if self.conn.is_none() {
            match self.start().await {
                Started::Yes => {}
                Started::Shutdown => {
                    return self.shut_down_rule(&taken.reporter).shut_down(taken.jobs);
                }
                Started::No(error) => {
                    if self.shared.others_can_run(self.index) {
                        // Another slot has (or can start) a worker: these jobs did
                        // nothing wrong, they go to it.
                        self.shared.requeue(taken.jobs);
                    } else {
                        let message = format!("worker {} could not start: {error}", self.index);
                        let error = || TaskError::new(TaskErrorKind::WorkerLost, message.clone());
                        taken.reporter.report(
                            taken
                                .jobs
                                .into_iter()
                                .map(|job| job.failed(error(), Worker::Inline))
                                .collect(),
                        );
                    }
                    return;
                }
            }
        }
        let (Some(conn), Some(home)) = (self.conn.as_mut(), self.home) else {
            return;
        };
        let shared = &*self.shared;
        let requeue = |jobs| shared.requeue(jobs);
        let seat = Seat {
            here: Here {
                worker: worker_at(self.index, conn.pid),
                home,
                places: &shared.places,
            },
            settings: &shared.config.settings,
            stop: &shared.shutdown,
            requeue: &requeue,
            shut_down: SHUT_DOWN,
        };
        let Err(unfinished) = seat.run(conn, taken).await else {
            return;
        };
        // The worker is lost for the batch: kill and reap it, then settle the jobs.
        let Some(conn) = self.conn.take() else {
            return; // unreachable: the batch ran on it
        };
        if let Some(home) = self.home.take() {
            shared.places.leave(home);
        }
        shared.set_pid(self.index, None);
        let status = conn.kill().await;
        let ended = match &unfinished.loss.lost {
            Lost::Worker(End::Misbehaved(reason)) => reason.clone(),
            _ => status,
        };
        seat.settle(unfinished, &ended);
    }

    /// Sends another slot the bytes of a value this worker holds. A worker that
    /// fails to answer is lost like an idle one; the fetch's job then fails naming
    /// the value's key and this worker.
    async fn fetch(&mut self, fetch: Fetch) {
        let Some(conn) = self.conn.as_mut() else {
            return; // dropping `fetch` tells its job the value is gone
        };
        if let Err(Some(end)) = resident::answer(conn, fetch, &self.shared.shutdown).await {
            self.lost_idle(end).await;
        }
    }

    /// Tells the worker to drop values nobody needs any more.
    async fn release(&mut self, ids: Vec<u64>) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        if let Err(end) = resident::release(conn, ids).await {
            self.lost_idle(end).await;
        }
    }

    /// The worker is gone from the table of held values, with what it held.
    fn leave(&mut self) {
        if let Some(home) = self.home.take() {
            self.shared.places.leave(home);
        }
    }

    /// The rule for jobs failed because the pool shut down before a worker started.
    fn shut_down_rule<'a>(&self, reporter: &'a Reporter) -> Settle<'a> {
        Settle {
            worker: Worker::Inline,
            ended: "",
            retries: self.shared.config.settings.retries,
            reporter,
            shut_down: SHUT_DOWN,
        }
    }
}

/// Waits until the idle worker is lost (never, without a worker).
async fn watch(conn: &mut Option<Conn>) -> End {
    match conn {
        Some(conn) => conn.ended().await,
        None => std::future::pending().await,
    }
}

/// Sleeps until `until` (forever, without one).
async fn sleep_until(until: Option<Instant>) {
    match until {
        Some(until) => tokio::time::sleep_until(until).await,
        None => std::future::pending().await,
    }
}

/// The next work, if the slot takes work (waits forever otherwise).
async fn next_work(shared: &Shared, home: Option<Home>, takes: bool) -> Option<Work> {
    if takes {
        shared.next_work(home).await
    } else {
        std::future::pending().await
    }
}

/// The worker `pid` in slot `index`, as completions name it.
fn worker_at(index: usize, pid: u32) -> Worker {
    Worker::Process {
        index: place(index),
        pid,
    }
}

/// A slot's place in the table of held values.
fn place(index: usize) -> u32 {
    u32::try_from(index).unwrap_or(u32::MAX)
}
