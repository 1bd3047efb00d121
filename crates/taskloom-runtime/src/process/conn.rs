//! One worker process and its pipes: started in a process group of its own, greeted,
//! watched for its end whether idle or busy, and killed together with every process
//! it started.
//!
//! A worker leads its own process group (`process_group(0)`), so what a task starts
//! (a `sleep`, a compiler, a shell pipeline) is in that group, and every kill is a
//! `killpg(SIGKILL)`: nothing a task started outlives its worker. The group is killed
//! before the worker is reaped: until then the worker's pid (a zombie if it already
//! died) still names the group, so the signal cannot reach a process that was given
//! a recycled pid.
//!
//! A worker's end shows on its stdout pipe first (the kernel closes a process's files
//! as it exits, and only the worker holds that pipe: the worker keeps it in a
//! close-on-exec descriptor), and on `wait` when the pipe does not close (a process
//! the worker forked without exec holds it). Both are watched.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};
use tokio_util::sync::CancellationToken;

use super::StartError;
use super::shared::Config;
use crate::link::exit::describe;
use crate::link::peer::{PEER_DIR_ENV, socket_path};
use crate::link::protocol::{self, MAGIC, Reply, VERSION, shorten};
use crate::link::worker::WORKER_ENV;
use crate::link::{End, Transport};
use crate::remote::format;

/// How long a worker that closed its stdin has to exit before it is killed, when
/// the pool stops it.
const STOP_GRACE: Duration = Duration::from_millis(100);

/// How long the answers a dead worker left in its pipe are read for, when the pipe
/// is held open by a process the worker forked.
const DRAIN: Duration = Duration::from_secs(1);

/// A running worker process and its pipes.
pub(super) struct Conn {
    /// First field: dropped (the group killed) before `child`.
    group: Group,
    child: Child,
    pub(super) pid: u32,
    reader: FramedRead<ChildStdout, LengthDelimitedCodec>,
    writer: FramedWrite<ChildStdin, LengthDelimitedCodec>,
    /// How the child ended, once it was reaped while being watched.
    status: Option<std::io::Result<ExitStatus>>,
    /// The socket it serves the other workers on, if it does (removed when it is
    /// stopped or killed).
    pub(super) peer: Option<Arc<str>>,
}

/// Why no worker was started.
#[derive(Debug)]
pub(super) enum StartFailure {
    /// The program did not become a worker.
    Error(StartError),
    /// The pool shut down meanwhile (the child was killed).
    Shutdown,
}

impl Conn {
    /// Starts worker `index` and waits for its hello, or for `shutdown`. With
    /// `peers` (the pool's socket directory) the worker serves the other workers
    /// there.
    pub(super) async fn start(
        config: &Config,
        index: usize,
        peers: Option<&Path>,
        shutdown: &CancellationToken,
    ) -> Result<Conn, StartFailure> {
        let program = config.program.clone();
        let mut command = Command::new(&config.program);
        if let Some(dir) = peers {
            command.env(PEER_DIR_ENV, dir);
        }
        command
            .args(&config.settings.args)
            .env(WORKER_ENV, format!("{}:{index}", std::process::id()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        #[cfg(unix)]
        command.process_group(0);
        let mut child = command.spawn().map_err(|error| {
            StartError::Spawn {
                program: program.clone(),
                error,
            }
            .into_failure()
        })?;
        let (Some(stdin), Some(stdout), Some(pid)) =
            (child.stdin.take(), child.stdout.take(), child.id())
        else {
            let status = describe_wait(child.wait().await);
            return Err(StartError::Exited { program, status }.into_failure());
        };
        // A hello is tiny: a program that is not a worker is caught by its first bytes.
        let mut conn = Conn {
            group: Group::new(pid),
            child,
            pid,
            reader: FramedRead::new(stdout, protocol::codec(protocol::MAX_HELLO)),
            writer: FramedWrite::new(stdin, protocol::codec(config.settings.max_frame_length)),
            status: None,
            peer: None,
        };
        let first = tokio::select! {
            biased;
            () = shutdown.cancelled() => {
                conn.kill().await;
                return Err(StartFailure::Shutdown);
            }
            first = tokio::time::timeout(config.settings.handshake_timeout, conn.reader.next()) => first,
        };
        let failure = match first {
            Err(_) => Some(StartError::Timeout {
                program: program.clone(),
                timeout: config.settings.handshake_timeout,
            }),
            Ok(None) => Some(StartError::Exited {
                program: program.clone(),
                status: String::new(), // filled in below, once reaped
            }),
            Ok(Some(Err(_))) => Some(StartError::NotAWorker {
                program: program.clone(),
                what: shorten(conn.reader.read_buffer()),
            }),
            Ok(Some(Ok(frame))) => match format::decode_borrowed::<Reply<'_>>(&frame) {
                Ok(Reply::Hello {
                    magic: MAGIC,
                    version: VERSION,
                    peer,
                    ..
                }) => {
                    conn.peer = peers
                        .filter(|_| peer)
                        .and_then(|dir| socket_path(dir, pid).to_str().map(Arc::from));
                    None
                }
                _ => Some(StartError::NotAWorker {
                    program: program.clone(),
                    what: shorten(&frame),
                }),
            },
        };
        if let Some(mut error) = failure {
            let ended = conn.kill().await;
            if let StartError::Exited { status, .. } = &mut error {
                *status = ended;
            }
            return Err(error.into_failure());
        }
        conn.reader
            .decoder_mut()
            .set_max_frame_length(config.settings.max_frame_length);
        tracing::debug!(index, pid, "taskloom worker started");
        Ok(conn)
    }

    /// Waits, while the worker is idle, until it is lost: it ended, or wrote
    /// something nobody asked for. Cancel-safe.
    pub(super) async fn ended(&mut self) -> End {
        if self.status.is_some() {
            return End::Closed;
        }
        tokio::select! {
            biased;
            frame = self.reader.next() => match frame {
                None => End::Closed,
                Some(Ok(frame)) => End::Misbehaved(format!("wrote {} while idle", shorten(&frame))),
                Some(Err(e)) => End::malformed(&e),
            },
            status = self.child.wait() => {
                self.reaped(status);
                End::Closed
            }
        }
    }

    /// Kills the worker and its group, reaps it, and says how it ended ("was killed
    /// by signal 9 (SIGKILL)", "exited with status 3"). A worker that already ended
    /// keeps its own status: a signal cannot change how a process that is exiting
    /// ends.
    pub(super) async fn kill(mut self) -> String {
        self.group.kill();
        self.forget_socket();
        let status = match self.status.take() {
            Some(status) => status,
            None => {
                // The worker itself too, should the group be gone already.
                let _ = self.child.start_kill();
                self.child.wait().await
            }
        };
        self.group.disarm();
        describe_wait(status)
    }

    /// Stops an idle worker: closes its stdin (it exits at end of file), gives it a
    /// moment to do so, then kills its group and reaps it.
    pub(super) async fn stop(self) {
        self.forget_socket();
        let Conn {
            mut group,
            mut child,
            mut reader,
            writer,
            status,
            ..
        } = self;
        drop(writer);
        if status.is_none() {
            let _ =
                tokio::time::timeout(STOP_GRACE, async { while reader.next().await.is_some() {} })
                    .await;
        }
        group.kill();
        if status.is_none() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
        group.disarm();
    }

    /// Removes the socket the worker served the others on (it serves no more).
    fn forget_socket(&self) {
        if let Some(peer) = &self.peer {
            let _ = std::fs::remove_file(&**peer);
        }
    }

    /// The child was reaped while being watched: kill what is left of its group at
    /// once (processes it started keep the group's id reserved while they live).
    fn reaped(&mut self, status: std::io::Result<ExitStatus>) {
        self.group.kill();
        self.group.disarm();
        self.status = Some(status);
    }
}

impl Transport for Conn {
    /// Cancel-safe in the sense that matters: a frame half sent is never resumed (the
    /// slot kills the worker).
    async fn send(&mut self, frame: Bytes) -> Result<(), End> {
        if self.status.is_some() {
            return Err(End::Closed);
        }
        tokio::select! {
            biased;
            sent = self.writer.send(frame) => sent.map_err(|_| End::Closed),
            status = self.child.wait() => {
                self.reaped(status);
                Err(End::Closed)
            }
        }
    }

