//! The remote functions of the cluster tests, registered the same way in the test
//! process and in its workers (local processes, or Slurm jobs).

use std::io::{BufRead, BufReader, Write};
use std::time::Duration;

use taskloom::inputs::Many;
use taskloom::remote::{Registry, Remote};

/// Set in a worker's environment to give it another registry, hence another build.
pub(crate) const OTHER_BUILD_VAR: &str = "TASKLOOM_TEST_OTHER_BUILD";

/// A chunk of numbers with the pid of the worker that made it.
pub(crate) type Chunk = (u32, Vec<u64>);

/// The registered functions, typed.
pub(crate) struct Fns {
    pub(crate) square: Remote<(i64,), i64>,
    pub(crate) sum: Remote<Many<i64>, i64>,
    /// Where a call ran: `(node, pid)`, the node as the worker reports it (Slurm's
    /// node name, else the host name), after sleeping the given milliseconds (so
    /// that a graph of them spreads over every worker).
    pub(crate) whereami: Remote<(u64,), (String, u32)>,
    /// Tells the test at the given address that it started (writes its pid: the
    /// test learns of the start as an event, not by a clock), then waits for the
    /// test's answer, a number, and returns it. A test that never answers holds the
    /// call running until it drops the connection (then the call returns -1).
    pub(crate) started: Remote<(String,), i64>,
    /// `started` under four more names, which tell the test which one started
    /// (`started-0`...): a negative answer makes the call abort its worker.
    pub(crate) tagged: Vec<Remote<(String,), i64>>,
    /// Writes a frame header announcing almost 4 GiB to the scheduler, bypassing the
    /// framing, then returns: a worker breaking the frame limit.
    pub(crate) oversized: Remote<(i64,), i64>,
    /// Residency: a chunk of `n` numbers from `start`, with the pid that made it.
    pub(crate) chunk: Remote<(u64, u64), Chunk>,
    /// Doubles a chunk's numbers (made here).
    pub(crate) double: Remote<(Chunk,), Chunk>,
    /// A chunk's sum.
    pub(crate) chunk_sum: Remote<(Chunk,), u64>,
    /// A sum of sums.
    pub(crate) total: Remote<Many<u64>, u64>,
    /// What this worker holds for the scheduler: `(values, bytes)`.
    pub(crate) held_here: Remote<(), (u64, u64)>,
    /// A text in capitals: a known input and result for the proxy tests.
    pub(crate) shout: Remote<(String,), String>,
}

/// The registry, as every process of the tests builds it.
pub(crate) fn registry() -> (Registry, Fns) {
    let mut registry = Registry::new();
    let fns = Fns {
        square: registry.register("square", |x: &i64| x * x).unwrap(),
        sum: registry
            .register("sum", |xs: &[&i64]| xs.iter().copied().sum::<i64>())
            .unwrap(),
        whereami: registry
            .register("whereami", |ms: &u64| {
                std::thread::sleep(Duration::from_millis(*ms));
                (node(), std::process::id())
            })
            .unwrap(),
        started: registry
            .register("started", |addr: &String| started(addr, 0))
            .unwrap(),
        tagged: (0..4_u32)
            .map(|tag| {
                let name = format!("started-{tag}");
                registry
                    .register(&name, move |addr: &String| started(addr, tag))
                    .unwrap()
            })
            .collect(),
        oversized: registry
            .register("oversized", |x: &i64| {
                taskloom::remote::__write_raw_to_pool(b"\xff\xff\xff\xf0").unwrap();
                *x
            })
            .unwrap(),
        chunk: registry
            .register("chunk", |start: &u64, n: &u64| {
                (
                    std::process::id(),
                    (*start..*start + *n).collect::<Vec<u64>>(),
                )
            })
            .unwrap(),
        double: registry
            .register("double", |c: &(u32, Vec<u64>)| {
                (
                    std::process::id(),
                    c.1.iter().map(|v| v * 2).collect::<Vec<u64>>(),
                )
            })
            .unwrap(),
        chunk_sum: registry
            .register("chunk_sum", |c: &(u32, Vec<u64>)| c.1.iter().sum::<u64>())
            .unwrap(),
        total: registry
            .register("total", |xs: &[&u64]| xs.iter().copied().sum::<u64>())
            .unwrap(),
        held_here: registry
            .register("held_here", taskloom::remote::held_here)
            .unwrap(),
        shout: registry
            .register("shout", |text: &String| text.to_uppercase())
            .unwrap(),
    };
    if std::env::var_os(OTHER_BUILD_VAR).is_some() {
        registry.register("only_in_another_build", || 0_u8).unwrap();
    }
    (registry, fns)
}

/// The node this process runs on, as a cluster worker reports it.
fn node() -> String {
    for var in ["TASKLOOM_CLUSTER_NODE", "SLURMD_NODENAME"] {
        if let Ok(name) = std::env::var(var) {
            return name;
        }
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

/// The body of `started` and its tagged copies: says "pid tag", returns the
/// answer; a negative answer aborts the process (a crash that the call causes).
fn started(addr: &str, tag: u32) -> i64 {
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
        return -1;
    };
    if writeln!(stream, "{} {tag}", std::process::id()).is_err() {
        return -1;
    }
    let mut answer = String::new();
    let answer = match BufReader::new(stream).read_line(&mut answer) {
        Ok(n) if n > 0 => answer.trim().parse().unwrap_or(-1),
        _ => return -1,
    };
    if answer < 0 {
        std::process::abort();
    }
    answer
}
