//! Entries in one process: hits, misses after a version bump or a changed input,
//! damaged entries detected and recomputed, eviction, unsafe directories refused.

use std::sync::Arc;

use taskloom::cache::{Cache, CacheError, Cached, Postcard};
use taskloom::{ComputeOptions, Graph, Handle, Scheduler};

use crate::support::{Events, Runs, entry_files, entry_with, runtime, scratch};

pub(crate) const TESTS: &[crate::Test] = &[
    (
        "entries::a_rerun_loads_its_target_and_runs_nothing",
        a_rerun_loads_its_target_and_runs_nothing,
    ),
    (
        "entries::a_version_bump_or_a_changed_input_invalidates_what_depends_on_it",
        a_version_bump_or_a_changed_input_invalidates_what_depends_on_it,
    ),
    (
        "entries::truncation_and_bit_flips_are_detected_reported_and_recomputed",
        truncation_and_bit_flips_are_detected_reported_and_recomputed,
    ),
    (
        "entries::a_damaged_entry_above_async_tasks_is_recomputed_on_a_current_thread_runtime",
        a_damaged_entry_above_async_tasks_is_recomputed_on_a_current_thread_runtime,
    ),
    (
        "entries::eviction_keeps_the_entries_within_the_limit",
        eviction_keeps_the_entries_within_the_limit,
    ),
    (
        "entries::a_directory_others_can_write_is_refused",
        a_directory_others_can_write_is_refused,
    ),
    (
        "entries::a_value_the_codec_cannot_encode_is_run_and_not_stored",
        a_value_the_codec_cannot_encode_is_run_and_not_stored,
    ),
];

/// `a` (a blocking task whose value ends with `lit`) → `b` (async, appends `|b`) →
/// `c` (blocking, appends `|c`), all cached: `a` with `a_version` and `lit`.
fn chain(runs: &Runs, a_version: &str, lit: &str) -> (Graph, Handle<Vec<u8>>) {
    let mut g = Graph::new();
    let (r, l) = (runs.clone(), lit.to_owned());
    let a = g
        .add("a", (), move || {
            r.ran("a");
            let mut v = vec![b'a'; 1000];
            v.extend_from_slice(l.as_bytes());
            v
        })
        .unwrap();
    let r = runs.clone();
    let b = g
        .add_async("b", &a, move |a: Arc<Vec<u8>>| {
            r.ran("b");
            async move {
                let mut v = (*a).clone();
                v.extend_from_slice(b"|b");
                v
            }
        })
        .unwrap();
    let r = runs.clone();
    let c = g
        .add("c", &b, move |b: &Vec<u8>| {
            r.ran("c");
            let mut v = b.clone();
            v.extend_from_slice(b"|c");
            v
        })
        .unwrap();
    g.cached(&a, Cached::new(a_version).literal(lit)).unwrap();
    g.cached(&b, "v1").unwrap();
    g.cached(&c, "v1").unwrap();
    (g, c)
}

/// The value `chain` computes for `lit`.
fn expected(lit: &str) -> Vec<u8> {
    let mut v = vec![b'a'; 1000];
    v.extend_from_slice(lit.as_bytes());
    v.extend_from_slice(b"|b|c");
    v
}

/// Computes `target` with `cache`, returning the value and the cache's events.
fn compute(s: &Scheduler, g: &Graph, target: &Handle<Vec<u8>>, cache: &Cache) -> (Vec<u8>, Events) {
    let events = Events::default();
    let options = ComputeOptions::new()
        .cache(cache.clone())
        .callback(events.clone());
    let value = runtime()
        .block_on(s.compute_with(g, target, options))
        .unwrap();
    (value, events)
}

