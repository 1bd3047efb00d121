//! [`ClusterBuilder`]: the cluster's settings, checked, and the start: listen, write
//! the secret, ask the launcher for the workers, start the supervisor.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::engine::Engine;
use super::secret::{Given, Transport};
use super::shared::{Config, Shared};
use super::tls::ServerTls;
use super::{
    CLUSTER_ADDR_ENV, Cluster, ClusterError, DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_HEARTBEAT_TIMEOUT,
    DEFAULT_NO_WORKER_TIMEOUT, DEFAULT_POLL_INTERVAL, Inner, Launcher, SECRET_FILE_ENV, Secret,
    SecretError, WorkerSpec, handshake, listener, supervisor, worker,
};
use crate::error::ConfigError;
use crate::executor::ThreadPool;
use crate::link::settings::Settings;

/// Builds a [`Cluster`]: its own settings (launcher, addresses, secret, heartbeats,
/// replacements), and the [`Settings`] it shares with the
/// [process pool](crate::process), each documented there once.
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    launcher: Option<Arc<dyn Launcher>>,
    workers: Option<usize>,
    listen: SocketAddr,
    advertise: Option<String>,
    secret: Option<Secret>,
    secret_file: Option<PathBuf>,
    dir: Option<PathBuf>,
    settings: Settings,
    heartbeat_interval: Duration,
    heartbeat_timeout: Duration,
    replacements: Option<u32>,
    no_worker_timeout: Duration,
    poll_interval: Duration,
    tls: TlsChoice,
}

/// Whether workers must use TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TlsChoice {
    /// Unless the listening address is loopback.
    Auto,
    /// Always ([`ClusterBuilder::require_tls`]).
    Required,
    /// Never ([`ClusterBuilder::insecure_plain_tcp`]).
    InsecurePlainTcp,
}

impl Default for ClusterBuilder {
    fn default() -> Self {
        ClusterBuilder {
            launcher: None,
            workers: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            advertise: None,
            secret: None,
            secret_file: None,
            dir: None,
            settings: Settings::default(),
            heartbeat_interval: DEFAULT_HEARTBEAT_INTERVAL,
            heartbeat_timeout: DEFAULT_HEARTBEAT_TIMEOUT,
            replacements: None,
            no_worker_timeout: DEFAULT_NO_WORKER_TIMEOUT,
            poll_interval: DEFAULT_POLL_INTERVAL,
            tls: TlsChoice::Auto,
        }
    }
}

impl ClusterBuilder {
    /// The launcher that starts the workers (default: none; workers started by
    /// others connect, as in a Kubernetes Deployment).
    pub fn launcher(mut self, launcher: impl Launcher) -> Self {
        self.launcher = Some(Arc::new(launcher));
        self
    }

