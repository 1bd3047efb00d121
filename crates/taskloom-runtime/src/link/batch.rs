//! One batch of remote jobs on one worker: encode the calls, send them in frames,
//! read one answer per call, and report each completion as it arrives.
//!
//! The batch stops early when its computation is cancelled, the executor shuts down,
//! or the worker is lost; it then hands the jobs it did not finish back to its
//! caller, in order (see [`Loss`]), and [`super::loss`] decides their fate: failed,
//! sent again, or retried ([`crate::executor::retry`]). Nothing here decides a job's
//! fate after a loss, and nothing here kills a worker. The worker is reached through
//! a [`Transport`]: pipes or a socket, this code does not know which.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use smallvec::SmallVec;
use tokio_util::sync::CancellationToken;

use super::place::{Home, Places, RemoteRef};
use super::protocol::{Arg, Blob, Call, Member, Outcome, Reply, Request, shorten};
use super::report::Reporter;
use super::resident::{self, Moved};
use super::{End, Transport};
use crate::error::{TaskError, TaskErrorKind};
use crate::executor::{Completion, Job, Scope, Worker, record_span};
use crate::remote::{Raised, format};
use crate::value::Value;

/// Bytes of a call besides its inputs, counted generously (frame header, varints).
const CALL_OVERHEAD: usize = 32;

/// Why a batch stopped before its last answer, and the jobs it did not finish.
#[derive(Debug)]
pub(crate) struct Loss {
    pub(crate) lost: Lost,
    /// The jobs without an answer, in the order they were (or would have been)
    /// sent: the first is the one the worker was running if `running`; the rest never
    /// started.
    pub(crate) jobs: Vec<Job>,
    /// Whether the worker had been sent the first of `jobs` and may have started it
    /// (`false`: the frame could not be written, or the batch stopped between
    /// frames).
    pub(crate) running: bool,
}

/// Why a batch stopped before its last answer.
#[derive(Debug)]
pub(crate) enum Lost {
    /// The worker ended, broke the protocol, went silent or retired.
    Worker(End),
    /// The batch's computation was cancelled (the worker must be killed: it may be
    /// running one of its tasks).
    Cancelled,
    /// The executor is shutting down.
    Shutdown,
    /// The call the worker was running ran past its task's timeout (the worker
    /// must be killed: it is still running it).
    TimedOut(Duration),
}

/// The worker a batch runs on, as the executor's table of held values knows it.
pub(crate) struct Here<'a> {
    pub(crate) worker: Worker,
    pub(crate) home: Home,
    pub(crate) places: &'a Arc<Places>,
}

