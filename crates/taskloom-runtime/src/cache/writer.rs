//! Writing entries off the critical path: the worker that made a value encodes it
//! and hands the bytes to a writer thread, which checksums and writes them while the
//! worker goes on to its next task.
//!
//! Encoding stays with the maker, at the moment the value is made: the entry is the
//! value as its task returned it, even if something mutates it afterwards (a Python
//! object, a value behind a lock), and the bytes are what the queue counts. The rest
//! (a checksum pass, a file created, written and renamed, the eviction it may
//! trigger) is the writer's.
//!
//! **Memory stays bounded.** The writer holds at most [`QUEUE_BYTES`] of encoded
//! values (queued and being written; one entry larger than that is taken alone).
//! When a value does not fit, its maker writes it itself, there and then: the
//! producers slow down to the disk's pace, exactly as if there were no writer,
//! instead of queueing without end. Nobody ever waits for room, so nothing can
//! wait on a writer that waits on it: a remote task's value, encoded on the
//! executor's async task where it was decoded, is written there too when the writer
//! is behind, never blocked on it.
//!
//! **Durability.** A computation waits, before it returns (done or failed), until
//! every entry it handed over is written or said unwritable
//! ([`Report::flushed`](super::Report::flushed)): when `compute` returns, its entries
//! are on disk, as they were when each was written by its maker. A process killed
//! before then loses the entries still queued, which only means those tasks run
//! again next time; a half-written entry is a temporary file, never an entry.
//!
//! One thread per cache, started on demand and ended after [`LINGER`] without work,
//! taking the buffers it kept with it.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use taskloom_core::TaskId;

use super::key::EntryKey;
use super::report::Report;

/// What the writer writes into: the store that owns its queue (`store::Store`). A
/// trait, so that the writer, which the store holds, needs nothing of the store's
/// module.
pub(super) trait Target: Send + Sync + 'static {
    /// The writer whose queue this target owns.
    fn writer(&self) -> &Writer;
    /// Writes `value` as the entry `key`: the bytes written.
    fn write(&self, key: &EntryKey, value: &[u8]) -> std::io::Result<u64>;
    /// The cache's directory, for messages.
    fn root(&self) -> &std::path::Path;
}

/// The most encoded bytes the writer holds (queued and being written).
pub(super) const QUEUE_BYTES: usize = 64 << 20;

/// How long the writer thread waits for work before it ends.
const LINGER: Duration = Duration::from_millis(500);

/// One entry to write, and where to say how it went.
pub(crate) struct Job {
    pub(crate) key: EntryKey,
    pub(crate) bytes: Vec<u8>,
    pub(crate) task: TaskId,
    pub(crate) report: Arc<Report>,
}

/// The writer's queue, shared by the makers and the writer thread.
#[derive(Debug)]
pub(super) struct Writer {
    state: Mutex<Queue>,
    work: Condvar,
    /// The most encoded bytes it holds ([`QUEUE_BYTES`]; less in tests).
    limit: usize,
}

impl Default for Writer {
    fn default() -> Self {
        Writer {
            state: Mutex::default(),
            work: Condvar::new(),
            limit: QUEUE_BYTES,
        }
    }
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    /// Encoded bytes queued or being written, and the most there ever were.
    bytes: usize,
    peak: usize,
    /// Whether a writer thread runs.
    running: bool,
    /// Emptied buffers for the next encodings, and their capacity in all.
    spare: Vec<Vec<u8>>,
    spare_bytes: usize,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("jobs", &self.jobs.len())
            .field("bytes", &self.bytes)
            .field("running", &self.running)
            .finish_non_exhaustive()
    }
}

impl Writer {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An empty buffer to encode into: one the writer emptied if there is one.
    pub(super) fn buffer(&self) -> Vec<u8> {
        let mut queue = self.lock();
        match queue.spare.pop() {
            Some(buffer) => {
                queue.spare_bytes -= buffer.capacity();
                buffer
            }
            None => Vec::new(),
        }
    }

    /// Keeps an emptied buffer for the next encoding, within half the limit: enough
    /// that a steady stream of large values allocates (and faults in) no fresh
    /// pages.
    pub(super) fn recycle(&self, mut buffer: Vec<u8>) {
        buffer.clear();
        let mut queue = self.lock();
        if queue.spare_bytes + buffer.capacity() <= self.limit / 2 {
            queue.spare_bytes += buffer.capacity();
            queue.spare.push(buffer);
        }
    }
}