    /// Workers the launcher starts (default 1), or, without a launcher, how many are
    /// expected (for the scheduling loop's back-pressure; any number may connect).
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = Some(n);
        self
    }

    /// The address to listen on (default `127.0.0.1:0`: this machine only, any free
    /// port). Workers on other nodes need an address they can reach, such as
    /// `0.0.0.0:7070` with [`ClusterBuilder::advertise`].
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Workers must use TLS even on loopback (off loopback they must anyway): for a
    /// scheduler reached through a tunnel or a port forward that ends on loopback,
    /// and for tests. See the guide's cluster chapter for what TLS protects.
    ///
    /// ```
    /// use taskloom::cluster::Cluster;
    ///
    /// let builder = Cluster::builder().require_tls();
    /// # drop(builder);
    /// ```
    pub fn require_tls(mut self) -> Self {
        self.tls = TlsChoice::Required;
        self
    }

    /// **Insecure**: workers speak plain TCP even off loopback. Anyone on the path
    /// between a worker and the scheduler can then read every input and result, and
    /// alter or inject frames on an authenticated connection; the handshake still
    /// keeps out whoever lacks the secret. Only for a network that carries nothing
    /// but the cluster's own traffic, when TLS's cost matters (it seldom does: see
    /// the guide's figures). The cluster logs a warning when it starts so.
    pub fn insecure_plain_tcp(mut self) -> Self {
        self.tls = TlsChoice::InsecurePlainTcp;
        self
    }

    /// The address workers are told to connect to, `host:port` (default: the
    /// listening address, or the host name with its port when listening on all
    /// interfaces). For a node whose name resolves to the wrong interface, or a
    /// Kubernetes Service.
    pub fn advertise(mut self, addr: impl Into<String>) -> Self {
        self.advertise = Some(addr.into());
        self
    }

    /// Use this secret (default: 32 fresh random bytes). It is written to a 0600 file
    /// in the cluster's directory for the launcher's workers.
    pub fn secret(mut self, secret: Secret) -> Self {
        self.secret = Some(secret);
        self
    }

    /// Use the secret in this file (mode 0600), and give its path to the launcher's
    /// workers as it is (for a file the workers' nodes already see, or a Kubernetes
    /// Secret). The cluster never removes it.
    pub fn secret_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.secret_file = Some(path.into());
        self
    }

    /// Where the cluster's directory is made (default `~/.taskloom`, else the
    /// temporary directory): it holds the secret file and the workers' logs, and is
    /// removed with the cluster. Workers on other nodes read the secret there, so
    /// it must be on a file system they see (a home directory usually is).
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// Every setting the cluster shares with the process pool at once, in place of
    /// those set so far (see [`Settings`]).
    pub fn settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// The worker program the launcher starts: see [`Settings::program`].
    pub fn program(mut self, program: impl Into<PathBuf>) -> Self {
        self.settings = self.settings.program(program);
        self
    }

    /// Adds an argument for the worker program: see [`Settings::arg`].
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.settings = self.settings.arg(arg);
        self
    }

    /// The largest frame once a worker is in: see [`Settings::max_frame_length`].
    pub fn max_frame_length(mut self, bytes: usize) -> Self {
        self.settings = self.settings.max_frame_length(bytes);
        self
    }

    /// How long a connection has to complete the handshake: see
    /// [`Settings::handshake_timeout`].
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.settings = self.settings.handshake_timeout(timeout);
        self
    }

    /// How often workers send a heartbeat, and how long a silent worker is waited for
    /// before it is lost (default [`DEFAULT_HEARTBEAT_INTERVAL`],
    /// [`DEFAULT_HEARTBEAT_TIMEOUT`]). The timeout must exceed the interval.
    pub fn heartbeat(mut self, interval: Duration, timeout: Duration) -> Self {
        self.heartbeat_interval = interval;
        self.heartbeat_timeout = timeout;
        self
    }

    /// Runs of a task whose worker was lost while running it: see
    /// [`Settings::retries`].
    pub fn retries(mut self, retries: u32) -> Self {
        self.settings = self.settings.retries(retries);
        self
    }

    /// Whether results stay in the workers that made them: see
    /// [`Settings::resident`].
    ///
    /// ```
    /// use taskloom::cluster::Cluster;
    ///
    /// let builder = Cluster::builder().resident(false);
    /// # drop(builder);
    /// ```
    pub fn resident(mut self, resident: bool) -> Self {
        self.settings = self.settings.resident(resident);
        self
    }

    /// How many lost workers the launcher replaces, in all (default: as many as
    /// [`workers`](ClusterBuilder::workers)). A worker that retired (walltime) or was
    /// dropped for a cancelled computation is replaced without counting.
    pub fn replacements(mut self, budget: u32) -> Self {
        self.replacements = Some(budget);
        self
    }

    /// How long queued tasks wait with no worker connected before they fail (default
    /// [`DEFAULT_NO_WORKER_TIMEOUT`]); they fail at once when no worker can come.
    pub fn no_worker_timeout(mut self, timeout: Duration) -> Self {
        self.no_worker_timeout = timeout;
        self
    }

    /// How often the launcher is asked for its jobs' states (default
    /// [`DEFAULT_POLL_INTERVAL`]).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Threads for the tasks that are not remote: see [`Settings::local_threads`].
    pub fn local_threads(mut self, n: usize) -> Self {
        self.settings = self.settings.local_threads(n);
        self
    }

    /// Checks the settings, listens, writes the secret, asks the launcher for the
    /// workers (without waiting for them: see [`Cluster::wait_for_workers`]) and
    /// starts the supervisor.
    ///
    /// # Errors
    /// [`ClusterError::InsideWorker`] in a worker; [`ClusterError::NotInitialized`]
    /// if the program never called [`remote::init`](crate::remote::init);
    /// [`ClusterError::Config`] and [`ClusterError::Setting`] for impossible
    /// settings; [`ClusterError::Bind`], [`ClusterError::Dir`],
    /// [`ClusterError::Secret`]; [`ClusterError::Launch`] if the launcher could not
    /// start a worker (those it started are stopped).
    pub fn build(self) -> Result<Cluster, ClusterError> {
        if crate::link::worker::is_worker() {
            return Err(ClusterError::InsideWorker);
        }
        let Some(fingerprint) = crate::link::worker::fingerprint() else {
            return Err(ClusterError::NotInitialized);
        };
        let workers = self.workers.unwrap_or(1);
        if workers == 0 {
            return Err(ConfigError::NumWorkers(0).into());
        }
        if let Err(invalid) = self.settings.check() {
            return Err(ClusterError::Setting(invalid.to_string()));
        }
        if self.heartbeat_timeout <= self.heartbeat_interval || self.heartbeat_interval.is_zero() {
            return Err(ClusterError::Setting(format!(
                "the heartbeat timeout ({:?}) must exceed its interval ({:?}), which must not be \
                 zero",
                self.heartbeat_timeout, self.heartbeat_interval
            )));
        }
        let program = match &self.settings.program {
            Some(program) => program.clone(),
            None => std::env::current_exe().map_err(ClusterError::Supervisor)?,
        };
        let listener = listener::bind(self.listen).map_err(|error| ClusterError::Bind {
            addr: self.listen,
            error,
        })?;
        let addr = listener.local_addr().map_err(|error| ClusterError::Bind {
            addr: self.listen,
            error,
        })?;
        listener
            .set_nonblocking(true)
            .map_err(|error| ClusterError::Bind { addr, error })?;
        let advertised = self.advertise.unwrap_or_else(|| {
            if addr.ip().is_unspecified() {
                format!("{}:{}", worker::host_name(), addr.port())
            } else {
                addr.to_string()
            }
        });
        let require_tls = match self.tls {
            TlsChoice::Auto => !addr.ip().is_loopback(),
            TlsChoice::Required => true,
            TlsChoice::InsecurePlainTcp => false,
        };
        if !require_tls && !addr.ip().is_loopback() {
            tracing::warn!(
                %addr,
                "taskloom cluster listens off loopback WITHOUT TLS (insecure_plain_tcp): \
                 inputs and results cross the network in clear, and can be altered on the way"
            );
        }
        // Always made: a worker may speak TLS to any cluster (one given only the bare
        // secret does), even where plain TCP is allowed.
        let tls = ServerTls::generate().map_err(|e| ClusterError::Setting(e.to_string()))?;
        let dir = make_dir(self.dir)?;
        let (secret, secret_file) = match (self.secret_file, self.secret) {
            (Some(path), _) => (Secret::from_file(&path)?, path),
            (None, secret) => {
                let secret = match secret {
                    Some(secret) => secret,
                    None => Secret::generate()?,
                };
                let path = dir.join("secret");
                let given = Given {
                    secret: secret.clone(),
                    transport: if require_tls {
                        Transport::Tls(Some(tls.fingerprint))
                    } else {
                        Transport::Plain
                    },
                };
                if let Err(e) = given.write_new(&path) {
                    let _ = std::fs::remove_dir_all(&dir);
                    return Err(e.into());
                }
                (secret, path)
            }
        };
        let spec = WorkerSpec {
            program,
            args: self.settings.args.clone(),
            env: vec![
                (CLUSTER_ADDR_ENV.into(), advertised.clone().into()),
                (SECRET_FILE_ENV.into(), secret_file.clone().into()),
            ],
            dir: dir.clone(),
        };
        let config = Config {
            workers,
            heartbeat_interval: self.heartbeat_interval,
            heartbeat_timeout: self.heartbeat_timeout,
            replacements: self
                .replacements
                .unwrap_or(u32::try_from(workers).unwrap_or(u32::MAX)),
            no_worker_timeout: self.no_worker_timeout,
            poll_interval: self.poll_interval,
            build: handshake::build_id(fingerprint),
            secret,
            tls,
            require_tls,
            spec,
            advertised,
            settings: self.settings,
        };
        let local = ThreadPool::new(config.settings.local_threads)?;
        let engine = match self.launcher {
            Some(launcher) => Some(Engine::start(launcher).map_err(ClusterError::Supervisor)?),
            None => None,
        };
        let (shared, news) = Shared::new(config, engine, addr);
        let shared = Arc::new(shared);
        if let Err(error) = launch_all(&shared, workers) {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(error);
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ClusterError::Supervisor)?;
        let thread_shared = Arc::clone(&shared);
        let supervisor = std::thread::Builder::new()
            .name("taskloom-cluster".into())
            .spawn(move || {
                runtime.block_on(supervisor::supervise(
                    thread_shared,
                    listener,
                    news,
                    Some(dir),
                ));
            })
            .map_err(ClusterError::Supervisor)?;
        Ok(Cluster {
            inner: Arc::new(Inner {
                shared,
                local,
                supervisor: Mutex::new(Some(supervisor)),
                secret_file,
            }),
        })
    }
}

