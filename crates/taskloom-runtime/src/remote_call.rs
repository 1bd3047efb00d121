//! The neutral descriptor of a remote call: what a task added with
//! `Graph::add_remote` carries so that an executor can run it in another process
//! (the function's registered name, how to encode its inputs and decode its result).
//!
//! The graph and the scheduling loop carry it without reading it; only the executors
//! with worker processes do (`crate::link`). It lives apart from `crate::remote`
//! (the registry, `init`, the serde format), which needs the `process` or `cluster`
//! feature, so that the loop compiles the same way with or without them: a build
//! without either has no way to make one, and every task's descriptor is `None`.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use crate::error::{TaskError, TaskErrorKind};
use crate::value::Value;

/// What an executor needs to run a task in another process: the function's name,
/// how to encode the task's inputs and how to decode its result. Shared by every
/// task that calls the same `remote::Remote`.
///
/// Encoding and decoding run the user's `Serialize` and `Deserialize` impls in the
/// executor's own task (a pool's slot, a connection's driver): [`RemoteCall::encode_arg`]
/// and [`RemoteCall::decode`] turn a panic there into the task's
/// [`TaskErrorKind::Serialization`] error, so it can never take the executor down.
pub(crate) struct RemoteCall {
    pub(crate) name: Arc<str>,
    /// Encodes input `i`'s value as the function's argument `i`.
    pub(crate) encode_arg: fn(usize, &Value, &mut Vec<u8>) -> Result<(), TaskError>,
    /// Encodes every input value at once, as the function's argument tuple.
    pub(crate) encode_all: fn(&[Value], &mut Vec<u8>) -> Result<(), TaskError>,
    /// Decodes the function's result.
    pub(crate) decode: fn(&[u8]) -> Result<Value, TaskError>,
}

impl fmt::Debug for RemoteCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RemoteCall({})", self.name)
    }
}

impl RemoteCall {
    /// Encodes input `index`'s value into `out` (cleared first). Each input crosses
    /// on its own, so that a worker can take some inputs from the values it holds and
    /// the others from the frame.
    ///
    /// # Errors
    /// [`TaskErrorKind::Serialization`] if the value does not encode or its
    /// `Serialize` panics; [`TaskErrorKind::TypeMismatch`] if it is not of its
    /// argument's type.
    pub(crate) fn encode_arg(
        &self,
        index: usize,
        input: &Value,
        out: &mut Vec<u8>,
    ) -> Result<(), TaskError> {
        out.clear();
        unpanic("encoding its inputs", || {
            (self.encode_arg)(index, input, out)
        })
    }

    /// Encodes every input value at once into `out` (cleared first), as the
    /// function's argument tuple: the cheaper form when no input is held by a worker.
    ///
    /// # Errors
    /// As [`RemoteCall::encode_arg`].
    pub(crate) fn encode_all(&self, inputs: &[Value], out: &mut Vec<u8>) -> Result<(), TaskError> {
        out.clear();
        unpanic("encoding its inputs", || (self.encode_all)(inputs, out))
    }

    /// Decodes the function's result.
    ///
    /// # Errors
    /// [`TaskErrorKind::Serialization`] if the bytes do not decode or the result
    /// type's `Deserialize` panics.
    pub(crate) fn decode(&self, bytes: &[u8]) -> Result<Value, TaskError> {
        unpanic("decoding its result", || (self.decode)(bytes))
    }
}

/// Runs user serde code (`what`: "encoding its inputs"...), turning a panic into a
/// [`TaskErrorKind::Serialization`] error that says where it happened.
pub(crate) fn unpanic<T>(
    what: &str,
    f: impl FnOnce() -> Result<T, TaskError>,
) -> Result<T, TaskError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let panic = TaskError::panicked(&*payload);
        // Dropped where a panic in its `Drop` cannot unwind (as the executor's
        // `discard` does; not imported, so that this module depends on no executor).
        let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
        Err(TaskError::new(
            TaskErrorKind::Serialization,
            format!("panicked while {what}: {}", panic.message()),
        ))
    })
}
