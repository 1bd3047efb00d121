//! `ProcessPool`: remote tasks in child processes, with clear failures.
//!
//! For isolation, and for work that must not share the parent's address space (a
//! library that is not thread-safe, code that may crash or leak): tasks added with
//! [`Graph::add_remote`](crate::Graph::add_remote) run in `num_workers` child
//! processes, kept and reused across computations.
//!
//! - **Workers are the program itself**, re-executed in worker mode (Python's `spawn`
//!   start method): [`init`](crate::remote::init) at the top of `main` serves tasks in a worker and returns
//!   at once in the parent. A program that forgets it gets
//!   [`ProcessError::NotInitialized`], a worker program that does not answer the
//!   handshake a [`StartError`]; a worker cannot start a pool of its own.
//! - **Functions by name, values by serde**: a [`Registry`](crate::remote::Registry) maps names to functions
//!   with serde inputs and results ([`Remote`](crate::remote::Remote)); values cross in postcard
//!   (`format`), in length-delimited frames over the children's pipes (`protocol`).
//!   Under other executors the same tasks run in-process without serialization.
//! - **Failures**: a panic is that task's error, and the worker goes on; so is a
//!   panic in a value's `Serialize`, `Deserialize` (a serialization error) or `Drop`,
//!   in the parent or in the worker. A malformed or oversized frame is an error,
//!   never a panic or an unbounded allocation.
//! - **Workers die and are replaced**: each slot watches its worker while it waits
//!   for work as well as while it runs some, so a worker that dies idle (the OOM
//!   killer, a stray `kill`) is replaced at once, and no task is blamed for it. A
//!   worker that dies while running a task (abort, segfault, `exit`, a signal, a
//!   malformed answer) costs that task an attempt: it runs again on a fresh worker up
//!   to [`ProcessPoolBuilder::retries`] times (default
//!   [`DEFAULT_RETRIES`](crate::executor::DEFAULT_RETRIES), 3), then fails with an
//!   error naming every attempt's worker and exit status or signal.
//!   Tasks the dead worker had not started are sent again and cost nothing. A
//!   worker that cannot be started is logged, reported by
//!   [`ProcessPool::start_errors`], and tried again after a rest; batches go to the
//!   slots that have workers, and fail with the start error only when none has.
//! - **Process groups**: each worker leads a process group of its own, and is always
//!   killed as a group, so the processes a task started die with its worker
//!   (cancelled, lost, or stopped with the pool). Cancelling a computation kills the
//!   workers running its tasks, and they are replaced. Dropping the pool kills every
//!   worker and waits for that, handshakes in progress included: it takes about as
//!   long as killing processes, never a handshake timeout.
//! - **Results stay where they were made** (unless [`ProcessPoolBuilder::resident`]
//!   turns it off): a remote task's result that only other remote tasks need stays
//!   in the worker that made it; the parent holds a reference, and core's release
//!   of the result frees it in the worker. A ready remote task goes to the worker
//!   holding most of its input bytes; inputs held by other workers move to it
//!   *directly*, worker to worker, over Unix domain sockets in a directory private
//!   to the pool (see [`ProcessPoolBuilder::worker_to_worker`]), and stay there as
//!   copies, so a value moves to a worker once. Targets, and inputs of tasks that
//!   run in the parent, come back as before. Results lost with a worker run again
//!   from their inputs. [`ProcessPool::held_bytes`] shows what each worker holds.
//! - Tasks that are not remote run in the parent, on a small thread pool of the
//!   process pool's own.
//!
//! # Layout
//!
//! - [`crate::remote`] (shared with other executors): [`Registry`](crate::remote::Registry), [`Remote`](crate::remote::Remote),
//!   [`RemoteArgs`](crate::remote::RemoteArgs) and `Graph::add_remote`, and the serde format;
//! - `crate::link` (shared with the [cluster](crate::cluster)): the frames,
//!   one batch's exchange over a `Transport`, the settlement of a lost worker's jobs,
//!   the worker's serve loop, and worker mode: the pool's worker, which
//!   [`init`](crate::remote::init) serves over its stdin and stdout;
//! - `pool`: the parent side's handle and supervisor thread (its own Tokio runtime,
//!   one task per worker slot);
//! - `shared`: what the handle and the slots share (the settings, the queues, each
//!   slot's status);
//! - `slot`: one slot's life: watch the worker, run batches through the shared
//!   driver, kill a lost worker and settle its jobs (sent again, retried by
//!   [`crate::executor`]'s retry rule, or failed), replace it;
//! - `conn`: one worker process: start in its own group, handshake, watch, kill; the
//!   `Transport` over its pipes;
//! - `peers`: the pool's private directory for its workers' sockets.
//!
//! # Example
//!
//! ```no_run
//! use taskloom::{Graph, Scheduler};
//! use taskloom::process::ProcessPool;
//! use taskloom::remote::{self, Registry};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // The same registry in the parent and in every worker.
//!     let mut registry = Registry::new();
//!     let square = registry.register("square", |x: &i64| x * x)?;
//!     let sum = registry.register("sum", |xs: &[&i64]| xs.iter().copied().sum::<i64>())?;
//!     remote::init(&registry); // a worker serves here and never returns
//!
//!     let pool = ProcessPool::builder().workers(2).build()?;
//!     let scheduler = Scheduler::builder().executor(pool).build()?;
//!     let mut g = Graph::new();
//!     let xs: Vec<_> = (0..10_i64)
//!         .map(|i| g.add(format!("x-{i}"), (), move || i))
//!         .collect::<Result<_, _>>()?;
//!     let squares: Vec<_> = xs
//!         .iter()
//!         .enumerate()
//!         .map(|(i, x)| g.add_remote(format!("square-{i}"), x, &square))
//!         .collect::<Result<_, _>>()?;
//!     let total = g.add_remote("total", &squares, &sum)?;
//!     assert_eq!(scheduler.compute(&g, &total).await?, 285);
//!     Ok(())
//! }
//! ```

