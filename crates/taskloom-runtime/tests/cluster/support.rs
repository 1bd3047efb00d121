//! What the cluster tests share: a runtime, clusters with test settings, the
//! listener that learns when a call starts, process and connection helpers.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use taskloom::callbacks::{Callback, TaskFinish};
use taskloom::cluster::{Cluster, ClusterBuilder, ClusterStatus, Local};
use taskloom::executor::Worker;
use taskloom::{Key, Scheduler};

/// A bound for waits that should end in a second or two (a loaded 2-core CI box
/// gets a wide margin); a test that reaches one fails.
pub(crate) const WAIT: Duration = Duration::from_secs(60);

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A cluster builder with the tests' settings: quick polls, quick heartbeats.
pub(crate) fn builder() -> ClusterBuilder {
    Cluster::builder()
        .poll_interval(Duration::from_millis(200))
        .heartbeat(Duration::from_millis(200), Duration::from_secs(10))
        .no_worker_timeout(Duration::from_secs(30))
}

/// `n` local workers, connected, and a scheduler on them.
pub(crate) fn local(
    rt: &tokio::runtime::Runtime,
    n: usize,
    b: ClusterBuilder,
) -> (Cluster, Scheduler) {
    let cluster = b.launcher(Local::new()).workers(n).build().unwrap();
    rt.block_on(cluster.wait_for_workers(n, WAIT)).unwrap();
    let scheduler = Scheduler::builder()
        .executor(cluster.clone())
        .build()
        .unwrap();
    (cluster, scheduler)
}

/// Waits until `done` holds for the cluster's status.
pub(crate) fn wait_for(
    rt: &tokio::runtime::Runtime,
    cluster: &Cluster,
    what: &str,
    done: impl FnMut(&ClusterStatus) -> bool,
) -> ClusterStatus {
    rt.block_on(cluster.wait_for(what, WAIT, done)).unwrap()
}

/// Where the `started` function reports: each call that starts connects here.
pub(crate) struct Starts {
    addr: String,
    /// Connections, accepted by a thread of their own (so waits are bounded).
    accepted: std::sync::mpsc::Receiver<TcpStream>,
}

/// A call that started: its worker's pid, its tag (`started-N`; 0 for `started`),
/// and the connection to answer it on.
pub(crate) struct Started {
    pub(crate) pid: u32,
    pub(crate) tag: u32,
    stream: TcpStream,
}

impl Starts {
    pub(crate) fn new() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (tx, accepted) = std::sync::mpsc::channel();
        // Ends when the test drops `Starts` (the next send fails) or the process does.
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if tx.send(stream).is_err() {
                    break;
                }
            }
        });
        Starts { addr, accepted }
    }

    /// The address to give the calls.
    pub(crate) fn addr(&self) -> String {
        self.addr.clone()
    }

    /// Waits for the next call to start (at most [`WAIT`]).
    pub(crate) fn next(&self) -> Started {
        let stream = self
            .accepted
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("no call started within {WAIT:?}"));
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let mut line = String::new();
        BufReader::new(stream.try_clone().unwrap())
            .read_line(&mut line)
            .unwrap();
        let (pid, tag) = line.trim().split_once(' ').unwrap();
        Started {
            pid: pid.parse().unwrap(),
            tag: tag.parse().unwrap(),
            stream,
        }
    }
}

impl Started {
    /// Lets the call return `value` (a negative value makes it abort its worker).
    pub(crate) fn answer(mut self, value: i64) {
        writeln!(self.stream, "{value}").unwrap();
    }
}

/// Records the worker of every finished task.
#[derive(Clone, Default)]
pub(crate) struct Workers(pub(crate) Arc<Mutex<Vec<(Key, Worker)>>>);

impl Callback for Workers {
    fn on_task_finish(&self, event: &TaskFinish<'_>) {
        self.0
            .lock()
            .unwrap()
            .push((event.key.clone(), event.worker));
    }
}

impl Workers {
    pub(crate) fn of(&self, key: &str) -> Vec<Worker> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.to_string() == key)
            .map(|(_, w)| *w)
            .collect()
    }
}

/// The pid of a cluster worker.
pub(crate) fn pid(worker: Worker) -> u32 {
    match worker {
        Worker::Remote { pid, .. } => pid,
        other => panic!("not a cluster worker: {other}"),
    }
}

/// The worker of `status` whose process is `pid`.
pub(crate) fn worker_with_pid(status: &ClusterStatus, pid: u32) -> Worker {
    status
        .workers
        .iter()
        .map(|w| w.worker)
        .find(|w| self::pid(*w) == pid)
        .unwrap_or_else(|| panic!("no worker with pid {pid} in {status:?}"))
}

/// Sends `signal` to `pid` with kill(1).
pub(crate) fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

/// Whether `pid` is a live process (not gone, not a zombie).
pub(crate) fn alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    !matches!(state, Some('Z' | 'X') | None)
}

/// Waits until `pid` is gone: there is no event to wait on for a process that is not
/// our child, so this looks every 20 ms, up to [`WAIT`].
pub(crate) fn wait_gone(pid: u32) {
    let start = Instant::now();
    while alive(pid) {
        assert!(
            start.elapsed() < WAIT,
            "process {pid} still alive after {WAIT:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// This test binary as a worker started by hand (as Kubernetes or a shell would),
/// for `cluster`, with `env` added (or, for a `None` value, removed).
pub(crate) fn worker_by_hand(addr: &str, env: &[(&str, Option<&str>)]) -> Child {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .env("TASKLOOM_CLUSTER_ADDR", addr)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (key, value) in env {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    command.spawn().unwrap()
}

/// Waits for a child started by hand to exit (bounded: it is killed after
/// [`WAIT`]); its status code and what it wrote on standard error.
pub(crate) fn exit_of(child: Child) -> (Option<i32>, String) {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(WAIT) {
        Ok(output) => {
            let output = output.unwrap();
            (
                output.status.code(),
                String::from_utf8_lossy(&output.stderr).into_owned(),
            )
        }
        Err(_) => {
            signal(pid, "KILL");
            panic!("worker {pid} still running after {WAIT:?}");
        }
    }
}
