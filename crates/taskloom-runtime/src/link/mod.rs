//! One conversation with a worker process, whatever carries it: the frames, one
//! batch's run and exchange, what becomes of a lost worker's jobs, the worker's serve
//! loop, and worker mode.
//!
//! Two executors have workers that are processes: the process pool (child processes,
//! over their pipes) and the cluster (processes anywhere, over TCP). They differ in
//! how a worker is started, reached and watched, and in nothing else: the same frames
//! cross either way, a batch is sent and answered the same way, and a worker lost in
//! the middle of a batch costs its jobs the same thing. So the conversation lives here
//! once, over a [`Transport`]: the four things a batch and a loss need from the pipe
//! or the socket underneath. Both executors depend on this module, never on each
//! other.
//!
//! # Layout
//!
//! From the bottom up (each imports only modules listed before it):
//!
//! - `protocol`: the frames and their codec;
//! - `settings`: what both executors are told about their workers (`Settings`);
//! - `exit`: how a worker process ended, in words;
//! - `report`: where a batch's completions go;
//! - `held`: the worker's table of the values it holds (results kept, copies of
//!   values moved to it), shared by its serve loop and its peer server;
//! - `peer`: worker to worker on one host (the process pool): a worker serves its
//!   held values to the others over a Unix domain socket, and fetches theirs;
//! - `place`: the queues (shared, and one per worker), placement by locality, the
//!   table of what each worker holds, and the parent's references to held results;
//! - `resident`: moving held results to the worker that needs them (directly, or
//!   through the parent), and freeing them;
//! - `batch`: one batch's exchange with one worker: encode, send, read the answers in
//!   order, and on a loss hand back the jobs not answered, saying whether the first
//!   one started;
//! - `loss`: the fate of those jobs (sent again for free, retried by
//!   [`crate::executor::retry`]'s rule, or failed);
//! - `drive`: one batch from the queue to its last completion, the driver the pool's
//!   slots and the cluster's members share;
//! - `serve`: the worker's side: read batches, run each call, answer it, keep the
//!   results it is told to keep, and stop taking calls when asked to retire;
//! - `worker`: worker mode (is this process a worker, and whose; the registry's
//!   fingerprint; where its frames go) and the pool's worker, served over its pipes.

pub(crate) mod batch;
pub(crate) mod drive;
pub(crate) mod exit;
pub(crate) mod held;
pub(crate) mod holding;
pub(crate) mod loss;
pub(crate) mod peer;
pub(crate) mod place;
pub(crate) mod protocol;
pub(crate) mod report;
pub(crate) mod resident;
pub(crate) mod serve;
pub(crate) mod settings;
pub(crate) mod worker;

use bytes::{Bytes, BytesMut};

/// The byte stream to one worker, as a batch's exchange and a loss's settlement see
/// it: frames out, frames in, and whether the worker read what was sent.
///
/// Implemented by the process pool's pipes and by the cluster's TCP connections;
/// every method must be cancel-safe (a batch stops waiting when its computation is
/// cancelled), and a frame half sent is never resumed: the caller drops the worker.
pub(crate) trait Transport {
    /// Sends one frame; `Err` if the worker ended before it took it.
    async fn send(&mut self, frame: Bytes) -> Result<(), End>;

    /// The next frame from the worker, or why there will be none. A transport that
    /// carries heartbeats consumes them here: only protocol frames come out.
    async fn next_frame(&mut self) -> Result<BytesMut, End>;

    /// The frame the worker has ready, if any, without waiting.
    fn ready_frame(&mut self) -> Option<Result<BytesMut, End>>;

    /// Whether bytes sent to the worker are provably still unread by it: then none of
    /// the calls of the frame in flight started, and the first of them costs no
    /// attempt. `false` when the transport cannot tell (a socket: the peer's buffer
    /// is out of sight), which errs on the side of counting an attempt.
    fn unread(&self) -> bool;
}

/// Why a worker is lost to its executor.
#[derive(Debug)]
pub(crate) enum End {
    /// Its end closed: the process exited, or its connection closed. The executor
    /// says how (an exit status, the engine's word on the job).
    Closed,
    /// It broke the protocol (the text says how, as a verb phrase): it is dropped.
    Misbehaved(String),
    /// It sent nothing, not even a heartbeat, for this long: its process is stuck
    /// or its node is gone.
    #[cfg(feature = "cluster")]
    Silent(std::time::Duration),
    /// It said it is leaving (its allocation's end is near) after its last answer:
    /// the calls it did not answer never started.
    Retired,
}

impl End {
    /// The frame error of a worker whose frame would not decode or was too long, as
    /// an [`End::Misbehaved`].
    pub(crate) fn malformed(error: &std::io::Error) -> End {
        End::Misbehaved(format!("sent a malformed frame ({error})"))
    }
}
