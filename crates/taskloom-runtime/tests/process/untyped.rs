//! Untyped functions (`Registry::register_dyn`): values move by their codec, each
//! task carries its payload, fused chains carry their members' payloads, results
//! stay in workers, and a `Raised` error's bytes come back as they were.

use std::sync::Arc;

use taskloom::remote::Raised;
use taskloom::{AnyHandle, ComputeError, ComputeOptions, Graph, Output, Scheduler};

use crate::functions::Fns;
use crate::resident::Traffics;
use crate::roundtrip::{pool, runtime};

pub(crate) const TESTS: &[crate::Test] = &[
    ("untyped::payloads_and_chains", payloads_and_chains),
    ("untyped::results_stay_in_workers", results_stay_in_workers),
    (
        "untyped::raised_errors_keep_their_bytes",
        raised_errors_keep_their_bytes,
    ),
];

fn bytes(out: &Output) -> Vec<u8> {
    out.downcast_ref::<Vec<u8>>().unwrap().clone()
}

/// A local value, then a chain of three untyped tasks each adding its payload, and
/// a task of two inputs: the same bytes on the pool and in-process.
fn payloads_and_chains(f: &Fns) {
    let rt = runtime();
    let (_pool, s) = pool(2);
    let mut g = Graph::new();
    let x: AnyHandle = g.add("x", (), || vec![1_u8]).unwrap().erase();
    let a = g.add_dyn_remote("a", &[x], &f.cat, vec![2]).unwrap();
    let b = g.add_dyn_remote("b", &[a], &f.cat, vec![3]).unwrap();
    let c = g.add_dyn_remote("c", &[b], &f.cat, vec![4, 5]).unwrap();
    let y = g.add_dyn_remote("y", &[], &f.cat, vec![9]).unwrap();
    g.add_dyn_remote("z", &[c, y], &f.cat, Vec::new()).unwrap();
    for scheduler in [s, Scheduler::current_thread()] {
        let out = rt.block_on(scheduler.get(&g, vec!["c", "z"])).unwrap();
        let items = out.as_list().unwrap();
        assert_eq!(bytes(&items[0]), [1, 2, 3, 4, 5]);
        assert_eq!(bytes(&items[1]), [1, 2, 3, 4, 5, 9]);
    }
}

/// Large untyped results only other remote tasks need stay in the workers that
/// made them, and are freed once the computation ends.
fn results_stay_in_workers(f: &Fns) {
    let rt = runtime();
    let (pool, s) = pool(2);
    let mut g = Graph::new();
    let parts: Vec<AnyHandle> = (0..4)
        .map(|i| {
            g.add_dyn_remote(format!("part-{i}"), &[], &f.cat, vec![i; 4096])
                .unwrap()
        })
        .collect();
    g.add_dyn_remote("all", &parts, &f.cat, Vec::new()).unwrap();
    let traffics = Arc::new(Traffics::default());
    let options = ComputeOptions::new().shared_callback(traffics.clone());
    let out = rt.block_on(s.get_with(&g, "all", options)).unwrap();
    let all = bytes(&out);
    assert_eq!(all.len(), 4 * 4096);
    assert!(all[..4096].iter().all(|&b| b == 0) && all[3 * 4096..].iter().all(|&b| b == 3));
    let traffic = traffics.last();
    assert_eq!(traffic.kept, 4 * 4096, "{traffic:?}");
    assert_eq!(pool.held_bytes().iter().map(|(_, b)| b).sum::<u64>(), 0);
}

/// A `Raised` failure crosses as its message and its bytes.
fn raised_errors_keep_their_bytes(f: &Fns) {
    let rt = runtime();
    let (_pool, s) = pool(1);
    let mut g = Graph::new();
    g.add_dyn_remote("r", &[], &f.raise, b"detail".to_vec())
        .unwrap();
    let error = rt.block_on(s.get(&g, "r")).unwrap_err();
    let ComputeError::Task { key, error } = error else {
        panic!("{error}");
    };
    assert_eq!(key.to_string(), "r");
    assert_eq!(error.message(), "raised");
    let raised = std::error::Error::source(&error)
        .and_then(|e| e.downcast_ref::<Raised>())
        .unwrap();
    assert_eq!(raised.detail(), b"detail");
}