mod conn;
mod peers;
mod pool;
mod shared;
mod slot;

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use crate::link::worker::WORKER_ENV;

use crate::error::ConfigError;
use crate::executor::{Batch, Executor, ThreadPool, Worker};
use crate::link::settings::{Invalid, Settings};
use crate::link::worker::{fingerprint, is_worker};

/// Why a process pool or a registry could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessError {
    /// An impossible setting (zero workers...).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// This process is itself a worker: starting a pool here would start workers
    /// without end (the code that builds the pool runs before `init` in the worker,
    /// or `init` is missing from the worker's `main`).
    #[error(
        "this process is a taskloom worker ({WORKER_ENV} is set) and cannot start a process \
         pool: call `taskloom::remote::init(&registry)` first thing in `main`"
    )]
    InsideWorker,
    /// The pool would re-execute this program, which never called [`init`](crate::remote::init): its
    /// copies would run `main` instead of serving.
    #[error(
        "`taskloom::remote::init(&registry)` was not called in this program: call it \
         first thing in `main`, so that the copies a process pool starts become workers"
    )]
    NotInitialized,
    /// The pool needs at least one thread for the tasks that are not remote.
    #[error("local_threads must be at least 1, got {0}")]
    LocalThreads(usize),
    /// The maximum frame length is too small for the protocol.
    #[error("max_frame_length must be at least 256 bytes, got {0}")]
    MaxFrameLength(usize),
    /// The pool's supervisor thread or runtime could not start.
    #[error("could not start the process pool's supervisor: {0}")]
    Supervisor(std::io::Error),
    /// A worker did not start (eager start only; a lazy pool reports this as the
    /// error of the tasks it could not run).
    #[error("worker {index} did not start: {error}")]
    Start {
        /// The worker slot.
        index: u32,
        /// What went wrong.
        #[source]
        error: StartError,
    },
}

/// Why a worker process did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The program could not be executed.
    #[error("cannot execute `{program}`: {error}")]
    Spawn {
        /// The worker program.
        program: PathBuf,
        /// The OS error.
        #[source]
        error: std::io::Error,
    },
    /// The program exited before the handshake.
    #[error(
        "`{program}` {status} before saying hello; a worker program must call \
         `taskloom::remote::init(&registry)` first thing in `main`"
    )]
    Exited {
        /// The worker program.
        program: PathBuf,
        /// How it ended ("exited with status 0", "killed by signal 11 (SIGSEGV)").
        status: String,
    },
    /// The program wrote something other than the handshake.
    #[error(
        "`{program}` is not a taskloom worker (it wrote {what} instead of the handshake); a \
         worker program must call `taskloom::remote::init(&registry)` first thing \
         in `main`"
    )]
    NotAWorker {
        /// The worker program.
        program: PathBuf,
        /// What it wrote, shortened.
        what: String,
    },
    /// The program said nothing within the handshake timeout (it was killed).
    #[error(
        "`{program}` did not say hello within {timeout:?} (it was stopped); a worker program \
         must call `taskloom::remote::init(&registry)` first thing in `main`"
    )]
    Timeout {
        /// The worker program.
        program: PathBuf,
        /// The handshake timeout.
        timeout: Duration,
    },
}

