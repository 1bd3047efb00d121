//! The handshake every cluster connection goes through before any task data flows:
//! both sides prove they know the cluster's secret, and agree on the build.
//!
//! ```text
//! worker                                              scheduler
//!   Hello { magic, version, nonce_w, build, node, job, pid }  ->
//!                      <-  Challenge { nonce_s, build, proof_s }
//!   (checks proof_s; refuses an impostor or another build)
//!   Proof { proof_w }                                         ->
//!                      (checks proof_w, then the build)
//!                      <-  Welcome { index, heartbeat_ms }  or  Refused { reason }
//! ```
//!
//! - `proof_s = HMAC-SHA256(secret, "taskloom-cluster-2 scheduler" ‖ hello ‖ build_s ‖
//!   binding ‖ nonce_s)` (the first three with their lengths) and `proof_w` the same
//!   with `worker`: each side's proof
//!   covers the whole transcript (the worker's hello as sent, so its claimed node and
//!   job are bound to it; both nonces, so neither proof can be replayed on another
//!   connection; the scheduler's build), and the two labels keep a proof of one side
//!   from serving as the other's. Both are checked with `hmac`'s `verify_slice`, in
//!   constant time.
//! - `binding` is what the connection is ([`Binding`]): over TLS, keying material
//!   exported from the session, so a proof made on one TLS session does not verify
//!   on another and nobody without the secret can relay the handshake between two
//!   sessions of their own; over plain TCP, the word `plain`, so a proof made for a
//!   plain connection never passes on a TLS one.
//! - The worker answers the challenge only after checking the scheduler's proof, so
//!   a program that merely listens on the scheduler's address learns no proof of the
//!   worker's, and a worker never runs calls for a scheduler that is not its own.
//! - A build is taskloom's version, this protocol's version and the fingerprint of the
//!   program's function registry ([`Registry::fingerprint`](crate::remote::Registry::fingerprint)):
//!   a worker of another build is refused, and both sides say why.
//! - Frames are read by hand here (a 4-byte big-endian length, then the body, as the
//!   rest of the protocol): a length above [`MAX_HANDSHAKE_FRAME`] is refused before
//!   anything is read or allocated, and the refusal says what the peer announced.
//!   The scheduler bounds the whole handshake in time (its caller's timeout); the
//!   worker bounds each read.

use std::io::{Read, Write};

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::pending::Stage;
use super::secret::Secret;
use super::status::RefusalKind;
use super::tls::Binding;
use crate::link::protocol::{MAGIC, VERSION, shorten};
use crate::remote::format;

/// Longest frame of the handshake: a hello is a few hundred bytes at most (node and
/// job names are cut to [`MAX_NAME`]).
pub(super) const MAX_HANDSHAKE_FRAME: usize = 1024;

/// How a refusal for another build starts, on either side.
const OTHER_BUILD: &str = "this worker's build";

/// Longest node or job name a worker sends.
pub(super) const MAX_NAME: usize = 200;

/// Bytes of a nonce and of a proof.
const NONCE: usize = 32;

/// One message of the handshake. `Refused` comes first and `Hello` starts with the
/// magic and version, so that builds with other versions of this enum still read
/// each other's refusals and tell a version mismatch apart from garbage.
#[derive(Debug, Serialize, Deserialize)]
enum Message<'a> {
    /// Either side: the handshake is over, and why.
    Refused {
        #[serde(borrow)]
        reason: &'a str,
    },
    /// Worker, first.
    Hello {
        magic: u64,
        version: u32,
        nonce: [u8; NONCE],
        #[serde(borrow)]
        build: &'a str,
        #[serde(borrow)]
        node: &'a str,
        #[serde(borrow)]
        job: &'a str,
        pid: u32,
    },
    /// Scheduler: its proof and its challenge.
    Challenge {
        nonce: [u8; NONCE],
        #[serde(borrow)]
        build: &'a str,
        proof: [u8; NONCE],
    },
    /// Worker: its proof.
    Proof { proof: [u8; NONCE] },
    /// Scheduler: the worker is in; its number and how often to send heartbeats.
    Welcome { index: u32, heartbeat_ms: u64 },
}

/// Who a worker says it is (bound to its proof).
#[derive(Debug, Clone)]
pub(super) struct Identity {
    pub(super) node: String,
    pub(super) job: String,
    pub(super) pid: u32,
}

