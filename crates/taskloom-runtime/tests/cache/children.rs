//! The parts this binary plays as a child of its own tests (`TASKLOOM_CACHE_CHILD`
//! says which, and where): computing a graph of cached parts (to be killed halfway,
//! or beside another writer), and a full disk in a mount namespace of its own.

use std::path::{Path, PathBuf};
use std::time::Duration;

use taskloom::cache::Cache;
use taskloom::{ComputeOptions, Graph, Handle, Scheduler};

use crate::support::{Count, Events, entry_files, runtime};

/// The variable that makes this binary a child, `ROLE:DIR`.
pub(crate) const CHILD: &str = "TASKLOOM_CACHE_CHILD";

/// `parts` cached parts of `bytes` bytes each (part `i` holds `i` and its index's
/// bytes), each taking `delay`, and their cached total length. Counts the parts run.
pub(crate) fn parts(
    n: u32,
    bytes: usize,
    delay: Duration,
    runs: &Count,
) -> (Graph, Vec<Handle<Vec<u8>>>, Handle<u64>) {
    versioned(n, bytes, delay, runs, "v1")
}

/// [`parts`], with the parts' cache version.
fn versioned(
    n: u32,
    bytes: usize,
    delay: Duration,
    runs: &Count,
    version: &str,
) -> (Graph, Vec<Handle<Vec<u8>>>, Handle<u64>) {
    let mut g = Graph::new();
    let parts: Vec<_> = (0..n)
        .map(|i| {
            let runs = runs.clone();
            let h = g
                .add(("part", i), (), move || {
                    runs.add();
                    std::thread::sleep(delay);
                    part(i, bytes)
                })
                .unwrap();
            g.cached(&h, version).unwrap();
            h
        })
        .collect();
    let total = g
        .add("total", &parts[..], |ps: &[&Vec<u8>]| {
            ps.iter().map(|p| p.len() as u64).sum::<u64>()
        })
        .unwrap();
    g.cached(&total, "v1").unwrap();
    (g, parts, total)
}

/// The value of part `i`.
pub(crate) fn part(i: u32, bytes: usize) -> Vec<u8> {
    let mut v = vec![(i % 251) as u8; bytes];
    v[..4].copy_from_slice(&i.to_le_bytes());
    v
}

/// Plays the child's part if this process is one; whether it was.
pub(crate) fn play() -> bool {
    let Ok(role) = std::env::var(CHILD) else {
        return false;
    };
    let (role, dir) = role.split_once(':').expect("ROLE:DIR");
    let dir = PathBuf::from(dir);
    match role {
        // Computes 40 slow parts: killed by the test halfway.
        "slow" => compute_parts(&dir, 40, 50_000, Duration::from_millis(20)),
        // Computes 60 quick parts of 100 kB, beside another writer.
        "writer" => compute_parts(&dir, 60, 100_000, Duration::ZERO),
        "full-disk" => full_disk(&dir),
        other => panic!("unknown child role {other}"),
    }
    true
}

fn compute_parts(dir: &Path, n: u32, bytes: usize, delay: Duration) {
    let cache = Cache::open(dir).unwrap();
    let (g, _, total) = parts(n, bytes, delay, &Count::default());
    let s = Scheduler::threads(2).unwrap();
    let options = ComputeOptions::new().cache(cache);
    let got = runtime()
        .block_on(s.compute_with(&g, &total, options))
        .unwrap();
    assert_eq!(got, u64::from(n) * bytes as u64);
}

/// Runs `mount` with `args`; panics with its output if it fails.
fn mount(args: &[&str]) {
    let out = std::process::Command::new("mount")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mount {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// In a mount namespace of its own (the test started it under `unshare`): a cache
/// on a tmpfs of 256 kB, given eight entries of 64 kB. The computation succeeds,
/// stores what fits, says once that it could not store the rest, and finds what
/// it stored next time; then the same on the tmpfs made read-only.
fn full_disk(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let target = dir.to_str().unwrap();
    mount(&["-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", target]);
    let cache = Cache::open(dir).unwrap();
    let s = Scheduler::threads(2).unwrap();
    let runs = Count::default();
    let (g, eight, _) = parts(8, 64 * 1024, Duration::ZERO, &runs);
    let compute = |g: &Graph, eight: &[Handle<Vec<u8>>]| {
        let events = Events::default();
        let options = ComputeOptions::new()
            .cache(cache.clone())
            .callback(events.clone());
        let got = runtime()
            .block_on(s.compute_with(g, eight, options))
            .unwrap();
        for (i, p) in got.iter().enumerate() {
            assert_eq!(*p, part(i as u32, 64 * 1024), "part {i} is whole");
        }
        events
    };
    let events = compute(&g, &eight);
    let stored = events.keys("stored").len();
    let unwritable = events.keys("unwritable");
    assert_eq!(unwritable.len(), 1, "said once: {:?}", events.all());
    assert!(
        events
            .all()
            .iter()
            .any(|(_, e)| e.contains("No space left on device")),
        "{:?}",
        events.all()
    );
    assert!((1..8).contains(&stored), "{stored} entries fit");
    assert_eq!(runs.get(), 8);
    assert_eq!(entry_files(dir).len(), stored);
    let events = compute(&g, &eight);
    assert_eq!(events.keys("hit").len(), stored);
    assert_eq!(
        runs.get() as usize,
        8 + 8 - stored,
        "only the missing parts ran"
    );
    // Read-only: nothing can be written, the computation still succeeds.
    mount(&["-o", "remount,ro", target]);
    let (g, eight, _) = versioned(8, 64 * 1024, Duration::ZERO, &runs, "v2");
    let events = compute(&g, &eight);
    let unwritable: Vec<_> = events
        .all()
        .into_iter()
        .filter(|(_, e)| e.starts_with("unwritable"))
        .collect();
    assert_eq!(unwritable.len(), 1, "{:?}", events.all());
    assert!(
        unwritable[0].1.contains("Read-only file system"),
        "{unwritable:?}"
    );
    println!("full disk: {stored} of 8 entries stored; a read-only cache survived");
}
