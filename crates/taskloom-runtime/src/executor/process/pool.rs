//! The parent side of the process pool.
//!
//! One supervisor thread runs a current-thread Tokio runtime of the pool's own, so the
//! pool works whatever runtime (or none) drives the computations, and every child is
//! started by the same long-lived thread (Linux's parent-death signal follows the
//! thread that forked). On it, one task per worker slot owns that slot's child:
//! it takes a batch from the shared queue, sends it as one frame, reads one answer
//! frame per call and reports completions, and watches at the same time for the
//! batch's computation being cancelled and for the pool shutting down.
//!
//! Failures end in one place, [`Slot::lose`]: the child is killed if needed and
//! reaped, the call it was running fails with the reason (exit status, signal,
//! malformed frame, cancellation), and the slot starts a new child (at once when the
//! pool is eager, on next use otherwise).

use std::collections::VecDeque;
use std::fmt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{FutureExt, SinkExt, StreamExt};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::Notify;
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};
use tokio_util::sync::CancellationToken;

use super::protocol::{self, Blob, Call, MAGIC, Outcome, Reply, Request, VERSION};
use super::{ProcessError, StartError, WORKER_ENV};
use crate::error::{TaskError, TaskErrorKind};
use crate::executor::{
    Batch, Completion, Executor, Job, Message, Sink, ThreadPool, Worker, record_span,
};
use crate::remote::format;
use crate::value::Value;

/// The pool's settings, checked by the builder.
#[derive(Debug)]
pub(super) struct Config {
    pub(super) workers: usize,
    pub(super) eager: bool,
    pub(super) program: PathBuf,
    pub(super) args: Vec<std::ffi::OsString>,
    pub(super) max_frame_length: usize,
    pub(super) handshake_timeout: Duration,
}

/// What the executor handle and the slots share.
struct Shared {
    config: Config,
    /// Batches of remote jobs waiting for a slot. A `std` mutex: held only to push or
    /// pop, never across an `.await`.
    queue: Mutex<VecDeque<Batch>>,
    /// Wakes a slot waiting for a batch.
    available: Notify,
    /// Cancelled when the pool is dropped.
    shutdown: CancellationToken,
    /// The pid of each slot's current child.
    pids: Mutex<Vec<Option<u32>>>,
}

impl Shared {
    fn set_pid(&self, index: usize, pid: Option<u32>) {
        if let Some(slot) = self
            .pids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(index)
        {
            *slot = pid;
        }
    }

    /// The next batch, or `None` once the pool shuts down.
    async fn next_batch(&self) -> Option<Batch> {
        loop {
            if self.shutdown.is_cancelled() {
                return None;
            }
            if let Some(batch) = self
                .queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop_front()
            {
                return Some(batch);
            }
            // `notify_one` stores a permit when no slot waits, so a batch pushed
            // between the check above and this wait is not missed.
            tokio::select! {
                () = self.available.notified() => {}
                () = self.shutdown.cancelled() => return None,
            }
        }
    }
}

/// The process pool behind [`ProcessPool`](super::ProcessPool).
pub(super) struct Pool {
    shared: Arc<Shared>,
    local: ThreadPool,
    supervisor: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessPool")
            .field("workers", &self.shared.config.workers)
            .field("program", &self.shared.config.program)
            .field("pids", &self.pids())
            .finish()
    }
}

