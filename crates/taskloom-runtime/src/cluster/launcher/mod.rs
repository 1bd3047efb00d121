//! Launchers: how a cluster asks an engine for workers. Launch, not transport.
//!
//! As in dask-jobqueue, a launcher only knows how to ask its engine (Slurm, a shell,
//! Kubernetes) to start copies of the program with a few environment variables set,
//! how to ask what became of them, and how to stop them. The copies find the
//! scheduler themselves (the address in [`CLUSTER_ADDR_ENV`](super::CLUSTER_ADDR_ENV)),
//! prove they know the secret, and speak the same protocol whoever started them; so a
//! new engine is a launcher of a few dozen lines, never a new executor. An engine that
//! starts workers on its own (a Kubernetes Deployment) needs no launcher at all:
//! the guide's cluster chapter (`docs/guide/src/cluster.md`).
//!
//! - [`Local`]: N processes on this machine, over loopback (tests, one box);
//! - [`Slurm`]: one `sbatch` job per worker, watched with `squeue`, ended with
//!   `scancel`.
//!
//! The methods block (they run commands); the cluster calls them one at a time on a
//! thread of their own, never from its event loop.

mod local;
mod slurm;

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

pub use local::Local;
pub use slurm::Slurm;

/// What a launcher starts: this program (or another that calls
/// [`remote::init`](crate::remote::init)) with these variables in its environment.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WorkerSpec {
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Variables to set in its environment: the scheduler's advertised address and
    /// where the secret is ([`SECRET_FILE_ENV`](super::SECRET_FILE_ENV)).
    pub env: Vec<(String, OsString)>,
    /// A directory of the cluster's own, on a file system the workers see when the
    /// secret file is in it (logs may go there too).
    pub dir: PathBuf,
}

/// A job as its engine sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JobState {
    /// Waiting to start, and why (Slurm's reason: `Resources`, `Priority`,
    /// `BeginTime`...).
    Pending(String),
    /// Started (its worker may not have connected yet).
    Running,
    /// Ending: its processes are being stopped, and how it ends is not known yet
    /// (Slurm's `COMPLETING`).
    Ending,
    /// Over: the engine's word for how (`CANCELLED`, `TIMEOUT`, `NODE_FAIL`,
    /// `COMPLETED`, "exited with status 1"...) and its reason, if it gives one.
    Ended {
        /// How it ended.
        state: String,
        /// Why, if the engine says.
        reason: Option<String>,
    },
    /// The engine does not know the job (any more).
    Unknown,
}

impl JobState {
    /// Whether the job is over (or forgotten): its worker will never connect again.
    pub fn is_over(&self) -> bool {
        matches!(self, JobState::Ended { .. } | JobState::Unknown)
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobState::Pending(reason) if reason.is_empty() => f.write_str("PENDING"),
            JobState::Pending(reason) => write!(f, "PENDING ({reason})"),
            JobState::Running => f.write_str("RUNNING"),
            JobState::Ending => f.write_str("COMPLETING"),
            JobState::Ended {
                state,
                reason: Some(reason),
            } => write!(f, "{state} ({reason})"),
            JobState::Ended {
                state,
                reason: None,
            } => f.write_str(state),
            JobState::Unknown => f.write_str("no longer known"),
        }
    }
}

/// Why a launcher could not do what it was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LaunchError {
    /// A command could not be run (not installed, not on `PATH`...).
    #[error("cannot run `{command}`: {error}")]
    Command {
        /// The command.
        command: String,
        /// The OS error.
        #[source]
        error: std::io::Error,
    },
    /// A command ran and failed.
    #[error("`{command}` {status}: {stderr}")]
    Failed {
        /// The command line, shortened.
        command: String,
        /// How it ended ("exited with status 1").
        status: String,
        /// What it printed on standard error.
        stderr: String,
    },
    /// A command printed something the launcher does not understand.
    #[error("`{command}` printed {output:?}, not what was expected")]
    Output {
        /// The command.
        command: String,
        /// What it printed.
        output: String,
    },
    /// The launcher does not know this job.
    #[error("no job {0} was started by this launcher")]
    UnknownJob(String),
}

/// Asks an engine for workers: start, watch and stop its jobs; launch, not
/// transport (the workers connect and authenticate themselves).
///
/// A launcher for another engine (PBS, HyperQueue, a cloud API) implements these
/// four methods; the guide's cluster chapter sketches HyperQueue's.
///
/// ```
/// use taskloom::cluster::{JobState, Launcher, LaunchError, WorkerSpec};
///
/// /// Starts nothing: workers are started by hand (`ssh`, a terminal).
/// #[derive(Debug)]
/// struct ByHand;
///
/// impl Launcher for ByHand {
///     fn name(&self) -> &str {
///         "by hand"
///     }
///     fn launch(&self, spec: &WorkerSpec) -> Result<String, LaunchError> {
///         eprintln!("start {} with {:?}", spec.program.display(), spec.env);
///         Ok("by-hand".into())
///     }
///     fn status(&self, jobs: &[String]) -> Result<Vec<JobState>, LaunchError> {
///         Ok(jobs.iter().map(|_| JobState::Running).collect())
///     }
///     fn stop(&self, _: &[String]) -> Result<(), LaunchError> {
///         Ok(())
///     }
/// }
/// ```
pub trait Launcher: Send + Sync + fmt::Debug + 'static {
    /// A short name for messages ("local", "slurm").
    fn name(&self) -> &str;

    /// Starts one worker as `spec` says and returns its job's id. Blocks until the
    /// engine took the request (not until the worker runs).
    ///
    /// # Errors
    /// Why the engine refused or could not be asked.
    fn launch(&self, spec: &WorkerSpec) -> Result<String, LaunchError>;

    /// The state of each of `jobs`, in order.
    ///
    /// # Errors
    /// Why the engine could not be asked.
    fn status(&self, jobs: &[String]) -> Result<Vec<JobState>, LaunchError>;

    /// Stops `jobs` (those already over are ignored).
    ///
    /// # Errors
    /// Why the engine could not be asked.
    fn stop(&self, jobs: &[String]) -> Result<(), LaunchError>;

    /// How job `id` reads in messages and in [`Worker::Remote`](crate::executor::Worker)
    /// ("slurm job 42").
    fn describe(&self, id: &str) -> String {
        format!("{} job {id}", self.name())
    }
}

/// Runs a short command, returning its standard output; a failure says what ran.
pub(super) fn run(command: &mut std::process::Command) -> Result<String, LaunchError> {
    let line = command_line(command);
    let output = command
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|error| LaunchError::Command {
            command: line.clone(),
            error,
        })?;
    if !output.status.success() {
        return Err(LaunchError::Failed {
            command: line,
            status: crate::link::exit::describe(output.status),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The command's program and arguments, shortened, for messages.
fn command_line(command: &std::process::Command) -> String {
    let mut line = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    if line.len() > 300 {
        let mut end = 300;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line.truncate(end);
        line.push_str("...");
    }
    line
}
