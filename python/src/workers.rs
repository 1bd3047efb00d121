//! Worker processes for Python tasks: taskloom's process pool and cluster, with
//! Python interpreters as their workers.
//!
//! `taskloom._native.Workers` holds a taskloom [`Scheduler`] on a
//! [`ProcessPool`] (`Workers.processes`) or a [`Cluster`] (`Workers.cluster`) whose
//! worker program is this interpreter running `taskloom.worker`. `get` then builds
//! the graph with every Dask node as a remote task (see [`crate::remote`]). The
//! Python package keeps one process pool per worker count for the life of the
//! process, as `get` keeps its thread pools; a cluster lives as long as its Python
//! object (or its `with` block).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use taskloom::Scheduler;
use taskloom::callbacks::{Callback, FinishInfo};
use taskloom::cluster::{Cluster, Local, Slurm};
use taskloom::executor::Worker;
use taskloom::process::ProcessPool;
use taskloom::traffic::Traffic;

use crate::error::SchedulerError;
use crate::remote;

/// What runs the tasks: a pool of local processes or a cluster.
enum Kind {
    Processes(ProcessPool),
    Cluster(Cluster),
}

/// A taskloom scheduler whose workers are Python interpreters.
#[pyclass(module = "taskloom._native", frozen)]
pub(crate) struct Workers {
    /// `None` once closed.
    inner: Mutex<Option<(Scheduler, Kind)>>,
    /// What the last computation's data did (bytes made, kept, moved).
    traffic: Arc<LastTraffic>,
}

/// The traffic of the last computation that finished on these workers: a callback
/// of every computation, told only of its end.
#[derive(Default)]
pub(crate) struct LastTraffic(Mutex<Option<Traffic>>);

impl Callback for LastTraffic {
    fn name(&self) -> &str {
        "taskloom traffic"
    }

    fn task_events(&self) -> bool {
        false
    }

    fn on_finish(&self, info: &FinishInfo) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(info.traffic);
    }
}

impl Workers {
    fn new(scheduler: Scheduler, kind: Kind) -> Self {
        Workers {
            inner: Mutex::new(Some((scheduler, kind))),
            traffic: Arc::default(),
        }
    }

    /// The callback that records each computation's traffic.
    pub(crate) fn traffic_callback(&self) -> Arc<dyn Callback> {
        Arc::clone(&self.traffic) as Arc<dyn Callback>
    }

    /// The scheduler, unless the workers were closed.
    pub(crate) fn scheduler(&self) -> PyResult<Scheduler> {
        self.lock()
            .as_ref()
            .map(|(s, _)| s.clone())
            .ok_or_else(|| SchedulerError::new_err("these taskloom workers were closed"))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Scheduler, Kind)>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A worker as Python sees it: `(index, pid)` in a pool, `(node, job, pid)` in a
/// cluster.
fn describe(py: Python<'_>, worker: Worker) -> PyResult<Py<PyAny>> {
    Ok(match worker {
        Worker::Process { index, pid } => (index, pid).into_pyobject(py)?.into_any().unbind(),
        Worker::Remote { .. } => worker.to_string().into_pyobject(py)?.into_any().unbind(),
        other => other.to_string().into_pyobject(py)?.into_any().unbind(),
    })
}

fn check_parent() -> PyResult<()> {
    if remote::inside_worker() {
        return Err(SchedulerError::new_err(
            "this process is a taskloom worker: it cannot start workers of its own",
        ));
    }
    remote::init_parent();
    Ok(())
}

fn settings(
    program: PathBuf,
    args: Vec<String>,
    retries: Option<u32>,
    resident: bool,
) -> taskloom::remote::Settings {
    let mut settings = taskloom::remote::Settings::new()
        .program(program)
        .resident(resident)
        // A worker is a fresh interpreter importing Dask (and numpy, pandas...) before
        // it says hello: seconds on a loaded machine, not the milliseconds of a Rust
        // worker's start that the default allows for.
        .handshake_timeout(Duration::from_secs(60));
    for arg in args {
        settings = settings.arg(arg);
    }
    if let Some(retries) = retries {
        settings = settings.retries(retries);
    }
    settings
}

#[pymethods]
impl Workers {
    /// `workers` processes running `program args` (this interpreter and
    /// `-m taskloom.worker`), started now.
    #[staticmethod]
    #[pyo3(signature = (workers, program, args, *, retries = None, resident = true))]
    fn processes(
        py: Python<'_>,
        workers: usize,
        program: PathBuf,
        args: Vec<String>,
        retries: Option<u32>,
        resident: bool,
    ) -> PyResult<Workers> {
        check_parent()?;
        let builder = ProcessPool::builder()
            .workers(workers)
            .settings(settings(program, args, retries, resident));
        let pool = py
            .detach(|| builder.build())
            .map_err(|e| SchedulerError::new_err(format!("cannot start the process pool: {e}")))?;
        let scheduler = Scheduler::builder()
            .executor(pool.clone())
            .build()
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(Workers::new(scheduler, Kind::Processes(pool)))
    }

