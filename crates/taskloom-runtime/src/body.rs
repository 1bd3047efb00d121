//! What a task runs: its type-erased body, blocking or async, and for a remote task
//! the neutral descriptor of its call.
//!
//! The graph stores one [`TaskBody`] per task; the executors, the scheduling loop and
//! the worker links read it. It lives apart from the graph-building API so that what
//! runs tasks depends on what a task is, not on how graphs are built.
//!
//! A remote task is a blocking body that also carries a [`RemoteCall`]: the name of a
//! registered function and how to move its values, as plain function pointers (and,
//! for an untyped function, the bytes of the task's own payload). The
//! descriptor names no wire format (the registry fills the pointers in with its
//! format's functions), so this module compiles whatever executors and formats the
//! crate is built with. Executors whose workers are other processes interpret it;
//! every other executor calls the in-process function.

use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::error::TaskError;
use crate::unwind::unpanic;
use crate::value::Value;

/// The function behind a blocking task body.
/// Inputs are borrowed (`&[&Value]`): an inline run then hands a task references into
/// the results it holds, with no reference-count traffic per input.
pub(crate) type BlockingCall = dyn Fn(&[&Value]) -> Result<Value, TaskError> + Send + Sync;

/// A blocking task body: takes its inputs' values, returns its own.
///
/// A closure that captures nothing is a zero-sized value with nothing to drop: it
/// is held by a `'static` reference, which costs no allocation (a `Box` of a
/// zero-sized value allocates nothing, so leaking one leaks nothing). Most task
/// functions are such closures, and a graph of many small tasks then spends no
/// allocation, and no free when the graph is dropped, on their bodies. Any other
/// closure is shared behind an `Arc`.
#[derive(Clone)]
pub(crate) enum BlockingFn {
    /// A closure that captures something.
    Shared(Arc<BlockingCall>),
    /// A closure that captures nothing.
    Unit(&'static BlockingCall),
}

impl BlockingFn {
    pub(crate) fn new<F>(f: F) -> Self
    where
        F: Fn(&[&Value]) -> Result<Value, TaskError> + Send + Sync + 'static,
    {
        if std::mem::size_of::<F>() == 0 && !std::mem::needs_drop::<F>() {
            BlockingFn::Unit(Box::leak(Box::new(f)))
        } else {
            BlockingFn::Shared(Arc::new(f))
        }
    }
}

impl std::ops::Deref for BlockingFn {
    type Target = BlockingCall;

    fn deref(&self) -> &BlockingCall {
        match self {
            BlockingFn::Shared(f) => &**f,
            BlockingFn::Unit(f) => *f,
        }
    }
}

/// An async task body: takes its inputs' values, returns a future of its own.
pub(crate) type AsyncFn =
    Arc<dyn Fn(Vec<Value>) -> BoxFuture<'static, Result<Value, TaskError>> + Send + Sync>;

/// How a task runs: a plain function on an executor's worker, or a future on Tokio.
#[derive(Clone)]
pub enum TaskBody {
    /// Runs on the executor (a worker thread, or inline for `CurrentThread`).
    Blocking(BlockingFnBox),
    /// Runs as a Tokio task, whatever the executor.
    Async(AsyncFnBox),
}

/// Opaque blocking task function (see [`TaskBody::Blocking`]). A remote task (see
/// [`Graph::add_remote`](crate::Graph::add_remote)) also carries a neutral descriptor
/// of the call ([`RemoteCall`]: a registered name and how to move its values) that
/// executors with workers in other processes interpret; other executors call the
/// in-process function.
#[derive(Clone)]
pub struct BlockingFnBox {
    pub(crate) func: BlockingFn,
    pub(crate) remote: Option<Arc<RemoteCall>>,
}

impl BlockingFnBox {
    pub(crate) fn local(func: BlockingFn) -> Self {
        BlockingFnBox { func, remote: None }
    }
}

/// Opaque async task function (see [`TaskBody::Async`]).
#[derive(Clone)]
pub struct AsyncFnBox(pub(crate) AsyncFn);

impl fmt::Debug for TaskBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TaskBody::Blocking(_) => "Blocking",
            TaskBody::Async(_) => "Async",
        })
    }
}