/// Runs `jobs` (one computation's) on `conn`, the worker `here`, reporting every
/// completion; `max` is the executor's frame limit. Inputs the worker holds are named
/// by id; results only other remote tasks need stay in the worker when the executor
/// keeps results (see [`super::resident`]). A worker that says it retires
/// has the jobs it will not start handed back at once (`handback`: to the queue, for
/// other workers), and its running one answered; then the batch ends with
/// [`End::Retired`].
pub(crate) async fn run<T: Transport>(
    conn: &mut T,
    jobs: Vec<Job>,
    here: &Here<'_>,
    max: usize,
    shutdown: &CancellationToken,
    reporter: &Reporter,
    handback: &(dyn Fn(Vec<Job>) + Sync),
) -> Result<(), Loss> {
    let Some(scope) = jobs.first().map(|j| Arc::clone(&j.scope)) else {
        return Ok(());
    };
    let worker = here.worker;
    let encoded = encode(jobs, here, max, reporter);
    let Encoded {
        args,
        mut ranges,
        mut jobs,
    } = encoded;

    // Send the calls in frames of at most `max` bytes (one frame, unless the inputs
    // are large), and read the answers of each before sending the next.
    while !jobs.is_empty() {
        let mut count = 0;
        let mut size = CALL_OVERHEAD;
        let mut calls = Vec::with_capacity(jobs.len());
        for (job, call) in jobs.iter().zip(&ranges) {
            let spec = job.body.remote.as_deref();
            let func = spec.map_or("", |s| &*s.name);
            let payload = spec.and_then(|s| s.payload());
            let call_size = call.size + func.len() + CALL_OVERHEAD;
            if count > 0 && size + call_size > max {
                break;
            }
            size += call_size;
            count += 1;
            calls.push(Call {
                func,
                payload: payload.map(Blob),
                args: call
                    .args
                    .iter()
                    .map(|a| match a {
                        ArgAt::All(range) => Arg::All(Blob(&args[range.clone()])),
                        ArgAt::Bytes(range) => Arg::Value(Blob(&args[range.clone()])),
                        ArgAt::Held(id) => Arg::Held(*id),
                        ArgAt::Copy { range, uid } => Arg::Copy {
                            bytes: Blob(&args[range.clone()]),
                            uid: *uid,
                        },
                        ArgAt::Peer { at, id, uid } => Arg::Peer {
                            at,
                            id: *id,
                            uid: *uid,
                        },
                    })
                    .collect(),
                keep: call.keep,
                then: job
                    .chain
                    .iter()
                    .flat_map(|c| c.members.iter())
                    .map(|(member, _)| remote_member(&job.scope.graph, *member))
                    .collect(),
            });
        }
        let mut body = Vec::with_capacity(size);
        let encoded = format::encode_into(&Request::Run(calls), &mut body);
        let frame: Vec<Job> = jobs.drain(..count).collect();
        let copied: VecDeque<Copied> = ranges.drain(..count).map(|c| c.copied).collect();
        if let Err(e) = encoded {
            // Cannot happen with a `Vec` as output; if it did, these calls never
            // reached the worker, which is still in step.
            let message = format!("the frame of its call would not encode ({e})");
            reporter.report(
                frame
                    .into_iter()
                    .map(|job| {
                        let error = TaskError::new(TaskErrorKind::Serialization, message.clone());
                        job.failed(error, worker)
                    })
                    .collect(),
            );
            continue;
        }
        let exchanged = exchange(
            conn,
            Bytes::from(body),
            (frame, copied),
            &mut jobs,
            Ends {
                here,
                scope: &scope,
                shutdown,
                reporter,
                handback,
            },
        )
        .await;
        match exchanged {
            Ok(Flow::Continue) => {}
            Ok(Flow::Retiring) => {
                return Err(loss(Lost::Worker(End::Retired), Vec::new(), jobs, false));
            }
            Err((lost, unanswered, running)) => return Err(loss(lost, unanswered, jobs, running)),
        }
    }
    Ok(())
}

/// Where an exchange's results and early returns go.
struct Ends<'a> {
    here: &'a Here<'a>,
    scope: &'a Scope,
    shutdown: &'a CancellationToken,
    reporter: &'a Reporter,
    handback: &'a (dyn Fn(Vec<Job>) + Sync),
}

/// How an exchange ended, when every call it sent was answered or handed back.
enum Flow {
    /// The worker goes on.
    Continue,
    /// The worker retires: it closes its connection next.
    Retiring,
}

/// A loss: `unanswered` jobs of the frame in flight, then the `unsent` ones.
fn loss(lost: Lost, unanswered: Vec<Job>, unsent: VecDeque<Job>, running: bool) -> Loss {
    let mut jobs = unanswered;
    jobs.extend(unsent);
    Loss {
        lost,
        jobs,
        running,
    }
}

/// A batch's calls, encoded.
struct Encoded {
    /// Every call's encoded inputs, one after the other.
    args: Vec<u8>,
    /// Each call's inputs and whether its result stays in the worker.
    ranges: VecDeque<CallAt>,
    /// The jobs whose inputs encoded, in order.
    jobs: VecDeque<Job>,
}

/// One call of a batch: where its inputs are, and whether its result stays.
struct CallAt {
    args: Vec<ArgAt>,
    /// Bytes of its encoded inputs.
    size: usize,
    keep: bool,
    copied: Copied,
}

/// The inputs of a call that the worker keeps a copy of (moved in, or fetched from
/// another worker), in order: the answer's `copies` are their ids.
type Copied = SmallVec<[usize; 2]>;