fn a_rerun_loads_its_target_and_runs_nothing(_: &()) {
    for s in [Scheduler::threads(2).unwrap(), Scheduler::current_thread()] {
        let dir = scratch("rerun");
        let cache = Cache::open(&dir).unwrap();
        let runs = Runs::default();
        let (g, c) = chain(&runs, "v1", "lit");
        let (value, events) = compute(&s, &g, &c, &cache);
        assert_eq!(value, expected("lit"));
        assert_eq!(runs.take(), ["a", "b", "c"]);
        assert_eq!(events.keys("stored"), ["a", "b", "c"]);
        assert_eq!(entry_files(&dir).len(), 3);

        let (value, events) = compute(&s, &g, &c, &cache);
        assert_eq!(value, expected("lit"));
        assert!(runs.take().is_empty(), "nothing runs: the target is loaded");
        assert_eq!(events.all(), [("c".to_owned(), "hit".to_owned())]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn a_version_bump_or_a_changed_input_invalidates_what_depends_on_it(_: &()) {
    let s = Scheduler::threads(2).unwrap();
    let dir = scratch("invalidate");
    let cache = Cache::open(&dir).unwrap();
    let runs = Runs::default();
    let (g, c) = chain(&runs, "v1", "lit");
    compute(&s, &g, &c, &cache);
    runs.take();
    // Bumping `a`'s version changes its key, and so `b`'s and `c`'s.
    let (g, c) = chain(&runs, "v2", "lit");
    let (value, events) = compute(&s, &g, &c, &cache);
    assert_eq!(value, expected("lit"));
    assert_eq!(runs.take(), ["a", "b", "c"]);
    assert!(events.keys("hit").is_empty());
    // A changed literal input too (and the value follows it).
    let (g, c) = chain(&runs, "v2", "other");
    assert_eq!(compute(&s, &g, &c, &cache).0, expected("other"));
    assert_eq!(runs.take(), ["a", "b", "c"]);
    // The old entries are still there: going back to them runs nothing.
    let (g, c) = chain(&runs, "v1", "lit");
    assert_eq!(compute(&s, &g, &c, &cache).0, expected("lit"));
    assert!(runs.take().is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

fn truncation_and_bit_flips_are_detected_reported_and_recomputed(_: &()) {
    let s = Scheduler::threads(2).unwrap();
    let dir = scratch("damage");
    let cache = Cache::open(&dir).unwrap();
    let runs = Runs::default();
    let (g, c) = chain(&runs, "v1", "lit");
    compute(&s, &g, &c, &cache);
    runs.take();

    // `c`'s entry truncated: caught when the computation looks for it (its header
    // says more bytes than the file holds); `c` runs again from `b`, loaded.
    let c_file = entry_with(&dir, b"|b|c");
    let bytes = std::fs::read(&c_file).unwrap();
    std::fs::write(&c_file, &bytes[..bytes.len() - 7]).unwrap();
    let (value, events) = compute(&s, &g, &c, &cache);
    assert_eq!(value, expected("lit"));
    assert_eq!(runs.take(), ["c"]);
    let corrupt = events.keys("corrupt");
    assert_eq!(corrupt, ["c"], "{:?}", events.all());
    assert_eq!(events.keys("hit"), ["b"]);

    // A bit flipped inside `b`'s value, and `c`'s entry gone: `b`'s header is
    // sound, so it is loaded, and its checksum catches the flip; `b` is recomputed
    // from `a` (loaded) on the loader's thread, and `c` from that.
    let b_file = entry_with(&dir, b"lit|b");
    let mut bytes = std::fs::read(&b_file).unwrap();
    let middle = bytes.len() - 300;
    bytes[middle] ^= 0x04;
    std::fs::write(&b_file, &bytes).unwrap();
    std::fs::remove_file(entry_with(&dir, b"|b|c")).unwrap();
    let (value, events) = compute(&s, &g, &c, &cache);
    assert_eq!(value, expected("lit"), "no damaged value is returned");
    assert_eq!(runs.take(), ["b", "c"]);
    let all = events.all();
    assert!(
        all.iter()
            .any(|(k, e)| k == "b" && e.contains("checksum does not match")),
        "{all:?}"
    );
    assert!(all.contains(&("a".to_owned(), "hit".to_owned())), "{all:?}");
    // Everything is sound again.
    let (value, events) = compute(&s, &g, &c, &cache);
    assert_eq!(
        (value, events.keys("hit")),
        (expected("lit"), vec!["c".to_owned()])
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn a_damaged_entry_above_async_tasks_is_recomputed_on_a_current_thread_runtime(_: &()) {
    // `CurrentThread` on a current-thread runtime: `c`'s loader runs on the
    // runtime's only thread. `c`'s value is damaged and `b`'s entry gone, so the
    // recomputation of `c` must run `b`, an async task, while the loader waits for
    // it: on that same thread it could never run.
    let dir = scratch("current");
    let cache = Cache::open(&dir).unwrap();
    let runs = Runs::default();
    let (g, c) = chain(&runs, "v1", "lit");
    let compute = move |events: &Events| {
        let options = ComputeOptions::new()
            .cache(cache.clone())
            .callback(events.clone());
        let current = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        current.block_on(Scheduler::current_thread().compute_with(&g, &c, options))
    };
    assert_eq!(compute(&Events::default()).unwrap(), expected("lit"));
    assert_eq!(runs.take(), ["a", "b", "c"]);
    let c_file = entry_with(&dir, b"|b|c");
    let mut bytes = std::fs::read(&c_file).unwrap();
    let middle = bytes.len() - 100;
    bytes[middle] ^= 0x01;
    std::fs::write(&c_file, &bytes).unwrap();
    std::fs::remove_file(entry_with(&dir, b"lit|b")).unwrap();

    // On a thread of its own, so that a hang fails here, by name.
    let (done, finished) = std::sync::mpsc::channel();
    let events = Events::default();
    let told = events.clone();
    std::thread::spawn(move || {
        let _ = done.send(compute(&told));
    });
    let got = finished
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the recomputation of a damaged entry hung");
    assert_eq!(
        got.unwrap(),
        expected("lit"),
        "no damaged value is returned"
    );
    assert_eq!(runs.take(), ["b", "c"]);
    let all = events.all();
    assert!(
        all.iter()
            .any(|(k, e)| k == "c" && e.contains("checksum does not match")),
        "{all:?}"
    );
    assert_eq!(events.keys("hit"), ["a", "c"], "{all:?}");
    assert_eq!(events.keys("stored"), ["b", "c"], "{all:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn eviction_keeps_the_entries_within_the_limit(_: &()) {
    let s = Scheduler::threads(2).unwrap();
    let dir = scratch("evict");
    // Twenty entries of about 10 kB in a cache of 64 kB.
    let limit = 64 * 1024;
    let cache = Cache::open(&dir).unwrap().max_bytes(limit);
    let runs = Runs::default();
    let mut g = Graph::new();
    let parts: Vec<_> = (0..20_u8)
        .map(|i| {
            let r = runs.clone();
            let h = g
                .add(("part", i), (), move || {
                    r.ran("part");
                    vec![i; 10_000]
                })
                .unwrap();
            g.cached(&h, "v1").unwrap();
            h
        })
        .collect();
    // One after the other, so that the most recent entries are the last parts.
    for p in &parts {
        runtime()
            .block_on(s.compute_with(&g, p, ComputeOptions::new().cache(cache.clone())))
            .unwrap();
    }
    let on_disk: u64 = entry_files(&dir)
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    assert!(on_disk <= limit, "{on_disk} bytes on disk, limit {limit}");
    assert!(cache.bytes() <= limit);
    runs.take();
    // The last part is still there (used most recently), the first was evicted.
    let last = parts.last().unwrap();
    let options = ComputeOptions::new().cache(cache.clone());
    assert_eq!(
        runtime()
            .block_on(s.compute_with(&g, last, options))
            .unwrap(),
        vec![19; 10_000]
    );
    assert!(runs.take().is_empty());
    let options = ComputeOptions::new().cache(cache.clone());
    assert_eq!(
        runtime()
            .block_on(s.compute_with(&g, &parts[0], options))
            .unwrap(),
        vec![0; 10_000]
    );
    assert_eq!(runs.take(), ["part"]);
    let _ = std::fs::remove_dir_all(&dir);
}

fn a_directory_others_can_write_is_refused(_: &()) {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("exposed");
    let _ = Cache::open(&dir).unwrap();
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "a new cache directory is private");
    for exposed in [0o777, 0o770, 0o702] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(exposed)).unwrap();
        match Cache::open(&dir) {
            Err(e @ CacheError::Exposed { .. }) => {
                let message = e.to_string();
                assert!(message.contains(&dir.display().to_string()), "{message}");
                assert!(message.contains("chmod 700"), "{message}");
            }
            other => panic!("mode {exposed:o}: expected Exposed, got {other:?}"),
        }
    }
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(Cache::open(&dir).is_ok(), "readable by others is fine");
    // Another user's directory (as root, chown it to nobody).
    if rustix_uid() == 0 {
        std::os::unix::fs::chown(&dir, Some(65534), None).unwrap();
        assert!(matches!(
            Cache::open(&dir),
            Err(CacheError::NotOwner { owner: 65534, .. })
        ));
    }
    let file = dir.with_extension("file");
    std::fs::write(&file, b"x").unwrap();
    assert!(matches!(
        Cache::open(&file),
        Err(CacheError::NotADirectory { .. })
    ));
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_dir_all(&dir);
}

/// This process's effective user id.
fn rustix_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    let probe = std::env::temp_dir().join(format!("taskloom-uid-{}", std::process::id()));
    std::fs::write(&probe, b"").unwrap();
    let uid = std::fs::metadata(&probe).unwrap().uid();
    let _ = std::fs::remove_file(&probe);
    uid
}

fn a_value_the_codec_cannot_encode_is_run_and_not_stored(_: &()) {
    let s = Scheduler::threads(2).unwrap();
    let dir = scratch("codec");
    let cache = Cache::open(&dir).unwrap();
    let mut g = Graph::new();
    let n = g.add("n", (), || 20_u64).unwrap();
    let text = g.add("text", &n, |n: &u64| format!("{n}")).unwrap();
    let back = g
        .add("back", &text, |t: &String| t.parse::<u64>().unwrap() + 1)
        .unwrap();
    // The whole graph, with a codec of u64 values: `text` is a String.
    g.cache_all("v1", Arc::new(Postcard::<u64>::new()));
    let events = Events::default();
    let options = ComputeOptions::new()
        .cache(cache.clone())
        .callback(events.clone());
    assert_eq!(
        runtime()
            .block_on(s.compute_with(&g, &back, options))
            .unwrap(),
        21
    );
    assert_eq!(events.keys("stored"), ["back", "n"]);
    assert_eq!(events.keys("not stored"), ["text"]);
    // `text` has a key all the same, so `back` is found.
    let events = Events::default();
    let options = ComputeOptions::new().cache(cache).callback(events.clone());
    assert_eq!(
        runtime()
            .block_on(s.compute_with(&g, &back, options))
            .unwrap(),
        21
    );
    assert_eq!(events.keys("hit"), ["back"]);
    let _ = std::fs::remove_dir_all(&dir);
}
