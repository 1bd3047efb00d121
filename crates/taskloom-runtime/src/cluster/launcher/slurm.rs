//! [`Slurm`]: one batch job per worker.
//!
//! - **Start**: `sbatch --parsable --no-requeue` with the partition, CPUs per worker,
//!   walltime and any extra arguments, running the program with `exec` (so Slurm's
//!   signals reach it, not a shell). The scheduler's address and the secret file's
//!   path go in the job's environment (`--export=ALL` with both set in `sbatch`'s
//!   own environment: no value on a command line, none cut at a comma). Without
//!   `--no-requeue`, Slurm would start a failed node's job again by itself, behind the
//!   back of the cluster, which retries and replaces on its own terms.
//! - **Walltime**: a job with a walltime is sent `SIGUSR1` [`Slurm::warning`] before
//!   its end (`--signal=B:USR1@60` by default; `B:` signals the batch step, which is
//!   the worker). The worker then takes no more calls, finishes the one it runs, says
//!   so and exits: nothing it was given is lost, and the cluster submits a
//!   replacement. Slurm sends the signal up to a minute early (its timer's
//!   resolution).
//! - **Watch**: `squeue -h -t all -j ID,... -o '%i|%T|%r'`: pending (with its
//!   reason), running, completing (how it ends is not known yet), or over
//!   (`CANCELLED`, `TIMEOUT`, `NODE_FAIL`, `FAILED`...).
//!   `-t all`: a plain `squeue -j` omits jobs that are over. A job Slurm forgot
//!   (past `MinJobAge`) is [`JobState::Unknown`].
//! - **Stop**: `scancel ID...`; the cluster cancels every job it started when it is
//!   dropped.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::{JobState, LaunchError, Launcher, WorkerSpec, run};

/// Starts workers as Slurm batch jobs. Every setting is optional: without any,
/// `sbatch`'s defaults (and the site's) apply.
///
/// ```no_run
/// use std::time::Duration;
/// use taskloom::cluster::{Cluster, Slurm};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let slurm = Slurm::new()
///     .partition("ci")
///     .cpus_per_worker(1)
///     .walltime(Duration::from_secs(30 * 60))
///     .arg("--mem=2G");
/// let cluster = Cluster::builder()
///     .launcher(slurm)
///     .workers(8)
///     .listen("0.0.0.0:0".parse()?) // reachable from the compute nodes
///     .build()?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Slurm {
    partition: Option<String>,
    cpus: Option<u32>,
    walltime: Option<Duration>,
    warning: Duration,
    job_name: String,
    output: Option<String>,
    args: Vec<OsString>,
    bin_dir: Option<PathBuf>,
}

impl Default for Slurm {
    fn default() -> Self {
        Slurm {
            partition: None,
            cpus: None,
            walltime: None,
            warning: Slurm::DEFAULT_WARNING,
            job_name: "taskloom-worker".into(),
            output: None,
            args: Vec::new(),
            bin_dir: None,
        }
    }
}

impl Slurm {
    /// Default time before the walltime at which a worker is told to retire.
    pub const DEFAULT_WARNING: Duration = Duration::from_secs(60);

    /// A launcher with `sbatch`'s defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// The partition (`--partition`).
    pub fn partition(mut self, partition: impl Into<String>) -> Self {
        self.partition = Some(partition.into());
        self
    }

    /// CPUs per worker (`--cpus-per-task`).
    pub fn cpus_per_worker(mut self, cpus: u32) -> Self {
        self.cpus = Some(cpus);
        self
    }

    /// Each worker's walltime (`--time`, rounded up to whole seconds). Workers are
    /// told to retire [`Slurm::warning`] before it.
    pub fn walltime(mut self, walltime: Duration) -> Self {
        self.walltime = Some(walltime);
        self
    }

    /// How long before the walltime a worker is sent `SIGUSR1` to retire (default
    /// [`Slurm::DEFAULT_WARNING`]; only with a walltime).
    pub fn warning(mut self, before: Duration) -> Self {
        self.warning = before;
        self
    }

    /// The jobs' name (`--job-name`, default `taskloom-worker`).
    pub fn job_name(mut self, name: impl Into<String>) -> Self {
        self.job_name = name.into();
        self
    }

