//! `Cluster`: remote tasks on workers anywhere, over TCP, started by the engine the
//! user already runs (Slurm, Kubernetes, a shell) — past one machine.
//!
//! The engine starts workers; taskloom schedules. As in dask-jobqueue, a
//! [`Launcher`] asks the engine for copies of this program with two variables set
//! (the scheduler's address, [`CLUSTER_ADDR_ENV`], and the secret's file,
//! [`SECRET_FILE_ENV`]); [`remote::init`](crate::remote::init) at the top of `main`
//! turns each copy into a worker that connects back. Any process that connects and
//! passes the handshake is a worker, whoever started it: a Kubernetes Deployment
//! needs no launcher (the guide's cluster chapter).
//!
//! - **Same worker, other wire**: registered functions, postcard values, the frames,
//!   a batch's exchange and the rules for lost workers are the process pool's
//!   (`crate::link`), over a socket instead of pipes.
//! - **Security before any task data flows**: a per-cluster [`Secret`] (32 random
//!   bytes from the OS, in a 0600 file or an environment variable); a mutual
//!   HMAC-SHA256 challenge–response, checked in constant time; the build (taskloom's
//!   version, the protocol's, the registry's fingerprint) compared, and a worker of
//!   another build refused with a clear message on both sides; frame limits (1 KiB
//!   during the handshake, [`ClusterBuilder::max_frame_length`] after); a handshake
//!   timeout. Nothing a peer sends before its welcome reaches the scheduling loop or
//!   delays another worker; refused peers are counted by [kind](RefusalKind) and the
//!   latest listed in [`ClusterStatus::refusals`]. The listener binds 127.0.0.1
//!   unless told otherwise ([`ClusterBuilder::listen`]); workers on other nodes are
//!   told the [advertised](ClusterBuilder::advertise) address.
//! - **TLS off loopback**: TLS 1.3 (rustls) whenever the listening address is not
//!   loopback ([`ClusterBuilder::require_tls`] forces it,
//!   [`ClusterBuilder::insecure_plain_tcp`] refuses it), with a certificate the
//!   cluster makes when it starts; the secret file names its fingerprint, which the
//!   workers pin, and the handshake's proofs are bound to the TLS session.
//! - **A door no flood closes**: every connection is accepted; at most
//!   [`MAX_HANDSHAKES`] run at once, and a newcomer beyond them evicts the one that
//!   made the least progress for the longest (never a worker that already spoke); a
//!   connection has 2 s to send its first message; refusals are logged once per
//!   kind and interval. A worker whose handshake is cut off tries again.
//! - **Loss**: a closed connection, missed heartbeats (workers write one every
//!   interval from a thread of their own, also during long calls), or the engine
//!   ending the job (`NODE_FAIL`) loses the worker. Calls it had not started go to
//!   other workers for free; the one it ran is retried on another worker up to
//!   [`ClusterBuilder::retries`], then fails naming the key, the node, the job and
//!   how it ended ("closed its connection; slurm job 42: CANCELLED"). The launcher
//!   submits a replacement, within [`ClusterBuilder::replacements`]. With no worker
//!   connected, queued tasks fail after [`ClusterBuilder::no_worker_timeout`] (at
//!   once when no worker can come any more) with every job's state: never a hang.
//! - **Walltime**: on `SIGUSR1` (Slurm's `--signal=B:USR1@60`) a worker retires: it
//!   finishes its running call, the others go elsewhere, and a replacement is
//!   submitted.
//! - **Names**: completions, spans and callbacks name [`Worker::Remote`](crate::executor::Worker::Remote) (node, job,
//!   pid).
//!
//! # Layout
//!
//! - `builder`: [`ClusterBuilder`], the settings and the start;
//! - [`secret`](Secret): the secret, its file and its variables;
//! - `tls`: the certificate, both sides' rustls settings, the pin, the binding;
//! - `handshake`: both sides of the mutual authentication and build check;
//! - `pending`: the handshakes in progress, and which one makes room;
//! - `refusals`: refusals logged per kind and interval;
//! - `listener`: accept, TLS and the handshake under time limits, admit;
//! - `stream`: a connection plain or TLS, whole and split;
//! - `conn`: a worker's connection, as the `Transport` batches run over, with the
//!   heartbeat watch;
//! - `member`: one connected worker's life: batches, idle watch, losses;
//! - `supervisor`: the cluster's thread: launches, polls, replacements, the
//!   no-worker watchdog, and the stop;
//! - `engine`: the launcher's own thread, where its (blocking) calls run in order;
//! - `shared`: the queue and the table behind [`ClusterStatus`];
//! - [`launcher`](Launcher): [`Launcher`], [`Local`], [`Slurm`];
//! - `worker`: the worker's side (connect, handshake, heartbeats, retirement);
//! - `worker_tls`: the worker's TLS session, shared by its reading and writing
//!   threads.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use taskloom::{Graph, Scheduler};
//! use taskloom::cluster::{Cluster, Local};
//! use taskloom::remote::{self, Registry};
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let mut registry = Registry::new();
//!     let square = registry.register("square", |x: &i64| x * x)?;
//!     remote::init(&registry); // a worker serves here and never returns
//!
//!     // Two workers on this machine; `Slurm::new().partition("ci")` for a cluster.
//!     let cluster = Cluster::builder().launcher(Local::new()).workers(2).build()?;
//!     let runtime = tokio::runtime::Runtime::new()?;
//!     runtime.block_on(cluster.wait_for_workers(2, Duration::from_secs(60)))?;
//!     let scheduler = Scheduler::builder().executor(cluster).build()?;
//!     let mut g = Graph::new();
//!     let x = g.add("x", (), || 12_i64)?;
//!     let y = g.add_remote("y", &x, &square)?;
//!     assert_eq!(runtime.block_on(scheduler.compute(&g, &y))?, 144);
//!     Ok(())
//! }
//! ```

