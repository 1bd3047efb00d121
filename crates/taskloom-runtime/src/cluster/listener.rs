//! The scheduler's door: accept connections, run each one's handshake in a task of
//! its own under a time limit, and let in only the workers that pass.
//!
//! Nothing a peer does before its welcome reaches the scheduling loop or delays
//! another peer: each handshake runs on its own, bounded by the handshake timeout;
//! at most `MAX_HANDSHAKES` run at once (a flood of idle connections is refused at
//! the door instead of holding file descriptors); a refused peer is recorded with
//! what it did ([`Refusal`](super::Refusal)) and its connection closed. A worker that
//! passes gets a number and becomes a member (`member`), in the same task.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use super::conn::TcpConn;
use super::handshake;
use super::member;
use super::shared::Shared;

/// Handshakes in progress at most.
pub(super) const MAX_HANDSHAKES: usize = 64;

/// How long the listener rests after `accept` fails (out of file descriptors): the
/// error is not the peer's, and retrying at once would spin.
const ACCEPT_REST: Duration = Duration::from_millis(100);

/// Accepts connections until the cluster shuts down, then waits for every member to
/// close its connection.
pub(super) async fn listen(shared: Arc<Shared>, listener: TcpListener) {
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    let mut peers = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            biased;
            () = shared.shutdown.cancelled() => break,
            Some(_) = peers.join_next(), if !peers.is_empty() => continue,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => match Arc::clone(&handshakes).try_acquire_owned() {
                Ok(permit) => {
                    peers.spawn(greet(Arc::clone(&shared), stream, peer, permit));
                }
                Err(_) => {
                    drop(stream);
                    shared.refused(
                        peer,
                        format!("was turned away: {MAX_HANDSHAKES} handshakes were in progress"),
                    );
                }
            },
            Err(error) => {
                tracing::warn!(%error, "taskloom cluster could not accept a connection");
                tokio::time::sleep(ACCEPT_REST).await;
            }
        }
    }
    drop(listener);
    while peers.join_next().await.is_some() {}
}

/// One connection: its handshake, then, if it passed, its life as a member.
async fn greet(
    shared: Arc<Shared>,
    mut stream: TcpStream,
    peer: SocketAddr,
    permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let config = &shared.config;
    let limit = config.settings.handshake_timeout;
    let accepted = tokio::select! {
        biased;
        () = shared.shutdown.cancelled() => return,
        accepted = tokio::time::timeout(
            limit,
            handshake::accept(&mut stream, &config.secret, &config.build),
        ) => accepted,
    };
    let greeted = match accepted {
        Err(_) => {
            let reason = format!(
                "did not finish the handshake within {:.1} s",
                limit.as_secs_f64()
            );
            return shared.refused(peer, reason);
        }
        Ok(Err(reason)) => return shared.refused(peer, reason),
        Ok(Ok(greeted)) => greeted,
    };
    let admitted = shared.admit(&greeted.identity, peer);
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
    drop(permit);
    let conn = TcpConn::new(
        stream,
        config.settings.max_frame_length,
        config.heartbeat_timeout,
    );
    member::run(shared, admitted, conn).await;
}