/// Asks the launcher for `n` workers; on a failure, stops those it started.
fn launch_all(shared: &Shared, n: usize) -> Result<(), ClusterError> {
    let Some(launcher) = shared.engine.as_ref().map(|e| e.launcher()) else {
        return Ok(());
    };
    let mut started = Vec::with_capacity(n);
    for _ in 0..n {
        match launcher.launch(&shared.config.spec) {
            Ok(id) => {
                shared.launched(id.clone(), launcher.describe(&id), false);
                started.push(id);
            }
            Err(error) => {
                let _ = launcher.stop(&started);
                return Err(ClusterError::Launch {
                    launcher: launcher.name().to_owned(),
                    error,
                });
            }
        }
    }
    Ok(())
}

/// Makes the cluster's own directory (mode 0700) under `base`.
fn make_dir(base: Option<PathBuf>) -> Result<PathBuf, ClusterError> {
    let base = base.unwrap_or_else(|| match std::env::var_os("HOME") {
        Some(home) if !home.is_empty() => PathBuf::from(home).join(".taskloom"),
        _ => std::env::temp_dir().join("taskloom"),
    });
    let error = |path: &Path| {
        let path = path.to_owned();
        move |error| ClusterError::Dir { path, error }
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(&base).map_err(error(&base))?;
    let mut tag = [0_u8; 4];
    getrandom::fill(&mut tag).map_err(|e| SecretError::Random(e.to_string()))?;
    let tag: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    let dir = base.join(format!("cluster-{}-{tag}", std::process::id()));
    builder.recursive(false);
    builder.create(&dir).map_err(error(&dir))?;
    Ok(dir)
}
