//! What the cluster's handle, its supervisor, its listener and its members share:
//! the settings, the queue of batches, and the table of workers, launches, refusals
//! and losses behind [`ClusterStatus`].
//!
//! Every change of the table bumps a `watch` channel, so a caller waits for workers
//! (or a test for a refusal) on the event itself, never on a clock.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::engine::Engine;
use super::handshake::Identity;
use super::launcher::{JobState, WorkerSpec};
use super::refusals::RefusalLog;
use super::secret::Secret;
use super::status::{
    ClusterStatus, KEPT_REFUSALS, LaunchInfo, Refusal, RefusalKind, WorkerInfo, WorkerLoss,
};
use super::tls::ServerTls;
use crate::executor::{Batch, Job, Name, Worker};
use crate::link::place::Home;
use crate::link::place::{Places, Work};
use crate::link::settings::Settings;

/// The cluster's settings, checked by the builder.
#[derive(Debug)]
pub(super) struct Config {
    /// Workers the launcher starts (or, without one, that are expected).
    pub(super) workers: usize,
    /// What the cluster shares with the process pool (frames, handshake timeout,
    /// retries, residency; its program and arguments are in `spec`).
    pub(super) settings: Settings,
    pub(super) heartbeat_interval: Duration,
    pub(super) heartbeat_timeout: Duration,
    pub(super) replacements: u32,
    pub(super) no_worker_timeout: Duration,
    pub(super) poll_interval: Duration,
    /// This program's build (`handshake::build_id`).
    pub(super) build: String,
    pub(super) secret: Secret,
    /// The scheduler's certificate (a worker may always use TLS).
    pub(super) tls: ServerTls,
    /// Whether workers must use TLS (plain TCP is refused).
    pub(super) require_tls: bool,
    /// What the launcher starts.
    pub(super) spec: WorkerSpec,
    /// The address workers are told to connect to.
    pub(super) advertised: String,
}

/// Something a member tells the supervisor.
#[derive(Debug)]
pub(super) enum Event {
    /// A launched worker is gone: stop its job (a silent worker's job may still
    /// run) and, if it was `lost` (not retired), count its replacement.
    Gone { launch: String, lost: bool },
}

/// A connected worker, in the table.
#[derive(Debug)]
struct Member {
    info: WorkerInfo,
    /// Cancelled to drop the worker (its engine ended its job).
    evict: CancellationToken,
    /// Why it was evicted.
    evicted: Option<String>,
}

/// A launched job, in the table.
#[derive(Debug)]
struct Launch {
    info: LaunchInfo,
    /// Whether the "no worker yet" warning was logged.
    warned: bool,
}

/// The table behind [`ClusterStatus`].
#[derive(Debug, Default)]
struct Table {
    next_index: u32,
    members: BTreeMap<u32, Member>,
    launches: Vec<Launch>,
    refusals: std::collections::VecDeque<Refusal>,
    refused: BTreeMap<RefusalKind, u64>,
    refusal_log: RefusalLog,
    losses: Vec<WorkerLoss>,
    retired: Vec<Worker>,
    replacements: u32,
}

/// Kept of each list in the table (oldest dropped first): a long-lived cluster under
/// a port scanner must not grow without bound.
const KEPT: usize = 1000;

fn keep<T>(list: &mut Vec<T>) {
    if list.len() > KEPT {
        list.drain(..list.len() - KEPT);
    }
}

/// What the handle, the supervisor, the listener and the members share.
pub(super) struct Shared {
    pub(super) config: Config,
    /// The launcher and its thread, if the cluster has one.
    pub(super) engine: Option<Engine>,
    /// The address the listener is bound to.
    pub(super) addr: SocketAddr,
    /// Remote work waiting for a worker (shared, and each worker's own), and what
    /// each worker holds.
    pub(super) places: Arc<Places>,
    /// Cancelled when the cluster is dropped.
    pub(super) shutdown: CancellationToken,
    /// A `std` mutex: never held across an `.await`.
    table: Mutex<Table>,
    /// Bumped on every change of the table.
    changed: watch::Sender<u64>,
    /// Members' news for the supervisor.
    events: mpsc::UnboundedSender<Event>,
}

