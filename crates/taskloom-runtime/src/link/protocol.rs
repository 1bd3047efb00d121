//! The frames between an executor and a worker process, and their codec: the same
//! over a child's pipes (process pool) and over a TCP connection (cluster).
//!
//! Every frame is a length-delimited block (tokio-util's [`LengthDelimitedCodec`]:
//! a 4-byte big-endian length, then the body) whose body is one postcard-encoded
//! message. The codec refuses a length above the executor's `max_frame_length` before
//! reserving anything, so a worker that writes garbage or a huge length costs the
//! parent an error, never an unbounded allocation.
//!
//! The conversation, once the worker is known (the pool reads a [`Reply::Hello`]; the
//! cluster runs its own authenticated handshake first, `cluster::handshake`):
//!
//! 1. the executor sends a [`Request::Run`] with a batch of calls;
//! 2. the worker answers each call with one [`Reply::Done`] frame, written as soon as
//!    the call ends, in order: when a worker dies, the first call without an answer
//!    is the one that killed it;
//! 3. repeat from 1; the worker exits when its input ends.
//!
//! Results can stay in the worker that made them (see [`super::resident`]): a call
//! marked `keep` is answered with [`Outcome::Kept`] (an id in the worker's table of
//! held values and the value's encoded size) instead of the value; a later call
//! names it as an input with [`Arg::Held`]. Between batches the executor may send
//! [`Request::Fetch`] (answered by one [`Reply::Fetched`] with the value's bytes:
//! how a value moves to the parent, or through it to another worker) and
//! [`Request::Release`] (no answer: the worker drops those values).
//!
//! A value moved to a worker stays there as a *copy*: an input sent as
//! [`Arg::Copy`] (its bytes, through the parent) or [`Arg::Peer`] (fetched by the
//! worker itself from the worker holding it, over a local socket: see
//! [`super::peer`]) is kept in the worker's table, and the answer lists the copies'
//! ids ([`Reply::Done`]'s `copies`). Both name the value by a number the executor
//! gave it (`uid`), so that a worker asked twice for the same value keeps one copy.
//! Between workers the same two frames cross the socket: a [`Request::Fetch`],
//! answered by a [`Reply::Fetched`].
//!
//! Two frames exist for workers that the executor cannot watch as a child process
//! (cluster workers): an empty frame is a heartbeat ([`HEARTBEAT`], written by a
//! thread of the worker's own every interval, also while a call runs: a silent worker
//! is a lost one), and [`Reply::Retiring`] says, as soon as the worker is told its
//! allocation ends soon, that it takes no call after the one it runs: the executor
//! gives the others to other workers at once, reads the running call's answer, and
//! then sees the connection close.

use bytes::{Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec};

/// Says "I am a taskloom worker" in the first frame.
pub(crate) const MAGIC: u64 = u64::from_be_bytes(*b"tskloom\x01");

/// Version of this protocol; both sides must agree (2: [`Outcome::DropPanicked`];
/// 3: [`Reply::Retiring`] and heartbeats; 4: results held in workers: [`Arg`],
/// [`Outcome::Kept`], [`Request::Fetch`], [`Request::Release`], and fused chains of
/// remote calls: `Call::then`; 5: untyped functions' payloads, `Call::payload` and
/// [`Member`], and [`Outcome::Raised`]; 6: copies of moved values, [`Arg::Copy`],
/// [`Arg::Peer`], [`Outcome::Unfetched`], `Reply::Done`'s `copies` and `fetched`,
/// and `Reply::Hello`'s `peer`).
pub(crate) const VERSION: u32 = 6;

/// A heartbeat: an empty frame (a frame's length prefix of zero). No message encodes
/// to zero bytes, so it is told apart without decoding.
#[cfg(feature = "cluster")]
pub(crate) const HEARTBEAT: [u8; 4] = [0; 4];

/// Longest hello frame the process pool accepts: a hello is a few bytes; anything longer is
/// not a worker talking.
pub(crate) const MAX_HELLO: usize = 256;

/// Frames a worker accepts from its executor (and from the other workers of its
/// pool): the executor is trusted (a parent process, or a scheduler that proved it
/// knows the cluster's secret); the limit only stops a confused one from making the
/// worker allocate without bound.
pub(crate) const WORKER_MAX_FRAME: usize = 1 << 30;

