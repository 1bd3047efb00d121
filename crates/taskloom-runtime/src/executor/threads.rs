//! `ThreadPool`: long-lived worker threads shared by every computation.
//!
//! Workers take whole batches from one shared queue (a `Mutex<VecDeque>` and a
//! `Condvar`: no `.await` happens under the lock, and a worker holds it only to pop).
//! Tasks run truly in parallel: no GIL, so pure computation scales with the cores
//! (the limitation 2 of Dask's threaded scheduler).
//!
//! Signalling a condvar is a system call whether or not anyone waits on it (`cargo
//! bench -p taskloom-benches --bench wakeup` gives the costs of waking a thread on
//! this machine), and the scheduling loop submits a batch for every batch that
//! completes, mostly while every worker is busy. So `submit` signals the condvar only
//! when a worker sleeps on it. Workers do not spin before they sleep (as Taskflow's
//! do): with as many workers as cores, a spinning worker holds the core that the
//! scheduling loop needs to submit the next batch, and measured so it lost more than
//! it won.
//!
//! Dropping the pool (the last `Scheduler` clone that holds it) stops the workers
//! after the batch each is running; batches still queued are dropped, which reports
//! their jobs as lost to any computation still listening.
//!
//! A worker thread outlives any panic: task bodies and the drops of user values are
//! caught where they run, and a panic that still escapes a batch (a bug) is caught
//! around it, after the batch's jobs have reported themselves lost.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use super::{Batch, Executor, Worker};
use crate::error::ConfigError;

/// A pool of `num_workers` OS threads running blocking tasks.
///
/// ```
/// use taskloom::executor::ThreadPool;
///
/// let pool = ThreadPool::new(2)?;
/// assert!(ThreadPool::new(0).is_err());
/// # Ok::<(), taskloom::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct ThreadPool {
    shared: Arc<Shared>,
    workers: usize,
}

#[derive(Debug)]
struct Shared {
    id: u64,
    queue: Mutex<Queue>,
    available: Condvar,
    stopping: AtomicBool,
}

#[derive(Debug, Default)]
struct Queue {
    batches: VecDeque<Batch>,
    /// Workers waiting on the condvar: `submit` signals it only if one does.
    sleepers: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next batch, waiting on the condvar for one; `None` once the pool stops.
    fn next(&self) -> Option<Batch> {
        let mut queue = self.lock();
        loop {
            if self.stopping.load(Ordering::Acquire) {
                return None;
            }
            if let Some(batch) = queue.batches.pop_front() {
                return Some(batch);
            }
            queue.sleepers += 1;
            queue = self
                .available
                .wait(queue)
                .unwrap_or_else(PoisonError::into_inner);
            queue.sleepers -= 1;
        }
    }
}

thread_local! {
    /// Id of the pool whose worker this thread is (0: none).
    static POOL: Cell<u64> = const { Cell::new(0) };
}

impl ThreadPool {
    /// Starts `num_workers` worker threads.
    ///
    /// # Errors
    /// [`ConfigError::NumWorkers`] for zero workers; [`ConfigError::Spawn`] if the OS
    /// refuses a thread.
    pub fn new(num_workers: usize) -> Result<Self, ConfigError> {
        if num_workers == 0 {
            return Err(ConfigError::NumWorkers(0));
        }
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let shared = Arc::new(Shared {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            queue: Mutex::new(Queue::default()),
            available: Condvar::new(),
            stopping: AtomicBool::new(false),
        });
        for index in 0..num_workers {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("taskloom-worker-{index}"))
                .spawn(move || work(&shared, index as u32))
                .map_err(|e| ConfigError::Spawn(e.to_string()))?;
        }
        Ok(ThreadPool {
            shared,
            workers: num_workers,
        })
    }

    /// A pool with one worker per available core.
    ///
    /// # Errors
    /// [`ConfigError::Spawn`] if the OS refuses a thread.
    pub fn per_core() -> Result<Self, ConfigError> {
        Self::new(std::thread::available_parallelism().map_or(1, usize::from))
    }
}

/// A worker's life: take a batch, run it, repeat until the pool stops.
fn work(shared: &Shared, index: u32) {
    POOL.with(|p| p.set(shared.id));
    while let Some(batch) = shared.next() {
        let run = std::panic::AssertUnwindSafe(|| batch.run(Worker::Thread(index)));
        if std::panic::catch_unwind(run).is_err() {
            tracing::error!(
                worker = index,
                "a batch panicked outside its tasks; the worker goes on"
            );
        }
    }
}

impl Executor for ThreadPool {
    fn name(&self) -> &str {
        "threads"
    }

    fn num_workers(&self) -> usize {
        self.workers
    }

    fn submit(&self, batch: Batch) {
        let mut queue = self.shared.lock();
        queue.batches.push_back(batch);
        // Read under the lock: a worker counts itself a sleeper under it before it
        // waits, so no worker can fall asleep unsignalled with this batch queued.
        let sleeping = queue.sleepers > 0;
        drop(queue);
        if sleeping {
            self.shared.available.notify_one();
        }
    }

    fn is_worker_thread(&self) -> bool {
        POOL.with(|p| p.get() == self.shared.id)
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::Release);
        let queued: Vec<Batch> = self.shared.lock().batches.drain(..).collect();
        self.shared.available.notify_all();
        drop(queued); // reports their jobs as lost
    }
}