impl Shared {
    pub(super) fn new(
        config: Config,
        engine: Option<Engine>,
        addr: SocketAddr,
    ) -> (Self, mpsc::UnboundedReceiver<Event>) {
        let (events, news) = mpsc::unbounded_channel();
        let places = Places::new(config.settings.resident);
        let shared = Shared {
            config,
            engine,
            addr,
            places,
            shutdown: CancellationToken::new(),
            table: Mutex::new(Table::default()),
            changed: watch::channel(0).0,
            events,
        };
        (shared, news)
    }

    fn with_table<T>(&self, f: impl FnOnce(&mut Table) -> T) -> T {
        let out = f(&mut self.table.lock().unwrap_or_else(PoisonError::into_inner));
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
        out
    }

    fn read_table<T>(&self, f: impl FnOnce(&Table) -> T) -> T {
        f(&self.table.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Changes what [`ClusterStatus`] does not show: nobody is woken.
    fn read_table_mut<T>(&self, f: impl FnOnce(&mut Table) -> T) -> T {
        f(&mut self.table.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// A receiver that sees every change of the table.
    pub(super) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    pub(super) fn status(&self) -> ClusterStatus {
        self.read_table(|t| ClusterStatus {
            workers: t.members.values().map(|m| m.info.clone()).collect(),
            launches: t.launches.iter().map(|l| l.info.clone()).collect(),
            refusals: t.refusals.iter().cloned().collect(),
            refused: t.refused.clone(),
            losses: t.losses.clone(),
            retired: t.retired.clone(),
            replacements: t.replacements,
        })
    }

    pub(super) fn connected(&self) -> usize {
        self.read_table(|t| t.members.len())
    }

    pub(super) fn tell(&self, event: Event) {
        let _ = self.events.send(event);
    }

    // --- launches ----------------------------------------------------------------

    /// Records a job the launcher started.
    pub(super) fn launched(&self, id: String, label: String, replacement: bool) {
        self.with_table(|t| {
            t.launches.push(Launch {
                info: LaunchInfo {
                    id,
                    label,
                    state: JobState::Pending(String::new()),
                    worker: None,
                    replacement,
                    at: Instant::now(),
                },
                warned: false,
            });
            if replacement {
                t.replacements += 1;
            }
            keep(&mut t.launches);
        });
    }

    /// A counted replacement could not be submitted: it uses the budget all the same
    /// (a launcher that always fails must not be asked forever).
    pub(super) fn replacement_failed(&self) {
        self.with_table(|t| t.replacements += 1);
    }

    /// Whether the replacement budget allows one more.
    pub(super) fn may_replace(&self) -> bool {
        self.read_table(|t| t.replacements < self.config.replacements)
    }

    /// The jobs whose state is worth asking for: not known to be over.
    pub(super) fn live_launches(&self) -> Vec<String> {
        self.read_table(|t| {
            t.launches
                .iter()
                .filter(|l| !l.info.state.is_over())
                .map(|l| l.info.id.clone())
                .collect()
        })
    }

    /// How launch `id` reads in messages ("slurm job 42").
    pub(super) fn label_of(&self, id: &str) -> Option<String> {
        self.read_table(|t| {
            t.launches
                .iter()
                .find(|l| l.info.id == id)
                .map(|l| l.info.label.clone())
        })
    }

    /// Takes in the engine's states of `ids`; says what needs doing.
    pub(super) fn polled(&self, ids: &[String], states: Vec<JobState>) -> Polled {
        let now = Instant::now();
        let mut polled = Polled::default();
        self.with_table(|t| {
            for (id, state) in ids.iter().zip(states) {
                let Some(launch) = t.launches.iter_mut().find(|l| &l.info.id == id) else {
                    continue;
                };
                let was_over = launch.info.state.is_over();
                launch.info.state = state;
                let info = &launch.info;
                if info.state.is_over() && !was_over {
                    match info.worker {
                        // Its worker is connected still: the engine's word ends it.
                        Some(worker @ Worker::Remote { index, .. })
                            if t.members.contains_key(&index) =>
                        {
                            polled.evict.push((worker, info.summary()));
                        }
                        Some(_) => {} // its worker left already
                        None => polled.ended_unconnected.push(info.summary()),
                    }
                } else if !info.state.is_over()
                    && info.worker.is_none()
                    && !launch.warned
                    && now.duration_since(info.at) > self.config.no_worker_timeout
                {
                    launch.warned = true;
                    polled.slow.push(info.summary());
                }
            }
            for (worker, reason) in &polled.evict {
                if let Worker::Remote { index, .. } = worker {
                    if let Some(member) = t.members.get_mut(index) {
                        member.evicted = Some(format!("was ended by its engine ({reason})"));
                        member.evict.cancel();
                    }
                }
            }
        });
        polled
    }

    /// One line on every launch, for an error: "slurm job 41: PENDING (BeginTime);
    /// slurm job 42: FAILED".
    pub(super) fn launch_summary(&self) -> String {
        self.read_table(|t| {
            let lines: Vec<String> = t.launches.iter().map(|l| l.info.summary()).collect();
            if lines.is_empty() {
                "no launcher started any".to_owned()
            } else {
                lines.join("; ")
            }
        })
    }

    /// Whether a worker may still come: a launch not over, or a replacement left
    /// (always, without a launcher: anyone may start one).
    pub(super) fn worker_may_come(&self) -> bool {
        if self.engine.is_none() {
            return true;
        }
        self.read_table(|t| {
            t.replacements < self.config.replacements
                || t.launches.iter().any(|l| !l.info.state.is_over())
        })
    }

    // --- members -----------------------------------------------------------------

    /// A connection was refused during its handshake: counted, listed among the
    /// latest, and logged (one line per kind and interval, see `refusals`).
    pub(super) fn refused(&self, peer: SocketAddr, kind: RefusalKind, reason: String) {
        let line = self.with_table(|t| {
            *t.refused.entry(kind).or_default() += 1;
            let line = t.refusal_log.record(Instant::now(), peer, kind, &reason);
            if t.refusals.len() >= KEPT_REFUSALS {
                t.refusals.pop_front();
            }
            t.refusals.push_back(Refusal { peer, kind, reason });
            line
        });
        if let Some(line) = line {
            line.log();
        }
    }

    /// Logs the refusals counted but not logged for an interval.
    pub(super) fn flush_refusals(&self) {
        let lines = self.read_table_mut(|t| t.refusal_log.flush(Instant::now()));
        for line in lines {
            line.log();
        }
    }

    /// Lets a greeted worker in: its number, its [`Worker`], its eviction token, and
    /// its launch id if the launcher started it.
    pub(super) fn admit(&self, identity: &Identity, peer: SocketAddr, door: Door) -> Admitted {
        let launcher = self.engine.as_ref().map(Engine::launcher);
        self.with_table(|t| {
            let index = t.next_index;
            t.next_index += 1;
            let launch = t
                .launches
                .iter_mut()
                .find(|l| !identity.job.is_empty() && l.info.id == identity.job);
            let label = match (&launch, launcher) {
                (Some(_), Some(launcher)) => launcher.describe(&identity.job),
                _ => identity.job.clone(),
            };
            let worker = Worker::Remote {
                index,
                node: Name::new(&identity.node),
                job: Name::new(&label),
                pid: identity.pid,
            };
            let launch = launch.map(|l| {
                l.info.worker = Some(worker);
                if !l.info.state.is_over() {
                    l.info.state = JobState::Running;
                }
                l.info.id.clone()
            });
            let evict = self.shutdown.child_token();
            t.members.insert(
                index,
                Member {
                    info: WorkerInfo {
                        worker,
                        launch: launch.clone(),
                        peer,
                        since: Instant::now(),
                        handshake: door.took,
                        tls: door.tls,
                    },
                    evict: evict.clone(),
                    evicted: None,
                },
            );
            Admitted {
                index,
                worker,
                evict,
                launch,
            }
        })
    }

    /// Why member `index` was evicted, if it was.
    pub(super) fn evicted(&self, index: u32) -> Option<String> {
        self.read_table(|t| t.members.get(&index).and_then(|m| m.evicted.clone()))
    }

    /// Member `index` left: lost (with why and whether it was busy), retired,
    /// dropped, or stopped with the cluster.
    pub(super) fn left(&self, index: u32, how: Left) {
        self.with_table(|t| {
            let Some(member) = t.members.remove(&index) else {
                return;
            };
            let worker = member.info.worker;
            match how {
                Left::Lost { reason, busy } => {
                    t.losses.push(WorkerLoss {
                        worker,
                        reason,
                        busy,
                    });
                    keep(&mut t.losses);
                }
                Left::Retired => {
                    t.retired.push(worker);
                    keep(&mut t.retired);
                }
                Left::Cancelled | Left::TimedOut | Left::Stopped => {}
            }
        });
    }

    // --- the queue ---------------------------------------------------------------

    /// Hands out a batch: each job to the worker holding most of its input bytes,
    /// or to the next free worker.
    pub(super) fn push(&self, batch: Batch) {
        self.places.push(batch);
    }

    /// The next work for the worker at `home`, or `None` once the cluster shuts
    /// down. Cancel-safe: work is taken only when this returns it.
    pub(super) async fn next_work(&self, home: Home) -> Option<Work> {
        self.places.next(Some(home), &self.shutdown).await
    }

    /// Queues jobs (one computation's) again, ahead of every batch: they lost their
    /// worker and have waited already. After shutdown they fail instead.
    pub(super) fn requeue(&self, jobs: Vec<Job>) {
        if jobs.is_empty() {
            return;
        }
        if self.shutdown.is_cancelled() {
            for job in jobs {
                job.lost(Worker::Inline, "the cluster shut down");
            }
            return;
        }
        // Pushed after the cluster's drop drained the queues, they are dropped with
        // the queues when the last member lets go of them, and report themselves lost.
        self.places.requeue(jobs);
    }

    /// Whether batches wait for a worker.
    pub(super) fn has_queued(&self) -> bool {
        self.places.has_queued()
    }

    /// Fails every queued job with `message` (no worker can run them).
    pub(super) fn fail_queued(&self, message: &str) {
        for batch in self.places.drain() {
            for job in batch.into_jobs() {
                job.lost(Worker::Inline, message);
            }
        }
    }

    pub(super) fn drain_queue(&self) -> Vec<Batch> {
        self.places.drain()
    }
}

/// How a worker came through the door: how long its handshake took, and over what.
#[derive(Debug, Clone, Copy)]
pub(super) struct Door {
    pub(super) took: Duration,
    pub(super) tls: bool,
}

/// A worker let in.
pub(super) struct Admitted {
    pub(super) index: u32,
    pub(super) worker: Worker,
    pub(super) evict: CancellationToken,
    pub(super) launch: Option<String>,
}

/// How a member left.
pub(super) enum Left {
    /// Lost: closed, silent, misbehaving, or evicted.
    Lost { reason: String, busy: bool },
    /// Retired cleanly.
    Retired,
    /// Dropped because its computation was cancelled while it ran a call (a call
    /// cannot be interrupted over a connection; dropping it is the kill).
    Cancelled,
    /// Dropped because the call it ran passed its task's timeout (dropping the
    /// connection is the kill, as for `Cancelled`).
    TimedOut,
    /// Stopped with the cluster.
    Stopped,
}

/// What a poll of the launcher found to do.
#[derive(Debug, Default)]
pub(super) struct Polled {
    /// Connected workers whose job is over: evicted (already), with the job's summary.
    pub(super) evict: Vec<(Worker, String)>,
    /// Jobs that ended before their worker connected.
    pub(super) ended_unconnected: Vec<String>,
    /// Jobs still without a worker after the no-worker timeout.
    pub(super) slow: Vec<String>,
}
