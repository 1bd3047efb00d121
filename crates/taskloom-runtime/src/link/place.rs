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
use smallvec::{SmallVec, smallvec};
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

/// One worker holding a value: where, and under which id in its table.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Holder {
    pub(crate) home: Home,
    /// The worker, for messages and per-worker figures.
    pub(crate) worker: Worker,
    /// Its id in the worker's table.
    pub(crate) id: u64,
}

/// A result held in workers: what the parent keeps in place of the value.
///
/// The worker that made it holds it, and so does every worker it was moved to (a
/// *copy*, kept there so that the next task there needs no move): the value is lost
/// only when every holder is. The last reference dropped releases it in every
/// holder.
pub(crate) struct RemoteRef {
    /// The executor's number for the value (a worker keeps one copy per number).
    pub(crate) uid: u64,
    /// Its encoded size.
    pub(crate) bytes: u64,
    /// The task that made it, for messages.
    pub(crate) key: Key,
    /// The worker that made it: the first holder, and the one messages name.
    pub(crate) worker: Worker,
    /// Every holder, the maker first. A `std` mutex, held only to read or push
    /// (never while taking the table's lock).
    holders: Mutex<SmallVec<[Holder; 2]>>,
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
        let uid = places.kept(home, bytes);
        scope.traffic.hold(worker, bytes);
        value(RemoteRef {
            uid,
            bytes,
            key,
            worker,
            holders: Mutex::new(smallvec![Holder { home, worker, id }]),
            places: Arc::downgrade(places),
            scope: Arc::downgrade(scope),
        })
    }

    fn holders(&self) -> MutexGuard<'_, SmallVec<[Holder; 2]>> {
        self.holders.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Its id in the worker at `home`, if that worker holds it.
    pub(crate) fn held_at(&self, home: Home) -> Option<u64> {
        self.holders().iter().find(|h| h.home == home).map(|h| h.id)
    }

    /// Every worker that holds (or held) it, the maker first.
    pub(crate) fn holders_now(&self) -> SmallVec<[Holder; 2]> {
        self.holders().clone()
    }

    /// The worker at `home` kept a copy under `id` (nothing if it holds one
    /// already: a worker asked twice for one value keeps it once).
    pub(crate) fn copied(&self, home: Home, worker: Worker, id: u64) {
        {
            let mut holders = self.holders();
            if holders.iter().any(|h| h.home == home) {
                return;
            }
            holders.push(Holder { home, worker, id });
        }
        if let Some(places) = self.places.upgrade() {
            places.copied(home, self.bytes);
        }
        if let Some(scope) = self.scope.upgrade() {
            scope.traffic.hold(worker, self.bytes);
        }
    }

    /// Whether every worker that held it is gone (and the value with them).
    pub(crate) fn is_lost(&self) -> bool {
        let Some(places) = self.places.upgrade() else {
            return true;
        };
        let holders = self.holders_now();
        !holders.iter().any(|h| places.is_live(h.home))
    }
}