/// Where one input of a call is (or all of them).
enum ArgAt {
    /// Every input, encoded as the argument tuple, in the batch's buffer.
    All(std::ops::Range<usize>),
    /// Encoded, in the batch's buffer.
    Bytes(std::ops::Range<usize>),
    /// Held by the worker, under this id.
    Held(u64),
    /// Moved in through the parent, in the batch's buffer: the worker keeps a copy.
    Copy {
        range: std::ops::Range<usize>,
        uid: u64,
    },
    /// Held by another worker, which serves it at `at` under `id`: the worker fetches
    /// it and keeps a copy.
    Peer { at: Arc<str>, id: u64, uid: u64 },
}

/// Encodes every job's inputs into one buffer: values the worker holds by id, the
/// others encoded (or, moved from another worker, as their bytes). A job whose
/// inputs do not encode (an error, a panicking `Serialize`, too large for a frame)
/// fails here, and the others go.
fn encode(jobs: Vec<Job>, here: &Here<'_>, max: usize, reporter: &Reporter) -> Encoded {
    let worker = here.worker;
    let mut args = Vec::with_capacity(16 * jobs.len());
    let mut ranges = VecDeque::with_capacity(jobs.len());
    let mut sent = VecDeque::with_capacity(jobs.len());
    let mut failed = Vec::new();
    let mut scratch = Vec::new();
    // Values moved in through the parent whose bytes a call of this batch carries:
    // a later call taking the same value finds the worker's copy by its number.
    let mut carried: SmallVec<[u64; 4]> = SmallVec::new();
    for job in jobs {
        let Some(spec) = job.body.remote.as_ref() else {
            let error = TaskError::new(TaskErrorKind::TypeMismatch, "not a remote task");
            failed.push(job.failed(error, worker));
            continue;
        };
        let start = args.len();
        let mut at = Vec::with_capacity(1);
        let mut copied = Copied::new();
        let mut carries: SmallVec<[u64; 2]> = SmallVec::new();
        let mut error = None;
        // No input held by a worker (always so without residency): all of them in
        // one tuple, the cheaper form to encode and decode.
        let plain = spec.encodes_all()
            && (!here.places.resident()
                || job
                    .inputs
                    .iter()
                    .all(|v| !v.is::<RemoteRef>() && !v.is::<Moved>()));
        if plain {
            match spec.encode_all(&job.inputs, &mut scratch) {
                Ok(()) => {
                    args.extend_from_slice(&scratch);
                    at.push(ArgAt::All(start..args.len()));
                }
                Err(e) => error = Some(e),
            }
        }
        for (i, input) in job.inputs.iter().enumerate().filter(|_| !plain) {
            if let Some(r) = input.downcast_ref::<RemoteRef>() {
                if let Some(id) = r.held_at(here.home) {
                    at.push(ArgAt::Held(id));
                } else if let Some((peer, id)) = here.places.peer_source(r, here.home) {
                    copied.push(i);
                    at.push(ArgAt::Peer {
                        at: peer,
                        id,
                        uid: r.uid,
                    });
                } else {
                    // `resident::gather` moved inputs in that could not be fetched
                    // directly; this one's workers were lost since: the loop runs it
                    // again, then this task.
                    error = Some(TaskError::new(
                        TaskErrorKind::InputLost,
                        format!(
                            "its input `{}` was held by worker {}, which was lost",
                            r.key, r.worker
                        ),
                    ));
                    break;
                }
            } else if let Some(moved) = input.downcast_ref::<Moved>() {
                let from = args.len();
                match moved.remote() {
                    Some(r) => {
                        if !carried.contains(&r.uid) && !carries.contains(&r.uid) {
                            args.extend_from_slice(&moved.bytes);
                            carries.push(r.uid);
                        }
                        copied.push(i);
                        at.push(ArgAt::Copy {
                            range: from..args.len(),
                            uid: r.uid,
                        });
                    }
                    None => {
                        args.extend_from_slice(&moved.bytes);
                        at.push(ArgAt::Bytes(from..args.len()));
                    }
                }
            } else {
                match spec.encode_arg(i, input, &mut scratch) {
                    Ok(()) => {
                        let from = args.len();
                        args.extend_from_slice(&scratch);
                        at.push(ArgAt::Bytes(from..args.len()));
                    }
                    Err(e) => {
                        error = Some(e);
                        break;
                    }
                }
            }
        }
        // Payloads cross in the call too: the task's own and its chain members'.
        let payloads: usize = spec.payload().map_or(0, <[u8]>::len)
            + job
                .chain
                .iter()
                .flat_map(|c| c.members.iter())
                .map(|(member, _)| {
                    let m = remote_member(&job.scope.graph, *member);
                    m.func.len() + m.payload.map_or(0, |p| p.0.len()) + 10
                })
                .sum::<usize>();
        let peers: usize = at
            .iter()
            .map(|a| match a {
                ArgAt::Peer { at, .. } => at.len(),
                _ => 0,
            })
            .sum();
        let size = args.len() - start + 20 * at.len() + peers + payloads;
        let error = error.or_else(|| {
            (size + spec.name.len() + CALL_OVERHEAD > max).then(|| {
                TaskError::new(
                    TaskErrorKind::Serialization,
                    format!(
                        "its inputs take {} bytes, more than the pool's max_frame_length \
                         ({max})",
                        args.len() - start,
                    ),
                )
            })
        });
        if let Some(error) = error {
            args.truncate(start);
            failed.push(job.failed(error, worker));
            continue;
        }
        carried.extend(carries);
        job.scope.traffic.sent((args.len() - start) as u64);
        let last = job.member(job.chain_len());
        let keep = here.places.resident() && job.scope.stays(last);
        ranges.push_back(CallAt {
            args: at,
            size,
            keep,
            copied,
        });
        sent.push_back(job);
    }
    reporter.report(failed);
    Encoded {
        args,
        ranges,
        jobs: sent,
    }
}

