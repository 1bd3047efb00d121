//! The results a computation holds: one slot per task, filled when the task finishes
//! and emptied when core's `State` releases it; and their count and bytes, with the
//! peaks, for the byte budget and the memory figures callbacks receive.
//!
//! Dropping a result runs user code (its type's `Drop`), and that code may panic.
//! Every drop here is caught: a release that panics is an error naming the released
//! task, and whatever is still held when the computation ends (failed, cancelled or
//! dropped) is dropped without letting a panic unwind into the caller.

use taskloom_core::{Graph as CoreGraph, TaskId};

use crate::body::TaskBody;
use crate::error::TaskError;
use crate::executor::InputRefs;
#[cfg(any(feature = "process", feature = "cluster"))]
use crate::link::place::RemoteRef;
use crate::unwind::{discard, drop_value};
use crate::value::Value;

/// Values of finished tasks, by task id; released ones are `None` again.
pub(crate) struct Held {
    values: Vec<Option<Value>>,
    /// Bytes counted for each held result, taken back when it goes; empty when no
    /// task of the graph reports a size (every result is then 0 bytes).
    bytes: Vec<u64>,
    tally: Tally,
}

/// Results held now and at most, and their bytes.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Tally {
    pub(super) results: usize,
    /// How many of `results` are requested results (kept to the end).
    pub(super) targets: usize,
    pub(super) bytes: u64,
    pub(super) peak_results: usize,
    pub(super) peak_bytes: u64,
    /// The largest result so far.
    pub(super) largest: u64,
}

/// A dependency's result is not held when its dependent starts: a bug, reported.
#[derive(Debug)]
pub(super) struct Missing {
    pub(super) task: TaskId,
    pub(super) input: TaskId,
}

impl Held {
    /// Room for `tasks` results; `sized`: whether any task reports its result's size.
    pub(super) fn new(tasks: usize, sized: bool) -> Self {
        Held {
            values: vec![None; tasks],
            bytes: if sized { vec![0; tasks] } else { Vec::new() },
            tally: Tally::default(),
        }
    }

    /// Keeps `task`'s result of `bytes` bytes (`target`: a requested result). A
    /// value it replaces (none, in a correct run) is dropped quietly.
    pub(super) fn put(&mut self, task: TaskId, value: Value, bytes: u64, target: bool) {
        let i = task.index();
        let Some(slot) = self.values.get_mut(i) else {
            discard(value);
            return;
        };
        if let Some(old) = slot.replace(value) {
            discard(old);
            self.forget(i);
        }
        let t = &mut self.tally;
        t.results += 1;
        t.targets += usize::from(target);
        t.peak_results = t.peak_results.max(t.results);
        if let Some(b) = self.bytes.get_mut(i) {
            *b = bytes;
            t.bytes += bytes;
            t.peak_bytes = t.peak_bytes.max(t.bytes);
            t.largest = t.largest.max(bytes);
        }
    }

    /// Takes result `i` out of the tally.
    fn forget(&mut self, i: usize) {
        self.tally.results -= 1;
        if let Some(b) = self.bytes.get_mut(i) {
            self.tally.bytes -= std::mem::take(b);
        }
    }

    /// Drops `task`'s result. `Err` if its `Drop` panicked.
    pub(super) fn release(&mut self, task: TaskId) -> Result<(), TaskError> {
        match self.values.get_mut(task.index()).and_then(Option::take) {
            Some(value) => {
                self.forget(task.index());
                drop_value(value)
            }
            None => Ok(()),
        }
    }

    /// The tasks whose results were held by a worker that was lost, and are gone.
    /// `O(tasks)`: called only when a loss shows.
    pub(super) fn lost(&self) -> Vec<TaskId> {
        // Only the process pool and the cluster keep results in workers.
        #[cfg(not(any(feature = "process", feature = "cluster")))]
        return Vec::new();
        #[cfg(any(feature = "process", feature = "cluster"))]
        self.values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| {
                let r = v.as_ref()?.downcast_ref::<RemoteRef>()?;
                r.is_lost().then(|| TaskId::from_index(i))
            })
            .collect()
    }

    /// Results held now and at most, and their bytes.
    pub(super) fn tally(&self) -> Tally {
        self.tally
    }

    /// References to the results `task` takes as inputs, in argument order.
    pub(super) fn inputs<'a>(
        &'a self,
        graph: &CoreGraph<TaskBody>,
        task: TaskId,
    ) -> Result<InputRefs<'a>, Missing> {
        graph
            .deps(task)
            .iter()
            .map(|&input| self.get_ref(input).ok_or(Missing { task, input }))
            .collect()
    }

    /// Appends shared handles on the results `task` takes as inputs, in order.
    pub(super) fn clone_inputs(
        &self,
        graph: &CoreGraph<TaskBody>,
        task: TaskId,
        out: &mut impl Extend<Value>,
    ) -> Result<(), Missing> {
        for &input in graph.deps(task) {
            match self.get_ref(input) {
                Some(v) => out.extend([Value::clone(v)]),
                None => return Err(Missing { task, input }),
            }
        }
        Ok(())
    }

    fn get_ref(&self, task: TaskId) -> Option<&Value> {
        self.values.get(task.index())?.as_ref()
    }

    /// Moves a target's value out.
    pub(crate) fn take(&mut self, task: TaskId) -> Option<Value> {
        let value = self.values.get_mut(task.index())?.take()?;
        self.forget(task.index());
        self.tally.targets = self.tally.targets.saturating_sub(1);
        Some(value)
    }

    /// Shares a target's value.
    pub(crate) fn get(&self, task: TaskId) -> Option<Value> {
        self.get_ref(task).cloned()
    }
}

impl Drop for Held {
    /// What is still held at the end (targets nobody took, intermediates of a failed
    /// or cancelled run) goes here; a panicking `Drop` has nobody left to fail.
    fn drop(&mut self) {
        for value in self.values.drain(..).flatten() {
            discard(value);
        }
    }
}
