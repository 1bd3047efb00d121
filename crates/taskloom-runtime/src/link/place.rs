//! Where remote work waits, and where results live: the queues of an executor whose
//! workers are processes (one for any worker, one per worker), the table of which
//! worker holds how many bytes, and the parent's references to results held in
//! workers ([`RemoteRef`], at a [`Home`]), whose drop releases the value in that table:
//! the references and the table are one concern, kept in one module.
//!
//! **Placement by locality.** A batch handed to the executor is split by where each
//! job's inputs are: a job some of whose inputs are held in workers goes to the
//! worker holding most of its input bytes (ties: the one with the shortest queue);
//! a job with none goes to the shared queue, which every worker takes from when its
//! own is empty. A worker's own queue also carries the small requests other slots
//! and the parent make of it, served before its next batch: releases of the values
//! it holds, and fetches of their bytes.
//!
//! Back-pressure is the scheduling loop's (at most `2 × workers × chunk` tasks handed
//! out per computation); a batch keeps its jobs together per worker, so batching
//! still pays one round trip per batch.
//!
//! Every slot (process pool) or member (cluster) registers the worker it runs as a
//! [`Home`] when the worker starts, and leaves when it is lost: the values it held
//! are gone, its queued batches go to the shared queue, and fetches waiting on it
//! fail (their jobs fail naming the lost input and the worker).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use bytes::Bytes;
use taskloom_core::Key;
use tokio::sync::{Notify, oneshot};
use tokio_util::sync::CancellationToken;

use crate::executor::Scope;
use crate::executor::{Batch, Job, Worker};
use crate::value::{Value, value};

/// Which worker of an executor holds a value: its place (a pool's slot, a cluster's
/// member number) and the generation of the process in that place. A value held by a
/// worker that was replaced is gone: the generation tells the two apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Home {
    pub(crate) place: u32,
    pub(crate) generation: u64,
}

/// A result held in a worker: what the parent keeps in place of the value.
///
/// The last reference dropped releases the value in its worker.
pub(crate) struct RemoteRef {
    pub(crate) home: Home,
    /// The worker, for messages.
    pub(crate) worker: Worker,
    /// Its id in the worker's table.
    pub(crate) id: u64,
    /// Its encoded size.
    pub(crate) bytes: u64,
    /// The task that made it, for messages.
    pub(crate) key: Key,
    places: Weak<Places>,
    /// The computation it was kept for, whose per-worker figures it counts in.
    scope: Weak<Scope>,
}

impl std::fmt::Debug for RemoteRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RemoteRef({} in {}, {} bytes)",
            self.key, self.worker, self.bytes
        )
    }
}

impl RemoteRef {
    /// The reference to a result `worker` (at `home`) just kept, as a [`Value`].
    pub(crate) fn kept(
        places: &Arc<Places>,
        home: Home,
        worker: Worker,
        id: u64,
        bytes: u64,
        key: Key,
        scope: &Arc<Scope>,
    ) -> Value {
        places.kept(home, bytes);
        scope.traffic.hold(worker, bytes);
        value(RemoteRef {
            home,
            worker,
            id,
            bytes,
            key,
            places: Arc::downgrade(places),
            scope: Arc::downgrade(scope),
        })
    }
}

impl RemoteRef {
    /// Whether the worker that held it is gone (and the value with it).
    pub(crate) fn is_lost(&self) -> bool {
        self.places
            .upgrade()
            .is_none_or(|places| !places.is_live(self.home))
    }
}

impl Drop for RemoteRef {
    fn drop(&mut self) {
        if let Some(places) = self.places.upgrade() {
            places.release(self.home, self.id, self.bytes);
        }
        if let Some(scope) = self.scope.upgrade() {
            scope.traffic.unhold(self.worker, self.bytes);
        }
    }
}

/// A request for a held value's bytes, for a task on another worker.
pub(crate) struct Fetch {
    /// The value's id in the worker's table.
    pub(crate) id: u64,
    /// Where the bytes go (or why there are none).
    pub(crate) reply: oneshot::Sender<Result<Bytes, String>>,
}

/// What a worker's slot does next.
pub(crate) enum Work {
    /// Tell the worker to drop these values.
    Release(Vec<u64>),
    /// Send another slot a value's bytes.
    Fetch(Fetch),
    /// Run a batch.
    Batch(Batch),
}

/// One worker's queue and holdings.
struct Place {
    generation: u64,
    worker: Worker,
    batches: VecDeque<Batch>,
    fetches: VecDeque<Fetch>,
    releases: Vec<u64>,
    /// Bytes of the values it holds.
    held: u64,
    notify: Arc<Notify>,
}

#[derive(Default)]
struct Table {
    shared: VecDeque<Batch>,
    /// The live workers, by place.
    places: HashMap<u32, Place>,
    /// The next worker's generation: one counter for every place, so that a place
    /// can be forgotten when its worker leaves and reused without two workers ever
    /// sharing a generation.
    next_generation: u64,
}

