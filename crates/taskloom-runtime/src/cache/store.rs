//! The open cache: its directory, the bytes its entries take, and eviction of the
//! least recently used entries past the size limit.
//!
//! The size is counted when the cache is opened (one pass over the directory) and
//! kept up to date by this process's writes. Other processes sharing the directory
//! write too, so when the count passes the limit, eviction counts again from the
//! directory itself before it removes anything: it removes the entries used least
//! recently (a hit touches its entry's modification time) until the entries take at
//! most nine tenths of the limit, so that it does not run again at the next write.
//! An entry another process is reading when it is removed stays readable to that
//! process (Unix keeps an open file); one removed before it is opened is a miss.
//!
//! Temporary files of writes that never finished (a process killed mid-write) are
//! removed when the cache is opened, once they are an hour old.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, TryLockError};
use std::time::{Duration, SystemTime};

use super::entry::{self, Problem};
use super::key::EntryKey;
use super::writer::{Target, Writer};

/// Temporary files older than this are left over from a killed process.
const STALE_TEMP: Duration = Duration::from_secs(3600);

#[derive(Debug)]
pub(super) struct Store {
    pub(super) root: PathBuf,
    /// Bytes of the entries, as last counted plus this process's writes since.
    bytes: AtomicU64,
    /// The size limit (0: none).
    limit: AtomicU64,
    /// One eviction at a time in this process.
    evicting: Mutex<()>,
    /// The writer thread's queue (see `writer`).
    pub(super) writer: Writer,
}

impl Store {
    /// The store in `root` (checked by `dir::open`): counts its entries and removes
    /// stale temporary files.
    pub(super) fn open(root: PathBuf) -> Self {
        let store = Store {
            root,
            bytes: AtomicU64::new(0),
            limit: AtomicU64::new(0),
            evicting: Mutex::new(()),
            writer: Writer::default(),
        };
        let entries = store.scan(true);
        store
            .bytes
            .store(entries.iter().map(|e| e.bytes).sum(), Ordering::Relaxed);
        store
    }

    pub(super) fn set_limit(&self, bytes: u64) {
        self.limit.store(bytes, Ordering::Relaxed);
    }

    pub(super) fn limit(&self) -> Option<u64> {
        Some(self.limit.load(Ordering::Relaxed)).filter(|l| *l > 0)
    }

    pub(super) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    pub(super) fn probe(&self, key: &EntryKey) -> Result<(), Problem> {
        entry::probe(&self.root, key)
    }

    pub(super) fn read(&self, key: &EntryKey) -> Result<Vec<u8>, Problem> {
        entry::read(&self.root, key)
    }

    /// Removes a damaged entry (so that its recomputed value replaces it).
    pub(super) fn remove(&self, key: &EntryKey) {
        let _ = std::fs::remove_file(entry::path_of(&self.root, key));
    }

    /// Writes an entry, then evicts if the limit is passed.
    pub(super) fn write(&self, key: &EntryKey, value: &[u8]) -> std::io::Result<u64> {
        let bytes = entry::write(&self.root, key, value)?;
        let now = self.bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if let Some(limit) = self.limit() {
            if now > limit {
                self.evict(limit);
            }
        }
        Ok(bytes)
    }

    /// Removes the least recently used entries until they take at most nine tenths
    /// of `limit`, counting from the directory. Another thread of this process
    /// already evicting: nothing to do.
    fn evict(&self, limit: u64) {
        let _one = match self.evicting.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return,
        };
        let mut entries = self.scan(false);
        let mut total: u64 = entries.iter().map(|e| e.bytes).sum();
        let target = limit / 10 * 9;
        entries.sort_by_key(|e| e.used);
        let mut removed = 0_usize;
        for e in entries {
            if total <= target {
                break;
            }
            if std::fs::remove_file(&e.path).is_ok() {
                total = total.saturating_sub(e.bytes);
                removed += 1;
            }
        }
        self.bytes.store(total, Ordering::Relaxed);
        tracing::debug!(
            dir = %self.root.display(),
            removed,
            bytes = total,
            limit,
            "taskloom cache evicted its least recently used entries"
        );
    }

    /// The entries under the root; with `clean`, removes stale temporary files.
    fn scan(&self, clean: bool) -> Vec<Found> {
        let mut found = Vec::new();
        let Ok(shards) = std::fs::read_dir(&self.root) else {
            return found;
        };
        for shard in shards.flatten() {
            let name = shard.file_name();
            let name = name.to_string_lossy();
            if name.len() != 2 || !shard.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let Ok(files) = std::fs::read_dir(shard.path()) else {
                continue;
            };
            for file in files.flatten() {
                let name = file.file_name();
                let name = name.to_string_lossy();
                let Ok(meta) = file.metadata() else { continue };
                let used = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                if entry::is_entry_name(&name) {
                    found.push(Found {
                        path: file.path(),
                        bytes: meta.len(),
                        used,
                    });
                } else if clean
                    && entry::is_temp_name(&name)
                    && used.elapsed().is_ok_and(|age| age > STALE_TEMP)
                {
                    let _ = std::fs::remove_file(file.path());
                }
            }
        }
        found
    }
}

/// An entry found on disk.
struct Found {
    path: PathBuf,
    bytes: u64,
    used: SystemTime,
}

impl Target for Store {
    fn writer(&self) -> &Writer {
        &self.writer
    }

    fn write(&self, key: &EntryKey, value: &[u8]) -> std::io::Result<u64> {
        Store::write(self, key, value)
    }

    fn root(&self) -> &std::path::Path {
        &self.root
    }
}
