//! [`Local`]: cluster workers as processes on this machine, connecting over
//! loopback. For tests, and for one box used the cluster's way (workers that can be
//! started, lost and replaced exactly as on many machines).

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, PoisonError};

use super::{JobState, LaunchError, Launcher, WorkerSpec};
use crate::cluster::JOB_ENV;

/// Starts each worker as a child process of this one, in a process group of its
/// own; stopping one kills the group. Job ids are `local-0`, `local-1`... (the worker
/// reports it, in [`JOB_ENV`]). Dropping the launcher (with its cluster) kills every
/// worker it started.
///
/// ```no_run
/// use taskloom::cluster::{Cluster, Local};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cluster = Cluster::builder().launcher(Local::new()).workers(2).build()?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Default)]
pub struct Local {
    next: AtomicU32,
    /// Every worker started, by job id. A `std` mutex: held for a `try_wait` or a
    /// `spawn`, never across an await.
    children: Mutex<HashMap<String, Started>>,
}

#[derive(Debug)]
struct Started {
    child: Child,
    /// How it ended, once reaped (its pid, and so its group's id, may then be
    /// recycled: never signalled again).
    ended: Option<String>,
}

impl Local {
    /// A launcher of local workers.
    pub fn new() -> Self {
        Self::default()
    }

    /// The process id of job `id`'s worker, if it was started here.
    pub fn pid(&self, id: &str) -> Option<u32> {
        self.lock().get(id).map(|s| s.child.id())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Started>> {
        self.children.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Started {
    /// Reaps the child if it ended; how it ended.
    fn poll(&mut self) -> Option<&str> {
        if self.ended.is_none() {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.ended = Some(crate::link::exit::describe(status));
            }
        }
        self.ended.as_deref()
    }

    /// Kills the worker's group (unless it was reaped) and reaps it.
    fn kill(&mut self) {
        if self.poll().is_some() {
            return;
        }
        #[cfg(unix)]
        if let Some(pgid) = i32::try_from(self.child.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
        }
        let _ = self.child.kill();
        if let Ok(status) = self.child.wait() {
            self.ended = Some(crate::link::exit::describe(status));
        }
    }
}

impl Launcher for Local {
    fn name(&self) -> &str {
        "local"
    }

    fn launch(&self, spec: &WorkerSpec) -> Result<String, LaunchError> {
        let id = format!("local-{}", self.next.fetch_add(1, Ordering::Relaxed));
        let mut command = Command::new(&spec.program);
        command
            .args(&spec.args)
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .env(JOB_ENV, &id)
            .stdin(Stdio::null());
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command.spawn().map_err(|error| LaunchError::Command {
            command: spec.program.display().to_string(),
            error,
        })?;
        self.lock()
            .insert(id.clone(), Started { child, ended: None });
        Ok(id)
    }

    fn status(&self, jobs: &[String]) -> Result<Vec<JobState>, LaunchError> {
        let mut children = self.lock();
        Ok(jobs
            .iter()
            .map(|id| match children.get_mut(id) {
                None => JobState::Unknown,
                Some(started) => match started.poll() {
                    None => JobState::Running,
                    Some(ended) => JobState::Ended {
                        state: ended.to_owned(),
                        reason: None,
                    },
                },
            })
            .collect())
    }

    fn stop(&self, jobs: &[String]) -> Result<(), LaunchError> {
        let mut children = self.lock();
        for id in jobs {
            if let Some(started) = children.get_mut(id) {
                started.kill();
            }
        }
        Ok(())
    }

    fn describe(&self, id: &str) -> String {
        id.to_owned()
    }
}

impl Drop for Local {
    /// No worker outlives its launcher.
    fn drop(&mut self) {
        for started in self.lock().values_mut() {
            started.kill();
        }
    }
}