impl Pool {
    /// Starts the supervisor thread and, when eager, every worker.
    pub(super) fn start(config: Config, local: ThreadPool) -> Result<Self, ProcessError> {
        let workers = config.workers;
        let eager = config.eager;
        let shared = Arc::new(Shared {
            config,
            queue: Mutex::new(VecDeque::new()),
            available: Notify::new(),
            shutdown: CancellationToken::new(),
            pids: Mutex::new(vec![None; workers]),
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ProcessError::Supervisor)?;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread_shared = Arc::clone(&shared);
        let supervisor = std::thread::Builder::new()
            .name("taskloom-process-pool".into())
            .spawn(move || runtime.block_on(supervise(thread_shared, ready_tx)))
            .map_err(ProcessError::Supervisor)?;
        let pool = Pool {
            shared,
            local,
            supervisor: Mutex::new(Some(supervisor)),
        };
        if eager {
            // The supervisor answers once every worker said hello or one failed.
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e), // dropping `pool` stops the others
                Err(_) => {
                    return Err(ProcessError::Supervisor(std::io::Error::other(
                        "the supervisor thread stopped",
                    )));
                }
            }
        }
        Ok(pool)
    }

    pub(super) fn pids(&self) -> Vec<Option<u32>> {
        self.shared
            .pids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(super) fn num_workers(&self) -> usize {
        self.shared.config.workers
    }

    pub(super) fn is_local_thread(&self) -> bool {
        self.local.is_worker_thread()
    }

    /// Remote jobs go to the workers, the others to the local threads.
    pub(super) fn submit(&self, mut batch: Batch) {
        let jobs = batch.jobs_mut();
        if !jobs.iter().all(|j| j.body.remote.is_some()) {
            let (remote, local): (Vec<Job>, Vec<Job>) = std::mem::take(jobs)
                .into_iter()
                .partition(|j| j.body.remote.is_some());
            if !local.is_empty() {
                self.local.submit(Batch::new(local));
            }
            *jobs = remote;
            if jobs.is_empty() {
                return;
            }
        }
        self.shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(batch);
        self.shared.available.notify_one();
    }
}

impl Drop for Pool {
    /// Stops the slots, which kill and reap their children, and waits for that: no
    /// worker outlives the pool. Batches still queued report their jobs as lost.
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
        let queued: Vec<Batch> = self
            .shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
            .collect();
        drop(queued);
        let supervisor = self
            .supervisor
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = supervisor {
            let _ = thread.join();
        }
    }
}

/// The supervisor thread's body: start the slots (and, when eager, their children),
/// then wait until every slot has stopped.
async fn supervise(shared: Arc<Shared>, ready: std::sync::mpsc::Sender<Result<(), ProcessError>>) {
    let workers = shared.config.workers;
    let mut conns: Vec<Option<Conn>> = (0..workers).map(|_| None).collect();
    if shared.config.eager {
        let started =
            futures::future::join_all((0..workers).map(|index| Conn::start(&shared, index))).await;
        let mut failure = None;
        for (index, result) in started.into_iter().enumerate() {
            match result {
                Ok(conn) => conns[index] = Some(conn),
                Err(error) if failure.is_none() => {
                    failure = Some(ProcessError::Start {
                        index: index as u32,
                        error,
                    });
                }
                Err(_) => {}
            }
        }
        if let Some(error) = failure {
            for conn in conns.into_iter().flatten() {
                conn.stop(&shared).await;
            }
            let _ = ready.send(Err(error));
            return;
        }
        let _ = ready.send(Ok(()));
    }
    let slots: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(index, conn)| {
            let slot = Slot {
                index,
                shared: Arc::clone(&shared),
                conn,
            };
            tokio::spawn(slot.run())
        })
        .collect();
    for slot in slots {
        let _ = slot.await;
    }
}

/// A running worker process and its pipes.
struct Conn {
    child: Child,
    pid: u32,
    reader: FramedRead<ChildStdout, LengthDelimitedCodec>,
    writer: FramedWrite<ChildStdin, LengthDelimitedCodec>,
}

