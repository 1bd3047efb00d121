//! The process pool's tests.
//!
//! A `harness = false` test binary: its `main` calls `remote::init` first, so the
//! pool can use this very binary as its workers' program (as a user's program does),
//! then runs the tests one after the other with a small runner (`harness.rs`) that
//! speaks enough of libtest's command line for `cargo test` (name filters, `--skip`,
//! `--exact`, `--list`) and gives each test a time limit.
#![allow(clippy::unwrap_used)] // tests panic on unexpected errors by design

mod deaths;
mod failures;
mod functions;
mod groups;
mod harness;
mod lifecycle;
mod panics;
mod resident;
mod retries;
mod roundtrip;
mod spans;
mod timeouts;
mod untyped;

use functions::Fns;
use taskloom::remote;

type Test = harness::Test<Fns>;

fn main() {
    let (registry, fns) = functions::registry();
    remote::init(&registry); // in a worker, serves and never returns

    let tests: Vec<Test> = [
        roundtrip::TESTS,
        failures::TESTS,
        deaths::TESTS,
        retries::TESTS,
        groups::TESTS,
        panics::TESTS,
        lifecycle::TESTS,
        spans::TESTS,
        resident::TESTS,
        timeouts::TESTS,
        untyped::TESTS,
        &harness::tests(),
    ]
    .concat();
    harness::main(&tests, &fns);
}