/// Encodes input `i`'s value as argument `i` of a remote function.
pub(crate) type EncodeArg = fn(usize, &Value, &mut Vec<u8>) -> Result<(), TaskError>;
/// Encodes every input value at once, as a remote function's argument tuple.
pub(crate) type EncodeAll = fn(&[Value], &mut Vec<u8>) -> Result<(), TaskError>;
/// Decodes a remote function's result.
pub(crate) type DecodeResult = fn(&[u8]) -> Result<Value, TaskError>;
/// Encodes one value of an untyped remote function (an input or a result).
pub(crate) type EncodeValue = fn(&Value, &mut Vec<u8>) -> Result<(), TaskError>;

/// How a remote call's values move: by the registered function's serde types, or by
/// the codec an untyped function was registered with.
#[derive(Clone, Copy)]
#[cfg_attr(
    not(any(feature = "process", feature = "cluster")),
    allow(
        dead_code,
        reason = "made by the registry and read by the executors with worker processes"
    )
)]
pub(crate) enum Moves {
    /// Typed arguments: each alone, or all at once as the argument tuple.
    Typed {
        encode_arg: EncodeArg,
        encode_all: EncodeAll,
        decode: DecodeResult,
    },
    /// Untyped values, each encoded alone by the function's codec.
    Codec {
        encode: EncodeValue,
        decode: DecodeResult,
    },
}

/// What the parent does with a remote task's result as soon as it is decoded: the
/// result cache stores it (a cached remote task's value comes back to the parent,
/// whose cache directory it is written to).
pub(crate) type OnResult = Arc<dyn Fn(&Value) + Send + Sync>;

/// What an executor needs to run a task in another process: the function's name,
/// how to encode the task's inputs and how to decode its result, and the task's own
/// payload, if its function takes one. Shared by every task that calls the same
/// registered function, unless the task carries a payload (then it is the task's
/// own).
///
/// Encoding and decoding run the user's `Serialize` and `Deserialize` impls (or an
/// untyped function's codec) in the executor's own task (a pool's slot, a
/// connection's driver): the methods turn a panic there into the task's
/// [`TaskErrorKind::Serialization`](crate::TaskErrorKind::Serialization) error, so it
/// can never take the executor down.
#[cfg_attr(
    not(any(feature = "process", feature = "cluster")),
    allow(
        dead_code,
        reason = "made by the registry and read by the executors with worker processes"
    )
)]
pub(crate) struct RemoteCall {
    pub(crate) name: Arc<str>,
    moves: Moves,
    /// Bytes the function receives with this task's inputs (an untyped function's
    /// task: what to run, encoded by whoever built the graph).
    payload: Option<Arc<[u8]>>,
    /// Called with the decoded result (`None`: nothing to do).
    on_result: Option<OnResult>,
}

impl fmt::Debug for RemoteCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RemoteCall({})", self.name)
    }
}

#[cfg_attr(
    not(any(feature = "process", feature = "cluster")),
    allow(
        dead_code,
        reason = "made by the registry and read by the executors with worker processes"
    )
)]
impl RemoteCall {
    /// The descriptor of the function registered as `name`, moving its values as
    /// `moves` says, with no payload.
    pub(crate) fn new(name: Arc<str>, moves: Moves) -> Self {
        RemoteCall {
            name,
            moves,
            payload: None,
            on_result: None,
        }
    }

    /// The same call for one task that carries `payload`.
    pub(crate) fn with_payload(&self, payload: Arc<[u8]>) -> Self {
        RemoteCall {
            name: Arc::clone(&self.name),
            moves: self.moves,
            payload: Some(payload),
            on_result: self.on_result.clone(),
        }
    }

    /// The task's payload, if it has one.
    pub(crate) fn payload(&self) -> Option<&[u8]> {
        self.payload.as_deref()
    }

    /// Whether the inputs can cross all at once, as the argument tuple
    /// ([`RemoteCall::encode_all`]); untyped functions take each input alone.
    pub(crate) fn encodes_all(&self) -> bool {
        matches!(self.moves, Moves::Typed { .. })
    }

    /// The same call, whose decoded result is also handed to `on_result`.
    #[cfg(feature = "cache")]
    pub(crate) fn with_on_result(&self, on_result: OnResult) -> Self {
        RemoteCall {
            name: Arc::clone(&self.name),
            moves: self.moves,
            payload: self.payload.clone(),
            on_result: Some(on_result),
        }
    }

