//! [`ComputeOptions`]: the settings of one computation (a cancellation token,
//! callbacks, fusion of linear chains, a byte budget).
//!
//! Given to one `compute_with` call and read by its scheduling loop, never shared
//! between computations: two overlapping computations each have their own callbacks
//! and budget. It sits below both the [`Scheduler`](crate::Scheduler) that takes it
//! and the loop that reads it.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::callbacks::Callback;
use crate::policy::Retry;

/// Options of one computation.
///
/// ```
/// use tokio_util::sync::CancellationToken;
/// use taskloom::ComputeOptions;
///
/// let token = CancellationToken::new();
/// let options = ComputeOptions::new().cancel_on(token.clone());
/// token.cancel(); // the computation stops, returning ComputeError::Cancelled
/// # drop(options);
/// ```
#[derive(Clone)]
pub struct ComputeOptions {
    pub(crate) cancel: Option<CancellationToken>,
    pub(crate) callbacks: Vec<Arc<dyn Callback>>,
    pub(crate) fuse: bool,
    pub(crate) memory_limit: Option<u64>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) retry: Option<Retry>,
    #[cfg(feature = "cache")]
    pub(crate) cache: Option<crate::cache::Caching>,
}

impl Default for ComputeOptions {
    fn default() -> Self {
        ComputeOptions {
            cancel: None,
            callbacks: Vec::new(),
            fuse: true,
            memory_limit: None,
            timeout: None,
            retry: None,
            #[cfg(feature = "cache")]
            cache: None,
        }
    }
}

impl ComputeOptions {
    /// No cancellation token, no callbacks.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels the computation when `token` is cancelled.
    pub fn cancel_on(mut self, token: CancellationToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// Whether linear chains (a task whose only dependent needs nothing else) are
    /// handed to a worker as one unit, so a chain of `n` tasks costs one round trip
    /// instead of `n` (core's [`fuse`](taskloom_core::fuse()) rule). On by default; it
    /// only applies where it saves time: executors with workers (not the inline
    /// `CurrentThread`, which already runs chains back to back), and computations
    /// where no task has a [timeout](crate::policy::Policy::timeout) (each deadline
    /// counts from its own task's start). Callbacks that want task events still hear
    /// every member of a chain, with times of its own (see [`Callback::task_events`]);
    /// only chains of remote tasks on worker processes go task by task for them.
    pub fn fuse(mut self, fuse: bool) -> Self {
        self.fuse = fuse;
        self
    }

    /// A byte budget for the results this computation holds, as they report their
    /// sizes ([`ResultSize`](crate::size::ResultSize), through
    /// [`Graph::add_sized`](crate::Graph::add_sized),
    /// [`Graph::measure`](crate::Graph::measure) or
    /// [`Graph::declare_size`](crate::Graph::declare_size); other results count as 0
    /// bytes).
    ///
    /// While the bytes held, plus one largest result so far for each task started
    /// that frees nothing and has not finished, would reach the budget, the loop
    /// starts only tasks that free memory: tasks that are the last user of one of
    /// their inputs, which includes the next link of every chain started. When none
    /// is ready and nothing is running, it starts the next task anyway, one at a
    /// time (never a deadlock), and counts the overrun
    /// ([`MemoryStats`](crate::callbacks::MemoryStats) in `on_finish`, and an INFO
    /// event in the `compute` span the first time). Tasks are also handed to the
    /// executor one per free worker, so that what runs is what the static order
    /// planned. The bytes held then stay within the budget plus about one result,
    /// unless the graph's shape needs more at once (a reduction of more inputs
    /// than fit).
    ///
    /// ```
    /// use taskloom::{ComputeOptions, Graph, Scheduler};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut g = Graph::new();
    /// let parts = (0..8_u8)
    ///     .map(|i| g.add_sized(("part", i), (), move || vec![i; 1 << 20]))
    ///     .collect::<Result<Vec<_>, _>>()?;
    /// let sums = parts
    ///     .iter()
    ///     .enumerate()
    ///     .map(|(i, p)| g.add_sized(("sum", i), p, |v: &Vec<u8>| v.len() as u64))
    ///     .collect::<Result<Vec<_>, _>>()?;
    /// let total = g.add("total", &sums, |s: &[&u64]| s.iter().copied().sum::<u64>())?;
    /// let options = ComputeOptions::new().memory_limit(2 << 20); // 2 MiB
    /// let n = Scheduler::threads(2)?.compute_with(&g, &total, options).await?;
    /// assert_eq!(n, 8 << 20);
    /// # Ok(())
    /// # }
    /// ```
    pub fn memory_limit(mut self, bytes: u64) -> Self {
        self.memory_limit = Some(bytes);
        self
    }

    /// The timeout of each attempt of every task that does not set its own (see
    /// [`Policy::timeout`](crate::policy::Policy::timeout) and [`crate::policy`] for
    /// what a timeout does to each kind of task).
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskloom::{ComputeError, ComputeOptions, Graph, Scheduler, TaskErrorKind};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut g = Graph::new();
    /// let hang = g.add("hang", (), || std::thread::sleep(Duration::from_millis(300)))?;
    /// let options = ComputeOptions::new().timeout(Duration::from_millis(20));
    /// let err = Scheduler::threads(1)?.compute_with(&g, &hang, options).await.unwrap_err();
    /// // A blocking task cannot be stopped: the computation fails at the deadline,
    /// // and the thread finishes the call in the background.
    /// assert!(matches!(err, ComputeError::Task { error, .. } if error.kind() == TaskErrorKind::TimedOut));
    /// # Ok(())
    /// # }
    /// ```
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit);
        self
    }

    /// Retries of every task that does not set its own (see
    /// [`Retry`] and [`Policy::retry`](crate::policy::Policy::retry)).
    pub fn retry(mut self, retry: Retry) -> Self {
        self.retry = Some(retry);
        self
    }

    /// Caches the results of the graph's cached tasks in `cache` (see
    /// [`crate::cache`]): tasks whose entries are there are loaded instead of run.
    #[cfg(feature = "cache")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
    pub fn cache(mut self, cache: crate::cache::Cache) -> Self {
        self.cache = Some(crate::cache::Caching {
            cache,
            report: None,
        });
        self
    }

    /// Adds a callback for this computation only.
    pub fn callback(mut self, callback: impl Callback) -> Self {
        self.callbacks.push(Arc::new(callback));
        self
    }

    /// Adds a shared callback (for example one that collects records you read later).
    pub fn shared_callback(mut self, callback: Arc<dyn Callback>) -> Self {
        self.callbacks.push(callback);
        self
    }
}
