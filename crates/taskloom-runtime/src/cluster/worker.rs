//! A cluster worker: the program, started by anyone (a launcher, Kubernetes, a
//! shell) with [`CLUSTER_ADDR_ENV`] set, that [`remote::init`](crate::remote::init)
//! turns into a worker serving its scheduler over TCP.
//!
//! 1. Reads who it is: the scheduler's address ([`CLUSTER_ADDR_ENV`]), the secret
//!    ([`SECRET_FILE_ENV`](super::SECRET_FILE_ENV) or
//!    [`SECRET_ENV`](super::SECRET_ENV)), its node ([`NODE_ENV`], Slurm's
//!    `SLURMD_NODENAME`, or the host name) and its job ([`JOB_ENV`] or Slurm's
//!    `SLURM_JOB_ID`).
//! 2. Connects, retrying for a while (a scheduler may start after its workers, or
//!    close a handshake to make room during a flood of connections), over TLS unless
//!    its secret file says `plain-tcp` (pinning the scheduler's certificate when the
//!    file names it: `tls`), and runs its side of the handshake: nothing is served
//!    to a peer that did not prove it knows the secret, shows another certificate or
//!    runs another build; each is an error on the worker's standard error and in its
//!    exit status.
//! 3. Serves calls with the same loop as a process-pool worker
//!    ([`crate::link::serve`]), over the connection. A thread of its own
//!    writes a heartbeat every interval the scheduler asked for, so a long call
//!    does not look like a dead node; and when the scheduler is gone (the
//!    heartbeat's write fails), the worker exits without waiting for its call.
//! 4. On `SIGUSR1` (Slurm's warning before the walltime, `--signal=B:USR1@60`) it
//!    retires: it tells the scheduler at once which call it runs (the others of its
//!    batch go to other workers), takes no more, finishes that one, and exits with
//!    status 0.
//!
//! Exit statuses: 0 (the scheduler closed the connection, or the worker retired), 69
//! (could not reach the scheduler), 70 (a protocol error), 77 (refused, or refused
//! the scheduler: wrong secret, another build), 78 (misconfigured: no address, no
//! secret).

use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use super::handshake::{self, Identity, JoinError};
use super::secret::{Given, SecretError, Transport};
use super::tls::{self, Binding};
use super::worker_tls;
use super::{CLUSTER_ADDR_ENV, JOB_ENV, NODE_ENV};
use crate::link::holding::Holding;
use crate::link::protocol::HEARTBEAT;
use crate::link::serve::{self, Gate, Output, ServeError, Stopped};
use crate::remote::Registry;

/// How long a worker keeps trying to reach its scheduler.
const CONNECT_FOR: Duration = Duration::from_secs(60);

/// How long one read or write of the handshake may take.
const HANDSHAKE_IO: Duration = Duration::from_secs(30);

