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
//! release for the worker ([`Places::release`], sent by [`release`]). Failure and
//! cancellation drop every value the loop holds, so they free every worker's results
//! the same way.
//!
//! A task placed on a worker that does not hold all its inputs gets the others
//! *through the parent*: before it runs, its worker's slot asks the holders for their
//! bytes ([`fetch`], served by each holder's own slot between its batches) and sends
//! them along with the call as [`Moved`] values. Worker-to-worker connections would
//! save the parent a copy; they are not built (see the guide's cluster chapter).

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
use crate::value::value;

/// A held value's bytes, fetched through the parent for a task on another worker.
pub(crate) struct Moved {
    pub(crate) bytes: Bytes,
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
/// can run there now, returned, and those with inputs held by other workers. Each of
/// those waits, in a Tokio task of its own, for its inputs' bytes (fetched by their
/// holders' slots), then goes to the front of `home`'s queue; an input whose worker
/// was lost fails it, naming the input's key and the worker.
///
/// The slot never waits for another slot here, so two slots that need each other's
/// values cannot wait for each other.
pub(crate) fn gather(places: &Arc<Places>, home: Home, worker: Worker, jobs: Vec<Job>) -> Vec<Job> {
    let mut ready = Vec::with_capacity(jobs.len());
    for job in jobs {
        let foreign: Vec<usize> = job
            .inputs
            .iter()
            .enumerate()
            .filter(|(_, v)| {
                v.downcast_ref::<RemoteRef>()
                    .is_some_and(|r| r.home != home)
            })
            .map(|(i, _)| i)
            .collect();
        if foreign.is_empty() {
            ready.push(job);
            continue;
        }
        let places = Arc::clone(places);
        tokio::spawn(move_in(places, home, worker, job, foreign));
    }
    ready
}

/// Fetches the inputs `foreign` of `job` from their workers, then queues the job
/// for `home`.
async fn move_in(
    places: Arc<Places>,
    home: Home,
    worker: Worker,
    mut job: Job,
    foreign: Vec<usize>,
) {
    let mut asked = Vec::with_capacity(foreign.len());
    for &i in &foreign {
        let Some(r) = job
            .inputs
            .get(i)
            .and_then(|v| v.downcast_ref::<RemoteRef>())
        else {
            continue;
        };
        asked.push((i, places.fetch(r.home, r.id), r.key.clone(), r.worker));
    }
    let started = Instant::now();
    for (i, reply, key, holder) in asked {
        let fetched = match reply {
            Some(reply) => reply.await.map_err(|_| None).and_then(|r| r.map_err(Some)),
            None => Err(None),
        };
        match fetched {
            Ok(bytes) => {
                job.scope.traffic.moved(bytes.len() as u64);
                if let Some(input) = job.inputs.get_mut(i) {
                    *input = value(Moved { bytes });
                }
            }
            Err(why) => {
                let error = match why {
                    // The loop runs the lost input again, then this task.
                    None => TaskError::new(
                        TaskErrorKind::InputLost,
                        format!("its input `{key}` was held by worker {holder}, which was lost"),
                    ),
                    Some(why) => TaskError::new(
                        TaskErrorKind::WorkerLost,
                        format!(
                            "its input `{key}` could not be fetched from worker {holder}: {why}"
                        ),
                    ),
                };
                let reporter = Reporter::new(&job.scope);
                reporter.report(vec![job.failed(error, worker)]);
                return;
            }
        }
    }
    tracing::trace!(key = %job.key(), waited_us = started.elapsed().as_micros() as u64, "inputs moved in");
    places.queue_at(home, job);
}
