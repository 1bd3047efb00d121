//! Results held in workers, as the parent sees them: a reference in place of the
//! value, the bytes of a value on its way between workers, and the two small
//! exchanges that move and free held values.
//!
//! A remote task whose result only other remote tasks need (not a target, no local or
//! async dependent: [`Scope::stays`](crate::executor::Scope::stays)) runs with `keep`:
//! the worker keeps the result and answers its id and size. The scheduling loop then
//! holds a [`RemoteRef`] as that task's value, exactly where it would hold the value;
//! core's release of the result drops the loop's reference, and the last reference
//! dropped sends the worker a release ([`Places::release`]). Failure and cancellation
//! drop every value the loop holds, so they free every worker's results the same way.
//!
//! A task placed on a worker that does not hold all its inputs gets the others
//! *through the parent*: before it runs, its worker's slot asks the holders for their
//! bytes ([`fetch`], served by each holder's own slot between its batches) and sends
//! them along with the call as [`Moved`] values. Worker-to-worker connections would
//! save the parent a copy; they are not built (see `docs/cluster.md`).

use std::sync::{Arc, Weak};
use std::time::Instant;

use bytes::Bytes;
use taskloom_core::Key;

use super::batch::Reporter;
use super::place::Places;
use super::protocol::{Blob, Reply, Request, shorten};
use super::{End, Transport};
use crate::error::{TaskError, TaskErrorKind};
use crate::executor::Scope;
use crate::executor::{Job, Worker};
use crate::remote::format;
use crate::value::{Value, value};

/// Which worker of an executor holds a value: its place (a pool's slot, a cluster's
/// member number) and the generation of the process in that place. A value held by a
/// worker that was replaced is gone: the generation tells the two apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Home {
    pub(crate) place: u32,
    pub(crate) generation: u64,
}

/// A result held in a worker: what the parent keeps in place of the value.
///
/// The last reference dropped releases the value in its worker.
pub(crate) struct RemoteRef {
    pub(crate) home: Home,
    /// The worker, for messages.
    pub(crate) worker: Worker,
    /// Its id in the worker's table.
    pub(crate) id: u64,
    /// Its encoded size.
    pub(crate) bytes: u64,
    /// The task that made it, for messages.
    pub(crate) key: Key,
    places: Weak<Places>,
    /// The computation it was kept for, whose per-worker figures it counts in.
    scope: Weak<Scope>,
}

impl std::fmt::Debug for RemoteRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RemoteRef({} in {}, {} bytes)",
            self.key, self.worker, self.bytes
        )
    }
}

impl RemoteRef {
    /// The reference to a result `worker` (at `home`) just kept, as a [`Value`].
    pub(crate) fn kept(
        places: &Arc<Places>,
        home: Home,
        worker: Worker,
        id: u64,
        bytes: u64,
        key: Key,
        scope: &Arc<Scope>,
    ) -> Value {
        places.kept(home, bytes);
        scope.traffic.hold(worker, bytes);
        value(RemoteRef {
            home,
            worker,
            id,
            bytes,
            key,
            places: Arc::downgrade(places),
            scope: Arc::downgrade(scope),
        })
    }
}

impl RemoteRef {
    /// Whether the worker that held it is gone (and the value with it).
    pub(crate) fn is_lost(&self) -> bool {
        self.places
            .upgrade()
            .is_none_or(|places| !places.is_live(self.home))
    }
}

impl Drop for RemoteRef {
    fn drop(&mut self) {
        if let Some(places) = self.places.upgrade() {
            places.release(self.home, self.id, self.bytes);
        }
        if let Some(scope) = self.scope.upgrade() {
            scope.traffic.unhold(self.worker, self.bytes);
        }
    }
}

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