mod builder;
mod conn;
mod engine;
mod handshake;
mod launcher;
mod listener;
mod member;
mod pending;
mod refusals;
mod secret;
mod shared;
mod status;
mod stream;
mod supervisor;
mod tls;
pub(crate) mod worker;
mod worker_tls;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

pub use crate::link::worker::CLUSTER_ADDR_ENV;
pub use builder::ClusterBuilder;
pub use launcher::{JobState, LaunchError, Launcher, Local, Slurm, WorkerSpec};
pub use listener::MAX_HANDSHAKES;
pub use secret::{SECRET_ENV, SECRET_FILE_ENV, SECRET_LEN, Secret, SecretError};
pub use status::{
    ClusterStatus, KEPT_REFUSALS, LaunchInfo, Refusal, RefusalKind, WorkerInfo, WorkerLoss,
};

use crate::error::ConfigError;
use crate::executor::{Batch, Executor, Job, ThreadPool};
use shared::Shared;

/// The environment variable naming a worker's job (set by [`Local`]; a Kubernetes
/// manifest can set it to the pod's name). Slurm's `SLURM_JOB_ID` is read when it
/// is not set.
pub const JOB_ENV: &str = "TASKLOOM_CLUSTER_JOB";

/// The environment variable naming a worker's node. Slurm's `SLURMD_NODENAME`, then
/// the host name, are used when it is not set.
pub const NODE_ENV: &str = "TASKLOOM_CLUSTER_NODE";

/// Default interval of workers' heartbeats.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);

/// Default silence after which a worker is lost.
pub const DEFAULT_HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(15);

/// Default time queued tasks wait with no worker connected before they fail.
pub const DEFAULT_NO_WORKER_TIMEOUT: Duration = Duration::from_secs(120);

/// Default interval between two polls of the launcher (`squeue`).
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(5);

/// Why a cluster could not be set up or waited for.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// An impossible setting.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A setting of the cluster's own that cannot work (the text says which).
    #[error("{0}")]
    Setting(String),
    /// This process is itself a worker: it must not start a cluster.
    #[error(
        "this process is a taskloom worker and cannot start a cluster: call \
         `taskloom::remote::init(&registry)` first thing in `main`"
    )]
    InsideWorker,
    /// The program never called [`remote::init`](crate::remote::init): its
    /// workers would not serve, and its build (the registry's fingerprint) is unknown.
    #[error(
        "`taskloom::remote::init(&registry)` was not called in this program: call it \
         first thing in `main`, so that the copies a cluster starts become workers"
    )]
    NotInitialized,
    /// The listener could not bind.
    #[error("cannot listen on {addr}: {error}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        error: std::io::Error,
    },
    /// The cluster's directory could not be made.
    #[error("cannot make the cluster's directory {}: {error}", path.display())]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        error: std::io::Error,
    },
    /// The secret could not be made, read or written.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The launcher could not start the workers.
    #[error("the {launcher} launcher could not start a worker: {error}")]
    Launch {
        /// The launcher's name.
        launcher: String,
        /// What went wrong.
        #[source]
        error: LaunchError,
    },
    /// The supervisor thread or its runtime could not start.
    #[error("could not start the cluster's supervisor: {0}")]
    Supervisor(std::io::Error),
    /// A wait ended without what it waited for.
    #[error("{what} within {:.1} s: {connected} worker(s) connected (workers: {launches})", waited.as_secs_f64())]
    Timeout {
        /// What did not happen ("2 workers did not connect").
        what: String,
        /// How long it waited.
        waited: Duration,
        /// Workers connected at the end.
        connected: usize,
        /// Every launched job and its state.
        launches: String,
    },
}

