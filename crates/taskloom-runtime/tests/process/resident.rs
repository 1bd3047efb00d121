//! Results that stay in the worker that made them: released there when core releases
//! them, tasks placed where their inputs are, inputs moved from worker to worker
//! (directly, or through the parent) when they are elsewhere and kept where they
//! went, a holder dying in the middle of a fetch, the workers' socket directory, a
//! lost worker's results, cancellation, and the same answers as every other
//! executor.

use std::sync::{Arc, Mutex};

use taskloom::callbacks::{Callback, FinishInfo};
use taskloom::process::ProcessPool;
use taskloom::traffic::{Traffic, WorkerHeld};
use taskloom::{CancellationToken, ComputeError, ComputeOptions, Graph, Handle, Scheduler};

use crate::deaths::signal;
use crate::failures::eventually;
use crate::functions::Fns;
use crate::roundtrip::runtime;

pub(crate) const TESTS: &[crate::Test] = &[
    (
        "resident::release_frees_worker_memory",
        release_frees_worker_memory,
    ),
    ("resident::placement_follows_data", placement_follows_data),
    (
        "resident::inputs_held_elsewhere_move_worker_to_worker",
        inputs_held_elsewhere_move_worker_to_worker,
    ),
    (
        "resident::inputs_held_elsewhere_move_through_the_parent",
        inputs_held_elsewhere_move_through_the_parent,
    ),
    (
        "resident::a_value_moved_once_is_not_moved_again",
        a_value_moved_once_is_not_moved_again,
    ),
    (
        "resident::a_holder_dying_mid_fetch_costs_a_rerun",
        a_holder_dying_mid_fetch_costs_a_rerun,
    ),
    (
        "resident::the_socket_directory_is_private_and_removed",
        the_socket_directory_is_private_and_removed,
    ),
    (
        "resident::results_lost_with_a_worker_are_computed_again",
        results_lost_with_a_worker_are_computed_again,
    ),
    (
        "resident::cancel_frees_every_worker",
        cancel_frees_every_worker,
    ),
    (
        "resident::failure_frees_every_worker",
        failure_frees_every_worker,
    ),
    (
        "resident::same_result_on_every_executor",
        same_result_on_every_executor,
    ),
    (
        "resident::a_remote_chain_runs_as_one_call",
        a_remote_chain_runs_as_one_call,
    ),
];

/// Numbers per chunk: 8 kB of values.
const N: u64 = 1000;

/// The traffic each computation reported when it finished, and what its workers held.
#[derive(Default)]
pub(crate) struct Traffics(Mutex<Vec<Traffic>>, Mutex<Vec<Vec<WorkerHeld>>>);

impl Callback for Traffics {
    fn task_events(&self) -> bool {
        false // only the end's figures: chains stay fused
    }

    fn on_finish(&self, info: &FinishInfo) {
        self.0.lock().unwrap().push(info.traffic);
        self.1.lock().unwrap().push(info.held.clone());
    }
}

impl Traffics {
    fn last_held(&self) -> Vec<WorkerHeld> {
        self.1.lock().unwrap().last().unwrap().clone()
    }

    pub(crate) fn last(&self) -> Traffic {
        *self.0.lock().unwrap().last().unwrap()
    }
}

fn pool_with(workers: usize, resident: bool) -> (ProcessPool, Scheduler) {
    pool_moving(workers, resident, true)
}

/// A pool whose workers fetch from each other directly (`direct`), or through the
/// parent.
fn pool_moving(workers: usize, resident: bool, direct: bool) -> (ProcessPool, Scheduler) {
    let pool = ProcessPool::builder()
        .workers(workers)
        .resident(resident)
        .worker_to_worker(direct)
        .build()
        .unwrap();
    let scheduler = Scheduler::builder().executor(pool.clone()).build().unwrap();
    (pool, scheduler)
}

/// chunk → double → partial sum → total, over `chunks` chunks; the expected total.
fn pipeline(f: &Fns, chunks: u64) -> (Graph, Handle<u64>, u64) {
    let mut g = Graph::new();
    let mut partials = Vec::new();
    let mut expected = 0;
    for i in 0..chunks {
        let start = g.add(("start", i), (), move || i * N).unwrap();
        let n = g.add(("n", i), (), || N).unwrap();
        let c = g.add_remote(("chunk", i), (&start, &n), &f.chunk).unwrap();
        let d = g.add_remote(("double", i), &c, &f.double).unwrap();
        partials.push(g.add_remote(("partial", i), &d, &f.chunk_sum).unwrap());
        expected += (i * N..(i + 1) * N).map(|v| v * 2).sum::<u64>();
    }
    let total = g.add_remote("total", &partials, &f.total).unwrap();
    (g, total, expected)
}