/// The build this program speaks: taskloom's version, the protocol's, and its
/// registry's fingerprint.
pub(super) fn build_id(fingerprint: &str) -> String {
    format!(
        "taskloom {} protocol {VERSION} functions {fingerprint}",
        env!("CARGO_PKG_VERSION")
    )
}

/// What a proof covers, besides the secret it is keyed with.
struct Transcript<'a> {
    hello: &'a [u8],
    nonce_s: &'a [u8; NONCE],
    build: &'a str,
    binding: &'a Binding,
}

fn proof(secret: &Secret, side: &str, t: &Transcript<'_>) -> Mac256 {
    // `new_from_slice` takes keys of any length: a 32-byte key cannot fail.
    let mut mac = <Mac256 as Mac>::new_from_slice(secret.key())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(b"taskloom-cluster-2 ");
    mac.update(side.as_bytes());
    for part in [t.hello, t.build.as_bytes(), t.binding.bytes()] {
        mac.update(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
        mac.update(part);
    }
    mac.update(t.nonce_s);
    mac
}

type Mac256 = Hmac<Sha256>;

fn nonce() -> std::io::Result<[u8; NONCE]> {
    let mut nonce = [0_u8; NONCE];
    getrandom::fill(&mut nonce).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(nonce)
}

fn encode(message: &Message<'_>) -> Vec<u8> {
    let mut body = Vec::with_capacity(128);
    // A `Vec` output cannot fail; an empty body would be refused by the peer.
    let _ = format::encode_into(message, &mut body);
    let mut frame = Vec::with_capacity(body.len() + 4);
    frame.extend_from_slice(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_be_bytes());
    frame.extend_from_slice(&body);
    frame
}

// ---------------------------------------------------------------------------------
// The scheduler's side.

/// A worker that passed the handshake, before its welcome.
#[derive(Debug)]
pub(super) struct Greeted {
    pub(super) identity: Identity,
}

/// Why the scheduler refused a peer: the kind, and what the peer did as a verb
/// phrase about it.
#[derive(Debug)]
pub(super) struct Refused {
    pub(super) kind: RefusalKind,
    pub(super) reason: String,
}

impl Refused {
    pub(super) fn new(kind: RefusalKind, reason: impl Into<String>) -> Self {
        Refused {
            kind,
            reason: reason.into(),
        }
    }
}

/// Runs the scheduler's side on a new connection (`binding` says which), up to the
/// worker's proof and the build check: [`read_hello`], then [`accept_hello`].
#[cfg(test)]
async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    secret: &Secret,
    build: &str,
    binding: &Binding,
    progress: impl Fn(Stage),
) -> Result<Greeted, Refused> {
    let hello = read_hello(stream).await?;
    accept_hello(stream, &hello, secret, build, binding, &progress).await
}

/// Reads the worker's first frame, its hello (at most [`MAX_HANDSHAKE_FRAME`]
/// bytes, refused before it is read if it announces more).
pub(super) async fn read_hello<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Vec<u8>, Refused> {
    read_async(stream).await
}