/// Why a cluster worker stopped.
#[derive(Debug, thiserror::Error)]
enum WorkerError {
    /// Misconfigured.
    #[error("{0}")]
    Config(String),
    /// No usable secret.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The scheduler could not be reached.
    #[error("cannot reach the scheduler at {addr} (tried for {:.0} s): {error}", CONNECT_FOR.as_secs_f64())]
    Connect {
        addr: String,
        #[source]
        error: std::io::Error,
    },
    /// The handshake failed.
    #[error(transparent)]
    Join(#[from] JoinError),
    /// TLS could not be set up on this side.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// Serving failed.
    #[error(transparent)]
    Serve(#[from] ServeError),
}

impl WorkerError {
    /// The exit status (sysexits.h).
    fn code(&self) -> i32 {
        match self {
            WorkerError::Config(_) | WorkerError::Secret(_) | WorkerError::Tls(_) => 78,
            WorkerError::Connect { .. } | WorkerError::Join(JoinError::Io(_)) => 69,
            WorkerError::Join(_) => 77,
            WorkerError::Serve(_) => 70,
        }
    }
}

/// Serves as a cluster worker; the process's exit status.
pub(crate) fn run(registry: &Registry) -> i32 {
    let pid = std::process::id();
    match serve(registry) {
        Ok(Stopped::InputClosed) => 0,
        Ok(Stopped::Retired) => {
            eprintln!("taskloom cluster worker {pid}: retired");
            0
        }
        Err(error) => {
            eprintln!("taskloom cluster worker {pid}: {error}");
            error.code()
        }
    }
}

fn serve(registry: &Registry) -> Result<Stopped, WorkerError> {
    let addr = std::env::var(CLUSTER_ADDR_ENV)
        .map_err(|_| WorkerError::Config(format!("{CLUSTER_ADDR_ENV} is not a valid address")))?;
    let given = Given::from_env()?;
    let build = handshake::build_id(&registry.fingerprint());
    let me = Identity {
        node: node_name(),
        job: job_id(),
        pid: std::process::id(),
    };
    // Before connecting: a warning that comes early must not kill the worker.
    let life = Arc::new(Life::default());
    if let Err(error) = watch_walltime(Arc::clone(&life)) {
        eprintln!(
            "taskloom cluster worker {}: cannot watch for SIGUSR1 (walltime warnings): {error}",
            me.pid
        );
    }
    let tls = match given.transport {
        Transport::Tls(pin) => Some(tls::client_config(pin)?),
        Transport::Plain => None,
    };
    let (joined, welcomed) = join_retrying(&addr, &given, tls.as_ref(), &build, &me)?;
    eprintln!(
        "taskloom cluster worker {}: joined the scheduler at {addr} as cluster-{} on {}{}",
        me.pid,
        welcomed.index,
        me.node,
        match joined {
            Joined::Plain(_) => " (plain TCP)",
            Joined::Tls(_) => " (TLS)",
        }
    );
    match joined {
        Joined::Plain(mut stream) => {
            stream
                .set_read_timeout(None)
                .and_then(|()| stream.set_write_timeout(None))
                .map_err(ServeError::Setup)?;
            let writer = stream.try_clone().map_err(ServeError::Setup)?;
            // The heartbeat writes held answers too: no flusher of its own.
            let output =
                crate::link::worker::protocol_out(Box::leak(Box::new(Holding::new(writer))));
            life.joined(output);
            beat(output, welcomed.heartbeat)?;
            Ok(serve::serve(registry, &mut stream, output, &*life)?)
        }
        Joined::Tls(stream) => {
            let sock = &stream.sock;
            sock.set_read_timeout(None)
                .and_then(|()| sock.set_write_timeout(None))
                .map_err(ServeError::Setup)?;
            let (mut reader, writer) = worker_tls::split(*stream).map_err(ServeError::Setup)?;
            let output = crate::link::worker::protocol_out(Box::leak(Box::new(writer)));
            life.joined(output);
            beat(output, welcomed.heartbeat)?;
            Ok(serve::serve(registry, &mut reader, output, &*life)?)
        }
    }
}

/// A connection that passed the handshake.
enum Joined {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

/// Connects and joins, trying again (every 50 ms at first, then up to every 2 s)
/// for [`CONNECT_FOR`] while the scheduler cannot be reached or closes the
/// connection during the handshake (it may not be up yet, or may have closed this
/// handshake to make room during a flood); a refusal ends the tries at once.
fn join_retrying(
    addr: &str,
    given: &Given,
    tls: Option<&Arc<rustls::ClientConfig>>,
    build: &str,
    me: &Identity,
) -> Result<(Joined, handshake::Welcomed), WorkerError> {
    let deadline = Instant::now() + CONNECT_FOR;
    let mut rest = Duration::from_millis(50);
    loop {
        let attempt = connect_once(addr)
            .map_err(JoinError::Io)
            .and_then(|stream| {
                let _ = stream.set_nodelay(true);
                stream
                    .set_read_timeout(Some(HANDSHAKE_IO))
                    .and_then(|()| stream.set_write_timeout(Some(HANDSHAKE_IO)))?;
                join_over(stream, given, tls, build, me)
            });
        match attempt {
            Ok(joined) => return Ok(joined),
            Err(JoinError::Io(error)) if Instant::now() + rest > deadline => {
                return Err(WorkerError::Connect {
                    addr: addr.to_owned(),
                    error,
                });
            }
            Err(JoinError::Io(_)) => {
                std::thread::sleep(rest);
                rest = (rest * 2).min(Duration::from_secs(2));
            }
            Err(refused) => return Err(refused.into()),
        }
    }
}

/// The TLS handshake (if any), then the cluster's, over a connected stream.
fn join_over(
    stream: TcpStream,
    given: &Given,
    tls: Option<&Arc<rustls::ClientConfig>>,
    build: &str,
    me: &Identity,
) -> Result<(Joined, handshake::Welcomed), JoinError> {
    let Some(config) = tls else {
        let mut stream = stream;
        let welcomed = handshake::join(&mut stream, &given.secret, build, me, &Binding::Plain)?;
        return Ok((Joined::Plain(stream), welcomed));
    };
    let conn = rustls::ClientConnection::new(Arc::clone(config), tls::server_name())
        .map_err(|e| JoinError::Tls(e.to_string()))?;
    let mut stream = rustls::StreamOwned::new(conn, stream);
    while stream.conn.is_handshaking() {
        stream
            .conn
            .complete_io(&mut stream.sock)
            .map_err(tls_error)?;
    }
    let binding = Binding::of(&stream.conn).map_err(JoinError::Tls)?;
    let welcomed = handshake::join(&mut stream, &given.secret, build, me, &binding)?;
    Ok((Joined::Tls(Box::new(stream)), welcomed))
}

/// What a failed TLS handshake means for the worker: a certificate that is not the
/// cluster's, or a scheduler that refused TLS, ends it; a broken connection is tried
/// again.
fn tls_error(error: std::io::Error) -> JoinError {
    match error
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidCertificate(rustls::CertificateError::Other(e))) => {
            JoinError::Certificate(e.0.to_string())
        }
        Some(rustls::Error::InvalidCertificate(e)) => JoinError::Certificate(format!("{e:?}")),
        Some(e) => JoinError::Tls(e.to_string()),
        None => JoinError::Io(error),
    }
}

/// One attempt to connect to `addr`.
fn connect_once(addr: &str) -> std::io::Result<TcpStream> {
    let mut addrs = addr.to_socket_addrs()?;
    let first = addrs.next().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::NotFound, "the name has no address")
    })?;
    TcpStream::connect_timeout(&first, Duration::from_secs(10))
}