    /// Where each job's output goes (`--output`, with Slurm's `%j` and friends);
    /// default: `worker-%j.log` in the cluster's directory, removed with it.
    pub fn output(mut self, pattern: impl Into<String>) -> Self {
        self.output = Some(pattern.into());
        self
    }

    /// Adds an argument to every `sbatch` (`--mem=2G`, `--account=...`,
    /// `--constraint=...`); they come after the launcher's own, so they win.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// The directory of `sbatch`, `squeue` and `scancel` (default: found on `PATH`).
    pub fn bin_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.bin_dir = Some(dir.into());
        self
    }

    fn command(&self, name: &str) -> Command {
        match &self.bin_dir {
            Some(dir) => Command::new(dir.join(name)),
            None => Command::new(name),
        }
    }

    /// The `sbatch` command that starts one worker as `spec` says.
    pub(crate) fn sbatch(&self, spec: &WorkerSpec) -> Command {
        let mut sbatch = self.command("sbatch");
        sbatch
            .arg("--parsable")
            .arg("--no-requeue")
            .arg(format!("--job-name={}", self.job_name))
            .arg("--export=ALL");
        if let Some(partition) = &self.partition {
            sbatch.arg(format!("--partition={partition}"));
        }
        if let Some(cpus) = self.cpus {
            sbatch.arg(format!("--cpus-per-task={cpus}"));
        }
        if let Some(walltime) = self.walltime {
            sbatch.arg(format!("--time={}", slurm_time(walltime)));
            let warning = self.warning.as_secs().clamp(1, 65_535);
            sbatch.arg(format!("--signal=B:USR1@{warning}"));
        }
        let output = match &self.output {
            Some(pattern) => pattern.clone(),
            None => spec.dir.join("worker-%j.log").display().to_string(),
        };
        sbatch.arg(format!("--output={output}"));
        sbatch.args(&self.args);
        let mut script = String::from("exec");
        for word in std::iter::once(spec.program.as_os_str()).chain(spec.args.iter().map(|a| &**a))
        {
            script.push(' ');
            script.push_str(&shell_quote(&word.to_string_lossy()));
        }
        sbatch.arg("--wrap").arg(script);
        sbatch.envs(spec.env.iter().map(|(k, v)| (k, v)));
        sbatch
    }
}

impl Launcher for Slurm {
    fn name(&self) -> &str {
        "slurm"
    }

    fn launch(&self, spec: &WorkerSpec) -> Result<String, LaunchError> {
        let printed = run(&mut self.sbatch(spec))?;
        // `--parsable`: "ID" or "ID;CLUSTER".
        let id = printed.trim().split(';').next().unwrap_or_default();
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit() || c == '_') {
            return Err(LaunchError::Output {
                command: "sbatch --parsable".into(),
                output: printed,
            });
        }
        Ok(id.to_owned())
    }

    fn status(&self, jobs: &[String]) -> Result<Vec<JobState>, LaunchError> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let mut squeue = self.command("squeue");
        squeue
            .args(["-h", "-t", "all", "-o", "%i|%T|%r", "-j"])
            .arg(jobs.join(","));
        let printed = match run(&mut squeue) {
            Ok(printed) => printed,
            // Every id is one Slurm forgot.
            Err(LaunchError::Failed { stderr, .. }) if stderr.contains("Invalid job id") => {
                String::new()
            }
            Err(e) => return Err(e),
        };
        Ok(parse_squeue(&printed, jobs))
    }

    fn stop(&self, jobs: &[String]) -> Result<(), LaunchError> {
        if jobs.is_empty() {
            return Ok(());
        }
        let mut scancel = self.command("scancel");
        scancel.args(jobs);
        match run(&mut scancel) {
            Ok(_) => Ok(()),
            // Jobs that are over already: nothing to stop.
            Err(LaunchError::Failed { stderr, .. })
                if stderr.lines().all(|l| {
                    l.contains("already completing or completed") || l.contains("Invalid job id")
                }) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    fn describe(&self, id: &str) -> String {
        format!("slurm job {id}")
    }
}

/// The state of each of `jobs` in `squeue -o '%i|%T|%r'` output.
fn parse_squeue(printed: &str, jobs: &[String]) -> Vec<JobState> {
    let mut states = vec![JobState::Unknown; jobs.len()];
    for line in printed.lines() {
        let mut fields = line.trim().splitn(3, '|');
        let (Some(id), Some(state), reason) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        let reason = reason
            .map(str::trim)
            .filter(|r| !r.is_empty() && *r != "None")
            .map(str::to_owned);
        let Some(i) = jobs.iter().position(|j| j == id) else {
            continue;
        };
        states[i] = match state {
            "PENDING" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED" => {
                JobState::Pending(reason.unwrap_or_default())
            }
            "RUNNING" | "CONFIGURING" | "SUSPENDED" | "STOPPED" | "RESIZING" | "SIGNALING"
            | "STAGE_OUT" | "RESV_DEL_HOLD" => JobState::Running,
            "COMPLETING" => JobState::Ending,
            ended => JobState::Ended {
                state: ended.to_owned(),
                reason,
            },
        };
    }
    states
}

