//! The worker's side of the conversation: read a batch, run its calls in order,
//! answer each as soon as it ends, until the input ends or the worker retires.
//!
//! Shared by process-pool workers (frames over stdin and stdout) and cluster workers
//! (frames over a TCP connection, after the handshake). The loop is blocking and
//! single-threaded: a call runs on the thread that read it. A cluster worker also
//! writes heartbeats from a thread of its own, which is why every write goes through
//! an [`Output`] that writes whole frames, one writer at a time.
//!
//! **When answers go out.** Over a pipe, every answer is written before the next
//! call starts: a call that kills the process leaves every earlier answer written,
//! and the executor knows which call it was. Over TCP one write per answer costs a
//! system call and a segment through the network stack on both sides, several times
//! a pipe's, so a socket [`Output`] may *hold* the answers of short calls (under
//! [`HOLD_CALLS_UNDER`]) for at most [`HOLD_AT_MOST`], writing them together with the
//! next write; the last answer of a batch, the answer of a long call, a heartbeat or a
//! retirement notice write everything held. The price: a worker that dies may take
//! answers of finished calls with it, so the executor cannot tell which unanswered
//! call killed it; it then runs each of them alone (`loss`), where the one that
//! kills a worker again is known.

use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::protocol::{self, Blob, Call, Outcome, Reply, Request};
use crate::error::{TaskError, TaskErrorKind};
use crate::remote::Registry;

/// Frames a worker accepts from its executor: the executor is trusted (a parent
/// process, or a scheduler that proved it knows the cluster's secret); the limit only
/// stops a confused one from making the worker allocate without bound.
pub(crate) const WORKER_MAX_FRAME: usize = 1 << 30;

/// Answers of calls that ran less than this may be held back (by an [`Output`] that
/// holds).
pub(crate) const HOLD_CALLS_UNDER: Duration = Duration::from_micros(50);

/// The oldest held answer waits at most about this long (plus one short call).
pub(crate) const HOLD_AT_MOST: Duration = Duration::from_micros(200);

/// Where a worker's frames go. Each call writes one or more whole frames, never
/// interleaved with another caller's.
pub(crate) trait Output: Send + Sync {
    /// Writes whatever is held, then `bytes` (whole frames), and pushes them out.
    fn write_frames(&self, bytes: &[u8]) -> std::io::Result<()>;

    /// Keeps `bytes` (whole frames) to go out with the next write, if this output
    /// holds answers back; writes them now if it does not (the default: pipes).
    fn hold(&self, bytes: &[u8]) -> std::io::Result<()> {
        self.write_frames(bytes)
    }
}

impl Output for std::fs::File {
    fn write_frames(&self, bytes: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        let mut file = self;
        file.write_all(bytes)?;
        file.flush()
    }
}

/// When a worker takes calls: a cluster worker whose allocation ends soon stops
/// between two calls; others always go on. The gate tells the executor itself
/// ([`Reply::Retiring`], written when the worker is told to retire, with the call it
/// was running then), so the serve loop only stops.
pub(crate) trait Gate {
    /// Call `index` of the batch is about to start (`false`: retire instead).
    fn next_call(&self, index: usize) -> bool;
    /// Every call of the batch is answered (`false`: retire now).
    fn end_batch(&self) -> bool;
}

/// A gate that never closes: process-pool workers.
pub(crate) struct Always;

impl Gate for Always {
    fn next_call(&self, _: usize) -> bool {
        true
    }
    fn end_batch(&self) -> bool {
        true
    }
}

/// Why a worker stopped serving without an error.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Stopped {
    /// Its input ended: the executor is done with it.
    InputClosed,
    /// It retired (its gate told the executor).
    Retired,
}

/// Why a worker stopped serving.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ServeError {
    /// The worker could not set up its side (pipes, connection).
    #[error("cannot set up the worker's side: {0}")]
    Setup(std::io::Error),
    /// Reading or writing frames failed.
    #[error("the connection to the executor failed: {0}")]
    Io(std::io::Error),
    /// The executor sent something that is not a frame of the protocol.
    #[error("the executor sent a bad frame: {0}")]
    Frame(String),
}

/// The encoded [`Reply::Retiring`] frame: the worker runs call `running` of its
/// batch (if any) and none after it.
pub(crate) fn retiring_frame(running: Option<u32>) -> Vec<u8> {
    encode(&Reply::Retiring { running }).unwrap_or_default()
}