/// The scheduler's side after the worker's `hello`: the challenge, the worker's
/// proof and the build check, telling `progress` each stage it reaches. `Err` says
/// why the peer was refused; the refusal was sent to it when it had got that far.
/// The caller bounds it in time and then sends [`welcome`].
pub(super) async fn accept_hello<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    hello: &[u8],
    secret: &Secret,
    build: &str,
    binding: &Binding,
    progress: &impl Fn(Stage),
) -> Result<Greeted, Refused> {
    let (identity, worker_build) = match format::decode_borrowed::<Message<'_>>(hello) {
        Ok(Message::Hello {
            magic: MAGIC,
            version,
            build,
            node,
            job,
            pid,
            ..
        }) => {
            if version != VERSION {
                let reason = format!(
                    "this worker speaks protocol version {version}, the scheduler {VERSION}: \
                     run the scheduler's build on the workers"
                );
                send_async(stream, &Message::Refused { reason: &reason }).await;
                return Err(Refused::new(
                    RefusalKind::OtherBuild,
                    format!("was refused: {reason}"),
                ));
            }
            let identity = Identity {
                node: node.to_owned(),
                job: job.to_owned(),
                pid,
            };
            (identity, build.to_owned())
        }
        Ok(_) | Err(_) => {
            return Err(Refused::new(
                RefusalKind::Garbage,
                format!("sent garbage before the handshake: {}", shorten(hello)),
            ));
        }
    };
    progress(Stage::Secured);
    let nonce_s = nonce()
        .map_err(|e| Refused::new(RefusalKind::Closed, format!("could not be challenged: {e}")))?;
    let transcript = Transcript {
        hello,
        nonce_s: &nonce_s,
        build,
        binding,
    };
    let challenge = Message::Challenge {
        nonce: nonce_s,
        build,
        proof: proof(secret, "scheduler", &transcript)
            .finalize()
            .into_bytes()
            .into(),
    };
    stream.write_all(&encode(&challenge)).await.map_err(|e| {
        Refused::new(
            RefusalKind::Closed,
            format!("closed the connection during the handshake ({e})"),
        )
    })?;
    let answer = read_async(stream).await?;
    progress(Stage::Proved);
    match format::decode_borrowed::<Message<'_>>(&answer) {
        Ok(Message::Proof { proof: theirs }) => {
            let verified = proof(secret, "worker", &transcript).verify_slice(&theirs);
            if verified.is_err() {
                let reason = "the worker did not prove it knows the cluster's secret";
                send_async(stream, &Message::Refused { reason }).await;
                return Err(Refused::new(
                    RefusalKind::Unauthenticated,
                    "did not prove it knows the cluster's secret (wrong or no secret)",
                ));
            }
        }
        Ok(Message::Refused { reason }) => {
            // The worker's words (see `join`): another build, or a wrong secret.
            let kind = if reason.starts_with(OTHER_BUILD) {
                RefusalKind::OtherBuild
            } else {
                RefusalKind::Unauthenticated
            };
            return Err(Refused::new(
                kind,
                format!("refused the scheduler: {reason}"),
            ));
        }
        Ok(_) | Err(_) => {
            return Err(Refused::new(
                RefusalKind::Garbage,
                format!("sent garbage instead of its proof: {}", shorten(&answer)),
            ));
        }
    }
    if worker_build != build {
        let reason = format!(
            "this worker's build ({worker_build}) is not the scheduler's ({build}): run the \
             same program on the workers"
        );
        send_async(stream, &Message::Refused { reason: &reason }).await;
        return Err(Refused::new(
            RefusalKind::OtherBuild,
            format!("was refused: {reason}"),
        ));
    }
    Ok(Greeted { identity })
}

/// Lets a greeted worker in: its number and its heartbeat interval.
pub(super) async fn welcome<S: AsyncWrite + Unpin>(
    stream: &mut S,
    index: u32,
    heartbeat: std::time::Duration,
) -> std::io::Result<()> {
    let heartbeat_ms = u64::try_from(heartbeat.as_millis()).unwrap_or(u64::MAX);
    stream
        .write_all(&encode(&Message::Welcome {
            index,
            heartbeat_ms,
        }))
        .await
}

/// Tells a peer why it is refused, best effort (it is refused either way), and
/// pushes the words out (TLS buffers them until flushed).
pub(super) async fn refuse<S: AsyncWrite + Unpin>(stream: &mut S, reason: &str) {
    send_async(stream, &Message::Refused { reason }).await;
}

async fn send_async<S: AsyncWrite + Unpin>(stream: &mut S, message: &Message<'_>) {
    if stream.write_all(&encode(message)).await.is_ok() {
        let _ = stream.flush().await;
    }
}

/// Reads one handshake frame; `Err` says what the peer did.
async fn read_async<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Vec<u8>, Refused> {
    let mut len = [0_u8; 4];
    stream
        .read_exact(&mut len)
        .await
        .map_err(|e| closed(&e, "before the handshake ended"))?;
    let len = usize::try_from(u32::from_be_bytes(len)).unwrap_or(usize::MAX);
    if len > MAX_HANDSHAKE_FRAME {
        return Err(Refused::new(RefusalKind::Garbage, too_long(len)));
    }
    let mut body = vec![0_u8; len];
    stream
        .read_exact(&mut body)
        .await
        .map_err(|e| closed(&e, "in the middle of a handshake frame"))?;
    Ok(body)
}

