//! The worker's side of the conversation: read a batch, run its calls in order,
//! answer each as soon as it ends, until the input ends or the worker retires.
//!
//! **Results held here.** A call marked `keep` leaves its result in the worker's
//! table (`super::held`) and answers only its id and encoded size; later calls name
//! it as an input, the executor fetches its bytes when another worker or the parent
//! needs them, and releases it when core's state releases it: the worker holds what
//! the graph still needs, no more. An input moved here from another worker stays
//! too, as a copy (through the parent, or fetched by this worker from the holder's
//! socket: `super::peer`), so the next call here that needs it finds it. The table
//! dies with the worker.
//!
//! Shared by process-pool workers (frames over stdin and stdout) and cluster workers
//! (frames over a TCP connection, after the handshake). The loop is blocking and
//! single-threaded: a call runs on the thread that read it. A cluster worker also
//! writes heartbeats from a thread of its own, which is why every write goes through
//! an [`Output`] that writes whole frames, one writer at a time.
//!
//! **When answers go out.** One write per answer costs a system call on the worker
//! and, on the executor's side, a read and often a thread's wake-up: over TCP a
//! segment through the network stack on both sides too. So an [`Output`] *holds*
//! the answers of short calls (under [`HOLD_CALLS_UNDER`]) while they are young
//! (under [`HOLD_AT_MOST`] when a call ends), writing them together with the next
//! write; the last answer of a batch, the answer of a long call, a heartbeat, a
//! retirement notice or a pool worker's flusher (see `holding`) write everything
//! held. On the process pool that made graphs of tiny tasks a quarter to a third
//! cheaper (`seed_sum`: 3.9 → 2.7 ms; a write and a wake-up of the pool's reader per
//! answer before). The price: a worker that dies may take answers of finished calls
//! with it, so the executor cannot tell which unanswered call killed it; it then runs
//! each of them alone (`loss`), where the one that kills a worker again is known.

use std::io::Read;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use smallvec::SmallVec;

use super::held::{Encoder, Table};
use super::peer::Fetcher;
use super::protocol::{self, Arg, Blob, Call, Outcome, Reply, Request, WORKER_MAX_FRAME};
use crate::error::{TaskError, TaskErrorKind};
use crate::remote::{Raised, Registry, Served, drop_guarded};
use crate::value::Value;

/// Results smaller than this (encoded) go back to the executor even when they may
/// stay: they cross in the answer that is sent anyway, for next to nothing, while a
/// kept one costs a release frame later and, if another worker needs it, a fetch's
/// round trip (a tree of unit results ran 8× slower kept than sent back).
pub(crate) const KEEP_AT_LEAST: u64 = 1024;

/// Answers of calls that ran less than this may be held back.
pub(crate) const HOLD_CALLS_UNDER: Duration = Duration::from_micros(50);

/// Held answers this old go out when the next call ends (or with the pool worker's
/// flusher's next look, if a long call runs).
pub(crate) const HOLD_AT_MOST: Duration = Duration::from_micros(200);

/// Where a worker's frames go. Each call writes one or more whole frames, never
/// interleaved with another caller's.
pub(crate) trait Output: Send + Sync {
    /// Writes whatever is held, then `bytes` (whole frames), and pushes them out.
    fn write_frames(&self, bytes: &[u8]) -> std::io::Result<()>;

