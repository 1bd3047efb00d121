//! Where a task ran: [`Worker`], and the interned [`Name`]s it carries.
//!
//! Every completion, span, callback event and traffic figure names the worker of its
//! task, so this vocabulary sits below them all: the executors, `callbacks`,
//! `traffic` and `diagnostics` use it, and it uses nothing of the crate. Users name
//! both as `taskloom::executor::{Worker, Name}` (re-exported there).
//!
//! - `name`: [`Name`], node and job names interned so that [`Worker`] stays `Copy`.
//!
//! [`LostRun`] is a run of a task that ended with its worker's death: the executors'
//! retry rule keeps them on the job, and callbacks see them with the task's end.

mod name;

use std::fmt;
use std::time::Instant;

pub use name::Name;

/// Where a task ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Worker {
    /// Inline on the scheduling loop's thread.
    Inline,
    /// Worker thread `n` of a thread pool.
    Thread(u32),
    /// A Tokio task (async tasks).
    Async,
    /// Child process `index` of a process pool, with its pid.
    Process {
        /// Index of the worker slot in the pool.
        index: u32,
        /// OS process id of the child.
        pid: u32,
    },
    /// Worker `index` of a [`Cluster`](crate::cluster::Cluster) (numbered as workers connect), on `node`, in
    /// the engine's job `job` ([`Name::EMPTY`] when no launcher of the cluster started
    /// it), process `pid` on that node.
    Remote {
        /// The worker's number in its cluster.
        index: u32,
        /// The node it runs on (Slurm's node name, or the host name).
        node: Name,
        /// The job that runs it, as the launcher says it ("slurm job 42",
        /// "local-0"), or empty.
        job: Name,
        /// Its process id on `node`.
        pid: u32,
    },
}

impl fmt::Display for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Worker::Inline => f.write_str("inline"),
            Worker::Thread(n) => write!(f, "thread-{n}"),
            Worker::Async => f.write_str("tokio"),
            Worker::Process { index, pid } => write!(f, "process-{index} (pid {pid})"),
            Worker::Remote {
                index,
                node,
                job,
                pid,
            } => {
                if job.is_empty() {
                    write!(f, "cluster-{index} on {node} (pid {pid})")
                } else {
                    write!(f, "cluster-{index} on {node} ({job}, pid {pid})")
                }
            }
        }
    }
}

/// A run of a task that ended with its worker's death (a process killed, a node
/// lost): the executor ran the task again elsewhere, or failed it after its retries.
/// [`TaskFinish::lost_runs`](crate::callbacks::TaskFinish::lost_runs) lists them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LostRun {
    /// The worker that ran it.
    pub worker: Worker,
    /// How the worker ended, as a verb phrase ("was killed by signal 9 (SIGKILL)",
    /// "exited with status 3", "sent a malformed frame (...)").
    pub ended: String,
    /// When the executor saw the worker end.
    pub at: Instant,
}

impl fmt::Display for LostRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.worker, self.ended)
    }
}