/// Remote tasks on workers that connect over TCP. Cheap to clone: clones share the
/// workers; when the last is dropped, connections close, every job the launcher
/// started is stopped, and the cluster's directory is removed.
///
/// See the [module](self) for what it does, and [`ClusterBuilder`] for the settings.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    local: ThreadPool,
    supervisor: Mutex<Option<std::thread::JoinHandle<()>>>,
    secret_file: PathBuf,
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &self.inner.shared;
        f.debug_struct("Cluster")
            .field("addr", &shared.addr)
            .field("advertised", &shared.config.advertised)
            .field("launcher", &shared.engine)
            .field("connected", &shared.connected())
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Configures a cluster.
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::default()
    }

    /// `n` workers on this machine ([`Local`]), over loopback.
    ///
    /// # Errors
    /// See [`ClusterBuilder::build`].
    pub fn local(n: usize) -> Result<Cluster, ClusterError> {
        Self::builder().launcher(Local::new()).workers(n).build()
    }

    /// The address the scheduler listens on.
    pub fn addr(&self) -> SocketAddr {
        self.inner.shared.addr
    }

    /// The address workers are told to connect to.
    pub fn advertised(&self) -> &str {
        &self.inner.shared.config.advertised
    }

    /// The file holding the secret (what workers started by others, Kubernetes say,
    /// must be given, as [`SECRET_FILE_ENV`] or its content as [`SECRET_ENV`]).
    pub fn secret_file(&self) -> &Path {
        &self.inner.secret_file
    }

    /// The fingerprint of the scheduler's certificate (`sha256:` and 64 hex digits)
    /// when workers must use TLS (it is in the secret file, so workers pin it), or
    /// `None` when plain TCP is allowed (a loopback cluster, or
    /// [`ClusterBuilder::insecure_plain_tcp`]).
    pub fn tls_fingerprint(&self) -> Option<String> {
        let config = &self.inner.shared.config;
        config
            .require_tls
            .then(|| config.tls.fingerprint.to_string())
    }

    /// The build workers must run: taskloom's version, the protocol's, and the
    /// registry's fingerprint.
    pub fn build_id(&self) -> &str {
        &self.inner.shared.config.build
    }

    /// Bytes of results each connected worker holds for computations (encoded
    /// sizes), by worker number: what residency keeps off the network. All zeros once
    /// every computation ended.
    pub fn held_bytes(&self) -> Vec<(crate::executor::Worker, u64)> {
        self.inner.shared.places.held()
    }

    /// A snapshot of the workers, launches, refusals and losses.
    pub fn status(&self) -> ClusterStatus {
        self.inner.shared.status()
    }

    /// Waits until `done` holds for the cluster's status, looking again at every
    /// change (a worker joins or leaves, a job's state changes, a connection is
    /// refused): no polling, no sleeping. Needs a Tokio runtime with time enabled.
    ///
    /// # Errors
    /// [`ClusterError::Timeout`] after `timeout`, describing `what` was awaited.
    pub async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&ClusterStatus) -> bool,
    ) -> Result<ClusterStatus, ClusterError> {
        let shared = &self.inner.shared;
        let mut changes = shared.subscribe();
        let waited = tokio::time::timeout(timeout, async {
            loop {
                changes.borrow_and_update();
                let status = shared.status();
                if done(&status) {
                    return status;
                }
                if changes.changed().await.is_err() {
                    // Unreachable while `self` holds the sender; wait for the timeout.
                    std::future::pending::<()>().await;
                }
            }
        })
        .await;
        waited.map_err(|_| ClusterError::Timeout {
            what: what.to_owned(),
            waited: timeout,
            connected: shared.connected(),
            launches: shared.launch_summary(),
        })
    }

    /// Waits until at least `n` workers are connected.
    ///
    /// # Errors
    /// [`ClusterError::Timeout`] after `timeout`, with every launched job's state
    /// (`slurm job 42: PENDING (Resources)`).
    pub async fn wait_for_workers(&self, n: usize, timeout: Duration) -> Result<(), ClusterError> {
        let what = format!("{n} worker(s) did not connect");
        self.wait_for(&what, timeout, |s| s.workers.len() >= n)
            .await
            .map(drop)
    }
}

impl Executor for Cluster {
    fn name(&self) -> &str {
        "cluster"
    }

    /// A remote task past its timeout has its worker killed and replaced.
    fn stops_remote_tasks(&self) -> bool {
        true
    }

    /// The workers the cluster was built for (its launcher starts that many), or
    /// more when more are connected.
    fn num_workers(&self) -> usize {
        let shared = &self.inner.shared;
        shared.config.workers.max(shared.connected()).max(1)
    }

    /// Remote jobs go to the workers, the others to the cluster's local threads.
    fn submit(&self, mut batch: Batch) {
        let jobs = batch.jobs_mut();
        if !jobs.iter().all(|j| j.body.remote.is_some()) {
            let (remote, local): (Vec<Job>, Vec<Job>) = std::mem::take(jobs)
                .into_iter()
                .partition(|j| j.body.remote.is_some());
            if !local.is_empty() {
                self.inner.local.submit(Batch::new(local));
            }
            *jobs = remote;
            if jobs.is_empty() {
                return;
            }
        }
        self.inner.shared.push(batch);
    }

    fn is_worker_thread(&self) -> bool {
        self.inner.local.is_worker_thread()
    }
}

impl Drop for Inner {
    /// Stops the supervisor: members close their connections, the launcher's jobs
    /// are stopped, the directory is removed; waits for that. Batches still queued
    /// report their jobs as lost.
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
        drop(self.shared.drain_queue());
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
