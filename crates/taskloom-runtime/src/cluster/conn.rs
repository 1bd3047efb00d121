//! One authenticated worker connection, as the scheduler sees it: the
//! [`Transport`] a batch runs over, and the watch on an idle worker.
//!
//! A worker on another machine cannot be watched as a child process: no pipe closes
//! when its node loses power, no `wait` returns. What shows is silence. The worker
//! writes a heartbeat (an empty frame) every interval from a thread of its own, so
//! also while a long call runs; every read here waits at most the cluster's
//! heartbeat timeout, and a worker silent that long is lost ([`End::Silent`]). A
//! closed connection ([`End::Closed`]) is the other sign; the engine's own word on
//! the job (Slurm's `NODE_FAIL`) is the third, and comes from the supervisor.

use std::pin::Pin;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use tokio::time::{Instant, Sleep};
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};

use super::stream::{ReadHalf, Stream, WriteHalf};
use crate::link::protocol::{self, Reply, shorten};
use crate::link::{End, Transport};
use crate::remote::format;

/// A welcomed worker's connection (plain TCP or TLS).
pub(super) struct TcpConn {
    reader: FramedRead<ReadHalf, LengthDelimitedCodec>,
    writer: FramedWrite<WriteHalf, LengthDelimitedCodec>,
    /// How long the worker may stay silent.
    silence: Duration,
    /// When the worker was last heard from.
    heard: Instant,
    /// Fires no earlier than `heard + silence`. Armed lazily: a frame only moves
    /// `heard`, and the timer is set again when it fires early, so a busy
    /// connection costs one clock read per frame and no timer operation.
    deadline: Pin<Box<Sleep>>,
}

impl TcpConn {
    /// Wraps a connection that passed the handshake; frames up to `max` bytes.
    pub(super) fn new(stream: Stream, max: usize, silence: Duration) -> Self {
        let (read, write) = stream.split();
        let heard = Instant::now();
        TcpConn {
            reader: FramedRead::new(read, protocol::codec(max)),
            writer: FramedWrite::new(write, protocol::codec(max)),
            silence,
            heard,
            deadline: Box::pin(tokio::time::sleep_until(heard + silence)),
        }
    }

    /// The next frame that is not a heartbeat, waiting at most the heartbeat timeout
    /// between frames. Cancel-safe.
    async fn next(&mut self) -> Result<BytesMut, End> {
        loop {
            tokio::select! {
                biased;
                frame = self.reader.next() => match frame {
                    None => return Err(End::Closed),
                    Some(Err(e)) => return Err(broken(&e)),
                    Some(Ok(frame)) => {
                        self.heard = Instant::now();
                        if !frame.is_empty() {
                            return Ok(frame);
                        } // else a heartbeat
                    }
                },
                () = &mut self.deadline => {
                    let due = self.heard + self.silence;
                    if Instant::now() >= due {
                        return Err(End::Silent(self.silence));
                    }
                    self.deadline.as_mut().reset(due);
                }
            }
        }
    }

    /// Waits, while the worker is idle, until it is lost: closed, silent, retiring,
    /// or writing what nobody asked for. Cancel-safe.
    pub(super) async fn ended(&mut self) -> End {
        match self.next().await {
            Err(end) => end,
            Ok(frame) => match format::decode_borrowed::<Reply<'_>>(&frame) {
                Ok(Reply::Retiring { .. }) => End::Retired,
                _ => End::Misbehaved(format!("wrote {} while idle", shorten(&frame))),
            },
        }
    }

    /// Closes the connection (with TLS's `close_notify` first): the worker reads the
    /// end of its input and exits.
    pub(super) async fn close(mut self) {
        let _ = SinkExt::<Bytes>::close(&mut self.writer).await;
    }
}

/// Why a read failed: a TLS record that did not decrypt (either side found one: the
/// connection was altered on the way, or a record came from elsewhere), or a frame
/// that would not decode.
fn broken(error: &std::io::Error) -> End {
    let tls = error
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>());
    match tls {
        Some(rustls::Error::DecryptError) => End::Misbehaved(
            "sent a TLS record that did not decrypt: the connection was altered on the way".into(),
        ),
        Some(rustls::Error::AlertReceived(rustls::AlertDescription::BadRecordMac)) => {
            End::Misbehaved(
                "received a TLS record from the scheduler that did not decrypt: the connection \
                 was altered on the way"
                    .into(),
            )
        }
        Some(rustls::Error::AlertReceived(alert)) => {
            End::Misbehaved(format!("ended its TLS session ({alert:?})"))
        }
        _ => End::malformed(error),
    }
}

impl Transport for TcpConn {
    async fn send(&mut self, frame: Bytes) -> Result<(), End> {
        self.writer.send(frame).await.map_err(|_| End::Closed)
    }

    async fn next_frame(&mut self) -> Result<BytesMut, End> {
        self.next().await
    }

    fn ready_frame(&mut self) -> Option<Result<BytesMut, End>> {
        loop {
            match futures::FutureExt::now_or_never(self.reader.next())? {
                None => return Some(Err(End::Closed)),
                Some(Err(e)) => return Some(Err(broken(&e))),
                Some(Ok(frame)) => {
                    self.heard = Instant::now();
                    if !frame.is_empty() {
                        return Some(Ok(frame));
                    }
                }
            }
        }
    }

    /// A socket cannot tell: what the worker's kernel holds unread is out of sight.
    fn unread(&self) -> bool {
        false
    }
}