/// What the worker running the next remote call holds: `(values, bytes)`.
fn held_in_worker(s: &Scheduler, f: &Fns) -> (u64, u64) {
    let mut g = Graph::new();
    let h = g.add_remote("held", (), &f.held_here).unwrap();
    runtime().block_on(s.compute(&g, &h)).unwrap()
}

fn release_frees_worker_memory(f: &Fns) {
    let rt = runtime();
    let (pool, s) = pool_with(1, true);
    let (g, total, expected) = pipeline(f, 16);
    let traffics = Arc::new(Traffics::default());
    // Unfused, so that every step's result is held (a fused chain keeps only its
    // last: `a_remote_chain_runs_as_one_call`).
    let options = ComputeOptions::new()
        .fuse(false)
        .shared_callback(traffics.clone());
    assert_eq!(
        rt.block_on(s.compute_with(&g, &total, options)).unwrap(),
        expected
    );
    let t = traffics.last();
    // Chunks and doubled chunks (1,000 numbers, postcard varints of 2 or 3 bytes
    // each) stayed in the worker; only the partial sums and the total (a few bytes
    // each: under `KEEP_AT_LEAST`, they go back with their answers) and the small
    // inputs crossed.
    assert!(t.kept > 16 * 2 * 2 * N, "{t:?}");
    assert!(t.to_parent < 16 * 8, "{t:?}");
    assert_eq!(t.moved, 0, "{t:?}");
    assert!(t.through_parent() * 100 < t.produced, "{t:?}");
    // The worker never held every result at once (each was released as its
    // consumer finished), and held nothing at the end.
    let held = traffics.last_held();
    assert_eq!(held.len(), 1, "{held:?}");
    assert!(held[0].peak >= N && held[0].peak < t.kept, "{held:?} {t:?}");
    assert_eq!(held[0].end, 0, "{held:?}");
    // Released as the graph went, and nothing is left: in the parent's table ...
    let held = pool.held_bytes();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].1, 0, "{held:?}");
    // ... and in the worker itself (releases reach it before the next call).
    assert_eq!(held_in_worker(&s, f), (0, 0));
}

fn placement_follows_data(f: &Fns) {
    let rt = runtime();
    let (_pool, s) = pool_with(2, true);
    let mut g = Graph::new();
    let pairs: Vec<_> = (0..16_u64)
        .map(|i| {
            let start = g.add(("start", i), (), move || i).unwrap();
            let n = g.add(("n", i), (), || 10_000_u64).unwrap();
            let c = g.add_remote(("chunk", i), (&start, &n), &f.chunk).unwrap();
            g.add_remote(("where", i), &c, &f.where_made).unwrap()
        })
        .collect();
    let traffics = Arc::new(Traffics::default());
    // Unfused: each chunk and its consumer are placed one by one.
    let options = ComputeOptions::new()
        .fuse(false)
        .shared_callback(traffics.clone());
    let out = rt.block_on(s.compute_with(&g, &pairs, options)).unwrap();
    for (i, (made_in, runs_in)) in out.iter().enumerate() {
        assert_eq!(
            made_in, runs_in,
            "chunk {i} was made in {made_in}, used in {runs_in}"
        );
    }
    let t = traffics.last();
    assert_eq!(t.moved, 0, "{t:?}");
    assert!(t.kept >= 16 * 15_000, "{t:?}");
}

/// What `pair` finds: the pids of its chunks' makers and its own, and their sum.
type Pair = (u32, u32, u32, u64);

