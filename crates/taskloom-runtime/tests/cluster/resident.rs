//! Results that stay in the cluster worker that made them: the same pipeline gives the
//! same answer with residency on and off and on other executors, only the total
//! crosses the network with it on, and nothing stays held after the computation.

use std::sync::{Arc, Mutex};

use taskloom::callbacks::{Callback, FinishInfo};
use taskloom::traffic::Traffic;
use taskloom::{ComputeOptions, Graph, Handle, Scheduler};

use crate::functions::Fns;
use crate::support;

pub(crate) const TESTS: &[crate::Test] = &[(
    "resident::the_network_carries_only_what_the_caller_needs",
    the_network_carries_only_what_the_caller_needs,
)];

#[derive(Default)]
struct Traffics(Mutex<Vec<Traffic>>);

impl Callback for Traffics {
    fn task_events(&self) -> bool {
        false // only the end's figures: chains stay fused
    }

    fn on_finish(&self, info: &FinishInfo) {
        self.0.lock().unwrap().push(info.traffic);
    }
}

/// chunk → double → partial sum → total over `chunks` chunks of 1,000 numbers.
fn pipeline(f: &Fns, chunks: u64) -> (Graph, Handle<u64>, u64) {
    let mut g = Graph::new();
    let n = g.add("n", (), || 1000_u64).unwrap();
    let mut partials = Vec::new();
    let mut expected = 0;
    for i in 0..chunks {
        let start = g.add(("start", i), (), move || i * 1000).unwrap();
        let c = g.add_remote(("chunk", i), (&start, &n), &f.chunk).unwrap();
        let d = g.add_remote(("double", i), &c, &f.double).unwrap();
        partials.push(g.add_remote(("partial", i), &d, &f.chunk_sum).unwrap());
        expected += (i * 1000..(i + 1) * 1000).map(|v| v * 2).sum::<u64>();
    }
    let total = g.add_remote("total", &partials, &f.total).unwrap();
    (g, total, expected)
}

fn the_network_carries_only_what_the_caller_needs(f: &Fns) {
    let rt = support::runtime();
    let (g, total, expected) = pipeline(f, 32);
    let threads = rt
        .block_on(Scheduler::threads(2).unwrap().compute(&g, &total))
        .unwrap();
    assert_eq!(threads, expected);
    for resident in [true, false] {
        let (cluster, s) = support::local(&rt, 2, support::builder().resident(resident));
        let traffics = Arc::new(Traffics::default());
        // Unfused, so that every step's result is one of its own (fused chains are
        // the process tests' `a_remote_chain_runs_as_one_call`).
        let options = ComputeOptions::new()
            .fuse(false)
            .shared_callback(traffics.clone());
        let out = rt.block_on(s.compute_with(&g, &total, options)).unwrap();
        assert_eq!(rt.block_on(s.compute(&g, &total)).unwrap(), expected);
        assert_eq!(out, expected, "resident: {resident}");
        let t = *traffics.0.lock().unwrap().last().unwrap();
        if resident {
            assert!(t.kept > 32 * 2 * 1000, "{t:?}");
            assert!(t.through_parent() * 20 < t.produced, "{t:?}");
            // Nothing is left held, in the scheduler's table or in a worker.
            assert!(cluster.held_bytes().iter().all(|(_, b)| *b == 0));
            for _ in 0..4 {
                let mut probe = Graph::new();
                let h = probe.add_remote("held", (), &f.held_here).unwrap();
                assert_eq!(rt.block_on(s.compute(&probe, &h)).unwrap(), (0, 0));
            }
        } else {
            assert_eq!(t.kept, 0, "{t:?}");
            assert_eq!(t.to_parent, t.produced, "{t:?}");
        }
    }
}
