//! The results a computation holds: one slot per task, filled when the task finishes
//! and emptied when core's `State` releases it.
//!
//! Dropping a result runs user code (its type's `Drop`), and that code may panic.
//! Every drop here is caught: a release that panics is an error naming the released
//! task, and whatever is still held when the computation ends (failed, cancelled or
//! dropped) is dropped without letting a panic unwind into the caller.

use taskloom_core::{Graph as CoreGraph, TaskId};

use crate::error::TaskError;
use crate::executor::{InputRefs, discard, drop_value};
use crate::graph::TaskBody;
use crate::value::Value;

/// Values of finished tasks, by task id; released ones are `None` again.
pub(crate) struct Held {
    values: Vec<Option<Value>>,
}

/// A dependency's result is not held when its dependent starts: a bug, reported.
#[derive(Debug)]
pub(super) struct Missing {
    pub(super) task: TaskId,
    pub(super) input: TaskId,
}

impl Held {
    pub(super) fn new(tasks: usize) -> Self {
        Held {
            values: vec![None; tasks],
        }
    }

    /// Keeps `task`'s result. A value it replaces (none, in a correct run) is
    /// dropped quietly.
    pub(super) fn put(&mut self, task: TaskId, value: Value) {
        match self.values.get_mut(task.index()) {
            Some(slot) => {
                if let Some(old) = slot.replace(value) {
                    discard(old);
                }
            }
            None => discard(value),
        }
    }

    /// Drops `task`'s result. `Err` if its `Drop` panicked.
    pub(super) fn release(&mut self, task: TaskId) -> Result<(), TaskError> {
        match self.values.get_mut(task.index()).and_then(Option::take) {
            Some(value) => drop_value(value),
            None => Ok(()),
        }
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
        self.values.get_mut(task.index())?.take()
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