/// Sends one frame of calls and reads one answer per call, reporting completions
/// as they arrive. On failure: why, the jobs still unanswered, and whether the first
/// of them may have started. A retirement notice hands back at once the calls the
/// worker will not start, this frame's and the `unsent` ones.
async fn exchange<T: Transport>(
    conn: &mut T,
    body: Bytes,
    (jobs, mut copied): (Vec<Job>, VecDeque<Copied>),
    unsent: &mut VecDeque<Job>,
    ends: Ends<'_>,
) -> Result<Flow, (Lost, Vec<Job>, bool)> {
    let Ends {
        here,
        scope,
        shutdown,
        reporter,
        handback,
    } = ends;
    let sent = tokio::select! {
        biased;
        () = shutdown.cancelled() => return Err((Lost::Shutdown, jobs, false)),
        () = scope.cancel.token().cancelled() => return Err((Lost::Cancelled, jobs, false)),
        sent = conn.send(body) => sent,
    };
    if let Err(end) = sent {
        return Err((Lost::Worker(end), jobs, false));
    }
    let sent_at = Instant::now();
    let mut pending: VecDeque<Job> = jobs.into();
    // The deadline of the call due, if its task has a timeout: from the moment the
    // worker could start it (the batch sent, or the answer before it read).
    let mut deadline = deadline_of(pending.front(), sent_at);
    let mut done = Vec::with_capacity(pending.len());
    let mut expected: u32 = 0;
    let mut flow = Flow::Continue;
    while !pending.is_empty() {
        let mut frame = tokio::select! {
            biased;
            () = shutdown.cancelled() => return Err((Lost::Shutdown, pending.into(), true)),
            () = scope.cancel.token().cancelled() => {
                return Err((Lost::Cancelled, pending.into(), true));
            }
            frame = conn.next_frame() => frame,
            () = sleep_until(deadline), if deadline.is_some() => {
                let limit = deadline.map_or(Duration::ZERO, |(_, limit)| limit);
                reporter.answered(&mut done);
                return Err((Lost::TimedOut(limit), pending.into(), true));
            }
        };
        // Take every answer already here, then report them in one message.
        loop {
            let lost = match frame {
                Ok(bytes) => match pending.front() {
                    Some(job) => {
                        let copies = copied.front().map_or(&[][..], |c| &c[..]);
                        match answer(&bytes, expected, job, copies, here, sent_at) {
                            Ok(Answer::Done(answered)) => {
                                if let Some(job) = pending.pop_front() {
                                    done.push(answered.complete(job));
                                }
                                copied.pop_front();
                                expected += 1;
                                deadline = deadline_of(pending.front(), Instant::now());
                                None
                            }
                            Ok(Answer::Unfetched { input, why }) => {
                                // Not run: the input moves through the parent, and the
                                // job comes back to this worker.
                                if let Some(job) = pending.pop_front() {
                                    resident::through_parent(
                                        here.places,
                                        here.home,
                                        here.worker,
                                        job,
                                        input,
                                        &why,
                                    );
                                }
                                copied.pop_front();
                                expected += 1;
                                deadline = deadline_of(pending.front(), Instant::now());
                                None
                            }
                            Ok(Answer::Retiring { runs_due }) => {
                                // The calls it will not start go to other workers now;
                                // the one it runs is still answered here.
                                flow = Flow::Retiring;
                                let keep = usize::from(runs_due).min(pending.len());
                                let rest: Vec<Job> =
                                    pending.drain(keep..).chain(unsent.drain(..)).collect();
                                if !rest.is_empty() {
                                    handback(rest);
                                }
                                None
                            }
                            Err(reason) => Some(End::Misbehaved(reason)),
                        }
                    }
                    None => None,
                },
                Err(end) => Some(end),
            };
            if let Some(end) = lost {
                reporter.answered(&mut done);
                return Err((Lost::Worker(end), pending.into(), true));
            }
            if pending.is_empty() {
                break;
            }
            match conn.ready_frame() {
                Some(next) => frame = next,
                None => break,
            }
        }
        reporter.answered(&mut done);
    }
    Ok(flow)
}