/// Encodes one reply as a whole frame.
pub(crate) fn encode(reply: &Reply<'_>) -> Result<Vec<u8>, ServeError> {
    let mut codec = protocol::codec(WORKER_MAX_FRAME);
    let mut out = BytesMut::new();
    protocol::write_frame(&mut codec, reply, &mut Vec::new(), &mut out)
        .map_err(|e| ServeError::Frame(e.to_string()))?;
    Ok(out.to_vec())
}

/// Serves batches read from `input` until it ends or `gate` closes, writing every
/// answer to `output` before the next call starts.
pub(crate) fn serve(
    registry: &Registry,
    input: &mut impl Read,
    output: &dyn Output,
    gate: &dyn Gate,
) -> Result<Stopped, ServeError> {
    let mut codec = protocol::codec(WORKER_MAX_FRAME);
    let mut frame_scratch = Vec::with_capacity(256);
    let mut value_scratch = Vec::with_capacity(256);
    let mut out = BytesMut::with_capacity(4096);
    // Since when answers are held back, if they are.
    let mut held_since: Option<Instant> = None;
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut chunk = vec![0_u8; 64 * 1024];
    loop {
        let frame = match protocol::next_frame(&mut codec, &mut buf)
            .map_err(|e| ServeError::Frame(e.to_string()))?
        {
            Some(frame) => frame,
            None => {
                let n = input.read(&mut chunk).map_err(ServeError::Io)?;
                if n == 0 {
                    return Ok(Stopped::InputClosed);
                }
                buf.extend_from_slice(&chunk[..n]);
                continue;
            }
        };
        let arrived = Instant::now();
        let Request::Run(calls) = crate::remote::format::decode_borrowed::<Request<'_>>(&frame)
            .map_err(|e| ServeError::Frame(e.to_string()))?;
        for (index, call) in calls.iter().enumerate() {
            if !gate.next_call(index) {
                // Retiring: what is held must reach the executor before the exit.
                output.write_frames(&[]).map_err(ServeError::Io)?;
                return Ok(Stopped::Retired);
            }
            let started = Instant::now();
            let result = run_call(registry, call, &mut value_scratch);
            let finished = Instant::now();
            let message;
            let outcome = match &result {
                Ok(()) => Outcome::Value(Blob(&value_scratch)),
                Err(CallError::Unknown) => Outcome::Unknown(call.func),
                Err(CallError::Task(e)) => {
                    message = e.message().to_owned();
                    match e.kind() {
                        TaskErrorKind::Panicked => Outcome::Panicked(&message),
                        TaskErrorKind::Serialization => Outcome::Serialization(&message),
                        TaskErrorKind::DropPanicked => Outcome::DropPanicked(&message),
                        _ => Outcome::Failed(&message),
                    }
                }
            };
            let reply = Reply::Done {
                index: u32::try_from(index).unwrap_or(u32::MAX),
                start_ns: nanos(started.duration_since(arrived)),
                run_ns: nanos(finished.duration_since(started)),
                outcome,
            };
            protocol::write_frame(&mut codec, &reply, &mut frame_scratch, &mut out)
                .map_err(|e| ServeError::Frame(e.to_string()))?;
            // Written before the next call starts (see the module), unless the call
            // was short, more calls follow, and the answers held are young.
            let more = index + 1 < calls.len();
            let short = finished.duration_since(started) < HOLD_CALLS_UNDER;
            let young = held_since.is_none_or(|t| finished.duration_since(t) < HOLD_AT_MOST);
            if more && short && young {
                output.hold(&out).map_err(ServeError::Io)?;
                held_since.get_or_insert(finished);
            } else {
                output.write_frames(&out).map_err(ServeError::Io)?;
                held_since = None;
            }
            out.clear();
        }
        if !gate.end_batch() {
            return Ok(Stopped::Retired);
        }
    }
}

fn nanos(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

enum CallError {
    Unknown,
    Task(TaskError),
}

/// Runs one call, its result encoded into `out`; a panic becomes an error.
fn run_call(registry: &Registry, call: &Call<'_>, out: &mut Vec<u8>) -> Result<(), CallError> {
    let func = registry.serve_fn(call.func).ok_or(CallError::Unknown)?;
    out.clear();
    catch_unwind(AssertUnwindSafe(|| func(call.args.0, out)))
        .unwrap_or_else(|payload| Err(TaskError::panicked(&*payload)))
        .map_err(CallError::Task)
}
