//! [`init`]: the first line of a program's `main`, which makes a copy of the program
//! a worker of whichever executor started it, and returns at once anywhere else.
//!
//! It sits above both executors with worker processes, because it starts either's
//! worker: a process pool's (frames over the inherited pipes, `crate::link`'s
//! worker mode) or a cluster's (connect, authenticate, heartbeats: the cluster's own
//! worker side). Nothing below calls it: the executors read the state it records
//! (`crate::link`'s worker mode), so they depend on `link`, never on each other or
//! on this module. Users reach it as `taskloom::remote::init`.

use crate::link::worker::{self, Role};
use crate::remote::Registry;

/// Makes this process a worker if a process pool started it, or if it was started
/// as a cluster worker ([`CLUSTER_ADDR_ENV`](crate::cluster::CLUSTER_ADDR_ENV) is
/// set); otherwise returns at once. Call it first thing in `main`, with the registry
/// of every remote function the program's graphs use.
///
/// In a worker it serves calls until the pool closes its stdin (or the scheduler its
/// connection), then exits the process: it never returns. A program that builds a
/// [`ProcessPool`](crate::process::ProcessPool) or a
/// [`Cluster`](crate::cluster::Cluster) without calling it gets an error saying so.
///
/// Call it before starting a Tokio runtime if you can (a worker needs none; with
/// `#[tokio::main]` every worker starts the runtime's threads for nothing).
///
/// ```no_run
/// use taskloom::{Graph, Scheduler};
/// use taskloom::process::ProcessPool;
/// use taskloom::remote::{self, Registry};
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let mut registry = Registry::new();
///     let square = registry.register("square", |x: &i64| x * x)?;
///     remote::init(&registry); // a worker never gets past this line
///
///     let runtime = tokio::runtime::Runtime::new()?;
///     let scheduler = Scheduler::builder().executor(ProcessPool::new(2)?).build()?;
///     let mut g = Graph::new();
///     let x = g.add("x", (), || 12_i64)?;
///     let y = g.add_remote("y", &x, &square)?;
///     assert_eq!(runtime.block_on(scheduler.compute(&g, &y))?, 144);
///     Ok(())
/// }
/// ```
pub fn init(registry: &Registry) {
    worker::record(registry);
    let code = match worker::role() {
        Role::Program => return,
        Role::Orphan => 70,
        Role::Pool(pool) => worker::serve_pipes(registry, pool),
        Role::Cluster => cluster_worker(registry),
    };
    std::process::exit(code);
}

/// Serves as a cluster's worker: the process's exit status.
#[cfg(feature = "cluster")]
fn cluster_worker(registry: &Registry) -> i32 {
    crate::cluster::worker::run(registry)
}

/// A program built without the cluster cannot be its worker: it says so and exits
/// (78, EX_CONFIG) instead of running `main`.
#[cfg(not(feature = "cluster"))]
fn cluster_worker(_: &Registry) -> i32 {
    eprintln!(
        "taskloom worker {}: {} is set, but this program was built without taskloom's \
         `cluster` feature",
        std::process::id(),
        worker::CLUSTER_ADDR_ENV
    );
    78
}