impl Conn {
    /// Starts worker `index` and waits for its hello.
    async fn start(shared: &Shared, index: usize) -> Result<Conn, StartError> {
        let config = &shared.config;
        let program = config.program.clone();
        let mut child = Command::new(&config.program)
            .args(&config.args)
            .env(WORKER_ENV, format!("{}:{index}", std::process::id()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| StartError::Spawn {
                program: program.clone(),
                error,
            })?;
        let (Some(stdin), Some(stdout), Some(pid)) =
            (child.stdin.take(), child.stdout.take(), child.id())
        else {
            let status = reap(&mut child).await;
            return Err(StartError::Exited { program, status });
        };
        // A hello is tiny: a program that is not a worker is caught by its first bytes.
        let mut reader = FramedRead::new(stdout, protocol::codec(protocol::MAX_HELLO));
        let first = tokio::time::timeout(config.handshake_timeout, reader.next()).await;
        let failure = match first {
            Err(_) => Some(StartError::Timeout {
                program: program.clone(),
                timeout: config.handshake_timeout,
            }),
            Ok(None) => Some(StartError::Exited {
                program: program.clone(),
                status: reap(&mut child).await,
            }),
            Ok(Some(Err(_))) => Some(StartError::NotAWorker {
                program: program.clone(),
                what: shorten(reader.read_buffer()),
            }),
            Ok(Some(Ok(frame))) => match format::decode_borrowed::<Reply<'_>>(&frame) {
                Ok(Reply::Hello {
                    magic: MAGIC,
                    version: VERSION,
                    ..
                }) => None,
                _ => Some(StartError::NotAWorker {
                    program: program.clone(),
                    what: shorten(&frame),
                }),
            },
        };
        if let Some(error) = failure {
            let _ = child.start_kill();
            reap(&mut child).await;
            return Err(error);
        }
        reader
            .decoder_mut()
            .set_max_frame_length(config.max_frame_length);
        shared.set_pid(index, Some(pid));
        tracing::debug!(index, pid, "taskloom worker started");
        Ok(Conn {
            child,
            pid,
            reader,
            writer: FramedWrite::new(stdin, protocol::codec(config.max_frame_length)),
        })
    }

    /// Stops an idle worker: closes its stdin (it exits on EOF), kills it if it does
    /// not exit promptly, and reaps it.
    async fn stop(self, shared: &Shared) {
        let Conn {
            mut child, writer, ..
        } = self;
        drop(writer);
        if tokio::time::timeout(Duration::from_millis(100), child.wait())
            .await
            .is_err()
        {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
        let _ = shared;
    }
}

/// Waits for a child that is exiting and says how it ended; kills it if it does not
/// end within a second (it closed its stdout but lives on).
async fn reap(child: &mut Child) -> String {
    let status = match tokio::time::timeout(Duration::from_secs(1), child.wait()).await {
        Ok(status) => status,
        Err(_) => {
            let _ = child.start_kill();
            child.wait().await
        }
    };
    match status {
        Ok(status) => describe(status),
        Err(e) => format!("ended (its status is unknown: {e})"),
    }
}

/// "exited with status 3", "killed by signal 9 (SIGKILL)".
fn describe(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            let core = if status.core_dumped() {
                ", core dumped"
            } else {
                ""
            };
            return format!(
                "was killed by signal {signal} ({}{core})",
                signal_name(signal)
            );
        }
    }
    match status.code() {
        Some(code) => format!("exited with status {code}"),
        None => format!("ended ({status})"),
    }
}

#[cfg(unix)]
fn signal_name(signal: i32) -> &'static str {
    match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        10 => "SIGUSR1",
        11 => "SIGSEGV",
        12 => "SIGUSR2",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        _ => "signal",
    }
}

/// The first bytes a non-worker wrote, for an error message.
fn shorten(bytes: &[u8]) -> String {
    const SHOWN: usize = 40;
    if bytes.is_empty() {
        return "an empty frame".into();
    }
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(SHOWN)]);
    let more = if bytes.len() > SHOWN { "..." } else { "" };
    format!("{text:?}{more}")
}

/// Bytes of a call besides its inputs, counted generously (frame header, varints).
const CALL_OVERHEAD: usize = 32;

/// One worker slot: its current child, if any.
struct Slot {
    index: usize,
    shared: Arc<Shared>,
    conn: Option<Conn>,
}

/// Why a batch stopped before its last answer.
enum Lost {
    /// The child died, sent garbage, or its pipe failed: `reason` says which.
    Worker(String),
    /// The batch's computation was cancelled: the child was killed.
    Cancelled,
    /// The pool is shutting down.
    Shutdown,
}

impl Slot {
    async fn run(mut self) {
        while let Some(batch) = self.shared.next_batch().await {
            let jobs = batch.into_jobs();
            let Some(sink) = jobs.first().map(|j| j.scope.sink.clone()) else {
                continue;
            };
            self.run_batch(jobs, &Reporter { sink }).await;
            if self.conn.is_none()
                && self.shared.config.eager
                && !self.shared.shutdown.is_cancelled()
            {
                // Replace the worker now, so the next batch does not wait for it. A
                // failure here is retried (and reported) on next use.
                self.conn = Conn::start(&self.shared, self.index).await.ok();
            }
        }
        if let Some(conn) = self.conn.take() {
            self.shared.set_pid(self.index, None);
            conn.stop(&self.shared).await;
        }
    }

