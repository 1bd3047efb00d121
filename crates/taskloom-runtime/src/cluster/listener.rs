//! The scheduler's door: accept every connection, run each one's handshake (TLS
//! first, when the worker speaks it) in a task of its own under time limits, and let
//! in only the workers that pass.
//!
//! Nothing a peer does before its welcome reaches the scheduling loop or delays
//! another peer, and no peer, however many connections it opens, keeps a real worker
//! out:
//!
//! - **Every connection is accepted at once**, never left in the kernel's queue:
//!   a full accept queue drops the SYNs of real workers too, whose connects then
//!   wait a second or more to try again.
//! - **The oldest, least advanced handshake makes room** (`pending`): at most
//!   `capacity()` handshakes run at once; a newcomer beyond that evicts the one
//!   that made the least progress for the longest, never a worker that already
//!   spoke. Refusing the newest instead (the former rule) let 64 silent connections
//!   keep every worker out.
//! - **A short deadline for the first message** ([`FIRST_MESSAGE`]): a real worker
//!   sends its hello (or TLS's) as soon as it connects; a peer that sent none by then
//!   is closed, so below the limit idle connections hold a slot for seconds, not
//!   for the whole handshake timeout.
//! - **The whole handshake** is bounded by the handshake timeout.
//! - **Refusals are counted, and logged per kind and interval** (`refusals`),
//!   never one line per connection.
//!
//! A worker that passes gets a number and becomes a member (`member`), in the same
//! task.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinSet};
use tokio_rustls::LazyConfigAcceptor;

use super::conn::TcpConn;
use super::handshake::{self, Greeted, Refused};
use super::member;
use super::pending::{Pending, Stage};
use super::refusals::LOG_INTERVAL;
use super::shared::{Door, Shared};
use super::status::RefusalKind;
use super::stream::Stream;
use super::tls::Binding;

/// Handshakes in progress at most (fewer when the process may open few files: a
/// quarter of its limit). A newcomer beyond them evicts the handshake that made the
/// least progress for the longest; the larger the table, the less a flood churns
/// (a flood smaller than it is only closed by the first-message deadline).
pub const MAX_HANDSHAKES: usize = 1024;

/// How long a new connection has to send its first message whole: a taskloom
/// hello, or TLS's client hello.
pub(super) const FIRST_MESSAGE: Duration = Duration::from_secs(2);

/// How long the listener rests after `accept` fails (out of file descriptors): the
/// error is not the peer's, and retrying at once would spin.
const ACCEPT_REST: Duration = Duration::from_millis(100);

/// Connections the kernel may hold for the listener (capped by the system's
/// `somaxconn`): the queue a flood fills before the listener takes its connections,
/// where a real worker's must not be dropped (its next try would wait a second).
const BACKLOG: i32 = 4096;

/// Binds the scheduler's listening socket, with a long accept queue ([`BACKLOG`];
/// the standard library's is 128).
pub(super) fn bind(addr: std::net::SocketAddr) -> std::io::Result<std::net::TcpListener> {
    #[cfg(unix)]
    {
        use rustix::net::{AddressFamily, SocketFlags, SocketType};
        let family = if addr.is_ipv4() {
            AddressFamily::INET
        } else {
            AddressFamily::INET6
        };
        let socket =
            rustix::net::socket_with(family, SocketType::STREAM, SocketFlags::CLOEXEC, None)?;
        rustix::net::sockopt::set_socket_reuseaddr(&socket, true)?;
        rustix::net::bind(&socket, &addr)?;
        rustix::net::listen(&socket, BACKLOG)?;
        Ok(std::net::TcpListener::from(socket))
    }
    #[cfg(not(unix))]
    std::net::TcpListener::bind(addr)
}

/// TLS's record type of a handshake message: the first byte of a client hello. A
/// taskloom hello starts with its length's high byte, 0 (it is at most 1 KiB).
const TLS_HANDSHAKE: u8 = 22;

/// The handshakes in progress, shared by the listener and the handshakes' tasks.
type Table = Arc<Mutex<Pending<AbortHandle>>>;

fn lock(table: &Table) -> std::sync::MutexGuard<'_, Pending<AbortHandle>> {
    table.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How many handshakes may run at once: [`MAX_HANDSHAKES`], or a quarter of the
/// process's file limit if that is less (the flood's connections are files too).
pub(super) fn capacity() -> usize {
    #[cfg(unix)]
    {
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
        if let Some(limit) = limit.and_then(|l| usize::try_from(l).ok()) {
            return MAX_HANDSHAKES.min((limit / 4).max(16));
        }
    }
    MAX_HANDSHAKES
}

