//! User code never unwinds through the runtime: the helpers that run it, or drop the
//! values it made, with its panics caught.
//!
//! A task body, a result's `Drop`, a `Serialize` impl are code the runtime does not
//! control. A panic in any of them must become that task's error, or be swallowed
//! where nobody is left to blame, but never unwind through a worker thread, an
//! executor's driver or the scheduling loop: each of those would then lose the
//! completions it owes and leave a computation waiting. These helpers sit below every
//! layer that runs user code (task bodies, the executors, the remote descriptors, the
//! loop), and use nothing of the crate but its errors.

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::error::{TaskError, TaskErrorKind};
use crate::value::Value;

/// Drops a value, turning a panic in its `Drop` into a
/// [`TaskErrorKind::DropPanicked`] error.
pub(crate) fn drop_value(value: Value) -> Result<(), TaskError> {
    catch_unwind(AssertUnwindSafe(move || drop(value))).map_err(|payload| {
        TaskError::new(
            TaskErrorKind::DropPanicked,
            TaskError::panicked(&*payload).message().to_owned(),
        )
    })
}

/// Drops something that may hold user values where nobody is left to blame (the
/// computation is gone or already failed): a panic in a `Drop` is swallowed, never
/// allowed to unwind through a worker or the loop.
pub(crate) fn discard<T>(thing: T) {
    let _ = catch_unwind(AssertUnwindSafe(move || drop(thing)));
}

/// Runs user serde code (`what`: "encoding its inputs"...), turning a panic into a
/// [`TaskErrorKind::Serialization`] error that says where it happened.
#[cfg_attr(
    not(any(feature = "process", feature = "cluster")),
    allow(dead_code, reason = "guards the serde calls of remote tasks")
)]
pub(crate) fn unpanic<T>(
    what: &str,
    f: impl FnOnce() -> Result<T, TaskError>,
) -> Result<T, TaskError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let panic = TaskError::panicked(&*payload);
        discard(payload);
        Err(TaskError::new(
            TaskErrorKind::Serialization,
            format!("panicked while {what}: {}", panic.message()),
        ))
    })
}
