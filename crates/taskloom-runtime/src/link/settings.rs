//! [`Settings`]: what every executor with worker processes is told about its workers
//! (their program, their frames, their handshake, their losses, where their results
//! stay), documented and checked once.
//!
//! The process pool and the cluster differ in how a worker is started and reached,
//! not in these: each builder holds a `Settings`, its methods of the same names set
//! it, and [`ProcessPoolBuilder::settings`](crate::process::ProcessPoolBuilder::settings)
//! or [`ClusterBuilder::settings`](crate::cluster::ClusterBuilder::settings) takes a
//! whole one, so one set of settings serves both.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use super::protocol::MAX_HELLO;
use crate::executor::DEFAULT_RETRIES;

/// Default largest frame, in bytes (a batch of encoded inputs, or one encoded result).
pub const DEFAULT_MAX_FRAME_LENGTH: usize = 64 * 1024 * 1024;

/// Default time a new worker has to complete its handshake.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The settings the [process pool](crate::process) and the [cluster](crate::cluster)
/// share: their workers' program, frames, handshake, retries and results. Each
/// builder has a method of the same name for each (documented here), and takes a
/// whole `Settings` with `settings`.
///
/// ```
/// use std::time::Duration;
/// use taskloom::cluster::Cluster;
/// use taskloom::process::ProcessPool;
/// use taskloom::remote::Settings;
///
/// let settings = Settings::new()
///     .retries(5)
///     .handshake_timeout(Duration::from_secs(30))
///     .resident(false);
/// let pool = ProcessPool::builder().workers(2).settings(settings.clone());
/// let cluster = Cluster::builder().workers(8).settings(settings);
/// # drop((pool, cluster));
/// ```
#[derive(Debug, Clone)]
pub struct Settings {
    pub(crate) program: Option<PathBuf>,
    pub(crate) args: Vec<OsString>,
    pub(crate) max_frame_length: usize,
    pub(crate) handshake_timeout: Duration,
    pub(crate) local_threads: usize,
    pub(crate) retries: u32,
    pub(crate) resident: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            program: None,
            args: Vec::new(),
            max_frame_length: DEFAULT_MAX_FRAME_LENGTH,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            local_threads: 1,
            retries: DEFAULT_RETRIES,
            resident: true,
        }
    }
}

/// A setting that cannot work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Invalid {
    /// No thread for the tasks that are not remote.
    #[error("local_threads must be at least 1, got {0}")]
    LocalThreads(usize),
    /// Frames too small for the protocol.
    #[error("max_frame_length must be at least {MAX_HELLO} bytes, got {0}")]
    MaxFrameLength(usize),
}

impl Settings {
    /// The defaults (each method below names its own).
    pub fn new() -> Self {
        Self::default()
    }

    /// The worker program (default: this program, `std::env::current_exe`). It must
    /// call [`remote::init`](crate::remote::init) first thing in `main`, with the same
    /// registry as this program.
    pub fn program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = Some(program.into());
        self
    }

    /// Adds a command-line argument for the worker program (default: none; a worker
    /// is recognised by its environment, not by its arguments).
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// The largest frame accepted from or sent to a worker once it is in, in bytes
    /// (default [`DEFAULT_MAX_FRAME_LENGTH`]; at least 256): a task whose inputs or
    /// result are larger fails with a serialization error naming it. Handshake frames
    /// have limits of their own (256 bytes for a pool's hello, 1 KiB for a cluster's
    /// handshake).
    pub fn max_frame_length(mut self, bytes: usize) -> Self {
        self.max_frame_length = bytes;
        self
    }

    /// How long a new worker has to complete its handshake (default
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`]): a pool's child that has not said hello by
    /// then is killed, a cluster's connection that has not authenticated is closed
    /// and listed among the refusals.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Threads in this process for the graph's tasks that are not remote (default 1;
    /// at least 1).
    pub fn local_threads(mut self, n: usize) -> Self {
        self.local_threads = n;
        self
    }

    /// How many times a task whose worker was lost while running it (a crash, a
    /// signal, the OOM killer, a malformed answer, a closed or silent connection) runs
    /// again, each time on another worker, before it fails (default
    /// [`DEFAULT_RETRIES`](crate::executor::DEFAULT_RETRIES), 3). The error then
    /// names every attempt's worker and how it ended. `0`: fail at the first loss.
    ///
    /// Tasks that the lost worker had not started (queued behind the running one, or
    /// not yet delivered) are sent again and never count as an attempt. A cluster's
    /// worker may hold the answers of short calls back, so when one is lost with
    /// several calls unanswered, each of them runs again alone, where the one that
    /// kills a worker is known for certain.
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// Whether results stay in the workers that made them (default `true`): a remote
    /// task's result that only remote tasks need is kept by its worker, tasks go
    /// where most of their input bytes are, and only targets and inputs of local tasks
    /// cross to this process (over a network, this is what keeps a cluster from
    /// sending every intermediate result to the scheduler and back). `false`: every
    /// result comes back and goes out again as an input (cheaper for tiny results,
    /// and a lost worker then loses no result).
    pub fn resident(mut self, resident: bool) -> Self {
        self.resident = resident;
        self
    }

    /// Checks what no executor can work with.
    pub(crate) fn check(&self) -> Result<(), Invalid> {
        if self.local_threads == 0 {
            return Err(Invalid::LocalThreads(self.local_threads));
        }
        if self.max_frame_length < MAX_HELLO {
            return Err(Invalid::MaxFrameLength(self.max_frame_length));
        }
        Ok(())
    }
}