    /// Whether its result must reach the parent (it has something to do there):
    /// then it never stays in its worker, nor runs inside a chain but last.
    pub(crate) fn wants_result(&self) -> bool {
        self.on_result.is_some()
    }

    /// Encodes input `index`'s value into `out` (cleared first). Each input crosses
    /// on its own, so that a worker can take some inputs from the values it holds and
    /// the others from the frame.
    ///
    /// # Errors
    /// [`TaskErrorKind::Serialization`](crate::TaskErrorKind::Serialization) if the
    /// value does not encode or its `Serialize` panics;
    /// [`TaskErrorKind::TypeMismatch`](crate::TaskErrorKind::TypeMismatch) if it is
    /// not of its argument's type.
    pub(crate) fn encode_arg(
        &self,
        index: usize,
        input: &Value,
        out: &mut Vec<u8>,
    ) -> Result<(), TaskError> {
        out.clear();
        unpanic("encoding its inputs", || match self.moves {
            Moves::Typed { encode_arg, .. } => encode_arg(index, input, out),
            Moves::Codec { encode, .. } => encode(input, out),
        })
    }

    /// Encodes every input value at once into `out` (cleared first), as the
    /// function's argument tuple: the cheaper form when no input is held by a worker.
    ///
    /// # Errors
    /// As [`RemoteCall::encode_arg`]; a function that takes each input alone
    /// ([`RemoteCall::encodes_all`] is `false`) is a
    /// [`TaskErrorKind::TypeMismatch`](crate::TaskErrorKind::TypeMismatch).
    pub(crate) fn encode_all(&self, inputs: &[Value], out: &mut Vec<u8>) -> Result<(), TaskError> {
        out.clear();
        match self.moves {
            Moves::Typed { encode_all, .. } => {
                unpanic("encoding its inputs", || encode_all(inputs, out))
            }
            Moves::Codec { .. } => Err(TaskError::new(
                crate::error::TaskErrorKind::TypeMismatch,
                "an untyped remote function takes its inputs one by one",
            )),
        }
    }

    /// Decodes the function's result.
    ///
    /// # Errors
    /// [`TaskErrorKind::Serialization`](crate::TaskErrorKind::Serialization) if the
    /// bytes do not decode or the result type's `Deserialize` panics.
    pub(crate) fn decode(&self, bytes: &[u8]) -> Result<Value, TaskError> {
        let decode = match self.moves {
            Moves::Typed { decode, .. } | Moves::Codec { decode, .. } => decode,
        };
        let value = unpanic("decoding its result", || decode(bytes))?;
        if let Some(on_result) = &self.on_result {
            on_result(&value);
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::value::value;

    #[test]
    fn a_closure_that_captures_nothing_is_held_without_an_allocation() {
        let f = BlockingFn::new(|_: &[&Value]| Ok(value(7u32)));
        assert!(matches!(f, BlockingFn::Unit(_)));
        let made = f(&[]).expect("the body runs");
        assert_eq!(made.downcast_ref::<u32>(), Some(&7));
    }

    #[test]
    fn a_closure_that_captures_something_is_shared() {
        let n = 5u32;
        let f = BlockingFn::new(move |_: &[&Value]| Ok(value(n)));
        assert!(matches!(f, BlockingFn::Shared(_)));
        let made = f.clone()(&[]).expect("the body runs");
        assert_eq!(made.downcast_ref::<u32>(), Some(&5));
    }

    /// A zero-sized closure whose capture has a `Drop` must be dropped, not leaked:
    /// it is shared like any other, and its drop runs with the last body.
    #[test]
    fn a_zero_sized_closure_with_a_drop_is_dropped() {
        static DROPS: AtomicUsize = AtomicUsize::new(0);
        struct Guard;
        impl Drop for Guard {
            fn drop(&mut self) {
                DROPS.fetch_add(1, Ordering::SeqCst);
            }
        }
        let guard = Guard;
        let f = BlockingFn::new(move |_: &[&Value]| {
            let _held = &guard;
            Ok(value(()))
        });
        assert!(matches!(f, BlockingFn::Shared(_)));
        let copy = f.clone();
        drop(f);
        assert_eq!(DROPS.load(Ordering::SeqCst), 0);
        drop(copy);
        assert_eq!(DROPS.load(Ordering::SeqCst), 1);
    }
}