    /// A cluster of `workers` workers started by `launcher` (`"local"` or `"slurm"`),
    /// each running `program args`; waits up to `timeout` seconds for them to
    /// connect.
    #[staticmethod]
    #[pyo3(signature = (launcher, workers, program, args, *, partition = None,
        cpus_per_worker = None, walltime = None, slurm_args = Vec::new(), listen = None,
        advertise = None, retries = None, resident = true, timeout = 120.0))]
    #[allow(clippy::too_many_arguments)]
    fn cluster(
        py: Python<'_>,
        launcher: &str,
        workers: usize,
        program: PathBuf,
        args: Vec<String>,
        partition: Option<String>,
        cpus_per_worker: Option<u32>,
        walltime: Option<f64>,
        slurm_args: Vec<String>,
        listen: Option<String>,
        advertise: Option<String>,
        retries: Option<u32>,
        resident: bool,
        timeout: f64,
    ) -> PyResult<Workers> {
        check_parent()?;
        let mut builder = Cluster::builder()
            .workers(workers)
            .settings(settings(program, args, retries, resident));
        builder = match launcher {
            "local" => builder.launcher(Local::new()),
            "slurm" => {
                let mut slurm = Slurm::new();
                if let Some(p) = partition {
                    slurm = slurm.partition(p);
                }
                if let Some(c) = cpus_per_worker {
                    slurm = slurm.cpus_per_worker(c);
                }
                if let Some(w) = walltime {
                    slurm = slurm.walltime(seconds(w)?);
                }
                for a in slurm_args {
                    slurm = slurm.arg(a);
                }
                builder.launcher(slurm)
            }
            other => {
                return Err(PyValueError::new_err(format!(
                    "launcher must be \"local\" or \"slurm\", not {other:?}"
                )));
            }
        };
        if let Some(listen) = listen {
            let addr = listen
                .parse()
                .map_err(|e| PyValueError::new_err(format!("listen={listen:?}: {e}")))?;
            builder = builder.listen(addr);
        }
        if let Some(advertise) = advertise {
            builder = builder.advertise(advertise);
        }
        let timeout = seconds(timeout)?;
        let cluster = py.detach(|| {
            let cluster = builder.build().map_err(|e| e.to_string())?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime
                .block_on(cluster.wait_for_workers(workers, timeout))
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(cluster)
        });
        let cluster = cluster
            .map_err(|e| SchedulerError::new_err(format!("cannot start the cluster: {e}")))?;
        let scheduler = Scheduler::builder()
            .executor(cluster.clone())
            .build()
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(Workers::new(scheduler, Kind::Cluster(cluster)))
    }

    /// Stops the workers (killed, or their jobs cancelled) and waits for that.
    fn close(&self, py: Python<'_>) {
        let taken = self.lock().take();
        py.detach(move || drop(taken));
    }

    /// Whether `close` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.lock().is_none()
    }

    /// The process id of each worker of a pool (`None` while one is replaced); the
    /// pids of a cluster's connected workers.
    fn pids(&self) -> PyResult<Vec<Option<u32>>> {
        let inner = self.lock();
        match inner.as_ref() {
            Some((_, Kind::Processes(pool))) => Ok(pool.pids()),
            Some((_, Kind::Cluster(cluster))) => Ok(cluster
                .status()
                .workers
                .iter()
                .map(|w| match &w.worker {
                    Worker::Remote { pid, .. } => Some(*pid),
                    _ => None,
                })
                .collect()),
            None => Err(SchedulerError::new_err(
                "these taskloom workers were closed",
            )),
        }
    }

    /// Bytes of results each worker holds for computations (what stays out of this
    /// process), as `[(worker, bytes)]`.
    fn held_bytes(&self, py: Python<'_>) -> PyResult<Vec<(Py<PyAny>, u64)>> {
        let held = match self.lock().as_ref() {
            Some((_, Kind::Processes(pool))) => pool.held_bytes(),
            Some((_, Kind::Cluster(cluster))) => cluster.held_bytes(),
            None => {
                return Err(SchedulerError::new_err(
                    "these taskloom workers were closed",
                ));
            }
        };
        held.into_iter()
            .map(|(w, b)| Ok((describe(py, w)?, b)))
            .collect()
    }

    /// Bytes the last computation's tasks made and moved, as a dict (`produced`,
    /// `kept` in workers, `to_parent`, `from_parent`, `moved` between workers
    /// through this process, `worker_to_worker` between workers directly);
    /// `None` before the first computation ends.
    fn traffic(&self) -> Option<std::collections::HashMap<&'static str, u64>> {
        let traffic = (*self
            .traffic
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner))?;
        Some(
            [
                ("produced", traffic.produced),
                ("kept", traffic.kept),
                ("to_parent", traffic.to_parent),
                ("from_parent", traffic.from_parent),
                ("moved", traffic.moved),
                ("worker_to_worker", traffic.worker_to_worker),
            ]
            .into(),
        )
    }

    /// The cluster's nodes of its connected workers (empty for a pool).
    fn nodes(&self) -> Vec<String> {
        match self.lock().as_ref() {
            Some((_, Kind::Cluster(cluster))) => cluster
                .status()
                .workers
                .iter()
                .map(|w| match &w.worker {
                    Worker::Remote { node, .. } => node.to_string(),
                    other => other.to_string(),
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

fn seconds(s: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(s).map_err(|e| PyValueError::new_err(format!("{s} s: {e}")))
}
