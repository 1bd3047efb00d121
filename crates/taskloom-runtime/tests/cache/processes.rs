//! Processes sharing a cache: one killed with SIGKILL halfway, whose rerun runs only
//! what is missing; two writing the same entries at once.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use taskloom::cache::Cache;
use taskloom::{ComputeOptions, Scheduler};

use crate::children::{CHILD, parts};
use crate::support::{Count, Events, entry_files, runtime, scratch, temp_files};

pub(crate) const TESTS: &[crate::Test] = &[
    (
        "processes::a_run_killed_halfway_resumes_with_only_what_is_missing",
        a_run_killed_halfway_resumes_with_only_what_is_missing,
    ),
    (
        "processes::two_processes_writing_the_same_entries_at_once",
        two_processes_writing_the_same_entries_at_once,
    ),
];

fn child(role: &str, dir: &std::path::Path) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.env(CHILD, format!("{role}:{}", dir.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

fn a_run_killed_halfway_resumes_with_only_what_is_missing(_: &()) {
    let dir = scratch("resume");
    let mut killed = child("slow", &dir).spawn().unwrap();
    // Killed once half of its 40 parts are stored.
    let deadline = Instant::now() + Duration::from_secs(60);
    while entry_files(&dir).len() < 20 {
        assert!(Instant::now() < deadline, "the child stored no 20 parts");
        assert!(
            killed.try_wait().unwrap().is_none(),
            "the child ended early"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    killed.kill().unwrap(); // SIGKILL
    killed.wait().unwrap();
    let stored = entry_files(&dir).len();
    assert!(stored < 40, "killed before the end: {stored}");

    let runs = Count::default();
    let (g, _, total) = parts(40, 50_000, Duration::from_millis(20), &runs);
    let events = Events::default();
    let options = ComputeOptions::new()
        .cache(Cache::open(&dir).unwrap())
        .callback(events.clone());
    let s = Scheduler::threads(2).unwrap();
    assert_eq!(
        runtime()
            .block_on(s.compute_with(&g, &total, options))
            .unwrap(),
        40 * 50_000
    );
    let hits = events.keys("hit").len();
    assert_eq!(hits, stored, "every part the killed run stored is loaded");
    assert_eq!(runs.get() as usize, 40 - stored, "and only the others run");
    assert!(events.keys("corrupt").is_empty(), "{:?}", events.all());
    let _ = std::fs::remove_dir_all(&dir);
}

fn two_processes_writing_the_same_entries_at_once(_: &()) {
    let dir = scratch("writers");
    std::fs::create_dir_all(&dir).unwrap();
    let writers: Vec<_> = (0..2)
        .map(|_| child("writer", &dir).spawn().unwrap())
        .collect();
    for w in writers {
        let out = w.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(temp_files(&dir).is_empty(), "no temporary file is left");
    assert_eq!(entry_files(&dir).len(), 61, "60 parts and their total");
    // Every entry is whole: loading all parts runs none and finds nothing damaged.
    let runs = Count::default();
    let (g, parts_, _) = parts(60, 100_000, Duration::ZERO, &runs);
    let events = Events::default();
    let options = ComputeOptions::new()
        .cache(Cache::open(&dir).unwrap())
        .callback(events.clone());
    let s = Scheduler::threads(2).unwrap();
    let got = runtime()
        .block_on(s.compute_with(&g, &parts_[..], options))
        .unwrap();
    for (i, p) in got.iter().enumerate() {
        assert_eq!(*p, crate::children::part(i as u32, 100_000));
    }
    assert_eq!(runs.get(), 0);
    assert_eq!(events.keys("hit").len(), 60);
    assert!(events.keys("corrupt").is_empty(), "{:?}", events.all());
    let _ = std::fs::remove_dir_all(&dir);
}