    /// Keeps `bytes` (whole frames) to go out with the next write.
    fn hold(&self, bytes: &[u8]) -> std::io::Result<()>;
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
#[cfg(feature = "cluster")]
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
/// answer to `output` (short ones held back a moment: see the module).
#[cfg(feature = "cluster")]
pub(crate) fn serve(
    registry: &Registry,
    input: &mut impl Read,
    output: &dyn Output,
    gate: &dyn Gate,
) -> Result<Stopped, ServeError> {
    serve_table(registry, input, output, gate, &Table::default())
}

/// [`serve`], with the values held in `table` (shared with a peer server).
pub(crate) fn serve_table(
    registry: &Registry,
    input: &mut impl Read,
    output: &dyn Output,
    gate: &dyn Gate,
    table: &Table,
) -> Result<Stopped, ServeError> {
    let mut codec = protocol::codec(WORKER_MAX_FRAME);
    let mut frame_scratch = Vec::with_capacity(256);
    let mut value_scratch = Vec::with_capacity(256);
    let mut out = BytesMut::with_capacity(4096);
    // Since when answers are held back, if they are.
    let mut held_since: Option<Instant> = None;
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut chunk = vec![0_u8; 64 * 1024];
    let mut fetcher = Fetcher::default();
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
        let calls = match crate::remote::format::decode_borrowed::<Request<'_>>(&frame)
            .map_err(|e| ServeError::Frame(e.to_string()))?
        {
            Request::Run(calls) => calls,
            Request::Release(ids) => {
                for id in ids {
                    table.release(id);
                }
                continue;
            }
            Request::Fetch(id) => {
                let message;
                let held = table.get(id);
                let fetched = match &held {
                    None => Err("it is not held"),
                    Some(held) => match held.encode(&mut value_scratch) {
                        Ok(()) => Ok(Blob(&value_scratch)),
                        Err(e) => {
                            message = e.message().to_owned();
                            Err(message.as_str())
                        }
                    },
                };
                protocol::write_frame(
                    &mut codec,
                    &Reply::Fetched(fetched),
                    &mut frame_scratch,
                    &mut out,
                )
                .map_err(|e| ServeError::Frame(e.to_string()))?;
                let _ = drop_guarded(held, "a held value");
                output.write_frames(&out).map_err(ServeError::Io)?;
                out.clear();
                held_since = None;
                continue;
            }
        };
        for (index, call) in calls.iter().enumerate() {
            if !gate.next_call(index) {
                // Retiring: what is held must reach the executor before the exit.
                output.write_frames(&[]).map_err(ServeError::Io)?;
                return Ok(Stopped::Retired);
            }
            let started = Instant::now();
            let ended = run_call(registry, call, table, &mut fetcher, &mut value_scratch);
            let finished = Instant::now();
            let message;
            let outcome = match &ended.result {
                Ok(Ran::Value) => Outcome::Value(Blob(&value_scratch)),
                Ok(Ran::Kept { id, bytes }) => Outcome::Kept {
                    id: *id,
                    bytes: *bytes,
                },
                Err(CallError::Unknown(name)) => Outcome::Unknown(name),
                Err(CallError::Unfetched { arg, why }) => Outcome::Unfetched { arg: *arg, why },
                Err(CallError::Task(e)) => {
                    message = e.message().to_owned();
                    let raised =
                        std::error::Error::source(e).and_then(|s| s.downcast_ref::<Raised>());
                    match e.kind() {
                        TaskErrorKind::Failed if raised.is_some() => Outcome::Raised {
                            message: &message,
                            detail: Blob(raised.map_or(&[], Raised::detail)),
                        },
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
                members: ended.members,
                chain_bytes: ended.chain_bytes,
                copies: ended.copies,
                fetched: ended.fetched,
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

enum CallError<'a> {
    /// No function of that name (the name).
    Unknown(&'a str),
    Task(TaskError),
    /// Input `arg` could not be fetched from the worker holding it (why).
    Unfetched {
        arg: u32,
        why: String,
    },
}

/// What a call left: its result encoded in the scratch buffer, or kept.
enum Ran {
    Value,
    Kept { id: u64, bytes: u64 },
}

/// How a call ended, with what its answer reports besides its outcome.
struct Ended<'c> {
    /// Functions that ran (the outcome is the last one's).
    members: u32,
    /// Encoded bytes of the results before the last.
    chain_bytes: u64,
    /// The ids of the copies its moved inputs are kept under, in argument order.
    copies: Vec<u64>,
    /// Bytes fetched from other workers.
    fetched: u64,
    result: Result<Ran, CallError<'c>>,
}

/// Runs one call (and the chain fused behind it): its inputs from the frame, the
/// table or another worker, each chain member on the result before it, the last
/// result encoded into `out` or kept in the table. User code runs guarded: a panic in
/// `Deserialize`, `Serialize` or a function, or in a value's `Drop`, is the call's
/// error, never the worker's end.
fn run_call<'c>(
    registry: &Registry,
    call: &Call<'c>,
    table: &Table,
    fetcher: &mut Fetcher,
    out: &mut Vec<u8>,
) -> Ended<'c> {
    out.clear();
    let mut ended = Ended {
        members: 1,
        chain_bytes: 0,
        copies: Vec::new(),
        fetched: 0,
        result: Ok(Ran::Value),
    };
    let Some(mut served) = registry.served(call.func) else {
        ended.result = Err(CallError::Unknown(call.func));
        return ended;
    };
    let mut inputs: SmallVec<[Value; 4]> = SmallVec::with_capacity(call.args.len());
    for (i, arg) in call.args.iter().enumerate() {
        let input = match arg {
            Arg::All(Blob(bytes)) => match served.decode_all(bytes) {
                Ok(all) => {
                    inputs.extend(all);
                    continue;
                }
                Err(e) => Err(e),
            },
            Arg::Value(Blob(bytes)) => served.decode_arg(i, bytes),
            Arg::Held(id) => table
                .get(*id)
                .map(|held| Value::clone(held.value()))
                .ok_or_else(|| {
                    TaskError::new(
                        TaskErrorKind::WorkerLost,
                        format!("input {i} (held value {id}) is not held by this worker"),
                    )
                }),
            Arg::Copy {
                bytes: Blob(bytes),
                uid,
            } => match table.copy_of(*uid) {
                Some(copy) => Ok(copy),
                None => keep_copy(table, served, i, *uid, bytes),
            }
            .map(|(id, value)| {
                ended.copies.push(id);
                value
            }),
            Arg::Peer { at, id, uid } => {
                let copy = match table.copy_of(*uid) {
                    Some(copy) => Ok(copy),
                    None => {
                        let fetched = fetcher.fetch(at, *id, |bytes| {
                            ended.fetched += bytes.len() as u64;
                            keep_copy(table, served, i, *uid, bytes)
                        });
                        match fetched {
                            Ok(copy) => copy,
                            Err(why) => {
                                let _ = drop_guarded(inputs, "one of its inputs");
                                ended.result = Err(CallError::Unfetched {
                                    arg: u32::try_from(i).unwrap_or(u32::MAX),
                                    why,
                                });
                                return ended;
                            }
                        }
                    }
                };
                copy.map(|(id, value)| {
                    ended.copies.push(id);
                    value
                })
            }
        };
        match input {
            Ok(input) => inputs.push(input),
            Err(e) => {
                let _ = drop_guarded(inputs, "one of its inputs");
                ended.result = Err(CallError::Task(e));
                return ended;
            }
        }
    }
    let refs: SmallVec<[&Value; 8]> = inputs.iter().collect();
    let mut result = served.call(call.payload.map(|p| p.0), &refs);
    drop(refs);
    // The task's own error comes first; then whatever dropping its inputs says.
    let dropped = drop_guarded(inputs, "one of its inputs");
    result = match (result, dropped) {
        (Ok(v), Err(e)) => {
            let _ = drop_guarded(v, "its result");
            Err(e)
        }
        (result, _) => result,
    };
    for member in &call.then {
        let Ok(previous) = result else { break };
        ended.members += 1;
        let Some(next) = registry.served(member.func) else {
            let _ = drop_guarded(previous, "its input");
            ended.result = Err(CallError::Unknown(member.func));
            return ended;
        };
        ended.chain_bytes += served.size_of(&previous).unwrap_or(0);
        result = next.call(member.payload.map(|p| p.0), &[&previous]);
        if let Err(e) = drop_guarded(previous, "its input") {
            // The member before this one is to blame: report the chain as ending
            // there, with this member's result thrown away.
            if let Ok(v) = result {
                let _ = drop_guarded(v, "its result");
            }
            ended.members -= 1;
            ended.result = Err(CallError::Task(e));
            return ended;
        }
        served = next;
    }
    let ran = match result {
        Ok(result) if call.keep => match served.size_of(&result) {
            Ok(bytes) if bytes >= KEEP_AT_LEAST => Ok(Ran::Kept {
                id: table.keep(result, Encoder::Result(served.clone()), bytes),
                bytes,
            }),
            Ok(_) => served
                .encode_result(&result, out)
                .and(drop_guarded(result, "its result"))
                .map(|()| Ran::Value),
            Err(e) => {
                let _ = drop_guarded(result, "its result");
                Err(e)
            }
        },
        Ok(result) => served
            .encode_result(&result, out)
            .and(drop_guarded(result, "its result"))
            .map(|()| Ran::Value),
        Err(e) => Err(e),
    };
    ended.result = ran.map_err(CallError::Task);
    ended
}

/// Decodes input `index` of `served` from `bytes` (a value another worker holds,
/// the executor's `uid`), and keeps it as a copy: its id, and the value.
fn keep_copy(
    table: &Table,
    served: &Served,
    index: usize,
    uid: u64,
    bytes: &[u8],
) -> Result<(u64, Value), TaskError> {
    let value = served.decode_arg(index, bytes)?;
    let encoder = Encoder::Arg(served.clone(), index);
    let id = table.keep_copy(uid, Value::clone(&value), encoder, bytes.len() as u64);
    Ok((id, value))
}