/// Accepts connections until the cluster shuts down, then waits for every member to
/// close its connection.
pub(super) async fn listen(shared: Arc<Shared>, listener: TcpListener) {
    let table: Table = Arc::new(Mutex::new(Pending::new(capacity())));
    let mut peers = JoinSet::new();
    let mut next_id: u64 = 0;
    let mut flush = tokio::time::interval(LOG_INTERVAL);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let accepted = tokio::select! {
            biased;
            () = shared.shutdown.cancelled() => break,
            Some(_) = peers.join_next(), if !peers.is_empty() => continue,
            _ = flush.tick() => {
                shared.flush_refusals();
                continue;
            }
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let id = next_id;
                next_id += 1;
                let task = greet(Arc::clone(&shared), Arc::clone(&table), id, stream, peer);
                let handle = peers.spawn(task);
                let evicted = lock(&table).enter(id, peer, handle);
                if let Some(out) = evicted {
                    out.handle.abort();
                    let reason = format!(
                        "was closed to make room: {} handshakes were in progress and it had \
                         made the least progress ({}) for the longest",
                        lock(&table).capacity(),
                        describe(out.stage),
                    );
                    shared.refused(out.peer, RefusalKind::Evicted, reason);
                }
                // The members share this thread: one connection, then their turn, so
                // a flood of connections slows the door, not the computations.
                tokio::task::yield_now().await;
            }
            Err(error) => {
                tracing::warn!(%error, "taskloom cluster could not accept a connection");
                tokio::time::sleep(ACCEPT_REST).await;
            }
        }
    }
    drop(listener);
    while peers.join_next().await.is_some() {}
}

/// How far a handshake got, in words.
fn describe(stage: Stage) -> &'static str {
    match stage {
        Stage::Connected => "nothing sent",
        Stage::Spoke => "a TLS hello sent",
        Stage::Secured => "a hello sent",
        Stage::Proved => "a proof sent",
    }
}

/// Takes handshake `id` out of the table when its task ends, however it ends
/// (passed, refused, or aborted by an eviction).
struct Leave {
    table: Table,
    id: u64,
}

impl Drop for Leave {
    fn drop(&mut self) {
        lock(&self.table).leave(self.id);
    }
}

/// One connection: its handshake, then, if it passed, its life as a member.
async fn greet(shared: Arc<Shared>, table: Table, id: u64, stream: TcpStream, peer: SocketAddr) {
    let accepted = Instant::now();
    let leave = Leave {
        table: Arc::clone(&table),
        id,
    };
    let _ = stream.set_nodelay(true);
    let config = &shared.config;
    let limit = config.settings.handshake_timeout;
    let advance = |stage| lock(&table).advance(id, stage);
    let done = tokio::select! {
        biased;
        () = shared.shutdown.cancelled() => return,
        done = tokio::time::timeout(limit, handshake(&shared, stream, advance)) => done,
    };
    let (greeted, mut stream, tls) = match done {
        Err(_) => {
            let reason = format!(
                "did not finish the handshake within {:.1} s",
                limit.as_secs_f64()
            );
            return shared.refused(peer, RefusalKind::TimedOut, reason);
        }
        Ok(Err(Failed { refused, stream })) => {
            let hold = matches!(refused.kind, RefusalKind::Garbage | RefusalKind::Transport);
            shared.refused(peer, refused.kind, refused.reason);
            if let (true, Some(stream)) = (hold, stream) {
                // Held, unread, until the first-message deadline (evictable like any
                // handshake): closed at once, a flood of garbage comes back at once,
                // as fast as its machine can, and the door churns.
                let until = tokio::time::Instant::from_std(accepted + FIRST_MESSAGE);
                tokio::select! {
                    () = shared.shutdown.cancelled() => {}
                    () = tokio::time::sleep_until(until) => {}
                }
                drop(stream);
            }
            return;
        }
        Ok(Ok(passed)) => passed,
    };
    let door = Door {
        took: accepted.elapsed(),
        tls,
    };
    let admitted = shared.admit(&greeted.identity, peer, door);
    if let Err(error) =
        handshake::welcome(&mut stream, admitted.index, config.heartbeat_interval).await
    {
        let index = admitted.index;
        shared.left(
            index,
            super::shared::Left::Lost {
                reason: format!("closed its connection before its welcome ({error})"),
                busy: false,
            },
        );
        return;
    }
    drop(leave);
    let conn = TcpConn::new(
        stream,
        config.settings.max_frame_length,
        config.heartbeat_timeout,
    );
    member::run(shared, admitted, conn).await;
}

/// A refused handshake, with its connection when it is still at hand (plain TCP).
struct Failed {
    refused: Refused,
    stream: Option<Stream>,
}