/// A duration as Slurm's `--time` reads it: `hours:minutes:seconds`, rounded up.
fn slurm_time(d: Duration) -> String {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    let secs = secs.max(1);
    format!("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// `word` quoted for a POSIX shell.
fn shell_quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@%".contains(c))
    {
        return word.to_owned();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> WorkerSpec {
        WorkerSpec {
            program: "/opt/my app/bin".into(),
            args: vec!["--it's".into()],
            env: vec![("TASKLOOM_CLUSTER_ADDR".into(), "10.0.0.1:7000".into())],
            dir: "/home/u/.taskloom/c1".into(),
        }
    }

    fn args(command: &Command) -> Vec<String> {
        command
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn sbatch_asks_for_what_was_configured() {
        let slurm = Slurm::new()
            .partition("ci")
            .cpus_per_worker(2)
            .walltime(Duration::from_secs(3725))
            .warning(Duration::from_secs(90))
            .arg("--mem=1G");
        let command = slurm.sbatch(&spec());
        let args = args(&command);
        for expected in [
            "--parsable",
            "--no-requeue",
            "--export=ALL",
            "--partition=ci",
            "--cpus-per-task=2",
            "--time=1:02:05",
            "--signal=B:USR1@90",
            "--output=/home/u/.taskloom/c1/worker-%j.log",
            "--mem=1G",
            "--wrap",
            r"exec '/opt/my app/bin' '--it'\''s'",
        ] {
            assert!(args.iter().any(|a| a == expected), "{expected} in {args:?}");
        }
        // The address is in sbatch's environment, never on its command line.
        assert!(!args.iter().any(|a| a.contains("10.0.0.1")));
        assert!(
            command
                .get_envs()
                .any(|(k, v)| k == "TASKLOOM_CLUSTER_ADDR" && v == Some("10.0.0.1:7000".as_ref()))
        );
    }

    #[test]
    fn no_walltime_no_signal() {
        let args = args(&Slurm::new().sbatch(&spec()));
        assert!(
            !args
                .iter()
                .any(|a| a.starts_with("--time") || a.starts_with("--signal"))
        );
    }

    #[test]
    fn squeue_states_are_read_by_id() {
        let jobs: Vec<String> = ["11", "12", "13", "14", "15"].map(String::from).to_vec();
        let printed = "13|NODE_FAIL|NodeDown\n11|PENDING|BeginTime\n12|RUNNING|None\n\
                       14|CANCELLED|None\n";
        let states = parse_squeue(printed, &jobs);
        assert_eq!(states[0], JobState::Pending("BeginTime".into()));
        assert_eq!(states[1], JobState::Running);
        assert_eq!(states[2].to_string(), "NODE_FAIL (NodeDown)");
        assert_eq!(states[3].to_string(), "CANCELLED");
        assert_eq!(states[4], JobState::Unknown);
    }

    #[test]
    fn times_round_up() {
        assert_eq!(slurm_time(Duration::from_millis(59_500)), "0:01:00");
        assert_eq!(slurm_time(Duration::from_secs(86_400)), "24:00:00");
    }
}