/// A pool of `num_workers` worker processes running remote tasks. Cheap to clone:
/// clones share the workers, which stop (killed and reaped) when the last clone is
/// dropped.
///
/// ```no_run
/// use std::time::Duration;
/// use taskloom::process::ProcessPool;
///
/// # fn main() -> Result<(), taskloom::process::ProcessError> {
/// let pool = ProcessPool::builder()
///     .workers(4)
///     .eager(false) // start workers on first use
///     .handshake_timeout(Duration::from_secs(30))
///     .build()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct ProcessPool {
    inner: Arc<pool::Pool>,
}

impl ProcessPool {
    /// A pool of `num_workers` workers, started now.
    ///
    /// # Errors
    /// See [`ProcessPoolBuilder::build`].
    pub fn new(num_workers: usize) -> Result<Self, ProcessError> {
        Self::builder().workers(num_workers).build()
    }

    /// Configures a pool.
    pub fn builder() -> ProcessPoolBuilder {
        ProcessPoolBuilder::default()
    }

    /// The process id of each worker slot's current process (`None`: not started, or
    /// being replaced).
    pub fn pids(&self) -> Vec<Option<u32>> {
        self.inner.pids()
    }

    /// Why each worker slot's last attempt to start a worker failed, if it did
    /// (`None` once a worker started). A slot that cannot start its worker rests and
    /// tries again (after 1 s, doubling up to 30 s), and leaves batches to the other
    /// slots; the failure is also logged (`tracing::warn!`). When no slot can start
    /// a worker, batches fail with the start error, naming their tasks.
    pub fn start_errors(&self) -> Vec<Option<Arc<StartError>>> {
        self.inner.start_errors()
    }

    /// Bytes of results each live worker holds for computations (encoded sizes), in
    /// slot order: what residency keeps out of the parent. All zeros once every
    /// computation ended (their targets came back; the rest was released).
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use taskloom::process::ProcessPool;
    ///
    /// let pool = ProcessPool::new(2)?;
    /// for (worker, bytes) in pool.held_bytes() {
    ///     println!("{worker} holds {bytes} bytes");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn held_bytes(&self) -> Vec<(Worker, u64)> {
        self.inner.held_bytes()
    }
}

impl Executor for ProcessPool {
    fn name(&self) -> &str {
        "processes"
    }

    /// A remote task past its timeout has its worker killed and replaced.
    fn stops_remote_tasks(&self) -> bool {
        true
    }

    fn num_workers(&self) -> usize {
        self.inner.num_workers()
    }

    fn submit(&self, batch: Batch) {
        self.inner.submit(batch);
    }

    fn is_worker_thread(&self) -> bool {
        self.inner.is_local_thread()
    }
}

/// Builds a [`ProcessPool`]: its own settings (how many workers, when they start),
/// and the [`Settings`] it shares with the [cluster](crate::cluster), each documented
/// there once.
#[derive(Debug, Clone)]
pub struct ProcessPoolBuilder {
    workers: Option<usize>,
    eager: bool,
    worker_to_worker: bool,
    settings: Settings,
}

impl Default for ProcessPoolBuilder {
    fn default() -> Self {
        ProcessPoolBuilder {
            workers: None,
            eager: true,
            worker_to_worker: true,
            settings: Settings::default(),
        }
    }
}