    /// After the worker ended, the answers it wrote before dying are still read.
    async fn next_frame(&mut self) -> Result<BytesMut, End> {
        let frame = if self.status.is_none() {
            tokio::select! {
                biased;
                frame = self.reader.next() => frame,
                status = self.child.wait() => {
                    self.reaped(status);
                    // Dead: what it wrote before dying is still in the pipe, then end
                    // of file (unless a process it forked holds the pipe open: given
                    // up after a while).
                    tokio::time::timeout(DRAIN, self.reader.next()).await.unwrap_or(None)
                }
            }
        } else {
            tokio::time::timeout(DRAIN, self.reader.next())
                .await
                .unwrap_or(None)
        };
        match frame {
            Some(Ok(frame)) => Ok(frame),
            Some(Err(e)) => Err(End::malformed(&e)),
            None => Err(End::Closed),
        }
    }

    fn ready_frame(&mut self) -> Option<Result<BytesMut, End>> {
        futures::FutureExt::now_or_never(self.reader.next()).map(|frame| match frame {
            Some(Ok(frame)) => Ok(frame),
            Some(Err(e)) => Err(End::malformed(&e)),
            None => Err(End::Closed),
        })
    }

    /// Bytes the pool wrote still in the worker's stdin pipe, unread: the worker never
    /// read the whole frame, and none of its calls started.
    fn unread(&self) -> bool {
        #[cfg(unix)]
        {
            rustix::io::ioctl_fionread(self.writer.get_ref()).is_ok_and(|n| n > 0)
        }
        #[cfg(not(unix))]
        {
            false
        }
    }
}

impl StartError {
    fn into_failure(self) -> StartFailure {
        StartFailure::Error(self)
    }
}

/// A worker's process group, killed when dropped unless disarmed (once its leader
/// was reaped, the id may be recycled: it is never signalled again).
struct Group {
    #[cfg(unix)]
    pgid: Option<rustix::process::Pid>,
}

impl Group {
    fn new(pid: u32) -> Self {
        #[cfg(not(unix))]
        let _ = pid;
        Group {
            #[cfg(unix)]
            pgid: i32::try_from(pid)
                .ok()
                .and_then(rustix::process::Pid::from_raw),
        }
    }

    /// SIGKILL to every process of the group (the worker itself included).
    fn kill(&self) {
        #[cfg(unix)]
        if let Some(pgid) = self.pgid {
            let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
        }
    }

    fn disarm(&mut self) {
        #[cfg(unix)]
        {
            self.pgid = None;
        }
    }
}

impl Drop for Group {
    /// A connection dropped without [`Conn::kill`] or [`Conn::stop`] (a panic that
    /// unwound through its slot) still leaves no process behind; `Child`'s
    /// `kill_on_drop` and Tokio's orphan queue reap the worker.
    fn drop(&mut self) {
        self.kill();
    }
}

/// A wait's result, as a verb phrase.
fn describe_wait(status: std::io::Result<ExitStatus>) -> String {
    match status {
        Ok(status) => describe(status),
        Err(e) => format!("ended (its status is unknown: {e})"),
    }
}
