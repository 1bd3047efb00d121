//! Results held in workers, as the parent moves and frees them: the bytes of a value
//! on its way between workers, and the small exchanges that move and free held
//! values.
//!
//! A remote task whose result only other remote tasks need (not a target, no local or
//! async dependent: [`Scope::stays`](crate::executor::Scope::stays)) runs with `keep`:
//! the worker keeps the result and answers its id and size. The scheduling loop then
//! holds a [`RemoteRef`] (`super::place`'s: its drop updates the table of holdings)
//! as that task's value, exactly where it would hold the value; core's release of the
//! result drops the loop's reference, and the last reference dropped queues a
//! release for every worker holding it ([`Places::release`], sent by [`release`]).
//! Failure and cancellation drop every value the loop holds, so they free every
//! worker's results the same way.
//!
//! A task placed on a worker that does not hold all its inputs gets the others moved
//! in, and the worker keeps each as a copy (a second holder of the same result,
//! released with it), so the next task there that needs it needs no move:
//!
//! - **directly** when both workers serve each other (the process pool: `super::peer`):
//!   the call names the holder's socket and the value's id there
//!   ([`Arg::Peer`](super::protocol::Arg::Peer)), and the worker fetches it itself.
//!   Nothing crosses the parent. A fetch that fails (the holder died, or does not
//!   answer) is answered [`Outcome::Unfetched`](super::protocol::Outcome::Unfetched),
//!   and the task comes here ([`through_parent`]) to have that input moved the other
//!   way, where a lost holder is a lost input;
//! - **through the parent** otherwise (the cluster; see the guide's cluster chapter
//!   for why): before the task runs, its worker's slot asks a holder for the bytes
//!   ([`fetch`], served by the holder's own slot between its batches) and sends them
//!   along with the call as a [`Moved`] value. Jobs that reach the same worker in
//!   later batches, while a value they take is still on its way there, wait for the
//!   same bytes ([`Places::join_move`]): small batches (a run kept to its plan's
//!   count) do not move a value once per batch.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::place::{Fetch, Home, Places, RemoteRef};
use super::protocol::{Blob, Reply, Request, shorten};
use super::report::Reporter;
use super::{End, Transport};
use crate::error::{TaskError, TaskErrorKind};
use crate::executor::{Job, Worker};
use crate::remote::format;
use crate::value::{Value, value};

/// A held value's bytes, fetched through the parent for a task on another worker.
pub(crate) struct Moved {
    pub(crate) bytes: Bytes,
    /// The reference it was fetched for (a [`RemoteRef`]): the worker that takes the
    /// bytes keeps a copy, recorded there.
    pub(crate) from: Value,
}

impl Moved {
    /// The reference the bytes were fetched for.
    pub(crate) fn remote(&self) -> Option<&RemoteRef> {
        self.from.downcast_ref::<RemoteRef>()
    }
}

/// Asks the worker on `conn` for the bytes of its held value `id`: one request,
/// one answer. The worker answers between its batches (the caller's slot sends this
/// only when no batch runs).
pub(crate) async fn fetch<T: Transport>(
    conn: &mut T,
    id: u64,
) -> Result<Result<Bytes, String>, End> {
    let mut body = Vec::with_capacity(16);
    format::encode_into(&Request::Fetch(id), &mut body)
        .map_err(|e| End::Misbehaved(format!("could not be asked for a value ({e})")))?;
    conn.send(Bytes::from(body)).await?;
    let frame = conn.next_frame().await?;
    match format::decode_borrowed::<Reply<'_>>(&frame) {
        Ok(Reply::Fetched(Ok(Blob(bytes)))) => Ok(Ok(Bytes::copy_from_slice(bytes))),
        Ok(Reply::Fetched(Err(why))) => Ok(Err(why.to_owned())),
        Ok(Reply::Retiring { .. }) => Err(End::Retired),
        Ok(_) => Err(End::Misbehaved(
            "answered a fetch with something else".to_owned(),
        )),
        Err(e) => Err(End::Misbehaved(format!(
            "sent a malformed frame ({e}): {}",
            shorten(&frame)
        ))),
    }
}