impl ProcessPoolBuilder {
    /// Number of worker processes (default: one per core).
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = Some(n);
        self
    }

    /// Start every worker in `build` and check its handshake (default), or start each
    /// on first use (`false`). Eager start reports a worker that cannot start as an
    /// error of `build`; lazy start as the error of the first tasks sent to it. A dead
    /// worker is replaced at once when eager, on next use when lazy.
    pub fn eager(mut self, eager: bool) -> Self {
        self.eager = eager;
        self
    }

    /// Whether workers fetch the results they need from each other directly
    /// (default `true`), or through this process (`false`).
    ///
    /// With residency on, a task whose inputs are held by several workers runs on
    /// one of them, and the others' inputs move to it. Directly, each worker
    /// listens on a Unix domain socket in a directory this pool makes (mode 0700, in
    /// the system's temporary directory, removed when the pool is dropped) and the
    /// worker that needs a value fetches it from the one that holds it: the bytes
    /// cross once and never through this process. Only the pool's user (and root)
    /// can reach a socket in that directory; no handshake runs on them. Through
    /// this process, the holder sends the bytes here and they go out again with the
    /// call. Either way the worker keeps what it was sent (a copy, released with the
    /// result), so the next task there needs no move. A direct fetch that fails (the
    /// holder died, or sends nothing for two minutes) moves the value through this
    /// process instead, where a lost holder is a lost result, run again.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use taskloom::process::ProcessPool;
    ///
    /// let pool = ProcessPool::builder().workers(4).worker_to_worker(false).build()?;
    /// # drop(pool);
    /// # Ok(())
    /// # }
    /// ```
    pub fn worker_to_worker(mut self, direct: bool) -> Self {
        self.worker_to_worker = direct;
        self
    }

    /// Every setting the pool shares with the cluster at once, in place of those set
    /// so far (see [`Settings`]).
    pub fn settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// The worker program: see [`Settings::program`]. A pool's workers are
    /// recognised by [`WORKER_ENV`].
    pub fn program(mut self, program: impl Into<PathBuf>) -> Self {
        self.settings = self.settings.program(program);
        self
    }

    /// Adds an argument for the worker program: see [`Settings::arg`].
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.settings = self.settings.arg(arg);
        self
    }

    /// The largest frame: see [`Settings::max_frame_length`].
    pub fn max_frame_length(mut self, bytes: usize) -> Self {
        self.settings = self.settings.max_frame_length(bytes);
        self
    }

    /// How long a new worker has to say hello before it is killed: see
    /// [`Settings::handshake_timeout`].
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.settings = self.settings.handshake_timeout(timeout);
        self
    }

    /// Threads for the tasks that are not remote: see [`Settings::local_threads`].
    pub fn local_threads(mut self, n: usize) -> Self {
        self.settings = self.settings.local_threads(n);
        self
    }

    /// Runs of a task whose worker died while running it: see
    /// [`Settings::retries`].
    pub fn retries(mut self, retries: u32) -> Self {
        self.settings = self.settings.retries(retries);
        self
    }

    /// Whether results stay in the workers that made them: see
    /// [`Settings::resident`].
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use taskloom::process::ProcessPool;
    ///
    /// let pool = ProcessPool::builder().workers(2).resident(false).build()?;
    /// # drop(pool);
    /// # Ok(())
    /// # }
    /// ```
    pub fn resident(mut self, resident: bool) -> Self {
        self.settings = self.settings.resident(resident);
        self
    }

    /// Checks the settings and starts the pool (and, when eager, its workers).
    ///
    /// # Errors
    /// [`ProcessError::InsideWorker`] in a worker; [`ProcessError::NotInitialized`] if
    /// the workers would be this program and it never called [`init`](crate::remote::init);
    /// [`ProcessError::Config`] for zero workers; [`ProcessError::LocalThreads`] and
    /// [`ProcessError::MaxFrameLength`] for impossible settings;
    /// [`ProcessError::Start`] if an eager worker does not start.
    pub fn build(self) -> Result<ProcessPool, ProcessError> {
        if is_worker() {
            return Err(ProcessError::InsideWorker);
        }
        let workers = self
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
        if workers == 0 {
            return Err(ConfigError::NumWorkers(0).into());
        }
        match self.settings.check() {
            Ok(()) => {}
            Err(Invalid::LocalThreads(n)) => return Err(ProcessError::LocalThreads(n)),
            Err(Invalid::MaxFrameLength(n)) => return Err(ProcessError::MaxFrameLength(n)),
        }
        let program = match &self.settings.program {
            Some(p) => p.clone(),
            None => {
                if fingerprint().is_none() {
                    return Err(ProcessError::NotInitialized);
                }
                std::env::current_exe().map_err(ProcessError::Supervisor)?
            }
        };
        let local = ThreadPool::new(self.settings.local_threads)?;
        let config = shared::Config {
            workers,
            eager: self.eager,
            program,
            settings: self.settings,
            worker_to_worker: self.worker_to_worker,
        };
        Ok(ProcessPool {
            inner: Arc::new(pool::Pool::start(config, local)?),
        })
    }
}