/// Writes a heartbeat every `interval` from a thread of its own, for the life of the
/// process (with any answers held back, so none waits longer than that); exits the
/// process when the connection is gone (the scheduler closed it or died: nobody
/// waits for the call that runs).
fn beat(output: &'static dyn Output, interval: Duration) -> Result<(), ServeError> {
    std::thread::Builder::new()
        .name("taskloom-heartbeat".into())
        .spawn(move || {
            loop {
                std::thread::sleep(interval);
                if output.write_frames(&HEARTBEAT).is_err() {
                    eprintln!(
                        "taskloom cluster worker {}: the scheduler's connection is gone; exiting",
                        std::process::id()
                    );
                    std::process::exit(0);
                }
            }
        })
        .map(drop)
        .map_err(ServeError::Setup)
}

/// Whether the worker runs a call, which, and whether it was told to retire: the
/// serve loop's [`Gate`], and what the walltime signal acts on.
#[derive(Default)]
struct Life {
    /// A `std` mutex: the signal thread and the serve loop hold it only to read or
    /// flip the flags (and, to tell the scheduler, to write one frame: under the
    /// lock, so that no call starts between the notice and what it says).
    state: Mutex<LifeState>,
    /// The connection, once joined.
    output: OnceLock<&'static dyn Output>,
}

#[derive(Default)]
struct LifeState {
    /// The call of the current batch that runs (or last ran), while in a batch.
    running: Option<u32>,
    retiring: bool,
}

impl Life {
    fn lock(&self) -> std::sync::MutexGuard<'_, LifeState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn joined(&self, output: &'static dyn Output) {
        let _ = self.output.set(output);
    }

    /// The walltime warning came: tell the scheduler at once which call still runs
    /// (the others go to other workers now), then exit if idle, or after that call
    /// (the serve loop sees the flag).
    fn retire(&self) {
        let pid = std::process::id();
        let mut state = self.lock();
        if state.retiring {
            return;
        }
        state.retiring = true;
        if let Some(output) = self.output.get() {
            let _ = output.write_frames(&serve::retiring_frame(state.running));
        }
        match state.running {
            None => {
                eprintln!("taskloom cluster worker {pid}: retired (walltime warning)");
                std::process::exit(0);
            }
            Some(call) => eprintln!(
                "taskloom cluster worker {pid}: retiring after call {call} (walltime warning)"
            ),
        }
    }
}

impl Gate for Life {
    fn next_call(&self, index: usize) -> bool {
        let mut state = self.lock();
        if state.retiring {
            return false;
        }
        state.running = Some(u32::try_from(index).unwrap_or(u32::MAX));
        true
    }

    fn end_batch(&self) -> bool {
        let mut state = self.lock();
        state.running = None;
        !state.retiring
    }
}

/// Retires the worker on `SIGUSR1`, from a thread of its own (a small Tokio runtime
/// that only waits for the signal). The handler is installed before this returns.
fn watch_walltime(life: Arc<Life>) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()?;
        let mut usr1 = {
            let _entered = runtime.enter();
            signal(SignalKind::user_defined1())?
        };
        std::thread::Builder::new()
            .name("taskloom-walltime".into())
            .spawn(move || {
                if runtime.block_on(usr1.recv()).is_some() {
                    life.retire();
                }
            })?;
    }
    #[cfg(not(unix))]
    let _ = life;
    Ok(())
}

/// This worker's node: [`NODE_ENV`], Slurm's `SLURMD_NODENAME`, or the host name.
fn node_name() -> String {
    for var in [NODE_ENV, "SLURMD_NODENAME"] {
        if let Ok(name) = std::env::var(var) {
            if !name.is_empty() {
                return name;
            }
        }
    }
    host_name()
}

/// The host name (`uname -n`).
pub(super) fn host_name() -> String {
    #[cfg(unix)]
    {
        rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned()
    }
    #[cfg(not(unix))]
    {
        std::env::var("COMPUTERNAME").unwrap_or_else(|_| "localhost".into())
    }
}

/// This worker's job: [`JOB_ENV`] (set by the local launcher, or by a Kubernetes
/// manifest from the pod's name) or Slurm's `SLURM_JOB_ID`.
fn job_id() -> String {
    for var in [JOB_ENV, "SLURM_JOB_ID"] {
        if let Ok(id) = std::env::var(var) {
            if !id.is_empty() {
                return id;
            }
        }
    }
    String::new()
}