/// Serves another worker's `fetch` from the worker on `conn`, between its batches:
/// the bytes go to the waiting job. `Err(None)` if `stop` was cancelled first,
/// `Err(Some(end))` if the worker is lost (the job then fails naming the value's key
/// and this worker, as the dropped request tells it).
pub(crate) async fn answer<T: Transport>(
    conn: &mut T,
    fetch: Fetch,
    stop: &tokio_util::sync::CancellationToken,
) -> Result<(), Option<End>> {
    let fetched = tokio::select! {
        biased;
        () = stop.cancelled() => return Err(None),
        fetched = self::fetch(conn, fetch.id) => fetched,
    };
    match fetched {
        Ok(answer) => {
            let _ = fetch.reply.send(answer);
            Ok(())
        }
        Err(end) => Err(Some(end)),
    }
}

/// Tells the worker on `conn` to drop its held values `ids` (no answer).
pub(crate) async fn release<T: Transport>(conn: &mut T, ids: Vec<u64>) -> Result<(), End> {
    let mut body = Vec::with_capacity(8 + 4 * ids.len());
    format::encode_into(&Request::Release(ids), &mut body)
        .map_err(|e| End::Misbehaved(format!("could not be sent a release ({e})")))?;
    conn.send(Bytes::from(body)).await
}

/// Splits `jobs` (one computation's, taken by the worker at `home`) into those that
/// can be sent now, returned, and those with inputs held by other workers that must
/// move through the parent (the worker at `home` cannot fetch them itself). Those
/// wait, in a Tokio task of their own, for their inputs' bytes (fetched by their
/// holders' slots, each value once however many of the jobs take it), then go to
/// the front of `home`'s queue, together; an input whose workers were all lost fails
/// the jobs taking it, naming the input's key and the worker that made it.
///
/// The slot never waits for another slot here, so two slots that need each other's
/// values cannot wait for each other.
pub(crate) fn gather(places: &Arc<Places>, home: Home, worker: Worker, jobs: Vec<Job>) -> Vec<Job> {
    let mut ready = Vec::with_capacity(jobs.len());
    let mut waiting = Vec::new();
    for job in jobs {
        let foreign: Vec<usize> = job
            .inputs
            .iter()
            .enumerate()
            .filter(|(_, v)| {
                v.downcast_ref::<RemoteRef>().is_some_and(|r| {
                    r.held_at(home).is_none() && places.peer_source(r, home).is_none()
                })
            })
            .map(|(i, _)| i)
            .collect();
        if foreign.is_empty() {
            ready.push(job);
            continue;
        }
        // A move to this worker already bringing these values takes the job along.
        let uids = foreign_uids(&job, &foreign);
        if let Some(job) = places.join_move(home, &uids, (job, foreign)) {
            waiting.push(job);
        }
    }
    if !waiting.is_empty() {
        let mut uids: Vec<u64> = waiting
            .iter()
            .flat_map(|(job, foreign)| foreign_uids(job, foreign))
            .collect();
        uids.sort_unstable();
        uids.dedup();
        let id = places.open_move(home, uids);
        tokio::spawn(move_in(Arc::clone(places), home, worker, waiting, id));
    }
    ready
}

/// The numbers of the values `job` takes as its inputs `foreign`.
fn foreign_uids(job: &Job, foreign: &[usize]) -> Vec<u64> {
    foreign
        .iter()
        .filter_map(|&i| job.inputs.get(i)?.downcast_ref::<RemoteRef>())
        .map(|r| r.uid)
        .collect()
}

/// A job whose worker at `home` could not fetch its input `input` from the worker
/// holding it (`why`): that input moves through the parent, then the job goes to
/// the front of `home`'s queue again (or fails, if every holder of the input was
/// lost: the loop then runs it again).
pub(crate) fn through_parent(
    places: &Arc<Places>,
    home: Home,
    worker: Worker,
    job: Job,
    input: usize,
    why: &str,
) {
    let key = job
        .inputs
        .get(input)
        .and_then(|v| v.downcast_ref::<RemoteRef>())
        .map(|r| r.key.to_string());
    tracing::warn!(
        %worker,
        key = %job.key(),
        input = key.as_deref().unwrap_or("?"),
        %why,
        "taskloom worker could not fetch an input from another worker; it moves through the parent"
    );
    let uids = foreign_uids(&job, &[input]);
    let waiting = vec![(job, vec![input])];
    let id = places.open_move(home, uids);
    tokio::spawn(move_in(Arc::clone(places), home, worker, waiting, id));
}

