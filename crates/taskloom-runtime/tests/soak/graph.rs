//! The soak's random graphs: every task is the registered function `step`, so the
//! same graph runs in-process (threads, current thread) and in worker processes.
//!
//! Task `step-i` takes its spec `spec-i` (a local leaf carrying its id and its
//! fault) and the results of earlier steps, and returns `i + sum(inputs)` modulo a
//! prime: the expected result of any graph is simulated in the test.

use std::collections::{BTreeSet, HashSet};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use taskloom::inputs::Many;
use taskloom::remote::{Registry, Remote};
use taskloom::{Graph, Handle};

use crate::faults::{self, Fault, Plan};

const MODULUS: u64 = 1_000_000_007;

/// A small deterministic generator (xorshift64*): a soak is replayed by its seed.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The value every task makes: a number, and the traps a fault sets in it.
#[derive(Debug, Deserialize)]
pub(crate) struct Val {
    pub(crate) value: u64,
    /// In a spec: the fault of its step.
    fault: u8,
    /// Panics when dropped.
    drop_panic: bool,
    /// Panics when serialized.
    ser_panic: bool,
}

impl Val {
    fn plain(value: u64, fault: u8) -> Val {
        Val {
            value,
            fault,
            drop_panic: false,
            ser_panic: false,
        }
    }
}

impl Serialize for Val {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.ser_panic {
            panic!("injected panic in Serialize of value {}", self.value);
        }
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Val", 4)?;
        st.serialize_field("value", &self.value)?;
        st.serialize_field("fault", &self.fault)?;
        st.serialize_field("drop_panic", &self.drop_panic)?;
        st.serialize_field("ser_panic", &self.ser_panic)?;
        st.end()
    }
}

impl Drop for Val {
    fn drop(&mut self) {
        if self.drop_panic && !std::thread::panicking() {
            panic!("injected panic in Drop of value {}", self.value);
        }
    }
}

/// The step: its spec first, then the results of earlier steps.
fn step(inputs: &[&Val]) -> Result<Val, String> {
    let Some((spec, rest)) = inputs.split_first() else {
        return Err("a step without its spec".into());
    };
    let value = rest
        .iter()
        .fold(spec.value % MODULUS, |acc, v| (acc + v.value) % MODULUS);
    let mut out = Val::plain(value, 0);
    match Fault::from_u8(spec.fault) {
        Fault::None => {}
        Fault::Err => return Err(format!("injected error in step {}", spec.value)),
        Fault::Panic => panic!("injected panic in step {}", spec.value),
        Fault::DropPanic => out.drop_panic = true,
        Fault::SerializePanic => out.ser_panic = true,
        Fault::Slow => faults::slow(spec.value),
        Fault::Crash => std::process::abort(),
    }
    Ok(out)
}

/// The registered step, once [`registry`] made it.
static STEP: OnceLock<Remote<Many<Val>, Val>> = OnceLock::new();

/// The soak's registry: the same in this process and in its workers.
pub(crate) fn registry() -> Registry {
    let mut r = Registry::new();
    let remote = r.register_fallible("step", step).unwrap();
    let _ = STEP.set(remote);
    r
}

fn step_fn() -> Remote<Many<Val>, Val> {
    STEP.get().cloned().expect("registry() was called")
}

/// One computation of the soak: its graph, target, expected value, and plan.
pub(crate) struct Case {
    pub(crate) graph: Graph,
    pub(crate) target: Handle<Val>,
    pub(crate) expected: u64,
    pub(crate) tasks: usize,
    pub(crate) plan: Plan,
    /// Keys an error may name: the faulted tasks, and where a faulted value is
    /// dropped (its dependents' workers).
    may_fail: HashSet<String>,
}

impl Case {
    /// A random DAG of 5–120 steps, each taking up to three earlier steps, then one
    /// `total` over every step nothing depends on.
    pub(crate) fn random(rng: &mut Rng, _executor: &str, plan: Plan) -> Case {
        let n = 5 + rng.below(116) as usize;
        let mut faults = vec![Fault::None; n];
        for &(at, fault) in &plan.injected {
            let i = ((at * n as f64) as usize).min(n - 1);
            faults[i] = fault;
        }
        let step = step_fn();
        let mut g = Graph::new();
        let mut handles: Vec<Handle<Val>> = Vec::with_capacity(n);
        let mut values = Vec::with_capacity(n);
        let mut deps_of: Vec<Vec<usize>> = Vec::with_capacity(n);
        let mut used = vec![false; n];
        for (i, &fault) in faults.iter().enumerate() {
            let fault = fault as u8;
            let spec = g
                .add(format!("spec-{i}"), (), move || Val::plain(i as u64, fault))
                .unwrap();
            let deps: BTreeSet<usize> = if i == 0 {
                BTreeSet::new()
            } else {
                (0..rng.below(4))
                    .map(|_| rng.below(i as u64) as usize)
                    .collect()
            };
            let mut inputs = vec![spec];
            let mut value = i as u64 % MODULUS;
            for &d in &deps {
                inputs.push(handles[d]);
                value = (value + values[d]) % MODULUS;
                used[d] = true;
            }
            handles.push(g.add_remote(format!("step-{i}"), &inputs, &step).unwrap());
            values.push(value);
            deps_of.push(deps.into_iter().collect());
        }
        let sinks: Vec<usize> = (0..n).filter(|&i| !used[i]).collect();
        let total_spec = g.add("spec-total", (), || Val::plain(0, 0)).unwrap();
        let mut inputs = vec![total_spec];
        inputs.extend(sinks.iter().map(|&i| handles[i]));
        let target = g.add_remote("total", &inputs, &step).unwrap();
        let expected = sinks.iter().fold(0, |acc, &i| (acc + values[i]) % MODULUS);

        let mut may_fail = HashSet::new();
        for i in (0..n).filter(|&i| faults[i].may_fail()) {
            may_fail.insert(format!("step-{i}"));
            may_fail.insert(format!("spec-{i}"));
            if faults[i] == Fault::DropPanic {
                for (j, deps) in deps_of.iter().enumerate() {
                    if deps.contains(&i) {
                        may_fail.insert(format!("step-{j}"));
                    }
                }
                if sinks.contains(&i) {
                    may_fail.insert("total".to_owned());
                }
            }
        }
        Case {
            graph: g,
            target,
            expected,
            tasks: 2 * n + 2,
            plan,
            may_fail,
        }
    }

    /// Whether an error naming `key` is explained by a fault of this case.
    pub(crate) fn may_fail(&self, key: &str) -> bool {
        self.may_fail.contains(key)
    }
}