    fn worker(&self, pid: u32) -> Worker {
        Worker::Process {
            index: u32::try_from(self.index).unwrap_or(u32::MAX),
            pid,
        }
    }

    /// Runs one batch of remote jobs (one computation's) on this slot's child.
    async fn run_batch(&mut self, jobs: Vec<Job>, reporter: &Reporter) {
        let Some(first) = jobs.first() else { return };
        let scope = Arc::clone(&first.scope);
        if scope.cancel.is_cancelled() {
            reporter.report(
                jobs.into_iter()
                    .map(|job| fail(job, Worker::Inline, cancelled("before it started")))
                    .collect(),
            );
            return;
        }
        if self.conn.is_none() {
            match Conn::start(&self.shared, self.index).await {
                Ok(conn) => self.conn = Some(conn),
                Err(e) => {
                    let message = format!("worker {} could not start: {e}", self.index);
                    reporter.report(
                        jobs.into_iter()
                            .map(|job| {
                                fail(
                                    job,
                                    Worker::Inline,
                                    TaskError::new(TaskErrorKind::WorkerLost, message.clone()),
                                )
                            })
                            .collect(),
                    );
                    return;
                }
            }
        }
        let Some(pid) = self.conn.as_ref().map(|c| c.pid) else {
            return;
        };
        let worker = self.worker(pid);

        // Encode every call's inputs into one buffer; a job whose inputs do not
        // encode fails here, and the others go.
        let max = self.shared.config.max_frame_length;
        let mut args = Vec::with_capacity(16 * jobs.len());
        let mut ranges = VecDeque::with_capacity(jobs.len());
        let mut sent = VecDeque::with_capacity(jobs.len());
        let mut failed = Vec::new();
        let mut scratch = Vec::new();
        for job in jobs {
            let Some(spec) = job.body.remote.as_ref() else {
                let error = TaskError::new(TaskErrorKind::TypeMismatch, "not a remote task");
                failed.push(fail(job, worker, error));
                continue;
            };
            scratch.clear();
            match spec.encode(&job.inputs, &mut scratch) {
                Ok(()) if scratch.len() + spec.name.len() + CALL_OVERHEAD > max => {
                    let error = TaskError::new(
                        TaskErrorKind::Serialization,
                        format!(
                            "its inputs take {} bytes, more than the pool's max_frame_length \
                             ({max})",
                            scratch.len(),
                        ),
                    );
                    failed.push(fail(job, worker, error));
                }
                Ok(()) => {
                    let start = args.len();
                    args.extend_from_slice(&scratch);
                    ranges.push_back(start..args.len());
                    sent.push_back(job);
                }
                Err(error) => failed.push(fail(job, worker, error)),
            }
        }
        if !failed.is_empty() {
            reporter.report(failed);
        }

        // Send the calls in frames of at most `max_frame_length` bytes (one frame,
        // unless the inputs are large), and read the answers of each.
        while !sent.is_empty() {
            let mut count = 0;
            let mut size = CALL_OVERHEAD;
            let mut calls = Vec::with_capacity(sent.len());
            for (job, range) in sent.iter().zip(&ranges) {
                let func = job.body.remote.as_ref().map_or("", |s| &*s.name);
                let call_size = range.len() + func.len() + CALL_OVERHEAD;
                if count > 0 && size + call_size > max {
                    break;
                }
                size += call_size;
                count += 1;
                calls.push(Call {
                    func,
                    args: Blob(&args[range.clone()]),
                });
            }
            let mut body = Vec::with_capacity(size);
            let encoded = format::encode_into(&Request::Run(calls), &mut body);
            let chunk: Vec<Job> = sent.drain(..count).collect();
            ranges.drain(..count);
            let result = match encoded {
                Ok(()) => {
                    self.exchange(Bytes::from(body), chunk, worker, &scope, reporter)
                        .await
                }
                Err(e) => Err((
                    Lost::Worker(format!("could not be sent the batch ({e})")),
                    chunk,
                )),
            };
            if let Err((lost, mut rest)) = result {
                rest.extend(sent.drain(..));
                self.lose(lost, rest, worker, reporter).await;
                return;
            }
        }
    }