/// When the call of `job`, started by the worker from `since`, passes its task's
/// timeout, and the timeout.
fn deadline_of(job: Option<&Job>, since: Instant) -> Option<(Instant, Duration)> {
    let job = job?;
    let limit = job.scope.timeout(job.task)?;
    Some((since + limit, limit))
}

/// Sleeps until the deadline (forever without one).
async fn sleep_until(deadline: Option<(Instant, Duration)>) {
    match deadline {
        Some((at, _)) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}

/// A worker's answer to one call, placed on the parent's clock.
struct Answered {
    result: Result<Value, TaskError>,
    worker: Worker,
    started: Instant,
    finished: Instant,
    /// Tasks of the job that ran (a fused chain's members).
    members: u32,
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
        job.finish_chain(
            self.result,
            self.worker,
            self.started,
            self.finished,
            self.members,
        )
    }
}

/// The registered name and payload of remote task `task` as a chain member ("" if
/// it is not one: a chain member always is).
fn remote_member(
    graph: &taskloom_core::Graph<crate::body::TaskBody>,
    task: taskloom_core::TaskId,
) -> Member<'_> {
    let spec = match graph.payload(task) {
        crate::body::TaskBody::Blocking(b) => b.remote.as_deref(),
        crate::body::TaskBody::Async(_) => None,
    };
    Member {
        func: spec.map_or("", |s| &*s.name),
        payload: spec.and_then(|s| s.payload()).map(Blob),
    }
}

/// What a worker's frame says about the call due.
enum Answer {
    /// Its answer.
    Done(Answered),
    /// It did not run: its input `input` could not be fetched from the worker
    /// holding it (`why`).
    Unfetched { input: usize, why: String },
    /// The worker is leaving; whether it runs the call due (and will answer it).
    Retiring { runs_due: bool },
}