impl From<Refused> for Failed {
    fn from(refused: Refused) -> Self {
        Failed {
            refused,
            stream: None,
        }
    }
}

/// The handshake on a new connection, TLS first if the peer speaks it: the worker,
/// its stream, and whether it is TLS.
async fn handshake(
    shared: &Shared,
    stream: TcpStream,
    advance: impl Fn(Stage),
) -> Result<(Greeted, Stream, bool), Failed> {
    let config = &shared.config;
    let first_by = tokio::time::Instant::now() + FIRST_MESSAGE;
    let silent = || {
        Refused::new(
            RefusalKind::TimedOut,
            format!(
                "sent no hello within {:.1} s of connecting",
                FIRST_MESSAGE.as_secs_f64()
            ),
        )
    };
    let mut first = [0_u8; 1];
    match tokio::time::timeout_at(first_by, stream.peek(&mut first)).await {
        Err(_) => return Err(silent().into()),
        Ok(Ok(0)) => {
            return Err(Refused::new(
                RefusalKind::Closed,
                "closed the connection before the handshake",
            )
            .into());
        }
        Ok(Err(e)) => {
            return Err(Refused::new(
                RefusalKind::Closed,
                format!("broke the connection before the handshake ({e})"),
            )
            .into());
        }
        Ok(Ok(_)) => {}
    }
    if first[0] == TLS_HANDSHAKE {
        let acceptor = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream);
        let start = match tokio::time::timeout_at(first_by, acceptor).await {
            Err(_) => return Err(silent().into()),
            Ok(Err(e)) => return Err(tls_refusal(&e).into()),
            Ok(Ok(start)) => start,
        };
        advance(Stage::Spoke);
        let tls = start
            .into_stream(Arc::clone(&config.tls.config))
            .await
            .map_err(|e| tls_refusal(&e))?;
        advance(Stage::Secured);
        let binding = Binding::of(tls.get_ref().1)
            .map_err(|reason| Refused::new(RefusalKind::Garbage, reason))?;
        let mut stream = Stream::Tls(Box::new(tls));
        let hello = handshake::read_hello(&mut stream).await?;
        let greeted = handshake::accept_hello(
            &mut stream,
            &hello,
            &config.secret,
            &config.build,
            &binding,
            &advance,
        )
        .await?;
        return Ok((greeted, stream, true));
    }
    let mut stream = Stream::Plain(stream);
    match plain(shared, &mut stream, first_by, &advance).await {
        Ok(greeted) => Ok((greeted, stream, false)),
        Err(refused) => Err(Failed {
            refused,
            stream: Some(stream),
        }),
    }
}

/// The handshake over plain TCP (refused where TLS is required).
async fn plain(
    shared: &Shared,
    stream: &mut Stream,
    first_by: tokio::time::Instant,
    advance: &impl Fn(Stage),
) -> Result<Greeted, Refused> {
    let config = &shared.config;
    if config.require_tls {
        handshake::refuse(
            stream,
            "this cluster requires TLS and the worker spoke plain TCP: give the worker the \
             cluster's secret file as it is (its second line names the scheduler's \
             certificate), or its secret alone",
        )
        .await;
        return Err(Refused::new(
            RefusalKind::Transport,
            "spoke plain TCP to a cluster that requires TLS",
        ));
    }
    let hello = match tokio::time::timeout_at(first_by, handshake::read_hello(stream)).await {
        Err(_) => {
            return Err(Refused::new(
                RefusalKind::TimedOut,
                format!(
                    "sent no hello within {:.1} s of connecting",
                    FIRST_MESSAGE.as_secs_f64()
                ),
            ));
        }
        Ok(hello) => hello?,
    };
    advance(Stage::Spoke);
    handshake::accept_hello(
        stream,
        &hello,
        &config.secret,
        &config.build,
        &Binding::Plain,
        advance,
    )
    .await
}

/// What a failed TLS handshake says about the peer.
fn tls_refusal(error: &std::io::Error) -> Refused {
    let tls = error
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>());
    match tls {
        Some(rustls::Error::AlertReceived(alert)) => Refused::new(
            RefusalKind::Unauthenticated,
            format!("refused the scheduler's certificate during the TLS handshake ({alert:?})"),
        ),
        Some(e) => Refused::new(
            RefusalKind::Garbage,
            format!("broke the TLS handshake ({e})"),
        ),
        None if error.kind() == std::io::ErrorKind::UnexpectedEof => Refused::new(
            RefusalKind::Closed,
            "closed the connection during the TLS handshake",
        ),
        None => Refused::new(
            RefusalKind::Closed,
            format!("broke the connection during the TLS handshake ({error})"),
        ),
    }
}