    /// Sends one frame of calls and reads one answer per call, reporting completions
    /// as they arrive. On failure returns why and the jobs still unanswered (the first
    /// one is the one the worker was running).
    async fn exchange(
        &mut self,
        body: Bytes,
        jobs: Vec<Job>,
        worker: Worker,
        scope: &Arc<crate::context::Scope>,
        reporter: &Reporter,
    ) -> Result<(), (Lost, Vec<Job>)> {
        let Some(conn) = self.conn.as_mut() else {
            return Err((Lost::Worker("the worker is gone".into()), jobs));
        };
        if let Err(e) = conn.writer.send(body).await {
            return Err((Lost::Worker(format!("cannot write to it: {e}")), jobs));
        }
        let sent_at = Instant::now();
        let mut pending: VecDeque<Job> = jobs.into();
        let mut done = Vec::with_capacity(pending.len());
        let mut expected: u32 = 0;
        while !pending.is_empty() {
            let frame = tokio::select! {
                biased;
                () = self.shared.shutdown.cancelled() => {
                    return Err((Lost::Shutdown, pending.into()));
                }
                () = scope.cancel.token().cancelled() => {
                    return Err((Lost::Cancelled, pending.into()));
                }
                frame = conn.reader.next() => frame,
            };
            // Take every answer already here, then report them in one message.
            let mut frame = frame;
            loop {
                let bytes = match frame {
                    Some(Ok(bytes)) => bytes,
                    Some(Err(e)) => {
                        report(reporter, &mut done);
                        return Err((
                            Lost::Worker(format!("sent a malformed frame ({e})")),
                            pending.into(),
                        ));
                    }
                    None => {
                        report(reporter, &mut done);
                        let status = reap(&mut conn.child).await;
                        return Err((Lost::Worker(status), pending.into()));
                    }
                };
                let Some(job) = pending.front() else {
                    break;
                };
                match answer(&bytes, expected, job, worker, sent_at) {
                    Ok(answered) => {
                        if let Some(job) = pending.pop_front() {
                            done.push(answered.complete(job));
                        }
                    }
                    Err(reason) => {
                        report(reporter, &mut done);
                        return Err((Lost::Worker(reason), pending.into()));
                    }
                }
                expected += 1;
                if pending.is_empty() {
                    break;
                }
                match conn.reader.next().now_or_never() {
                    Some(next) => frame = next,
                    None => break,
                }
            }
            report(reporter, &mut done);
        }
        Ok(())
    }

    /// The worker is lost for `jobs` (the first was running): kill and reap it, fail
    /// the jobs, forget the child.
    async fn lose(&mut self, lost: Lost, jobs: Vec<Job>, worker: Worker, reporter: &Reporter) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        self.shared.set_pid(self.index, None);
        let reason = match lost {
            Lost::Worker(reason) => {
                // Garbage or a broken pipe: the child may still run. Dead: no-op.
                let _ = conn.child.start_kill();
                let _ = conn.child.wait().await;
                reason
            }
            Lost::Cancelled => {
                let _ = conn.child.start_kill();
                let _ = conn.child.wait().await;
                tracing::debug!(
                    index = self.index,
                    pid = conn.pid,
                    "worker killed: its computation was cancelled"
                );
                let completions = jobs
                    .into_iter()
                    .map(|job| fail(job, worker, cancelled("its worker was stopped")))
                    .collect();
                reporter.report(completions);
                return;
            }
            Lost::Shutdown => {
                let _ = conn.child.start_kill();
                let _ = conn.child.wait().await;
                "the process pool shut down".to_owned()
            }
        };
        tracing::warn!(index = self.index, pid = conn.pid, %reason, "taskloom worker lost");
        let mut jobs = jobs.into_iter();
        let mut completions = Vec::new();
        if let Some(running) = jobs.next() {
            let culprit = running.key().to_string();
            let message = format!("worker {worker} {reason} while running it");
            completions.push(fail(
                running,
                worker,
                TaskError::new(TaskErrorKind::WorkerLost, message),
            ));
            completions.extend(jobs.map(|job| {
                let message =
                    format!("not run: worker {worker} {reason} while running `{culprit}`");
                fail(
                    job,
                    worker,
                    TaskError::new(TaskErrorKind::WorkerLost, message),
                )
            }));
        }
        reporter.report(completions);
    }
}