fn closed(error: &std::io::Error, when: &str) -> Refused {
    let reason = if error.kind() == std::io::ErrorKind::UnexpectedEof {
        format!("closed the connection {when}")
    } else {
        format!("broke the connection {when} ({error})")
    };
    // A TLS record that does not decrypt is tampering or garbage, not a close.
    let kind = if error.kind() == std::io::ErrorKind::InvalidData {
        RefusalKind::Garbage
    } else {
        RefusalKind::Closed
    };
    Refused::new(kind, reason)
}

fn too_long(len: usize) -> String {
    format!(
        "announced a handshake frame of {len} bytes (at most {MAX_HANDSHAKE_FRAME}): not a \
         taskloom worker"
    )
}

// ---------------------------------------------------------------------------------
// The worker's side.

/// Why a worker could not join its scheduler.
#[derive(Debug, thiserror::Error)]
pub(super) enum JoinError {
    /// The connection failed.
    #[error("the connection to the scheduler failed during the handshake: {0}")]
    Io(#[from] std::io::Error),
    /// The scheduler refused this worker.
    #[error("the scheduler refused this worker: {0}")]
    Refused(String),
    /// The peer did not prove it knows the secret.
    #[error(
        "the scheduler did not prove it knows the cluster's secret: this worker's secret is \
         not the scheduler's (or the address is not the scheduler's)"
    )]
    Impostor,
    /// The scheduler runs another build.
    #[error(
        "the scheduler runs another build ({scheduler}) than this worker ({worker}): run the \
         same program on the workers"
    )]
    OtherBuild {
        /// The scheduler's build.
        scheduler: String,
        /// This worker's build.
        worker: String,
    },
    /// The peer is not a taskloom scheduler.
    #[error("the peer is not a taskloom scheduler: {0}")]
    Garbage(String),
    /// The scheduler's certificate is not the one the secret file names.
    #[error("refused the scheduler during the TLS handshake: {0}")]
    Certificate(String),
    /// The TLS handshake failed (the scheduler refused it, or spoke no TLS).
    #[error("the TLS handshake with the scheduler failed: {0}")]
    Tls(String),
}

/// What the scheduler said when it let the worker in.
#[derive(Debug)]
pub(super) struct Welcomed {
    pub(super) index: u32,
    pub(super) heartbeat: std::time::Duration,
}

/// Runs the worker's side on a connected stream (whose reads time out), bound to
/// `binding`.
pub(super) fn join<S: Read + Write>(
    stream: &mut S,
    secret: &Secret,
    build: &str,
    me: &Identity,
    binding: &Binding,
) -> Result<Welcomed, JoinError> {
    let nonce_w = nonce()?;
    let hello = encode(&Message::Hello {
        magic: MAGIC,
        version: VERSION,
        nonce: nonce_w,
        build,
        node: cut(&me.node),
        job: cut(&me.job),
        pid: me.pid,
    });
    stream.write_all(&hello)?;
    stream.flush()?;
    let hello_body = &hello[4..];
    let frame = read_blocking(stream)?;
    let (nonce_s, scheduler_build) = match format::decode_borrowed::<Message<'_>>(&frame) {
        Ok(Message::Challenge {
            nonce,
            build: theirs,
            proof: their_proof,
        }) => {
            let transcript = Transcript {
                hello: hello_body,
                nonce_s: &nonce,
                build: theirs,
                binding,
            };
            if proof(secret, "scheduler", &transcript)
                .verify_slice(&their_proof)
                .is_err()
            {
                let reason = "the scheduler did not prove it knows the worker's secret: the \
                              worker's secret is not the scheduler's";
                let _ = stream.write_all(&encode(&Message::Refused { reason }));
                let _ = stream.flush();
                return Err(JoinError::Impostor);
            }
            (nonce, theirs.to_owned())
        }
        Ok(Message::Refused { reason }) => return Err(JoinError::Refused(reason.to_owned())),
        Ok(_) | Err(_) => return Err(JoinError::Garbage(shorten(&frame))),
    };
    if scheduler_build != build {
        let reason = format!(
            "{OTHER_BUILD} ({build}) is not the scheduler's ({scheduler_build}): run the same \
             program on the workers"
        );
        let _ = stream.write_all(&encode(&Message::Refused { reason: &reason }));
        let _ = stream.flush();
        return Err(JoinError::OtherBuild {
            scheduler: scheduler_build,
            worker: build.to_owned(),
        });
    }
    let transcript = Transcript {
        hello: hello_body,
        nonce_s: &nonce_s,
        build: &scheduler_build,
        binding,
    };
    let mine: [u8; NONCE] = proof(secret, "worker", &transcript)
        .finalize()
        .into_bytes()
        .into();
    stream.write_all(&encode(&Message::Proof { proof: mine }))?;
    stream.flush()?;
    let frame = read_blocking(stream)?;
    match format::decode_borrowed::<Message<'_>>(&frame) {
        Ok(Message::Welcome {
            index,
            heartbeat_ms,
        }) => Ok(Welcomed {
            index,
            heartbeat: std::time::Duration::from_millis(heartbeat_ms.max(1)),
        }),
        Ok(Message::Refused { reason }) => Err(JoinError::Refused(reason.to_owned())),
        Ok(_) | Err(_) => Err(JoinError::Garbage(shorten(&frame))),
    }
}

