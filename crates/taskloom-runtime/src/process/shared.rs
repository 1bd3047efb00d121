//! What the process pool's handle and its slots share: the settings, the queues
//! (shared, and one per worker, with what each worker holds), the shutdown token,
//! and each slot's status (its worker's pid, its last start error, whether it rests).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use tokio_util::sync::CancellationToken;

use super::StartError;
use super::peers::PeerDir;
use crate::executor::{Job, Worker};
use crate::link::place::Home;
use crate::link::place::{Places, Work};
use crate::link::settings::Settings;

/// The pool's settings, checked by the builder.
#[derive(Debug)]
pub(super) struct Config {
    pub(super) workers: usize,
    pub(super) eager: bool,
    /// The worker program (the settings', or this program).
    pub(super) program: PathBuf,
    /// What the pool shares with the cluster.
    pub(super) settings: Settings,
    /// Whether workers fetch held values from each other directly.
    pub(super) worker_to_worker: bool,
}

/// What one slot shows the others and the pool's handle.
#[derive(Clone, Debug, Default)]
struct SlotStatus {
    /// The pid of its current worker.
    pid: Option<u32>,
    /// Why its last attempt to start a worker failed (cleared when one starts).
    start_error: Option<Arc<StartError>>,
    /// Whether it rests after a failed start (it leaves batches to the others).
    resting: bool,
}

/// What the executor handle and the slots share.
pub(super) struct Shared {
    pub(super) config: Config,
    /// Remote work waiting for a slot (shared, and each worker's own), and what each
    /// worker holds.
    pub(super) places: Arc<Places>,
    /// Cancelled when the pool is dropped.
    pub(super) shutdown: CancellationToken,
    /// Each slot's status. A `std` mutex: never held across an `.await`.
    slots: Mutex<Vec<SlotStatus>>,
    /// The directory the workers' sockets are in, if they fetch from each other.
    peers: Option<PeerDir>,
}

impl Shared {
    pub(super) fn new(config: Config) -> Self {
        let places = Places::new(config.settings.resident);
        let slots = vec![SlotStatus::default(); config.workers];
        // Only held values move between workers; without a directory they move
        // through the parent.
        let peers = (config.settings.resident && config.worker_to_worker && config.workers > 1)
            .then(PeerDir::create)
            .and_then(|made| {
                made.map_err(|e| {
                    tracing::warn!(
                        error = %e,
                        "taskloom process pool: no directory for its workers' sockets; values \
                         move between workers through the parent"
                    );
                })
                .ok()
            });
        Shared {
            config,
            places,
            shutdown: CancellationToken::new(),
            slots: Mutex::new(slots),
            peers,
        }
    }

    /// The directory the workers' sockets are in, if they fetch from each other.
    pub(super) fn peer_dir(&self) -> Option<&Path> {
        self.peers.as_ref().map(PeerDir::path)
    }

    fn with_slots<T>(&self, f: impl FnOnce(&mut Vec<SlotStatus>) -> T) -> T {
        f(&mut self.slots.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn with_slot(&self, index: usize, f: impl FnOnce(&mut SlotStatus)) {
        self.with_slots(|slots| slots.get_mut(index).map(f));
    }

    /// Each slot's worker's pid.
    pub(super) fn pids(&self) -> Vec<Option<u32>> {
        self.with_slots(|slots| slots.iter().map(|s| s.pid).collect())
    }

    /// Each slot's last start error, if its last start failed.
    pub(super) fn start_errors(&self) -> Vec<Option<Arc<StartError>>> {
        self.with_slots(|slots| slots.iter().map(|s| s.start_error.clone()).collect())
    }

    /// Slot `index` has a worker `pid` (or none); a worker clears its start error.
    pub(super) fn set_pid(&self, index: usize, pid: Option<u32>) {
        self.with_slot(index, |slot| {
            slot.pid = pid;
            if pid.is_some() {
                slot.start_error = None;
            }
        });
    }

    /// Slot `index` could not start a worker.
    pub(super) fn start_failed(&self, index: usize, error: Arc<StartError>) {
        self.with_slot(index, |slot| {
            slot.pid = None;
            slot.start_error = Some(error);
        });
    }

    pub(super) fn set_resting(&self, index: usize, resting: bool) {
        self.with_slot(index, |slot| slot.resting = resting);
    }

    /// Whether every slot rests after a failed start.
    pub(super) fn all_resting(&self) -> bool {
        self.with_slots(|slots| slots.iter().all(|s| s.resting))
    }

    /// Whether a slot other than `index` has, or may start, a worker.
    pub(super) fn others_can_run(&self, index: usize) -> bool {
        self.with_slots(|slots| {
            slots
                .iter()
                .enumerate()
                .any(|(i, s)| i != index && !s.resting)
        })
    }

    /// The next work for the worker at `home` (`None`: a slot without a worker,
    /// which takes shared batches only), or `None` once the pool shuts down.
    /// Cancel-safe.
    pub(super) async fn next_work(&self, home: Option<Home>) -> Option<Work> {
        self.places.next(home, &self.shutdown).await
    }

    /// Queues jobs (one computation's) again, ahead of every batch: they lost their
    /// worker and have waited already. After shutdown they fail instead.
    pub(super) fn requeue(&self, jobs: Vec<Job>) {
        if jobs.is_empty() {
            return;
        }
        if self.shutdown.is_cancelled() {
            for job in jobs {
                job.lost(Worker::Inline, "the process pool shut down");
            }
            return;
        }
        // Pushed after `Pool::drop` drained the queues, they are dropped with the
        // queues when the last slot lets go of them, and report themselves lost.
        self.places.requeue(jobs);
    }
}