/// Two slow chunks ready at once, `a` of `n_a` numbers and `b` of `n_b`, and
/// `consumers` tasks taking both (unfused), on `s`'s two workers: tried until the
/// chunks are made by two workers (nearly always at the first attempt). The
/// consumers' answers, the traffic, and the sum every consumer must find.
fn two_chunks_on_two_workers(
    f: &Fns,
    s: &Scheduler,
    (n_a, n_b): (u64, u64),
    consumers: u64,
) -> (Vec<Pair>, Traffic, u64) {
    let rt = runtime();
    let b_start = 1_000_000_u64;
    let sum = (0..n_a).sum::<u64>() + (b_start..b_start + n_b).sum::<u64>();
    for _ in 0..20 {
        let mut g = Graph::new();
        let a0 = g.add("a0", (), || 0_u64).unwrap();
        // `b` is ready a little after `a`, when `a`'s worker is busy with it: the
        // other worker takes it.
        let b0 = g
            .add_async("b0", (), move || async move {
                tokio::time::sleep(std::time::Duration::from_millis(30)).await;
                b_start
            })
            .unwrap();
        let na = g.add("na", (), move || n_a).unwrap();
        let nb = g.add("nb", (), move || n_b).unwrap();
        let a = g.add_remote("a", (&a0, &na), &f.chunk_slowly).unwrap();
        let b = g.add_remote("b", (&b0, &nb), &f.chunk_slowly).unwrap();
        let pairs: Vec<_> = (0..consumers)
            .map(|i| g.add_remote(("pair", i), (&a, &b), &f.pair).unwrap())
            .collect();
        let traffics = Arc::new(Traffics::default());
        let options = ComputeOptions::new()
            .fuse(false)
            .shared_callback(traffics.clone());
        let out = rt.block_on(s.compute_with(&g, &pairs, options)).unwrap();
        if out[0].0 != out[0].1 {
            return (out, traffics.last(), sum);
        }
    }
    panic!("two slow chunks never went to two workers in 20 attempts");
}

/// One chunk (1,000 numbers, postcard varints of 1 to 3 bytes each) goes straight
/// from the worker that made it to the other: the right numbers, and nothing of it
/// through the parent.
fn inputs_held_elsewhere_move_worker_to_worker(f: &Fns) {
    let (_pool, s) = pool_moving(2, true, true);
    let (out, t, sum) = two_chunks_on_two_workers(f, &s, (1000, 1000), 1);
    let (made_a, made_b, runs_in, found) = out[0];
    assert!(runs_in == made_a || runs_in == made_b);
    assert_eq!(found, sum);
    assert!(
        t.worker_to_worker > 1000 && t.worker_to_worker < 4000,
        "{t:?}"
    );
    assert_eq!(t.moved, 0, "{t:?}");
    // The small inputs (three numbers) went out, the consumer's answer came back.
    assert!(t.through_parent() < 64, "{t:?}");
}

fn inputs_held_elsewhere_move_through_the_parent(f: &Fns) {
    let (_pool, s) = pool_moving(2, true, false);
    let (out, t, sum) = two_chunks_on_two_workers(f, &s, (1000, 1000), 1);
    assert_eq!(out[0].3, sum);
    // One chunk went from its worker to the parent and on to the other.
    assert!(t.moved > 1000 && t.moved < 4000, "{t:?}");
    assert!(t.from_parent >= t.moved, "{t:?}");
    assert_eq!(t.worker_to_worker, 0, "{t:?}");
}

/// Six consumers of a small chunk `a` and a large one `b` all run where `b` is; `a`
/// moves there once (the worker keeps its copy, and the parent counts it as a
/// holder), however many of them need it, directly or through the parent; and the
/// copy is released with `a`.
fn a_value_moved_once_is_not_moved_again(f: &Fns) {
    for direct in [true, false] {
        let (pool, s) = pool_moving(2, true, direct);
        let (out, t, sum) = two_chunks_on_two_workers(f, &s, (1000, 3000), 6);
        for &(_, made_b, runs_in, found) in &out {
            assert_eq!((runs_in, found), (made_b, sum), "direct {direct}: {out:?}");
        }
        let moved = if direct {
            assert_eq!(t.moved, 0, "{t:?}");
            t.worker_to_worker
        } else {
            assert_eq!(t.worker_to_worker, 0, "{t:?}");
            // Sent once too: the calls after the first in a batch name the copy.
            assert!(t.from_parent < 4000, "{t:?}");
            t.moved
        };
        // `a` once (about 1,900 bytes), not six times.
        assert!(moved > 1000 && moved < 4000, "direct {direct}: {t:?}");
        // Released everywhere, copies included.
        assert!(
            pool.held_bytes().iter().all(|(_, b)| *b == 0),
            "{:?}",
            pool.held_bytes()
        );
        let mut g = Graph::new();
        let probes: Vec<_> = (0..2)
            .map(|i| g.add_remote(("held", i), (), &f.held_here).unwrap())
            .collect();
        for held in runtime().block_on(s.compute(&g, &probes)).unwrap() {
            assert_eq!(held, (0, 0));
        }
    }
}

