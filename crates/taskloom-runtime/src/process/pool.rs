//! The parent side of the process pool: the executor handle and the supervisor
//! (the queues and the slots' status they share are `super::shared`'s).
//!
//! One supervisor thread runs a current-thread Tokio runtime of the pool's own, so the
//! pool works whatever runtime (or none) drives the computations, and every child is
//! started by the same long-lived thread (Linux's parent-death signal follows the
//! thread that forked). On it, one task per worker slot ([`super::slot`]) owns that
//! slot's worker. A slot whose task panics (a bug: user code runs only behind
//! guards) is started again, so a pool is never left without its slots.
//!
//! Dropping the last handle cancels the pool's shutdown token, which every wait of a
//! slot watches (for a batch, for an answer, for a handshake), and joins the
//! supervisor once each slot has killed and reaped its worker.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use futures::{FutureExt, StreamExt};

use super::conn::{Conn, StartFailure};
use super::shared::{Config, Shared};
use super::slot::Slot;
use super::{ProcessError, StartError};
use crate::error::TaskError;
use crate::executor::{Batch, Executor, Job, ThreadPool, Worker};

/// The process pool behind [`ProcessPool`](super::ProcessPool).
pub(super) struct Pool {
    shared: Arc<Shared>,
    local: ThreadPool,
    supervisor: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessPool")
            .field("workers", &self.shared.config.workers)
            .field("program", &self.shared.config.program)
            .field("pids", &self.pids())
            .finish()
    }
}

impl Pool {
    /// Starts the supervisor thread and, when eager, every worker.
    pub(super) fn start(config: Config, local: ThreadPool) -> Result<Self, ProcessError> {
        let eager = config.eager;
        let shared = Arc::new(Shared::new(config));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ProcessError::Supervisor)?;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread_shared = Arc::clone(&shared);
        let supervisor = std::thread::Builder::new()
            .name("taskloom-process-pool".into())
            .spawn(move || runtime.block_on(supervise(thread_shared, ready_tx)))
            .map_err(ProcessError::Supervisor)?;
        let pool = Pool {
            shared,
            local,
            supervisor: Mutex::new(Some(supervisor)),
        };
        if eager {
            // The supervisor answers once every worker said hello or one failed.
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e), // dropping `pool` stops the others
                Err(_) => {
                    return Err(ProcessError::Supervisor(std::io::Error::other(
                        "the supervisor thread stopped",
                    )));
                }
            }
        }
        Ok(pool)
    }

    pub(super) fn pids(&self) -> Vec<Option<u32>> {
        self.shared.pids()
    }

    pub(super) fn start_errors(&self) -> Vec<Option<Arc<StartError>>> {
        self.shared.start_errors()
    }

    pub(super) fn num_workers(&self) -> usize {
        self.shared.config.workers
    }

    pub(super) fn is_local_thread(&self) -> bool {
        self.local.is_worker_thread()
    }

    /// Remote jobs go to the workers, the others to the local threads.
    pub(super) fn submit(&self, mut batch: Batch) {
        let jobs = batch.jobs_mut();
        if !jobs.iter().all(|j| j.body.remote.is_some()) {
            let (remote, local): (Vec<Job>, Vec<Job>) = std::mem::take(jobs)
                .into_iter()
                .partition(|j| j.body.remote.is_some());
            if !local.is_empty() {
                self.local.submit(Batch::new(local));
            }
            *jobs = remote;
            if jobs.is_empty() {
                return;
            }
        }
        self.shared.places.push(batch);
    }

    /// Bytes of results each worker holds (encoded sizes), by slot.
    pub(super) fn held_bytes(&self) -> Vec<(Worker, u64)> {
        self.shared.places.held()
    }
}

impl Drop for Pool {
    /// Stops the slots, which kill and reap their workers (and the workers' process
    /// groups), and waits for that: no worker outlives the pool. Every wait of a slot
    /// watches the shutdown, handshakes included, so this takes about as long as
    /// killing the workers. Batches still queued report their jobs as lost.
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
        let queued: Vec<Batch> = self.shared.places.drain();
        drop(queued);
        let supervisor = self
            .supervisor
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = supervisor {
            let _ = thread.join();
        }
    }
}

/// The supervisor thread's body: start the slots (and, when eager, their workers),
/// then keep each slot running until the pool shuts down.
async fn supervise(shared: Arc<Shared>, ready: std::sync::mpsc::Sender<Result<(), ProcessError>>) {
    let workers = shared.config.workers;
    let mut conns: Vec<Option<Conn>> = (0..workers).map(|_| None).collect();
    if shared.config.eager {
        match start_all(&shared).await {
            Ok(started) => conns = started.into_iter().map(Some).collect(),
            Err(error) => {
                let _ = ready.send(Err(error));
                return;
            }
        }
        for (index, conn) in conns.iter().enumerate() {
            shared.set_pid(index, conn.as_ref().map(|c| c.pid));
        }
        let _ = ready.send(Ok(()));
    }
    let slots: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(index, conn)| tokio::spawn(keep_slot(Arc::clone(&shared), index, conn)))
        .collect();
    for slot in slots {
        let _ = slot.await;
    }
}

/// Starts every worker of an eager pool; the first failure stops the others' starts
/// (and kills what started) and is the pool's error.
async fn start_all(shared: &Shared) -> Result<Vec<Conn>, ProcessError> {
    let workers = shared.config.workers;
    let abort = shared.shutdown.child_token();
    let mut starting: futures::stream::FuturesUnordered<_> = (0..workers)
        .map(|index| {
            let abort = &abort;
            async move {
                let started = Conn::start(&shared.config, index, shared.peer_dir(), abort);
                (index, started.await)
            }
        })
        .collect();
    let mut conns: Vec<Option<Conn>> = (0..workers).map(|_| None).collect();
    let mut failure = None;
    while let Some((index, result)) = starting.next().await {
        match result {
            Ok(conn) => conns[index] = Some(conn),
            Err(StartFailure::Error(error)) if failure.is_none() => {
                abort.cancel();
                failure = Some(ProcessError::Start {
                    index: u32::try_from(index).unwrap_or(u32::MAX),
                    error,
                });
            }
            Err(_) => {}
        }
    }
    drop(starting);
    if failure.is_none() && abort.is_cancelled() {
        failure = Some(ProcessError::Supervisor(std::io::Error::other(
            "the pool was dropped while its workers started",
        )));
    }
    match failure {
        None => Ok(conns.into_iter().flatten().collect()),
        Some(error) => {
            for conn in conns.into_iter().flatten() {
                conn.stop().await;
            }
            Err(error)
        }
    }
}

/// Runs slot `index` until the pool shuts down, starting it again (without a
/// worker: the old one was killed as the slot unwound) if it panics.
async fn keep_slot(shared: Arc<Shared>, index: usize, conn: Option<Conn>) {
    let mut conn = conn;
    loop {
        let slot = Slot::new(index, Arc::clone(&shared), conn.take());
        match std::panic::AssertUnwindSafe(slot.run())
            .catch_unwind()
            .await
        {
            Ok(()) => return,
            Err(payload) => {
                let message = TaskError::panicked(&*payload).message().to_owned();
                crate::unwind::discard(payload);
                shared.set_pid(index, None);
                if shared.shutdown.is_cancelled() {
                    return;
                }
                tracing::error!(
                    index,
                    panic = %message,
                    "taskloom process pool slot panicked; it is started again"
                );
            }
        }
    }
}
