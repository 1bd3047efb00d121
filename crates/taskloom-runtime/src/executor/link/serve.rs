//! The worker's side of the conversation: read a batch, run its calls in order,
//! answer each as soon as it ends, until the input ends or the worker retires.
//!
//! Shared by process-pool workers (frames over stdin and stdout) and cluster workers
//! (frames over a TCP connection, after the handshake). The loop is blocking and
//! single-threaded: a call runs on the thread that read it, so a call that kills the
//! process leaves every earlier answer already written, and the executor knows which
//! call it was. A cluster worker also writes heartbeats from a thread of its own,
//! which is why every write goes through an [`Output`] that writes one whole frame at
//! a time.

use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use bytes::BytesMut;

use super::protocol::{self, Blob, Call, Outcome, Reply, Request};
use crate::error::{TaskError, TaskErrorKind};
use crate::remote::Registry;

/// Frames a worker accepts from its executor: the executor is trusted (a parent
/// process, or a scheduler that proved it knows the cluster's secret); the limit only
/// stops a confused one from making the worker allocate without bound.
pub(crate) const WORKER_MAX_FRAME: usize = 1 << 30;

/// Where a worker's frames go. Each call writes one or more whole frames, never
/// interleaved with another caller's.
pub(crate) trait Output: Send + Sync {
    /// Writes `bytes` (whole frames) and pushes them out.
    fn write_frames(&self, bytes: &[u8]) -> std::io::Result<()>;
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
    let send = |out: &mut BytesMut| -> Result<(), ServeError> {
        output.write_frames(out).map_err(ServeError::Io)?;
        out.clear();
        Ok(())
    };
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
            // One write per call, before the next starts: if the next call kills the
            // process, the executor knows which one it was.
            send(&mut out)?;
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