/// The length-delimited codec with a maximum frame length.
pub(crate) fn codec(max_frame_length: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_type::<u32>()
        .max_frame_length(max_frame_length)
        .new_codec()
}

/// A message from the executor to a worker.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Request<'a> {
    /// Run these calls in order; answer each with a [`Reply::Done`].
    Run(#[serde(borrow)] Vec<Call<'a>>),
    /// Send the bytes of held value `id`: one [`Reply::Fetched`].
    Fetch(u64),
    /// Drop these held values; no answer.
    Release(Vec<u64>),
}

/// One task to run: the registered function's name, its inputs, and whether its
/// result stays in the worker.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Call<'a> {
    /// Name of the registered function.
    #[serde(borrow)]
    pub(crate) func: &'a str,
    /// The task's payload, for an untyped function (what to run, encoded).
    #[serde(borrow)]
    pub(crate) payload: Option<Blob<'a>>,
    /// The inputs, in argument order.
    #[serde(borrow)]
    pub(crate) args: Vec<Arg<'a>>,
    /// Keep the result in the worker's table and answer [`Outcome::Kept`] (`false`:
    /// answer [`Outcome::Value`], the worker keeps nothing).
    pub(crate) keep: bool,
    /// A linear chain fused behind the call: these functions run after it, each on
    /// the one result before it, in the same call; the answer is the last one's.
    #[serde(borrow)]
    pub(crate) then: Vec<Member<'a>>,
}

/// A function of a fused chain, run on the result before it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Member<'a> {
    /// Name of the registered function.
    #[serde(borrow)]
    pub(crate) func: &'a str,
    /// The member task's payload, for an untyped function.
    #[serde(borrow)]
    pub(crate) payload: Option<Blob<'a>>,
}

