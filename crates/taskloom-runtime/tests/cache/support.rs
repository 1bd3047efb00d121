//! Helpers of the cache's tests: scratch directories, a callback that records the
//! cache's events, counted task bodies, and finding an entry's file by its value.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use taskloom::callbacks::{CacheEvent, CacheEventKind, Callback};

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A path for one test's cache, not created (the cache creates it).
pub(crate) fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("taskloom-cache-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Every cache event of the computations it is given to, as `(key, kind)` text:
/// `("b", "hit")`, `("c", "corrupt: ...")`.
#[derive(Clone, Default)]
pub(crate) struct Events(Arc<Mutex<Vec<(String, String)>>>);

impl Callback for Events {
    fn task_events(&self) -> bool {
        false
    }

    fn on_cache(&self, event: &CacheEvent<'_>) {
        let kind = match event.kind {
            CacheEventKind::Hit => "hit".to_owned(),
            CacheEventKind::Stored { .. } => "stored".to_owned(),
            CacheEventKind::Corrupt { reason } => format!("corrupt: {reason}"),
            CacheEventKind::Unwritable { reason } => format!("unwritable: {reason}"),
            CacheEventKind::NotStored { reason } => format!("not stored: {reason}"),
            _ => "other".to_owned(),
        };
        self.0.lock().unwrap().push((event.key.to_string(), kind));
    }
}

impl Events {
    pub(crate) fn all(&self) -> Vec<(String, String)> {
        let mut all = self.0.lock().unwrap().clone();
        all.sort();
        all
    }

    /// The keys of the events whose kind starts with `kind`, sorted.
    pub(crate) fn keys(&self, kind: &str) -> Vec<String> {
        let mut keys: Vec<String> = self
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, k)| k.starts_with(kind))
            .map(|(key, _)| key.clone())
            .collect();
        keys.sort();
        keys
    }
}

/// How many times each task body ran, by name.
#[derive(Clone, Default)]
pub(crate) struct Runs(Arc<Mutex<Vec<String>>>);

impl Runs {
    pub(crate) fn ran(&self, name: &str) {
        self.0.lock().unwrap().push(name.to_owned());
    }

    /// Names run since the last call, sorted.
    pub(crate) fn take(&self) -> Vec<String> {
        let mut names = std::mem::take(&mut *self.0.lock().unwrap());
        names.sort();
        names
    }
}

/// Counts calls from any thread.
#[derive(Clone, Default)]
pub(crate) struct Count(pub(crate) Arc<AtomicU32>);

impl Count {
    pub(crate) fn add(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn get(&self) -> u32 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Every entry file under a cache directory.
pub(crate) fn entry_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for shard in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if shard.file_name().len() != 2 {
            continue;
        }
        for file in std::fs::read_dir(shard.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if !file.file_name().to_string_lossy().starts_with('.') {
                files.push(file.path());
            }
        }
    }
    files
}

/// Temporary files left under a cache directory.
pub(crate) fn temp_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for shard in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        for file in std::fs::read_dir(shard.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if file.file_name().to_string_lossy().starts_with(".tmp-") {
                files.push(file.path());
            }
        }
    }
    files
}

/// The entry file whose value ends with `marker` (values are made unique by it).
pub(crate) fn entry_with(dir: &Path, marker: &[u8]) -> PathBuf {
    let found: Vec<PathBuf> = entry_files(dir)
        .into_iter()
        .filter(|f| std::fs::read(f).unwrap().ends_with(marker))
        .collect();
    assert_eq!(found.len(), 1, "one entry ends with the marker");
    found.into_iter().next().unwrap()
}