/// The queues and holdings of one executor's workers.
///
/// Nothing that may hold a [`RemoteRef`] (a job, a batch) is ever dropped while the
/// table's lock is held: dropping the last reference releases its value, which takes
/// the lock.
pub(crate) struct Places {
    /// Whether results stay in the workers that made them.
    resident: bool,
    /// A `std` mutex: held only to push or pop, never across an `.await`.
    table: Mutex<Table>,
    /// Wakes a worker waiting for shared work.
    available: Notify,
}

impl Places {
    pub(crate) fn new(resident: bool) -> Arc<Self> {
        Arc::new(Places {
            resident,
            table: Mutex::new(Table::default()),
            available: Notify::new(),
        })
    }

    /// Whether results stay in the workers that made them.
    pub(crate) fn resident(&self) -> bool {
        self.resident
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A worker started at `place`: its home (a new generation).
    pub(crate) fn arrive(&self, place: u32, worker: Worker) -> Home {
        let mut table = self.lock();
        let generation = table.next_generation;
        table.next_generation += 1;
        let previous = table.places.insert(
            place,
            Place {
                generation,
                worker,
                batches: VecDeque::new(),
                fetches: VecDeque::new(),
                releases: Vec::new(),
                held: 0,
                notify: Arc::new(Notify::new()),
            },
        );
        if let Some(previous) = previous {
            // Not left first (a slot that unwound): its batches go to anyone.
            table.shared.extend(previous.batches);
        }
        Home { place, generation }
    }

    /// The worker at `home` is gone, with every value it held: its batches go to the
    /// shared queue (at the front: they waited already), waiting fetches fail.
    pub(crate) fn leave(&self, home: Home) {
        let mut table = self.lock();
        if table
            .places
            .get(&home.place)
            .is_none_or(|p| p.generation != home.generation)
        {
            return;
        }
        let Some(place) = table.places.remove(&home.place) else {
            return;
        };
        for batch in place.batches.into_iter().rev() {
            table.shared.push_front(batch);
        }
        drop(table);
        drop(place.fetches); // their waiters see the loss
        self.available.notify_waiters();
        self.available.notify_one();
    }

    /// Hands out a batch: each job to the worker holding most of its input bytes, or
    /// to the shared queue.
    pub(crate) fn push(&self, mut batch: Batch) {
        if !self.resident {
            self.lock().shared.push_back(batch);
            self.available.notify_one();
            return;
        }
        let jobs = std::mem::take(batch.jobs_mut());
        let mut table = self.lock();
        let mut shared = Vec::new();
        let mut placed: Vec<(u32, Vec<Job>)> = Vec::new();
        for job in jobs {
            match table.best_place(&job) {
                Some(place) => match placed.iter_mut().find(|(p, _)| *p == place) {
                    Some((_, jobs)) => jobs.push(job),
                    None => placed.push((place, vec![job])),
                },
                None => shared.push(job),
            }
        }
        let mut wake = Vec::with_capacity(placed.len());
        for (place, jobs) in placed {
            match table.places.get_mut(&place) {
                Some(p) => {
                    p.batches.push_back(Batch::new(jobs));
                    wake.push(Arc::clone(&p.notify));
                }
                // Not reached (the place was found live under this lock), and never
                // dropped here: a job's inputs may hold references whose drop takes
                // this lock.
                None => shared.extend(jobs),
            }
        }
        let any_shared = !shared.is_empty();
        if any_shared {
            table.shared.push_back(Batch::new(shared));
        }
        drop(table);
        for notify in wake {
            notify.notify_one();
        }
        if any_shared {
            self.available.notify_one();
        }
    }

    /// Queues jobs (one computation's) again, ahead of every shared batch: they lost
    /// their worker, or were handed back, and have waited already.
    pub(crate) fn requeue(&self, jobs: Vec<Job>) {
        if jobs.is_empty() {
            return;
        }
        self.lock().shared.push_front(Batch::new(jobs));
        self.available.notify_one();
    }

    /// Queues a job whose inputs were moved in for the worker at `home`, at the front
    /// of its queue (or of the shared one, if that worker is gone).
    pub(crate) fn queue_at(&self, home: Home, job: Job) {
        let mut table = self.lock();
        match table.places.get_mut(&home.place) {
            Some(p) if p.generation == home.generation => {
                p.batches.push_front(Batch::new(vec![job]));
                let notify = Arc::clone(&p.notify);
                drop(table);
                notify.notify_one();
            }
            _ => {
                table.shared.push_front(Batch::new(vec![job]));
                drop(table);
                self.available.notify_one();
            }
        }
    }

    /// The next work for the worker at `home` (or for a slot without a worker:
    /// shared batches only), or `None` once `shutdown` is cancelled. Cancel-safe:
    /// work is taken only when this returns it.
    pub(crate) async fn next(
        &self,
        home: Option<Home>,
        shutdown: &CancellationToken,
    ) -> Option<Work> {
        loop {
            if shutdown.is_cancelled() {
                return None;
            }
            let notify = {
                let mut table = self.lock();
                let mut notify = None;
                if let Some(home) = home {
                    if let Some(p) = table.places.get_mut(&home.place) {
                        if p.generation == home.generation {
                            if !p.releases.is_empty() {
                                return Some(Work::Release(std::mem::take(&mut p.releases)));
                            }
                            if let Some(fetch) = p.fetches.pop_front() {
                                return Some(Work::Fetch(fetch));
                            }
                            if let Some(batch) = p.batches.pop_front() {
                                return Some(Work::Batch(batch));
                            }
                            notify = Some(Arc::clone(&p.notify));
                        }
                    }
                }
                if let Some(batch) = table.shared.pop_front() {
                    return Some(Work::Batch(batch));
                }
                notify
            };
            // `notify_one` stores a permit when nobody waits, so work pushed between
            // the checks above and these waits is not missed.
            match notify {
                Some(own) => tokio::select! {
                    () = own.notified() => {}
                    () = self.available.notified() => {}
                    () = shutdown.cancelled() => return None,
                },
                None => tokio::select! {
                    () = self.available.notified() => {}
                    () = shutdown.cancelled() => return None,
                },
            }
        }
    }

    /// The worker at `home` kept a result of `bytes` bytes.
    pub(crate) fn kept(&self, home: Home, bytes: u64) {
        if let Some(p) = self.lock().places.get_mut(&home.place) {
            if p.generation == home.generation {
                p.held += bytes;
            }
        }
    }

    /// A reference to value `id` at `home` was dropped: the worker drops it before
    /// its next batch (nothing, if that worker is gone).
    pub(crate) fn release(&self, home: Home, id: u64, bytes: u64) {
        let mut table = self.lock();
        let Some(p) = table.places.get_mut(&home.place) else {
            return;
        };
        if p.generation != home.generation {
            return;
        }
        p.held = p.held.saturating_sub(bytes);
        p.releases.push(id);
        let notify = Arc::clone(&p.notify);
        drop(table);
        notify.notify_one();
    }

    /// Asks the worker at `home` for the bytes of its value `id`: `None` if that
    /// worker is gone.
    pub(crate) fn fetch(
        &self,
        home: Home,
        id: u64,
    ) -> Option<oneshot::Receiver<Result<Bytes, String>>> {
        let mut table = self.lock();
        let p = table.places.get_mut(&home.place)?;
        if p.generation != home.generation {
            return None;
        }
        let (reply, answer) = oneshot::channel();
        p.fetches.push_back(Fetch { id, reply });
        let notify = Arc::clone(&p.notify);
        drop(table);
        notify.notify_one();
        Some(answer)
    }

    /// Whether the worker at `home` is still there (with what it holds).
    pub(crate) fn is_live(&self, home: Home) -> bool {
        self.lock()
            .places
            .get(&home.place)
            .is_some_and(|p| p.generation == home.generation)
    }

    /// Bytes held by each live worker, by place.
    pub(crate) fn held(&self) -> Vec<(Worker, u64)> {
        let table = self.lock();
        let mut held: Vec<(u32, Worker, u64)> = table
            .places
            .iter()
            .map(|(i, p)| (*i, p.worker, p.held))
            .collect();
        held.sort_unstable_by_key(|(i, _, _)| *i);
        held.into_iter().map(|(_, w, b)| (w, b)).collect()
    }

    /// Whether batches wait anywhere.
    #[cfg(feature = "cluster")]
    pub(crate) fn has_queued(&self) -> bool {
        let table = self.lock();
        !table.shared.is_empty() || table.places.values().any(|p| !p.batches.is_empty())
    }

    /// Takes every queued batch out (shutdown, or no worker can run them).
    pub(crate) fn drain(&self) -> Vec<Batch> {
        let mut table = self.lock();
        let mut batches: Vec<Batch> = table.shared.drain(..).collect();
        for p in table.places.values_mut() {
            batches.extend(p.batches.drain(..));
        }
        batches
    }
}

impl Table {
    /// The live worker holding most of `job`'s input bytes (ties: the shortest
    /// queue), if it has inputs held in workers.
    fn best_place(&self, job: &Job) -> Option<u32> {
        let mut bytes: Vec<(u32, u64)> = Vec::new();
        for input in job.inputs.iter() {
            let Some(r) = input.downcast_ref::<RemoteRef>() else {
                continue;
            };
            let live = self
                .places
                .get(&r.home.place)
                .is_some_and(|p| p.generation == r.home.generation);
            if !live {
                continue;
            }
            match bytes.iter_mut().find(|(p, _)| *p == r.home.place) {
                Some((_, b)) => *b += r.bytes,
                None => bytes.push((r.home.place, r.bytes)),
            }
        }
        bytes
            .into_iter()
            .max_by(|(pa, ba), (pb, bb)| {
                let qa = self.places.get(pa).map_or(0, |p| p.batches.len());
                let qb = self.places.get(pb).map_or(0, |p| p.batches.len());
                // More bytes first; then the shorter queue; then the lower place.
                ba.cmp(bb).then(qb.cmp(&qa)).then(pb.cmp(pa))
            })
            .map(|(p, _)| p)
    }
}
