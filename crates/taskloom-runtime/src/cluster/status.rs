//! What a cluster shows of itself ([`Cluster::status`](super::Cluster::status)): the
//! workers connected now, the jobs its launcher started and what became of them,
//! the connections it refused and why, the workers it lost and why.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::launcher::JobState;
use crate::executor::Worker;

/// A snapshot of a cluster.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ClusterStatus {
    /// Workers connected now, by number.
    pub workers: Vec<WorkerInfo>,
    /// Every job the launcher started, oldest first.
    pub launches: Vec<LaunchInfo>,
    /// The latest connections refused before they reached the scheduling loop (at
    /// most [`KEPT_REFUSALS`]), oldest first.
    pub refusals: Vec<Refusal>,
    /// Every connection refused since the cluster started, counted by kind.
    pub refused: BTreeMap<RefusalKind, u64>,
    /// Workers lost (closed, silent, misbehaving, or ended by their engine), oldest
    /// first.
    pub losses: Vec<WorkerLoss>,
    /// Workers that retired (their walltime was near) and left cleanly.
    pub retired: Vec<Worker>,
    /// Replacements submitted so far (of the cluster's budget).
    pub replacements: u32,
}

/// A connected worker.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WorkerInfo {
    /// The worker, as completions name it ([`Worker::Remote`]).
    pub worker: Worker,
    /// The launcher's job id, if the cluster's launcher started it.
    pub launch: Option<String>,
    /// Where its connection comes from.
    pub peer: SocketAddr,
    /// When it was let in.
    pub since: Instant,
    /// How long its handshake took, from the accepted connection to its welcome
    /// (TLS's included).
    pub handshake: Duration,
    /// Whether its connection is TLS.
    pub tls: bool,
}

/// A job the launcher started.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LaunchInfo {
    /// The launcher's id ("42", "local-0").
    pub id: String,
    /// How it reads in messages ("slurm job 42").
    pub label: String,
    /// Its state at the last poll.
    pub state: JobState,
    /// Its worker, once connected.
    pub worker: Option<Worker>,
    /// Whether it is a replacement of a lost or retired worker.
    pub replacement: bool,
    /// When it was submitted.
    pub at: Instant,
}

/// Refusals listed in [`ClusterStatus::refusals`]; older ones are only counted (a
/// cluster under a flood of connections must not grow without bound).
pub const KEPT_REFUSALS: usize = 100;

/// A connection refused during the handshake.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Refusal {
    /// Where it came from.
    pub peer: SocketAddr,
    /// What kind of refusal.
    pub kind: RefusalKind,
    /// What the peer did, as a verb phrase ("did not prove it knows the cluster's
    /// secret", "sent garbage before the handshake: ...").
    pub reason: String,
}

/// What a refused connection did, for counting and for the log (one warning per
/// kind and interval, not one per connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum RefusalKind {
    /// Closed to make room for a newer connection: the handshakes in progress were
    /// at their limit, and it had made the least progress for the longest.
    Evicted,
    /// Sent no hello in time, or did not finish the handshake in time.
    TimedOut,
    /// Not a taskloom worker: garbage, an oversized frame, a broken TLS handshake.
    Garbage,
    /// Spoke plain TCP to a cluster that requires TLS (or the reverse).
    Transport,
    /// Did not prove it knows the cluster's secret, or refused the scheduler.
    Unauthenticated,
    /// Runs another build or protocol version.
    OtherBuild,
    /// Closed or broke its connection during the handshake.
    Closed,
}

impl fmt::Display for RefusalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RefusalKind::Evicted => "evicted",
            RefusalKind::TimedOut => "timed out",
            RefusalKind::Garbage => "not a taskloom worker",
            RefusalKind::Transport => "wrong transport",
            RefusalKind::Unauthenticated => "unauthenticated",
            RefusalKind::OtherBuild => "another build",
            RefusalKind::Closed => "closed",
        })
    }
}

/// A worker lost.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WorkerLoss {
    /// The worker.
    pub worker: Worker,
    /// How it was lost, with its engine's word when it has one ("closed its
    /// connection; slurm job 42: CANCELLED").
    pub reason: String,
    /// Whether it was running a task then (the task was retried, or failed).
    pub busy: bool,
}

impl LaunchInfo {
    /// "slurm job 42: PENDING (BeginTime)", for messages.
    pub(super) fn summary(&self) -> String {
        match self.worker {
            Some(worker) if !self.state.is_over() => {
                format!("{}: connected as {worker}", self.label)
            }
            _ => format!("{}: {}", self.label, self.state),
        }
    }
}
