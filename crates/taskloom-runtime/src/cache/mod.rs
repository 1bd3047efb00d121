//! A result cache on disk that survives restarts: a computation that crashed or was
//! killed, run again with the same cache, runs only what is missing.
//!
//! Open a [`Cache`] on a directory, give it to a computation with
//! [`ComputeOptions::cache`](crate::ComputeOptions::cache), and choose the tasks
//! whose results it keeps: one by one with [`Graph::cached`](crate::Graph::cached)
//! (a version to bump when the task's code changes), or the whole graph with
//! [`Graph::cache_all`](crate::Graph::cache_all).
//!
//! ```
//! use taskloom::{ComputeOptions, Graph, Scheduler};
//! use taskloom::cache::Cache;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = std::env::temp_dir().join(format!("taskloom-doc-cache-{}", std::process::id()));
//! let cache = Cache::open(&dir)?;
//! let runs = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
//! let mut g = Graph::new();
//! let counted = runs.clone();
//! let rows = g.add("rows", (), move || {
//!     counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst); // an expensive load
//!     vec![1_u64, 2, 3]
//! })?;
//! let total = g.add("total", &rows, |r: &Vec<u64>| r.iter().sum::<u64>())?;
//! g.cached(&rows, "v1")?;
//! g.cached(&total, "v1")?;
//! for _ in 0..2 {
//!     let options = ComputeOptions::new().cache(cache.clone());
//!     assert_eq!(Scheduler::threads(2)?.compute_with(&g, &total, options).await?, 6);
//! }
//! assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1); // the second run loaded `total`
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```
//!
//! # Keys
//!
//! An entry's key is a BLAKE3 hash of the task's graph key, its version, its literal
//! inputs' bytes ([`Cached::literal`]), its codec's name, and its inputs' entry keys:
//! a Merkle chain, as graphchain builds, so a changed input changes the keys of all
//! that depends on it, and values are never hashed to find their entry. Every input
//! of a cached task must therefore have a key too: a cached task whose input is not
//! cached is run, not cached (say the whole graph is with `cache_all`, or cache
//! the input as well). A closure's captured values are invisible to the cache: put
//! what a task reads besides its inputs in its version or its literals.
//!
//! # Running with a cache
//!
//! Before anything runs, the computation looks for entries from its targets down:
//! a task whose entry is there is loaded instead of run, and what only it needed is
//! not run at all (culled). A fully cached rerun loads its targets and nothing else.
//! Tasks that run store their values as they finish, so a computation killed
//! halfway keeps what it finished: the worker that made a value encodes it, and a
//! writer thread checksums and writes it while the worker goes on (`writer`; the
//! writer holds a bounded amount, past which the makers write their own entries).
//! A remote task's value (process pool, cluster) comes back to this process to be
//! stored, rather than staying in the worker that made it. `compute` returns once
//! every entry it made is written; a process killed before then loses the entries
//! not yet written, whose tasks run again next time.
//!
//! A damaged entry (truncated, a flipped bit, another file in its place) is caught
//! by its checks when it is loaded, reported
//! ([`CacheEventKind::Corrupt`](crate::callbacks::CacheEventKind::Corrupt)), removed, and
//! its task recomputed from its inputs (themselves loaded where their entries are
//! sound): no damaged value is ever returned. A write that fails (a full disk, a
//! read-only directory) leaves that entry out and the computation running, and is
//! said once.
//!
//! # Files
//!
//! Plain files, one per entry (see `entry` for the format), rather than a crate such
//! as cacache: cacache keeps an index and content-addressed blobs (a value is hashed
//! to find where it goes, which the Merkle keys make unneeded), brings SHA-1, SHA-2
//! and a dozen other crates, and has no size limit or eviction. Here a key names its
//! file, a write is a temporary file renamed into place (several processes sharing a
//! directory never see half an entry), and the checks cost a header read and one
//! XXH3 pass over the value (a checksum against damage; see `entry`).
//!
//! # Safety
//!
//! The directory is created private to its user (0700, entries 0600); one that
//! another user owns or others can write to is refused
//! ([`CacheError::Exposed`], [`CacheError::NotOwner`]), as ssh refuses exposed keys:
//! a cache's values are trusted when loaded, and a Python cache's are pickles, which
//! run code. An entry that claims a length beyond its file's is refused before
//! anything is allocated for it.
//!
//! # Layout
//!
//! - this file: [`Cache`], [`CacheError`];
//! - `dir`: opening the directory safely; `store`: its size and LRU eviction;
//!   `writer`: writing entries off the workers' path, within a bound;
//!   `entry`: one entry's format, write and checked read; `key`: entry keys;
//! - `spec`: [`Cached`], [`Codec`], [`Postcard`] and a graph's table of cached tasks;
//! - `report`: what the cache did in one computation, for its callbacks.
//! - The scheduling loop's side (finding entries, loading, storing) is
//!   `compute::cached`.

mod dir;
mod entry;
mod key;
mod report;
mod spec;
mod store;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use taskloom_core::TaskId;

pub use spec::{Cached, Codec, Postcard};

pub(crate) use entry::Problem;
pub(crate) use key::EntryKey;
pub(crate) use report::{Noted, Report};
pub(crate) use spec::{Spec, Specs};

use crate::value::Value;
use store::Store;

/// Why a cache directory cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// Other users can write to the directory: they could replace its entries with
    /// values this process would trust (a Python cache's entries are pickles, which
    /// run code when loaded).
    #[error(
        "the cache directory {} is writable by other users (mode {mode:03o}): anyone who can \
         write there can choose what this process loads (and a Python cache's entries are \
         pickles, which run code); make it private (`chmod 700`) or choose another",
        path.display()
    )]
    Exposed {
        /// The directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The directory belongs to another user, who can write to it.
    #[error(
        "the cache directory {} belongs to user {owner}, not to this process's user {user}: \
         its owner can choose what this process loads; use a directory of your own",
        path.display()
    )]
    NotOwner {
        /// The directory.
        path: PathBuf,
        /// Its owner's user id.
        owner: u32,
        /// This process's effective user id.
        user: u32,
    },
    /// The path exists and is not a directory.
    #[error("the cache path {} is not a directory", path.display())]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// The directory could not be created or read.
    #[error("could not open the cache directory {}: {source}", path.display())]
    Io {
        /// The directory.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
}

/// A result cache in a directory (see the [module](self)). Cheap to clone: clones
/// share the directory, its size count and its limit, and may be used by many
/// computations at once; other processes may share the directory too.
#[derive(Clone, Debug)]
pub struct Cache {
    store: Arc<Store>,
}

impl Cache {
    /// Opens the cache in `dir`, creating it (and its missing parents) private to
    /// this user if it does not exist.
    ///
    /// # Errors
    /// [`CacheError::Exposed`] if others can write to `dir`,
    /// [`CacheError::NotOwner`] if another user owns it,
    /// [`CacheError::NotADirectory`], or [`CacheError::Io`] if it cannot be
    /// created or read.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, CacheError> {
        let root = dir::open(dir.as_ref())?;
        Ok(Cache {
            store: Arc::new(Store::open(root)),
        })
    }

    /// Keeps the entries within `bytes` on disk (headers included): past it, the
    /// entries used least recently are removed. Shared by every clone.
    pub fn max_bytes(self, bytes: u64) -> Self {
        self.store.set_limit(bytes);
        self
    }

    /// The size limit, if any.
    pub fn limit(&self) -> Option<u64> {
        self.store.limit()
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.store.root
    }

    /// Bytes the entries take, as last counted (other processes' writes since
    /// are counted at the next eviction).
    pub fn bytes(&self) -> u64 {
        self.store.bytes()
    }

    /// Checks that `key`'s entry is there and whole, without reading its value.
    pub(crate) fn probe(&self, key: &EntryKey) -> Result<(), Problem> {
        self.store.probe(key)
    }

    /// Removes `key`'s entry, found damaged.
    pub(crate) fn remove_damaged(&self, key: &EntryKey) {
        self.store.remove(key);
    }

    /// Loads `key`'s value with `codec`. A damaged entry (or one that does not
    /// decode) is removed.
    pub(crate) fn load(&self, key: &EntryKey, codec: &dyn Codec) -> Result<Value, Problem> {
        let loaded = self.store.read(key).and_then(|bytes| {
            codec
                .decode(&bytes)
                .map_err(|e| Problem::Corrupt(format!("its value does not decode ({e})")))
        });
        if let Err(Problem::Corrupt(_)) = &loaded {
            self.store.remove(key);
        }
        loaded
    }

    /// Stores `value` as `key`'s entry, task `task`'s, with `codec`: encodes it
    /// here and hands the bytes to the writer (see `writer`); what becomes of it
    /// is noted in `report`, which counts it until it is written.
    pub(crate) fn store(
        &self,
        key: &EntryKey,
        value: &Value,
        codec: &dyn Codec,
        task: TaskId,
        report: &Arc<Report>,
    ) {
        let mut bytes = self.store.writer.buffer();
        let encoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            codec.encode(value, &mut bytes)
        }));
        let failed = match encoded {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some("the codec panicked".to_owned()),
        };
        if let Some(why) = failed {
            self.store.writer.recycle(bytes);
            report.note(Noted::NotStored(task, why));
            return;
        }
        report.writing();
        writer::submit(
            &self.store,
            writer::Job {
                key: *key,
                bytes,
                task,
                report: Arc::clone(report),
            },
        );
    }
}

/// The cache a computation uses, and where it reports (a recomputation of a
/// damaged entry's task reports into its enclosing computation's report).
#[derive(Clone, Debug)]
pub(crate) struct Caching {
    pub(crate) cache: Cache,
    pub(crate) report: Option<Arc<Report>>,
}
