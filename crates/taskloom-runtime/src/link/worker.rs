//! Worker mode, as every executor with worker processes sees it: whether this process
//! is a worker (and whose), whether the program called `remote::init`, its
//! registry's fingerprint, where a serving worker's frames go, and the process pool's
//! worker itself, which serves over its stdin and stdout.
//!
//! A pool starts each worker as the program itself (like Python's `spawn` start
//! method) with [`WORKER_ENV`] set; a cluster's workers are started by whoever the
//! user chose (Slurm, Kubernetes, a shell) with [`CLUSTER_ADDR_ENV`] set.
//! `remote::init`, called at the top of `main`, reads [`role`] and serves; in the
//! parent it only records that the program calls it ([`record`]). A worker that
//! reaches code building a pool or a cluster (its `main` lacks `init`) gets an error
//! instead of starting workers of its own ([`is_worker`]): no chain of processes. The
//! pool's variable names the pool's process id, so a program that a task starts (and
//! that inherits the variable) is told apart from a worker: its parent is not the
//! pool.
//!
//! Both executors read this state, and `init` (a layer above both) dispatches on it,
//! which is why it lives here and not in either: the pool's worker is served here
//! ([`serve_pipes`]); the cluster's worker (connect, authenticate, heartbeats) is the
//! cluster's own.
//!
//! The pool's worker keeps its stdin and stdout for frames and points file
//! descriptors 0 and 1 at `/dev/null` and stderr, so a task that reads stdin or
//! prints with `println!` cannot corrupt the conversation. On Linux it also asks to
//! be killed when the pool's thread goes away, so even a parent killed by SIGKILL
//! leaves no worker behind.

use std::fs::File;
use std::path::Path;
use std::sync::OnceLock;

use super::held::Table;
use super::holding::Holding;
use super::peer::{self, PEER_DIR_ENV};
use super::protocol::{MAGIC, Reply, VERSION};
use super::serve::{self, Output, ServeError};
use crate::remote::Registry;

/// The environment variable that marks a process as a process pool's worker. Its
/// value is `<parent pid>:<worker index>`.
#[cfg_attr(
    not(feature = "process"),
    allow(unreachable_pub, reason = "public with the pool")
)]
pub const WORKER_ENV: &str = "TASKLOOM_PROCESS_WORKER";

/// The environment variable that makes a program calling
/// [`remote::init`](crate::remote::init) a cluster worker: the scheduler's address,
/// `host:port`.
#[cfg_attr(
    not(feature = "cluster"),
    allow(unreachable_pub, reason = "public with the cluster")
)]
pub const CLUSTER_ADDR_ENV: &str = "TASKLOOM_CLUSTER_ADDR";

/// The registry's fingerprint, recorded by `remote::init` (so, whether it ran): part
/// of the build id a cluster's scheduler and workers compare.
static FINGERPRINT: OnceLock<String> = OnceLock::new();

/// The worker's frame output (its original stdout, or its connection), once it
/// serves.
static PROTOCOL_OUT: OnceLock<&'static dyn Output> = OnceLock::new();

/// Records that the program called `remote::init` with `registry`.
pub(crate) fn record(registry: &Registry) {
    let _ = FINGERPRINT.set(registry.fingerprint());
}

/// Whether this process is a worker, of a process pool or of a cluster (then it must
/// not start a pool or a cluster of its own).
pub fn is_worker() -> bool {
    !matches!(role(), Role::Program)
}

/// What [`WORKER_ENV`] and [`CLUSTER_ADDR_ENV`] make of this process.
pub(crate) enum Role {
    /// Not a worker: no marker, or one inherited by a program that a worker's task
    /// started (the pool it names is alive, but is not our parent).
    Program,
    /// A worker of the pool whose process id is given (if the marker names one).
    Pool(Option<u32>),
    /// A worker whose pool is gone: it must exit, not run `main`.
    Orphan,
    /// A cluster's worker: it connects to the scheduler at [`CLUSTER_ADDR_ENV`].
    Cluster,
}

/// What this process is, by its environment.
pub(crate) fn role() -> Role {
    let Some(marker) = std::env::var_os(WORKER_ENV) else {
        return match std::env::var_os(CLUSTER_ADDR_ENV) {
            Some(addr) if !addr.is_empty() => Role::Cluster,
            _ => Role::Program,
        };
    };
    let pool = marker_pool(&marker.to_string_lossy());
    #[cfg(unix)]
    if let Some(pool) = pool {
        if pool != std::os::unix::process::parent_id() {
            return if process_alive(pool) {
                Role::Program
            } else {
                Role::Orphan
            };
        }
    }
    // A marker that names no pool is treated as a worker: it never starts a pool.
    Role::Pool(pool)
}

