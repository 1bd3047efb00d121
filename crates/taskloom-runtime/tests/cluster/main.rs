//! The cluster's tests: remote workers over TCP, started locally, by hand (as
//! Kubernetes would) and by Slurm.
//!
//! A `harness = false` test binary, like the process pool's: its `main` calls
//! `remote::init` first, so this very binary is the workers' program — a local
//! worker, a worker started by hand, or a Slurm job running it — then runs the tests
//! one after the other with the process tests' runner (`../process/harness.rs`),
//! which gives each a time limit.
//!
//! Network traffic stays on loopback (127.0.0.1), and every wait is bounded.
#![allow(clippy::unwrap_used)] // tests panic on unexpected errors by design

mod faults;
mod flood;
#[path = "../../../../examples/cluster/flood.rs"]
#[allow(dead_code)] // what the `cluster` example's measurement uses
mod flood_gen;
mod functions;
#[path = "../process/harness.rs"]
#[allow(dead_code)] // the runner's own tests are the process binary's
mod harness;
mod local;
mod proxy;
mod resident;
mod security;
mod slurm;
mod support;
mod timeouts;
mod tls;

use functions::Fns;
use taskloom::remote;

type Test = harness::Test<Fns>;

fn main() {
    let (registry, fns) = functions::registry();
    remote::init(&registry); // in a worker, serves and never returns

    let tests: Vec<Test> = [
        local::TESTS,
        security::TESTS,
        tls::TESTS,
        flood::TESTS,
        faults::TESTS,
        slurm::TESTS,
        resident::TESTS,
        timeouts::TESTS,
    ]
    .concat();
    harness::main(&tests, &fns);
}