/// One input of a call (or all of them).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Arg<'a> {
    /// Every input at once, encoded as the function's argument tuple: the form of a
    /// call none of whose inputs the worker holds or another worker sent (then it is
    /// the call's only `Arg`).
    All(#[serde(borrow)] Blob<'a>),
    /// The value, encoded (it came from the parent or another worker).
    Value(#[serde(borrow)] Blob<'a>),
    /// A value this worker holds, by its id.
    Held(u64),
    /// A value another worker holds, moved here through the executor: the worker
    /// keeps it (a copy) and lists its id in the answer's `copies`.
    Copy {
        /// The value, encoded; empty when an earlier call of the batch carried it
        /// (the worker then holds the copy already).
        #[serde(borrow)]
        bytes: Blob<'a>,
        /// The executor's number for the value: a copy already kept under it is
        /// used instead.
        uid: u64,
    },
    /// A value another worker on this host holds: this worker fetches it from that
    /// worker's socket, keeps it (a copy) and lists its id in the answer's `copies`.
    Peer {
        /// The holder's socket.
        #[serde(borrow)]
        at: &'a str,
        /// The value's id in the holder's table.
        id: u64,
        /// The executor's number for the value, as for [`Arg::Copy`].
        uid: u64,
    },
}

/// A message from a worker to the executor.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Reply<'a> {
    /// First frame of every worker.
    Hello {
        /// [`MAGIC`].
        magic: u64,
        /// [`VERSION`].
        version: u32,
        /// The worker's process id.
        pid: u32,
        /// Whether it serves its held values to other workers on the socket its
        /// executor asked for (see [`super::peer`]).
        peer: bool,
    },
    /// The outcome of call `index` of the current batch.
    Done {
        /// Position of the call in its batch.
        index: u32,
        /// Nanoseconds from the batch's arrival to the call's start.
        start_ns: u64,
        /// Nanoseconds the call ran.
        run_ns: u64,
        /// Functions of the call that ran: 1, plus the chain members run after it
        /// (the outcome is the last one's).
        members: u32,
        /// Encoded bytes of the results of a chain's members before the last, which
        /// never left the worker (0 without a chain).
        chain_bytes: u64,
        /// The ids of the copies the call's [`Arg::Copy`] and [`Arg::Peer`] inputs
        /// are kept under, in argument order (fewer if the call stopped before its
        /// last such input): kept whatever the outcome, until released.
        copies: Vec<u64>,
        /// Bytes the call fetched from other workers ([`Arg::Peer`]).
        fetched: u64,
        /// The encoded result, or why there is none.
        #[serde(borrow)]
        outcome: Outcome<'a>,
    },
    /// The answer to a [`Request::Fetch`]: the held value's bytes, or why there are
    /// none (the id is not held, or the value would not encode).
    Fetched(#[serde(borrow)] Result<Blob<'a>, &'a str>),
    /// The worker takes no more calls and is leaving (its walltime is near). It
    /// still answers call `running` of the current batch, if it runs one (a call
    /// already answered means none), and starts none after it; then it closes the
    /// connection.
    Retiring {
        /// The call it is running and will answer.
        running: Option<u32>,
    },
}

/// How one call ended in the worker.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Outcome<'a> {
    /// The encoded result value.
    Value(#[serde(borrow)] Blob<'a>),
    /// The result is held in the worker under `id`; it encodes to `bytes` bytes.
    Kept {
        /// Its id in the worker's table.
        id: u64,
        /// Its encoded size.
        bytes: u64,
    },
    /// The function returned `Err` (its message).
    Failed(#[serde(borrow)] &'a str),
    /// The function returned `Err` with a
    /// [`Raised`](crate::remote::Raised) error: its message and its bytes.
    Raised {
        /// The message.
        #[serde(borrow)]
        message: &'a str,
        /// The bytes the function encoded its failure into.
        #[serde(borrow)]
        detail: Blob<'a>,
    },
    /// The function panicked (the panic message).
    Panicked(#[serde(borrow)] &'a str),
    /// Inputs that would not decode or a result that would not encode.
    Serialization(#[serde(borrow)] &'a str),
    /// No function of that name was registered in the worker.
    Unknown(#[serde(borrow)] &'a str),
    /// A value's `Drop` panicked in the worker (the panic message).
    DropPanicked(#[serde(borrow)] &'a str),
    /// Input `arg` ([`Arg::Peer`]) could not be fetched from its holder (why): the
    /// function did not run. The executor moves that input through itself instead.
    Unfetched {
        /// The input's position.
        arg: u32,
        /// Why, as a clause ("worker 4242 closed the connection before answering").
        #[serde(borrow)]
        why: &'a str,
    },
}

/// Raw bytes, written as one length-prefixed block (serde's default for `&[u8]` is a
/// sequence of single bytes: correct, but a call per byte).
#[derive(Clone, Copy)]
pub(crate) struct Blob<'a>(pub(crate) &'a [u8]);

impl std::fmt::Debug for Blob<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Blob({} bytes)", self.0.len())
    }
}

impl Serialize for Blob<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Blob<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Blob<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_borrowed_bytes<E: serde::de::Error>(
                self,
                v: &'de [u8],
            ) -> Result<Self::Value, E> {
                Ok(Blob(v))
            }
        }
        d.deserialize_bytes(Visit)
    }
}

/// Encodes `message` as one frame appended to `out` (`scratch` holds the body).
pub(crate) fn write_frame<T: Serialize>(
    codec: &mut LengthDelimitedCodec,
    message: &T,
    scratch: &mut Vec<u8>,
    out: &mut BytesMut,
) -> Result<(), FrameError> {
    scratch.clear();
    crate::remote::format::encode_into(message, scratch).map_err(FrameError::Encode)?;
    codec
        .encode(Bytes::copy_from_slice(scratch), out)
        .map_err(FrameError::Io)
}

/// Takes the next complete frame out of `buf`, if there is one.
pub(crate) fn next_frame(
    codec: &mut LengthDelimitedCodec,
    buf: &mut BytesMut,
) -> Result<Option<BytesMut>, FrameError> {
    codec.decode(buf).map_err(FrameError::Io)
}

/// A frame that could not be written or read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FrameError {
    /// The message would not encode.
    #[error("cannot encode a frame: {0}")]
    Encode(postcard::Error),
    /// The codec refused the frame (longer than the maximum frame length) or the
    /// pipe failed.
    #[error("{0}")]
    Io(std::io::Error),
}

/// The first bytes a worker (or a program that is not one) wrote, for a message.
pub(crate) fn shorten(bytes: &[u8]) -> String {
    const SHOWN: usize = 40;
    if bytes.is_empty() {
        return "an empty frame".into();
    }
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(SHOWN)]);
    let more = if bytes.len() > SHOWN { "..." } else { "" };
    format!("{text:?}{more}")
}