/// The pool's process id in a marker `<pool pid>:<worker index>`.
fn marker_pool(marker: &str) -> Option<u32> {
    marker.split(':').next()?.parse().ok()
}

#[cfg(unix)]
fn process_alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    match rustix::process::test_kill_process(pid) {
        Ok(()) => true,
        Err(e) => e == rustix::io::Errno::PERM, // alive, someone else's
    }
}

/// The fingerprint of the registry given to `remote::init`, if it was called (`None`:
/// the program never called it).
pub(crate) fn fingerprint() -> Option<&'static str> {
    FINGERPRINT.get().map(String::as_str)
}

/// Records where a serving worker's frames go (once per process), for
/// `__write_raw_to_pool` too.
pub(crate) fn protocol_out(output: &'static dyn Output) -> &'static dyn Output {
    *PROTOCOL_OUT.get_or_init(|| output)
}

/// Writes `bytes` to the pool (or the cluster's scheduler) as they are, bypassing the
/// framing: for tests of the executors' handling of a misbehaving worker (feature
/// `test-hooks`). Fails outside a serving worker.
#[cfg(feature = "test-hooks")]
pub fn __write_raw_to_pool(bytes: &[u8]) -> std::io::Result<()> {
    let Some(out) = PROTOCOL_OUT.get() else {
        return Err(std::io::Error::other("not a serving taskloom worker"));
    };
    out.write_frames(bytes)
}

/// Serves as a process pool's worker (of the pool `pool`, if the marker names it):
/// the process's exit status.
pub(crate) fn serve_pipes(registry: &Registry, pool: Option<u32>) -> i32 {
    match serve_pool(registry, pool) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("taskloom worker {}: {e}", std::process::id());
            70 // EX_SOFTWARE
        }
    }
}

/// The worker's life: set up the pipes, listen for the other workers (if the pool
/// asks), say hello, answer batches until EOF.
fn serve_pool(registry: &Registry, pool: Option<u32>) -> Result<(), ServeError> {
    die_with_parent(pool);
    let (mut input, output) = protocol_pipes()?;
    let output = protocol_out(Holding::flushed(output)?);
    let table = Table::default();
    // Without its socket, the worker still serves: values move through the pool.
    let peer = std::env::var_os(PEER_DIR_ENV).is_some_and(|dir| {
        peer::listen(Path::new(&dir), &table)
            .map_err(|e| {
                eprintln!(
                    "taskloom worker {}: cannot serve the other workers ({e}); values \
                     move through the pool instead",
                    std::process::id()
                );
            })
            .is_ok()
    });
    let hello = Reply::Hello {
        magic: MAGIC,
        version: VERSION,
        pid: std::process::id(),
        peer,
    };
    output
        .write_frames(&serve::encode(&hello)?)
        .map_err(ServeError::Io)?;
    serve::serve_table(registry, &mut input, output, &serve::Always, &table)?;
    Ok(())
}

/// Takes stdin and stdout for frames, and gives the program `/dev/null` and stderr in
/// their place.
#[cfg(unix)]
fn protocol_pipes() -> Result<(File, File), ServeError> {
    use std::os::fd::AsFd;
    let input = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map_err(ServeError::Setup)?;
    let output = std::io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .map_err(ServeError::Setup)?;
    let null = File::open("/dev/null").map_err(ServeError::Setup)?;
    rustix::stdio::dup2_stdin(&null).map_err(|e| ServeError::Setup(e.into()))?;
    rustix::stdio::dup2_stdout(std::io::stderr().as_fd())
        .map_err(|e| ServeError::Setup(e.into()))?;
    Ok((File::from(input), File::from(output)))
}

/// Elsewhere the standard streams are the frames' pipes as they are.
#[cfg(not(unix))]
fn protocol_pipes() -> Result<(File, File), ServeError> {
    Err(ServeError::Setup(std::io::Error::other(
        "process pool workers need a Unix system",
    )))
}

/// Asks the kernel to kill this worker when the thread that started it ends, and
/// exits at once if the pool is already gone (Linux; elsewhere a worker ends when its
/// stdin closes).
fn die_with_parent(pool: Option<u32>) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL)).is_ok()
        && pool.is_some_and(|p| p != std::os::unix::process::parent_id())
    {
        std::process::exit(70);
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = pool;
}

#[cfg(test)]
mod tests {
    use super::marker_pool;

    #[test]
    fn markers_name_the_pool() {
        assert_eq!(marker_pool("4242:1"), Some(4242));
        assert_eq!(marker_pool("4242"), Some(4242));
        assert_eq!(marker_pool("not a pid:1"), None);
        assert_eq!(marker_pool(""), None);
    }
}
