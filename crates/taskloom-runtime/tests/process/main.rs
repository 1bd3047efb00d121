//! The process pool's tests.
//!
//! A `harness = false` test binary: its `main` calls `process::init` first, so the
//! pool can use this very binary as its workers' program (as a user's program does),
//! then runs the tests one after the other with a small runner that speaks enough of
//! libtest's command line for `cargo test` (name filters, `--exact`, `--list`).
#![allow(clippy::unwrap_used)] // tests panic on unexpected errors by design

mod deaths;
mod failures;
mod functions;
mod groups;
mod lifecycle;
mod panics;
mod retries;
mod roundtrip;
mod spans;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use functions::Fns;
use taskloom_runtime::process;

type Test = (&'static str, fn(&Fns));

fn main() {
    let (registry, fns) = functions::registry();
    process::init(&registry); // in a worker, serves and never returns

    let tests: Vec<Test> = [
        roundtrip::TESTS,
        failures::TESTS,
        deaths::TESTS,
        retries::TESTS,
        groups::TESTS,
        panics::TESTS,
        lifecycle::TESTS,
        spans::TESTS,
    ]
    .concat();
    let mut filters = Vec::new();
    let mut exact = false;
    let mut list = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--exact" => exact = true,
            "--list" => list = true,
            flag if flag.starts_with('-') => {} // --nocapture, --quiet...: no effect here
            filter => filters.push(filter.to_owned()),
        }
    }
    let selected: Vec<&Test> = tests
        .iter()
        .filter(|(name, _)| {
            filters.is_empty()
                || filters.iter().any(|f| {
                    if exact {
                        name == f
                    } else {
                        name.contains(f.as_str())
                    }
                })
        })
        .collect();
    if list {
        for (name, _) in &selected {
            println!("{name}: test");
        }
        return;
    }
    println!("\nrunning {} tests", selected.len());
    let start = Instant::now();
    let mut failed = Vec::new();
    for (name, test) in &selected {
        let outcome = catch_unwind(AssertUnwindSafe(|| test(&fns)));
        println!(
            "test {name} ... {}",
            if outcome.is_ok() { "ok" } else { "FAILED" }
        );
        if outcome.is_err() {
            failed.push(*name);
        }
    }
    let passed = selected.len() - failed.len();
    println!(
        "\ntest result: {}. {passed} passed; {} failed; 0 ignored; 0 measured; {} filtered out; finished in {:.2}s\n",
        if failed.is_empty() { "ok" } else { "FAILED" },
        failed.len(),
        tests.len() - selected.len(),
        start.elapsed().as_secs_f64()
    );
    if !failed.is_empty() {
        eprintln!("failures: {failed:?}");
        std::process::exit(101);
    }
}