/// Hands `job` to `store`'s writer thread, or writes it here if the writer holds
/// too much already (or no thread can be started).
pub(super) fn submit<S: Target>(store: &Arc<S>, job: Job) {
    let writer = store.writer();
    let len = job.bytes.len();
    let mut queue = writer.lock();
    if queue.bytes == 0 || queue.bytes + len <= writer.limit {
        queue.bytes += len;
        queue.peak = queue.peak.max(queue.bytes);
        queue.jobs.push_back(job);
        if queue.running {
            drop(queue);
            writer.work.notify_one();
            return;
        }
        let thread = Arc::clone(store);
        let started = std::thread::Builder::new()
            .name("taskloom-cache-writer".into())
            .spawn(move || drain(&thread));
        match started {
            Ok(_) => {
                queue.running = true;
                return;
            }
            Err(error) => {
                tracing::debug!(%error, "taskloom cache writer thread could not start; writing here");
                let Some(job) = queue.jobs.pop_back() else {
                    return;
                };
                queue.bytes -= len;
                drop(queue);
                write(&**store, job);
                return;
            }
        }
    }
    drop(queue);
    // Behind: the maker writes its own entry (back-pressure, see the module).
    write(&**store, job);
}

/// Writes one job's entry and says how it went.
fn write<S: Target>(store: &S, job: Job) {
    let Job {
        key,
        bytes,
        task,
        report,
    } = job;
    // A panic here would leave the computation waiting for this entry forever.
    let written =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| store.write(&key, &bytes)))
            .unwrap_or_else(|_| Err(std::io::Error::other("writing the entry panicked")));
    report.wrote(task, written, store.root());
    store.writer().recycle(bytes);
}

/// The writer thread: writes what is queued, in order, until nothing comes for
/// [`LINGER`].
fn drain<S: Target>(store: &Arc<S>) {
    let writer = store.writer();
    loop {
        let mut queue = writer.lock();
        let job = loop {
            if let Some(job) = queue.jobs.pop_front() {
                break job;
            }
            let (next, waited) = writer
                .work
                .wait_timeout(queue, LINGER)
                .unwrap_or_else(PoisonError::into_inner);
            queue = next;
            if waited.timed_out() && queue.jobs.is_empty() {
                queue.running = false;
                return;
            }
        };
        drop(queue);
        let len = job.bytes.len();
        write(&**store, job);
        writer.lock().bytes -= len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::store::Store;

    #[test]
    fn the_writer_holds_at_most_its_limit_and_every_entry_is_written() {
        let root = std::env::temp_dir().join(format!("taskloom-writer-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        super::super::dir::create_private(&root).unwrap();
        let mut store = Store::open(root.clone());
        store.writer.limit = 4096;
        let store = Arc::new(store);
        let report = Arc::new(Report::default());
        // Sixty entries of 1 kB from three makers at once: at most four fit in the
        // writer at a time, and a maker that finds it full writes its own.
        let makers: Vec<_> = (0..3_u8)
            .map(|m| {
                let (store, report) = (Arc::clone(&store), Arc::clone(&report));
                std::thread::spawn(move || {
                    for i in 0..20_u8 {
                        let mut bytes = store.writer.buffer();
                        bytes.extend_from_slice(&[m * 20 + i; 1000]);
                        report.writing();
                        let key = EntryKey::from_bytes([m * 20 + i; 32]);
                        let task = TaskId::from_index(usize::from(m * 20 + i));
                        submit(
                            &store,
                            Job {
                                key,
                                bytes,
                                task,
                                report: Arc::clone(&report),
                            },
                        );
                    }
                })
            })
            .collect();
        for m in makers {
            m.join().unwrap();
        }
        futures::executor::block_on(report.flushed());
        assert_eq!(report.stored.load(std::sync::atomic::Ordering::Relaxed), 60);
        for i in 0..60_u8 {
            let value = super::super::entry::read(&root, &EntryKey::from_bytes([i; 32])).unwrap();
            assert_eq!(value, vec![i; 1000]);
        }
        let queue = store.writer.lock();
        assert!(queue.peak <= 4096, "the writer held {} bytes", queue.peak);
        assert!(queue.peak >= 1000, "the writer took some entries");
        drop(queue);
        let _ = std::fs::remove_dir_all(&root);
    }
}