/// Reports the completions gathered so far, in one message.
/// Sends a batch's completions to its computation.
struct Reporter {
    sink: Sink,
}

impl Reporter {
    fn started(&self, task: taskloom_core::TaskId, worker: Worker, at: Instant) {
        self.sink.started(task, worker, at);
    }

    fn report(&self, completions: Vec<Completion>) {
        if !completions.is_empty() {
            self.sink.send(Message::Done(completions));
        }
    }
}

fn report(reporter: &Reporter, done: &mut Vec<Completion>) {
    if done.is_empty() {
        return;
    }
    for c in done.iter() {
        reporter.started(c.task, c.worker, c.started);
    }
    reporter.report(std::mem::take(done));
}

/// A worker's answer to one call, placed on the parent's clock.
struct Answered {
    result: Result<Value, TaskError>,
    worker: Worker,
    started: Instant,
    finished: Instant,
}

impl Answered {
    fn complete(self, job: Job) -> Completion {
        record_span(
            &job.span,
            self.worker,
            job.queued,
            self.started,
            self.finished,
        );
        job.finish(self.result, self.worker, self.started, self.finished)
    }
}

/// Reads the answer frame for `job`. A frame that is not the expected answer means
/// the worker cannot be trusted any more: `Err` with the reason.
fn answer(
    frame: &[u8],
    expected: u32,
    job: &Job,
    worker: Worker,
    sent_at: Instant,
) -> Result<Answered, String> {
    let (index, start_ns, run_ns, outcome) = match format::decode_borrowed::<Reply<'_>>(frame) {
        Ok(Reply::Done {
            index,
            start_ns,
            run_ns,
            outcome,
        }) => (index, start_ns, run_ns, outcome),
        Ok(Reply::Hello { .. }) => return Err("sent a second hello".into()),
        Err(e) => return Err(format!("sent a malformed frame ({e}): {}", shorten(frame))),
    };
    if index != expected {
        return Err(format!(
            "answered call {index} when call {expected} was due"
        ));
    }
    let result = match outcome {
        Outcome::Value(Blob(bytes)) => match job.body.remote.as_ref() {
            Some(spec) => spec.decode(bytes),
            None => Err(TaskError::new(
                TaskErrorKind::TypeMismatch,
                "not a remote task",
            )),
        },
        Outcome::Failed(m) => Err(TaskError::new(TaskErrorKind::Failed, m)),
        Outcome::Panicked(m) => Err(TaskError::new(TaskErrorKind::Panicked, m)),
        Outcome::Serialization(m) => Err(TaskError::new(TaskErrorKind::Serialization, m)),
        Outcome::DropPanicked(m) => Err(TaskError::new(TaskErrorKind::DropPanicked, m)),
        Outcome::Unknown(name) => Err(TaskError::new(
            TaskErrorKind::Failed,
            format!(
                "no remote function `{name}` is registered in worker {worker}: register it in \
                 the registry given to `process::init`"
            ),
        )),
    };
    // The worker's clock is not ours: place the call on our clock from the moment the
    // batch was sent (the pipe's latency is not counted as run time).
    let now = Instant::now();
    let started = (sent_at + Duration::from_nanos(start_ns)).min(now);
    let finished = (started + Duration::from_nanos(run_ns)).min(now);
    Ok(Answered {
        result,
        worker,
        started,
        finished,
    })
}

fn cancelled(when: &str) -> TaskError {
    TaskError::new(
        TaskErrorKind::Cancelled,
        format!("the computation was cancelled {when}"),
    )
}

/// The completion of a job that did not run (or whose worker was lost).
fn fail(job: Job, worker: Worker, error: TaskError) -> Completion {
    let now = Instant::now();
    job.finish(Err(error), worker, now, now)
}