/// Reads the answer frame for `job`, whose inputs `copied` the worker was to keep
/// copies of. A frame that is not the expected answer means the worker cannot be
/// trusted any more: `Err` with the reason, as a verb phrase.
fn answer(
    frame: &[u8],
    expected: u32,
    job: &Job,
    copied: &[usize],
    here: &Here<'_>,
    sent_at: Instant,
) -> Result<Answer, String> {
    let worker = here.worker;
    let (index, start_ns, run_ns, members, chain_bytes, copies, fetched, outcome) =
        match format::decode_borrowed::<Reply<'_>>(frame) {
            Ok(Reply::Done {
                index,
                start_ns,
                run_ns,
                members,
                chain_bytes,
                copies,
                fetched,
                outcome,
            }) => (
                index,
                start_ns,
                run_ns,
                members,
                chain_bytes,
                copies,
                fetched,
                outcome,
            ),
            Ok(Reply::Retiring { running }) => {
                return match running {
                    Some(i) if i > expected => Err(format!(
                        "said it runs call {i} when call {expected} was due"
                    )),
                    running => Ok(Answer::Retiring {
                        runs_due: running == Some(expected),
                    }),
                };
            }
            Ok(Reply::Hello { .. }) => return Err("sent a second hello".into()),
            Ok(Reply::Fetched(_)) => return Err("sent a value nobody fetched".into()),
            Err(e) => return Err(format!("sent a malformed frame ({e}): {}", shorten(frame))),
        };
    if index != expected {
        return Err(format!(
            "answered call {index} when call {expected} was due"
        ));
    }
    if copies.len() > copied.len() {
        return Err(format!(
            "kept {} copies of a call's inputs when it was sent {}",
            copies.len(),
            copied.len()
        ));
    }
    // The copies stay in the worker whatever the outcome: each is a holder of its
    // value from now on (released with it).
    for (&input, &id) in copied.iter().zip(&copies) {
        let remote = job.inputs.get(input).and_then(|v| {
            v.downcast_ref::<RemoteRef>()
                .or_else(|| v.downcast_ref::<Moved>().and_then(Moved::remote))
        });
        if let Some(r) = remote {
            r.copied(here.home, worker, id);
        }
    }
    job.scope.traffic.worker_to_worker(fetched);
    if let Outcome::Unfetched { arg, why } = outcome {
        return Ok(Answer::Unfetched {
            input: arg as usize,
            why: why.to_owned(),
        });
    }
    // The result is the last member's that ran (the task's own, without a chain).
    let members = members.clamp(1, job.chain_len());
    let task = job.member(members);
    job.scope.traffic.produced_in_chain(chain_bytes);
    let result = match outcome {
        Outcome::Value(Blob(bytes)) => {
            job.scope.traffic.returned(bytes.len() as u64);
            match job.scope.graph.payload(task) {
                crate::body::TaskBody::Blocking(b) if b.remote.is_some() => {
                    b.remote.as_ref().map_or_else(
                        || {
                            Err(TaskError::new(
                                TaskErrorKind::TypeMismatch,
                                "not a remote task",
                            ))
                        },
                        |spec| spec.decode(bytes),
                    )
                }
                _ => Err(TaskError::new(
                    TaskErrorKind::TypeMismatch,
                    "not a remote task",
                )),
            }
        }
        Outcome::Kept { id, bytes } => {
            job.scope.traffic.kept(bytes);
            Ok(RemoteRef::kept(
                here.places,
                here.home,
                worker,
                id,
                bytes,
                job.scope.graph.key(task).clone(),
                &job.scope,
            ))
        }
        Outcome::Failed(m) => Err(TaskError::new(TaskErrorKind::Failed, m)),
        Outcome::Raised { message, detail } => {
            Err(TaskError::failed(Raised::new(message, detail.0.to_vec())))
        }
        Outcome::Panicked(m) => Err(TaskError::new(TaskErrorKind::Panicked, m)),
        Outcome::Serialization(m) => Err(TaskError::new(TaskErrorKind::Serialization, m)),
        Outcome::DropPanicked(m) => Err(TaskError::new(TaskErrorKind::DropPanicked, m)),
        // Answered above; never reached.
        Outcome::Unfetched { arg, why } => Err(TaskError::new(
            TaskErrorKind::WorkerLost,
            format!("its input {arg} could not be fetched: {why}"),
        )),
        Outcome::Unknown(name) => Err(TaskError::new(
            TaskErrorKind::Failed,
            format!(
                "no remote function `{name}` is registered in worker {worker}: register it in \
                 the registry given to `remote::init`"
            ),
        )),
    };
    // The worker's clock is not ours: place the call on our clock from the moment the
    // batch was sent (the pipe's or the network's latency is not counted as run time).
    let now = Instant::now();
    let started = (sent_at + Duration::from_nanos(start_ns)).min(now);
    let finished = (started + Duration::from_nanos(run_ns)).min(now);
    Ok(Answer::Done(Answered {
        result,
        worker,
        started,
        finished,
        members,
    }))
}
