//! The result cache's tests.
//!
//! A `harness = false` test binary, so that it can be its own child process: the
//! tests that need other processes (one killed with SIGKILL halfway, two writing the
//! same entries at once, one in a mount namespace of its own with a full tmpfs) run
//! this binary again with `TASKLOOM_CACHE_CHILD` set, and `main` plays that child's
//! part instead of running the tests (and, with the process pool, as its workers:
//! `remote`'s functions are registered first). The tests run one after the other with the
//! process pool's runner (`../process/harness.rs`), which gives each a time limit.
#![allow(clippy::unwrap_used)] // tests panic on unexpected errors by design

mod children;
mod disk;
mod entries;
#[path = "../process/harness.rs"]
#[allow(dead_code)] // the runner's own tests are the process binary's
mod harness;
mod processes;
#[cfg(feature = "process")]
mod remote;
mod support;

type Test = harness::Test<()>;

fn main() {
    #[cfg(feature = "process")]
    remote::init(); // in a process pool's worker, serves and never returns
    if children::play() {
        return;
    }
    let tests: Vec<Test> = [
        entries::TESTS,
        processes::TESTS,
        disk::TESTS,
        #[cfg(feature = "process")]
        remote::TESTS,
    ]
    .concat();
    harness::main(&tests, &());
}
