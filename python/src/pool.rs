//! The schedulers every `get` call shares.
//!
//! Dask's threaded `get` keeps a thread pool per worker count (and per calling
//! thread); taskloom keeps one `Scheduler` on a `ThreadPool` per worker count, made on
//! first use and kept for the life of the process, shared by every Python thread that
//! computes: a taskloom scheduler runs any number of computations at once. The inline
//! scheduler (`get_sync`) has no threads and is shared the same way.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, PoisonError};

use taskloom::{ConfigError, Scheduler};

/// The thread-pool scheduler with `workers` threads.
///
/// # Errors
/// [`ConfigError::NumWorkers`] for zero workers; [`ConfigError::Spawn`] if the OS
/// refuses a thread.
pub(crate) fn threads(workers: usize) -> Result<Scheduler, ConfigError> {
    static POOLS: OnceLock<Mutex<HashMap<usize, Scheduler>>> = OnceLock::new();
    // Held only to look up or start a pool; no Python code runs under it.
    let mut pools = POOLS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(scheduler) = pools.get(&workers) {
        return Ok(scheduler.clone());
    }
    let scheduler = Scheduler::threads(workers)?;
    pools.insert(workers, scheduler.clone());
    Ok(scheduler)
}

/// The inline scheduler: every task on the calling thread, one at a time.
pub(crate) fn inline() -> Scheduler {
    static INLINE: OnceLock<Scheduler> = OnceLock::new();
    INLINE.get_or_init(Scheduler::current_thread).clone()
}