/// The worker holding a chunk dies while it serves the chunk to the other (its
/// encoding kills it, the first time): the fetch fails at once, the consumer has
/// the chunk moved through the parent instead, finds it lost with its worker, and
/// the chunk runs again; the answer is right, and nothing hangs (the harness's time
/// limit).
fn a_holder_dying_mid_fetch_costs_a_rerun(f: &Fns) {
    let rt = runtime();
    let (pool, s) = pool_moving(2, true, true);
    for attempt in 0..20 {
        let dir =
            std::env::temp_dir().join(format!("taskloom-fragile-{}-{attempt}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let pids = pool.pids();
        let mut g = Graph::new();
        let d = {
            let dir = dir.clone();
            g.add("dir", (), move || dir.clone()).unwrap()
        };
        let a0 = g.add("a0", (), || 0_u64).unwrap();
        let b0 = g.add("b0", (), || 1_000_000_u64).unwrap();
        let na = g.add("na", (), || 1000_u64).unwrap();
        let nb = g.add("nb", (), || 3000_u64).unwrap();
        let a = g
            .add_remote("fragile", (&d, &a0, &na), &f.fragile_slowly)
            .unwrap();
        let b = g.add_remote("b", (&b0, &nb), &f.chunk_slowly).unwrap();
        let both = g.add_remote("both", (&a, &b), &f.fragile_pair).unwrap();
        let options = ComputeOptions::new().fuse(false);
        let (_, made_b, runs_in, sum) = rt.block_on(s.compute_with(&g, &both, options)).unwrap();
        let expected = (0..1000).sum::<u64>() + (1_000_000..1_003_000).sum::<u64>();
        assert_eq!(sum, expected);
        assert_eq!(runs_in, made_b);
        let served = dir.join("served").exists();
        let _ = std::fs::remove_dir_all(&dir);
        if !served {
            continue; // both chunks were made by one worker: nothing was fetched
        }
        // The holder died, and was replaced.
        eventually("the dead holder to be replaced", || {
            let now = pool.pids();
            now.iter().all(Option::is_some) && now != pids
        });
        return;
    }
    panic!("the two chunks never went to two workers in 20 attempts");
}

/// The workers' sockets are in a directory only the pool's user can enter, which
/// goes with the pool.
fn the_socket_directory_is_private_and_removed(f: &Fns) {
    use std::os::unix::fs::PermissionsExt;
    let rt = runtime();
    let (pool, s) = pool_moving(2, true, true);
    let mut g = Graph::new();
    let h = g.add_remote("dir", (), &f.peer_dir).unwrap();
    let (dir, listening) = rt.block_on(s.compute(&g, &h)).unwrap();
    assert!(listening, "no socket in {dir:?}");
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "{dir}");
    drop(s);
    drop(pool);
    assert!(!std::path::Path::new(&dir).exists(), "{dir} is still there");
    // Moves through the parent need no directory.
    let (_pool, s) = pool_moving(2, true, false);
    let (dir, _) = rt.block_on(s.compute(&g, &h)).unwrap();
    assert_eq!(dir, "");
}

/// `kept` (a chunk kept in the only worker), then, after a local gate the test
/// opens, `used` (a remote task taking `kept`). The worker is killed between the two:
/// `kept` is lost with it, runs again on the replacement (from its own inputs, held
/// in the parent), and `used` runs after it: the right answer, made by the new worker.
fn results_lost_with_a_worker_are_computed_again(f: &Fns) {
    let rt = runtime();
    let (pool, s) = pool_with(1, true);
    let pid = pool.pids()[0].unwrap();
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let wait = Mutex::new(wait);
    let mut g = Graph::new();
    let start = g.add("start", (), || 0_u64).unwrap();
    let n = g.add("n", (), || N).unwrap();
    let first = g.add_remote("first", (&start, &n), &f.chunk).unwrap();
    // Two generations of results in the worker: `first` is released once `kept`
    // is made, so `kept` runs again from `first`, which runs again from `start`.
    let kept = g.add_remote("kept", &first, &f.double).unwrap();
    let gate = g
        .add("gate", (), move || {
            let _ = wait.lock().unwrap().recv();
            1_u64
        })
        .unwrap();
    let gated = g.add_remote("gated", (&gate, &n), &f.chunk).unwrap();
    let used = g
        .add_remote("used", (&kept, &gated), &f.where_made2)
        .unwrap();
    let sum = g.add_remote("sum", &kept, &f.chunk_sum).unwrap();
    // Unfused, so that `first` and `kept` are two results.
    let options = ComputeOptions::new().fuse(false);
    let compute = rt.spawn(s.compute_with(&g, (&used, &sum), options));
    eventually("the worker to hold `kept`", || {
        pool.held_bytes().first().is_some_and(|(_, b)| *b > 0)
    });
    signal(pid, "KILL");
    eventually("the worker to be replaced", || {
        pool.pids()[0].is_some_and(|p| p != pid)
    });
    go.send(()).unwrap();
    let ((made_kept, made_gated, runs_in), sum) = rt.block_on(compute).unwrap().unwrap();
    let new_pid = pool.pids()[0].unwrap();
    assert_eq!(
        (made_kept, made_gated, runs_in),
        (new_pid, new_pid, new_pid)
    );
    assert_eq!(sum, (0..N).map(|v| v * 2).sum::<u64>());
}

fn cancel_frees_every_worker(f: &Fns) {
    let rt = runtime();
    let (pool, s) = pool_with(1, true);
    let pid = pool.pids()[0];
    let mut g = Graph::new();
    let n = g.add("n", (), || N).unwrap();
    // An async task that never ends (cancelling the computation stops it; a
    // blocking one could share a batch with the tasks that make the chunks), and a
    // remote one after it.
    let gate = g
        .add_async("gate", (), || async {
            std::future::pending::<()>().await;
            0_u64
        })
        .unwrap();
    let gated = g.add_remote("gated", (&gate, &n), &f.chunk).unwrap();
    // Eight chunks, kept in the worker: their consumer also waits for `gated`.
    let mut inputs: Vec<_> = (0..8_u64)
        .map(|i| {
            let start = g.add(("start", i), (), move || i).unwrap();
            g.add_remote(("kept", i), (&start, &n), &f.chunk).unwrap()
        })
        .collect();
    inputs.push(gated);
    let count = g.add_remote("count", &inputs, &f.count).unwrap();
    let token = CancellationToken::new();
    let options = ComputeOptions::new().cancel_on(token.clone());
    let compute = rt.spawn(s.compute_with(&g, &count, options));
    // Each chunk (1,000 numbers under 1,008) encodes to about 1,880 bytes.
    eventually("the eight chunks to be kept", || {
        pool.held_bytes()
            .first()
            .is_some_and(|(_, b)| *b >= 8 * 1800)
    });
    token.cancel();
    let error = rt.block_on(compute).unwrap().unwrap_err();
    assert!(matches!(error, ComputeError::Cancelled), "{error}");
    // No remote task was running: the worker was not killed, and it dropped
    // everything it held for the cancelled computation.
    assert_eq!(pool.pids()[0], pid);
    assert_eq!(pool.held_bytes()[0].1, 0);
    assert_eq!(held_in_worker(&s, f), (0, 0));
}

/// Chunks kept in both workers, then a task that fails: the computation fails
/// naming it, and every worker drops what it held for it.
fn failure_frees_every_worker(f: &Fns) {
    let rt = runtime();
    let (pool, s) = pool_with(2, true);
    let mut g = Graph::new();
    let n = g.add("n", (), || N).unwrap();
    let kept: Vec<_> = (0..8_u64)
        .map(|i| {
            let start = g.add(("start", i), (), move || i).unwrap();
            g.add_remote(("kept", i), (&start, &n), &f.chunk).unwrap()
        })
        .collect();
    let refused = g.add_remote("refused", &kept, &f.refuse).unwrap();
    let error = rt.block_on(s.compute(&g, &refused)).unwrap_err();
    let ComputeError::Task { key, error } = &error else {
        panic!("not a task error: {error}");
    };
    assert_eq!(
        (key.to_string().as_str(), error.message()),
        ("refused", "refused")
    );
    assert!(
        pool.held_bytes().iter().all(|(_, b)| *b == 0),
        "{:?}",
        pool.held_bytes()
    );
    // The workers dropped them too: a worker sends its releases before its next
    // batch, so whichever worker runs a probe shows what it holds after them.
    let mut g = Graph::new();
    let probes: Vec<_> = (0..2)
        .map(|i| g.add_remote(("held", i), (), &f.held_here).unwrap())
        .collect();
    for held in rt.block_on(s.compute(&g, &probes)).unwrap() {
        assert_eq!(held, (0, 0));
    }
}

fn same_result_on_every_executor(f: &Fns) {
    let rt = runtime();
    let (g, total, expected) = pipeline(f, 24);
    let mut results = vec![
        rt.block_on(Scheduler::current_thread().compute(&g, &total))
            .unwrap(),
        rt.block_on(Scheduler::threads(2).unwrap().compute(&g, &total))
            .unwrap(),
    ];
    for resident in [true, false] {
        let (_pool, s) = pool_with(2, resident);
        let traffics = Arc::new(Traffics::default());
        let options = ComputeOptions::new()
            .fuse(false)
            .shared_callback(traffics.clone());
        results.push(rt.block_on(s.compute_with(&g, &total, options)).unwrap());
        // Fused chains give the same answer.
        results.push(rt.block_on(s.compute(&g, &total)).unwrap());
        let t = traffics.last();
        if resident {
            assert!(t.through_parent() * 20 < t.produced, "{t:?}");
        } else {
            // Every result came back, and every input went out again.
            assert_eq!(t.kept, 0, "{t:?}");
            assert_eq!(t.to_parent, t.produced, "{t:?}");
            assert!(t.from_parent >= t.produced - 8, "{t:?}");
        }
    }
    assert_eq!(results, vec![expected; 6]);
}

/// A task span per call: the first member of a fused chain gets one, recorded with
/// its worker; the members after it run inside that call.
#[derive(Default)]
struct Starts(Mutex<Vec<String>>);

impl Callback for Starts {
    fn on_task_start(&self, event: &taskloom::callbacks::TaskStart<'_>) {
        self.0.lock().unwrap().push(event.key.to_string());
    }
}

/// chunk → double → partial sum is a linear chain of remote tasks: it runs as one
/// call in one worker, whose intermediate results never leave it (and are counted
/// as produced), and gives what the unfused run gives.
fn a_remote_chain_runs_as_one_call(f: &Fns) {
    let rt = runtime();
    let (pool, s) = pool_with(1, true);
    let pid = pool.pids()[0].unwrap();
    let mut g = Graph::new();
    let start = g.add("start", (), || 0_u64).unwrap();
    let n = g.add("n", (), || N).unwrap();
    let c = g.add_remote("chunk", (&start, &n), &f.chunk).unwrap();
    let d = g.add_remote("double", &c, &f.double).unwrap();
    let w = g.add_remote("where", &d, &f.where_made).unwrap();
    let expected = (pid, pid);
    // Fused (no callback wants task events): one call, its members' bytes produced
    // in the worker and nothing of them through the parent.
    let traffics = Arc::new(Traffics::default());
    let options = ComputeOptions::new().shared_callback(traffics.clone());
    assert_eq!(
        rt.block_on(s.compute_with(&g, &w, options)).unwrap(),
        expected
    );
    let fused = traffics.last();
    assert!(fused.produced > 2 * N, "{fused:?}"); // chunk and double, measured
    assert_eq!(fused.kept, 0, "{fused:?}"); // the last member's result is the target
    assert!(fused.through_parent() < 64, "{fused:?}");
    // Not fused (a callback wants every task's start): three calls, same answer.
    let starts = Arc::new(Starts::default());
    let options = ComputeOptions::new().shared_callback(starts.clone());
    assert_eq!(
        rt.block_on(s.compute_with(&g, &w, options)).unwrap(),
        expected
    );
    let mut started = starts.0.lock().unwrap().clone();
    started.sort();
    assert_eq!(started, ["chunk", "double", "n", "start", "where"]);
    // Under threads the same chain runs in-process (fused there too).
    let threads = rt
        .block_on(Scheduler::threads(1).unwrap().compute(&g, &w))
        .unwrap();
    assert_eq!(threads.0, threads.1);
}