fn read_blocking<S: Read>(stream: &mut S) -> Result<Vec<u8>, JoinError> {
    let mut len = [0_u8; 4];
    stream.read_exact(&mut len)?;
    let len = usize::try_from(u32::from_be_bytes(len)).unwrap_or(usize::MAX);
    if len > MAX_HANDSHAKE_FRAME {
        return Err(JoinError::Garbage(format!(
            "it announced a frame of {len} bytes"
        )));
    }
    let mut body = vec![0_u8; len];
    stream.read_exact(&mut body)?;
    Ok(body)
}

/// `name` cut to [`MAX_NAME`] bytes, at a character boundary.
fn cut(name: &str) -> &str {
    if name.len() <= MAX_NAME {
        return name;
    }
    let mut end = MAX_NAME;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A byte pipe both ways, for driving the two sides in one test.
    fn pair() -> (tokio::io::DuplexStream, tokio::io::DuplexStream) {
        tokio::io::duplex(4096)
    }

    /// A loopback connection: the scheduler's end (async) and the worker's (blocking).
    async fn connection() -> (tokio::net::TcpStream, std::net::TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let worker = tokio::task::spawn_blocking(move || std::net::TcpStream::connect(addr));
        let (scheduler, _) = listener.accept().await.unwrap();
        (scheduler, worker.await.unwrap().unwrap())
    }

    fn me() -> Identity {
        Identity {
            node: "n1".into(),
            job: "42".into(),
            pid: 7,
        }
    }

    /// Runs the worker side on a blocking thread over a loopback connection.
    async fn both(
        scheduler_secret: Secret,
        worker_secret: Secret,
        scheduler_build: &str,
        worker_build: &str,
    ) -> (Result<Greeted, Refused>, Result<Welcomed, JoinError>) {
        let (mut s, mut w) = connection().await;
        let worker_build = worker_build.to_owned();
        let worker = tokio::task::spawn_blocking(move || {
            join(
                &mut w,
                &worker_secret,
                &worker_build,
                &me(),
                &Binding::Plain,
            )
        });
        let accepted = accept(
            &mut s,
            &scheduler_secret,
            scheduler_build,
            &Binding::Plain,
            |_| {},
        )
        .await;
        if accepted.is_ok() {
            welcome(&mut s, 3, std::time::Duration::from_millis(500))
                .await
                .unwrap();
        }
        drop(s);
        (accepted, worker.await.unwrap())
    }

    #[tokio::test]
    async fn the_same_secret_and_build_get_in() {
        let secret = Secret::generate().unwrap();
        let (accepted, joined) = both(secret.clone(), secret, "b", "b").await;
        let greeted = accepted.unwrap();
        assert_eq!(greeted.identity.node, "n1");
        assert_eq!(greeted.identity.job, "42");
        let welcomed = joined.unwrap();
        assert_eq!(welcomed.index, 3);
        assert_eq!(welcomed.heartbeat.as_millis(), 500);
    }

    #[tokio::test]
    async fn a_wrong_secret_is_refused_on_both_sides() {
        let (accepted, joined) = both(
            Secret::generate().unwrap(),
            Secret::generate().unwrap(),
            "b",
            "b",
        )
        .await;
        // The worker checks first: it refuses the scheduler, which says so.
        assert!(matches!(joined, Err(JoinError::Impostor)), "{joined:?}");
        let refused = accepted.unwrap_err();
        assert_eq!(refused.kind, RefusalKind::Unauthenticated);
        let reason = refused.reason;
        assert!(reason.starts_with("refused the scheduler"), "{reason}");
    }

    #[tokio::test]
    async fn another_build_is_refused_on_both_sides() {
        let secret = Secret::generate().unwrap();
        let (accepted, joined) = both(secret.clone(), secret, "build-a", "build-b").await;
        let JoinError::OtherBuild { scheduler, worker } = joined.unwrap_err() else {
            panic!("expected OtherBuild");
        };
        assert_eq!(
            (scheduler.as_str(), worker.as_str()),
            ("build-a", "build-b")
        );
        let refused = accepted.unwrap_err();
        assert_eq!(refused.kind, RefusalKind::OtherBuild);
        let reason = refused.reason;
        assert!(
            reason.contains("build-b") && reason.contains("build-a"),
            "{reason}"
        );
    }

    #[tokio::test]
    async fn a_forged_proof_is_refused() {
        let (mut s, mut w) = pair();
        let secret = Secret::generate().unwrap();
        let scheduler = tokio::spawn(async move {
            accept(&mut s, &secret, "b", &Binding::Plain, |_| {})
                .await
                .map_err(|r| r.reason)
        });
        let hello = encode(&Message::Hello {
            magic: MAGIC,
            version: VERSION,
            nonce: [1; NONCE],
            build: "b",
            node: "x",
            job: "",
            pid: 1,
        });
        w.write_all(&hello).await.unwrap();
        // Whatever the challenge says, answer with a proof made up of zeros.
        let mut len = [0; 4];
        w.read_exact(&mut len).await.unwrap();
        let mut challenge = vec![0; u32::from_be_bytes(len) as usize];
        w.read_exact(&mut challenge).await.unwrap();
        w.write_all(&encode(&Message::Proof { proof: [0; NONCE] }))
            .await
            .unwrap();
        let reason = scheduler.await.unwrap().unwrap_err();
        assert!(reason.contains("did not prove"), "{reason}");
    }

    #[tokio::test]
    async fn an_oversized_first_frame_is_refused_before_it_is_read() {
        let (mut s, mut w) = pair();
        // Only the length is sent: the refusal must not wait for the body.
        w.write_all(&(64_u32 << 20).to_be_bytes()).await.unwrap();
        let refused = accept(
            &mut s,
            &Secret::generate().unwrap(),
            "b",
            &Binding::Plain,
            |_| {},
        )
        .await
        .unwrap_err();
        assert_eq!(refused.kind, RefusalKind::Garbage);
        assert!(
            refused.reason.contains("67108864 bytes"),
            "{}",
            refused.reason
        );
    }

    #[tokio::test]
    async fn a_proof_for_one_binding_fails_on_another() {
        // The worker thinks it is on TLS session A, the scheduler on session B (a
        // relay in the middle): the worker refuses the scheduler's proof.
        let (mut s, mut w) = connection().await;
        let secret = Secret::generate().unwrap();
        let worker_secret = secret.clone();
        let worker = tokio::task::spawn_blocking(move || {
            join(&mut w, &worker_secret, "b", &me(), &Binding::Tls([1; 32]))
        });
        let accepted = accept(&mut s, &secret, "b", &Binding::Tls([2; 32]), |_| {}).await;
        assert!(matches!(worker.await.unwrap(), Err(JoinError::Impostor)));
        assert_eq!(accepted.unwrap_err().kind, RefusalKind::Unauthenticated);
        // Nor does a plain connection's proof pass on a TLS one.
        let (mut s, mut w) = connection().await;
        let worker_secret = secret.clone();
        let worker = tokio::task::spawn_blocking(move || {
            join(&mut w, &worker_secret, "b", &me(), &Binding::Plain)
        });
        let accepted = accept(&mut s, &secret, "b", &Binding::Tls([0; 32]), |_| {}).await;
        assert!(matches!(worker.await.unwrap(), Err(JoinError::Impostor)));
        assert!(accepted.is_err());
    }

    #[test]
    fn long_names_are_cut_at_a_character_boundary() {
        let name = "é".repeat(150); // 300 bytes
        let cut = cut(&name);
        assert!(cut.len() <= MAX_NAME && cut.chars().all(|c| c == 'é'));
    }
}