/// Where a fetch's bytes arrive (or why there are none).
type Answer = tokio::sync::oneshot::Receiver<Result<Bytes, String>>;

/// One value fetched through the parent: its number, the bytes (or why there are
/// none: `None` if its workers were lost), and for messages its key and holder.
struct Fetched {
    uid: u64,
    bytes: Result<Bytes, Option<String>>,
    key: taskloom_core::Key,
    holder: Worker,
}

/// Fetches the inputs of `waiting` (jobs, each with the inputs to move) from a worker
/// holding each, each value once, then queues the jobs for `home`, together with the
/// jobs parked on the move (`id`, [`Places::open_move`]) meanwhile.
async fn move_in(
    places: Arc<Places>,
    home: Home,
    worker: Worker,
    mut waiting: Vec<(Job, Vec<usize>)>,
    id: u64,
) {
    type Asked = (u64, Option<Answer>, taskloom_core::Key, Worker);
    let mut asked: Vec<Asked> = Vec::new();
    for (job, foreign) in &mut waiting {
        foreign.retain(|&i| {
            job.inputs
                .get(i)
                .and_then(|v| v.downcast_ref::<RemoteRef>())
                // Copied there meanwhile, for another task: nothing to move.
                .is_some_and(|r| r.held_at(home).is_none())
        });
        for &i in foreign.iter() {
            let Some(r) = job
                .inputs
                .get(i)
                .and_then(|v| v.downcast_ref::<RemoteRef>())
            else {
                continue;
            };
            if asked.iter().any(|(uid, ..)| *uid == r.uid) {
                continue;
            }
            let (reply, holder) = match places.live_holder(r) {
                Some(h) => (places.fetch(h.home, h.id), h.worker),
                None => (None, r.worker),
            };
            asked.push((r.uid, reply, r.key.clone(), holder));
        }
    }
    let started = Instant::now();
    let mut fetched = Vec::with_capacity(asked.len());
    for (uid, reply, key, holder) in asked {
        let bytes = match reply {
            Some(reply) => reply.await.map_err(|_| None).and_then(|r| r.map_err(Some)),
            None => Err(None),
        };
        if let (Ok(bytes), Some((job, _))) = (&bytes, waiting.first()) {
            job.scope.traffic.moved(bytes.len() as u64);
        }
        fetched.push(Fetched {
            uid,
            bytes,
            key,
            holder,
        });
    }
    // Closed before the jobs are queued: a job arriving from now on starts a move
    // of its own (the copy is recorded once the worker takes these).
    waiting.extend(places.close_move(id));
    let mut ready = Vec::with_capacity(waiting.len());
    for (mut job, foreign) in waiting {
        match substitute(&mut job, &foreign, &fetched) {
            Ok(()) => ready.push(job),
            Err(error) => Reporter::new(&job.scope).report(vec![job.failed(error, worker)]),
        }
    }
    tracing::trace!(
        jobs = ready.len(),
        waited_us = started.elapsed().as_micros() as u64,
        "inputs moved in"
    );
    places.queue_at(home, ready);
}

/// Puts the bytes `fetched` in place of `job`'s inputs `foreign`; the error of the
/// first input that could not be fetched.
fn substitute(job: &mut Job, foreign: &[usize], fetched: &[Fetched]) -> Result<(), TaskError> {
    for &i in foreign {
        let Some(input) = job.inputs.get_mut(i) else {
            continue;
        };
        let Some(uid) = input.downcast_ref::<RemoteRef>().map(|r| r.uid) else {
            continue;
        };
        let Some(got) = fetched.iter().find(|f| f.uid == uid) else {
            continue;
        };
        let (key, holder) = (&got.key, got.holder);
        match &got.bytes {
            Ok(bytes) => {
                let from = Value::clone(input);
                *input = value(Moved {
                    bytes: bytes.clone(),
                    from,
                });
            }
            // The loop runs the lost input again, then this task.
            Err(None) => {
                return Err(TaskError::new(
                    TaskErrorKind::InputLost,
                    format!("its input `{key}` was held by worker {holder}, which was lost"),
                ));
            }
            Err(Some(why)) => {
                return Err(TaskError::new(
                    TaskErrorKind::WorkerLost,
                    format!("its input `{key}` could not be fetched from worker {holder}: {why}"),
                ));
            }
        }
    }
    Ok(())
}