impl Drop for RemoteRef {
    fn drop(&mut self) {
        let holders = std::mem::take(&mut *self.holders());
        let places = self.places.upgrade();
        let scope = self.scope.upgrade();
        for holder in holders {
            if let Some(places) = &places {
                places.release(holder.home, holder.id, self.bytes);
            }
            if let Some(scope) = &scope {
                scope.traffic.unhold(holder.worker, self.bytes);
            }
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
    /// Where other workers fetch its values from, if it serves them (a process
    /// pool's worker: `super::peer`).
    peer: Option<Arc<str>>,
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
    /// The next kept value's number ([`RemoteRef::uid`]).
    next_uid: u64,
    /// Values on their way to a worker through the parent ([`Places::open_move`]).
    moving: Vec<Move>,
    /// The next move's number.
    next_move: u64,
}

/// Values being moved in through the parent for jobs at `home`, and the jobs that
/// arrived meanwhile wanting only those values: they go with the first jobs, so a
/// value moves to a worker once however many batches take it.
struct Move {
    id: u64,
    home: Home,
    uids: Vec<u64>,
    /// Jobs waiting on this move, each with its inputs to substitute.
    parked: Vec<(Job, Vec<usize>)>,
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

    /// A worker started at `place`: its home (a new generation). `peer`: where the
    /// other workers fetch its values from, if it serves them.
    pub(crate) fn arrive(&self, place: u32, worker: Worker, peer: Option<Arc<str>>) -> Home {
        let mut table = self.lock();
        let generation = table.next_generation;
        table.next_generation += 1;
        let previous = table.places.insert(
            place,
            Place {
                generation,
                worker,
                peer,
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

    /// Queues jobs (one computation's) whose inputs were moved in for the worker at
    /// `home`, in one batch at the front of its queue (or of the shared one, if that
    /// worker is gone).
    /// Records that the values `uids` are being moved to the worker at `home`: the
    /// move's number, for [`Places::close_move`].
    pub(crate) fn open_move(&self, home: Home, uids: Vec<u64>) -> u64 {
        let mut table = self.lock();
        let id = table.next_move;
        table.next_move += 1;
        table.moving.push(Move {
            id,
            home,
            uids,
            parked: Vec::new(),
        });
        id
    }

    /// Parks `job`, whose inputs `foreign` are the values `uids`, on a move to `home`
    /// already bringing all of them; gives the job back (`Some`) if there is none.
    pub(crate) fn join_move(
        &self,
        home: Home,
        uids: &[u64],
        job: (Job, Vec<usize>),
    ) -> Option<(Job, Vec<usize>)> {
        let mut table = self.lock();
        match table
            .moving
            .iter_mut()
            .find(|m| m.home == home && uids.iter().all(|u| m.uids.contains(u)))
        {
            Some(m) => {
                m.parked.push(job);
                None
            }
            None => Some(job),
        }
    }

    /// Ends move `id`: the jobs parked on it.
    pub(crate) fn close_move(&self, id: u64) -> Vec<(Job, Vec<usize>)> {
        let mut table = self.lock();
        let Some(at) = table.moving.iter().position(|m| m.id == id) else {
            return Vec::new();
        };
        let parked = std::mem::take(&mut table.moving[at].parked);
        table.moving.swap_remove(at);
        parked
    }

    pub(crate) fn queue_at(&self, home: Home, jobs: Vec<Job>) {
        if jobs.is_empty() {
            return;
        }
        let mut table = self.lock();
        match table.places.get_mut(&home.place) {
            Some(p) if p.generation == home.generation => {
                p.batches.push_front(Batch::new(jobs));
                let notify = Arc::clone(&p.notify);
                drop(table);
                notify.notify_one();
            }
            _ => {
                table.shared.push_front(Batch::new(jobs));
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

    /// The worker at `home` kept a result of `bytes` bytes: the value's number.
    pub(crate) fn kept(&self, home: Home, bytes: u64) -> u64 {
        let mut table = self.lock();
        let uid = table.next_uid;
        table.next_uid += 1;
        if let Some(p) = table.places.get_mut(&home.place) {
            if p.generation == home.generation {
                p.held += bytes;
            }
        }
        uid
    }

    /// The worker at `home` kept a copy of `bytes` bytes.
    pub(crate) fn copied(&self, home: Home, bytes: u64) {
        if let Some(p) = self.lock().places.get_mut(&home.place) {
            if p.generation == home.generation {
                p.held += bytes;
            }
        }
    }

    /// Where the worker at `home` takes `r` from: a live holder whose socket other
    /// workers reach (`at`, and the value's id there), if `home` fetches from its
    /// peers itself; `None` if the value must move through the parent (or is lost).
    pub(crate) fn peer_source(&self, r: &RemoteRef, home: Home) -> Option<(Arc<str>, u64)> {
        let holders = r.holders_now();
        let table = self.lock();
        let live = |h: &Home| {
            table
                .places
                .get(&h.place)
                .filter(|p| p.generation == h.generation)
        };
        live(&home)?.peer.as_ref()?;
        holders.iter().find_map(|h| {
            let at = live(&h.home)?.peer.as_ref()?;
            Some((Arc::clone(at), h.id))
        })
    }

    /// A live holder of `r` to move it from through the parent, if any.
    pub(crate) fn live_holder(&self, r: &RemoteRef) -> Option<Holder> {
        let holders = r.holders_now();
        let table = self.lock();
        holders.into_iter().find(|h| {
            table
                .places
                .get(&h.home.place)
                .is_some_and(|p| p.generation == h.home.generation)
        })
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
            // Every live holder counts: the maker and the workers it was copied to.
            for h in r.holders_now() {
                let live = self
                    .places
                    .get(&h.home.place)
                    .is_some_and(|p| p.generation == h.home.generation);
                if !live {
                    continue;
                }
                match bytes.iter_mut().find(|(p, _)| *p == h.home.place) {
                    Some((_, b)) => *b += r.bytes,
                    None => bytes.push((h.home.place, r.bytes)),
                }
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
