//! Remote functions: registered by name, called with serde values.
//!
//! A closure cannot cross a process boundary, a name can. A [`Registry`] maps names
//! to functions; the program builds the same registry in the parent and in every
//! worker (it is the same program, see [`init`]), so a
//! task only has to send its function's name and its encoded inputs.
//!
//! [`Registry::register`] returns a typed [`Remote<Args, O>`], and
//! [`Graph::add_remote`] wires it to handles exactly like [`Graph::add`] wires a
//! closure: the same input shapes (`()`, `&h`, tuples, slices), the same typed result
//! handle. Under any other executor the same task runs in-process, as a plain
//! function, with no serialization: one graph runs everywhere.
//!
//! This module belongs to no executor: a task's `RemoteCall` (`crate::remote_call`,
//! compiled without either executor too) is a neutral descriptor (a name, how to
//! encode the inputs, how to decode the result) that the graph carries and that each
//! executor interprets — the process pool and the cluster send it to a worker, other
//! executors ignore it and call the in-process function.
//!
//! - `format`: the one serde format (postcard) values cross in;
//! - [`Settings`]: what the process pool and the cluster are both told about their
//!   workers (program, frames, handshake, retries, residency).

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use taskloom_core::{GraphError, Key};

pub(crate) mod format;

pub use crate::init::init;
pub use crate::link::settings::{DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_MAX_FRAME_LENGTH, Settings};
pub use crate::link::worker::is_worker;
// Hooks for this crate's own tests (feature `test-hooks`), not API.
#[cfg(feature = "test-hooks")]
#[doc(hidden)]
pub use crate::link::{serve::held_here, worker::__write_raw_to_pool};

use crate::error::{BoxError, TaskError, TaskErrorKind};
use crate::executor::discard;
use crate::graph::{BlockingFn, BlockingFnBox, Graph, Handle, Inputs, Many, TaskBody, TaskFn};
use crate::remote_call::{RemoteCall, unpanic};
use crate::value::{Value, value};

/// Why a function could not be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError {
    /// Two functions were registered under one name.
    #[error("a remote function named `{0}` is already registered")]
    DuplicateFunction(String),
}

/// A registered function that tasks can call in a worker process.
///
/// Made by [`Registry::register`]; cheap to clone. `Args` is the argument marker of
/// the function (as for [`Graph::add`]), `O` its result type.
pub struct Remote<Args, O> {
    spec: Arc<RemoteCall>,
    local: BlockingFn,
    _types: PhantomData<fn(Args) -> O>,
}

impl<Args, O> Clone for Remote<Args, O> {
    fn clone(&self) -> Self {
        Remote {
            spec: Arc::clone(&self.spec),
            local: Arc::clone(&self.local),
            _types: PhantomData,
        }
    }
}

impl<Args, O> fmt::Debug for Remote<Args, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Remote({})", self.spec.name)
    }
}

impl<Args, O> Remote<Args, O> {
    /// The name the function was registered under.
    pub fn name(&self) -> &str {
        &self.spec.name
    }
}

/// The functions a program's workers can run, by name.
///
/// Build it the same way in every process of the program (usually in one function
/// called at the top of `main`), then pass it to [`init`]:
///
/// ```
/// use taskloom::remote::Registry;
///
/// let mut registry = Registry::new();
/// let square = registry.register("square", |x: &i64| x * x)?;
/// let add = registry.register("add", |a: &i64, b: &i64| a + b)?;
/// let total = registry.register("total", |xs: &[&i64]| xs.iter().copied().sum::<i64>())?;
/// assert_eq!(square.name(), "square");
/// assert!(registry.register("add", |a: &u8| *a).is_err()); // names are unique
/// # let _ = (add, total);
/// # Ok::<(), taskloom::remote::RegisterError>(())
/// ```
#[derive(Default, Clone)]
pub struct Registry {
    functions: HashMap<Arc<str>, Served>,
}

/// A registered function, as a worker serves it: how to decode each argument, the
/// function on values, and how to encode or measure its result.
#[derive(Clone)]
pub(crate) struct Served {
    call: BlockingFn,
    decode_arg: fn(usize, &[u8]) -> Result<Value, TaskError>,
    decode_all: fn(&[u8]) -> Result<Vec<Value>, TaskError>,
    encode_result: fn(&Value, &mut Vec<u8>) -> Result<(), TaskError>,
    size_of: fn(&Value) -> Result<u64, TaskError>,
    /// Its argument and result types (`fn((i64,)) -> i64`), for the fingerprint.
    signature: &'static str,
}

impl Served {
    /// Decodes argument `index` from `bytes`, a panic in `Deserialize` included.
    pub(crate) fn decode_arg(&self, index: usize, bytes: &[u8]) -> Result<Value, TaskError> {
        unpanic("decoding its inputs", || (self.decode_arg)(index, bytes))
    }

    /// Decodes every argument at once (from [`RemoteCall::encode_all`]'s form).
    pub(crate) fn decode_all(&self, bytes: &[u8]) -> Result<Vec<Value>, TaskError> {
        unpanic("decoding its inputs", || (self.decode_all)(bytes))
    }

    /// Calls the function on its inputs; a panic is the task's
    /// [`TaskErrorKind::Panicked`] error.
    pub(crate) fn call(&self, inputs: &[&Value]) -> Result<Value, TaskError> {
        catch_unwind(AssertUnwindSafe(|| (self.call)(inputs))).unwrap_or_else(|payload| {
            let error = TaskError::panicked(&*payload);
            discard(payload);
            Err(error)
        })
    }

    /// Encodes a result of this function into `out` (cleared first).
    pub(crate) fn encode_result(&self, result: &Value, out: &mut Vec<u8>) -> Result<(), TaskError> {
        out.clear();
        unpanic("encoding its result", || (self.encode_result)(result, out))
    }

    /// How many bytes a result of this function encodes to, without encoding it.
    pub(crate) fn size_of(&self, result: &Value) -> Result<u64, TaskError> {
        unpanic("measuring its result", || (self.size_of)(result))
    }
}

/// Drops `thing` (`what`: "its result"...), turning a panic in a `Drop` into a
/// [`TaskErrorKind::DropPanicked`] error.
pub(crate) fn drop_guarded<T>(thing: T, what: &str) -> Result<(), TaskError> {
    catch_unwind(AssertUnwindSafe(move || drop(thing))).map_err(|payload| {
        let panic = TaskError::panicked(&*payload);
        discard(payload);
        TaskError::new(
            TaskErrorKind::DropPanicked,
            format!("{what} panicked when dropped: {}", panic.message()),
        )
    })
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.functions.keys().map(|k| &**k).collect();
        names.sort_unstable();
        f.debug_struct("Registry")
            .field("functions", &names)
            .finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `f` under `name`. `f` has the shapes [`Graph::add`] accepts
    /// (`Fn() -> O`, `Fn(&A) -> O`, `Fn(&A, &B) -> O` up to four inputs, `Fn(&[&A]) ->
    /// O`), with serde inputs and result.
    ///
    /// # Errors
    /// [`RegisterError::DuplicateFunction`] if the name is taken.
    pub fn register<Args, F, O>(
        &mut self,
        name: &str,
        f: F,
    ) -> Result<Remote<Args, O>, RegisterError>
    where
        Args: RemoteArgs,
        F: TaskFn<Args, O>,
        O: Serialize + DeserializeOwned + Any + Send + Sync,
    {
        let local: BlockingFn = Arc::new(move |values: &[&Value]| f.call(values).map(value));
        self.insert::<Args, O>(name, local, std::any::type_name::<fn(Args) -> O>())
    }

    /// Registers a fallible `f`: it returns `Result<O, E>`, and an `Err` ends the
    /// computation with an error naming the task's key and carrying `E`'s message
    /// (as [`Graph::try_add`]).
    ///
    /// # Errors
    /// As [`Registry::register`].
    pub fn register_fallible<Args, F, O, E>(
        &mut self,
        name: &str,
        f: F,
    ) -> Result<Remote<Args, O>, RegisterError>
    where
        Args: RemoteArgs,
        F: TaskFn<Args, Result<O, E>>,
        O: Serialize + DeserializeOwned + Any + Send + Sync,
        E: Into<BoxError>,
    {
        let local: BlockingFn = Arc::new(move |values: &[&Value]| match f.call(values)? {
            Ok(v) => Ok(value(v)),
            Err(e) => Err(TaskError::failed(e)),
        });
        let signature = std::any::type_name::<fn(Args) -> Result<O, E>>();
        self.insert::<Args, O>(name, local, signature)
    }

    fn insert<Args, O>(
        &mut self,
        name: &str,
        local: BlockingFn,
        signature: &'static str,
    ) -> Result<Remote<Args, O>, RegisterError>
    where
        Args: RemoteArgs,
        O: Serialize + DeserializeOwned + Any + Send + Sync,
    {
        let name: Arc<str> = Arc::from(name);
        if self.functions.contains_key(&name) {
            return Err(RegisterError::DuplicateFunction(name.to_string()));
        }
        let served = Served {
            call: Arc::clone(&local),
            decode_arg: Args::decode_arg,
            decode_all: Args::decode,
            encode_result: encode_value::<O>,
            size_of: size_of_value::<O>,
            signature,
        };
        self.functions.insert(Arc::clone(&name), served);
        Ok(Remote {
            spec: Arc::new(RemoteCall {
                name,
                encode_arg: Args::encode_arg,
                encode_all: Args::encode,
                decode: decode_result::<O>,
            }),
            local,
            _types: PhantomData,
        })
    }

    /// Whether a function is registered under `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.functions.contains_key(name)
    }

    /// Number of registered functions.
    pub fn len(&self) -> usize {
        self.functions.len()
    }

    /// Whether no function is registered.
    pub fn is_empty(&self) -> bool {
        self.functions.is_empty()
    }

    /// The worker side of `name`.
    pub(crate) fn served(&self, name: &str) -> Option<&Served> {
        self.functions.get(name)
    }

    /// A short hex digest of every function's name, argument and result types: two
    /// processes whose registries have the same fingerprint agree on what each name
    /// means and how its values are encoded. A cluster refuses a worker whose build
    /// (of which this is part) differs from the scheduler's.
    ///
    /// ```
    /// use taskloom::remote::Registry;
    ///
    /// let mut a = Registry::new();
    /// a.register("square", |x: &i64| x * x)?;
    /// let mut b = Registry::new();
    /// b.register("square", |x: &i32| x * x)?;
    /// assert_ne!(a.fingerprint(), b.fingerprint()); // same name, other types
    /// assert_eq!(a.fingerprint(), a.clone().fingerprint());
    /// # Ok::<(), taskloom::remote::RegisterError>(())
    /// ```
    pub fn fingerprint(&self) -> String {
        use sha2::Digest;
        let mut lines: Vec<(&str, &str)> = self
            .functions
            .iter()
            .map(|(name, f)| (&**name, f.signature))
            .collect();
        lines.sort_unstable();
        let mut hash = sha2::Sha256::new();
        for (name, signature) in lines {
            hash.update(name.as_bytes());
            hash.update(b"\0");
            hash.update(signature.as_bytes());
            hash.update(b"\n");
        }
        hash.finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// Encodes a result value of type `O` (a worker's held value, for a fetch).
fn encode_value<O: Serialize + Any>(result: &Value, out: &mut Vec<u8>) -> Result<(), TaskError> {
    let result = result.downcast_ref::<O>().ok_or_else(|| {
        TaskError::new(
            TaskErrorKind::TypeMismatch,
            format!("the result is not a {}", std::any::type_name::<O>()),
        )
    })?;
    format::encode_into(result, out).map_err(|e| {
        serialization(format!(
            "cannot encode the result ({}): {e}",
            std::any::type_name::<O>()
        ))
    })
}

/// The encoded size of a result value of type `O`, counted without writing it.
fn size_of_value<O: Serialize + Any>(result: &Value) -> Result<u64, TaskError> {
    let result = result.downcast_ref::<O>().ok_or_else(|| {
        TaskError::new(
            TaskErrorKind::TypeMismatch,
            format!("the result is not a {}", std::any::type_name::<O>()),
        )
    })?;
    format::size_of(result)
        .map(|n| n as u64)
        .map_err(|e| serialization(format!("cannot measure the result: {e}")))
}

fn decode_result<O: DeserializeOwned + Any + Send + Sync>(
    bytes: &[u8],
) -> Result<Value, TaskError> {
    format::decode::<O>(bytes).map(value).map_err(|e| {
        serialization(format!(
            "cannot decode the result as {}: {e}",
            std::any::type_name::<O>()
        ))
    })
}

fn serialization(message: String) -> TaskError {
    TaskError::new(TaskErrorKind::Serialization, message)
}

/// The argument shapes a remote function can take, with how to move them between
/// processes: encoded in the parent from the input values (by reference, no copy),
/// decoded in the worker into owned values.
///
/// Implemented for the argument markers of [`Graph::add`]: `()`, `(A,)`, `(A, B)`,
/// `(A, B, C)`, `(A, B, C, D)` and [`Many<A>`], for serde types `A`...; there is no
/// need to implement it.
pub trait RemoteArgs: Sized + 'static {
    /// Encodes the input values (in argument order) as the function's arguments.
    ///
    /// # Errors
    /// [`TaskErrorKind::Serialization`] if a value does not encode;
    /// [`TaskErrorKind::TypeMismatch`] if a value is not of its argument's type.
    fn encode(values: &[Value], out: &mut Vec<u8>) -> Result<(), TaskError>;

    /// Decodes encoded arguments into input values.
    ///
    /// # Errors
    /// [`TaskErrorKind::Serialization`] if the bytes do not decode.
    fn decode(bytes: &[u8]) -> Result<Vec<Value>, TaskError>;

    /// Encodes argument `index` alone (the unit of a call's inputs on the wire: some
    /// may come from the values a worker holds, the others from the frame).
    ///
    /// # Errors
    /// As [`RemoteArgs::encode`]; an index past the last argument is a
    /// [`TaskErrorKind::TypeMismatch`].
    fn encode_arg(index: usize, value: &Value, out: &mut Vec<u8>) -> Result<(), TaskError>;

    /// Decodes argument `index` alone.
    ///
    /// # Errors
    /// As [`RemoteArgs::decode`]; an index past the last argument is a
    /// [`TaskErrorKind::TypeMismatch`].
    fn decode_arg(index: usize, bytes: &[u8]) -> Result<Value, TaskError>;
}

/// Encodes `value` as an `A`.
fn encode_one<A: Serialize + Any>(
    index: usize,
    value: &Value,
    out: &mut Vec<u8>,
) -> Result<(), TaskError> {
    encode_args(
        arg::<A>(std::slice::from_ref(value), 0).map_err(|_| no_arg::<A>(index))?,
        out,
    )
}

/// Decodes an `A`.
fn decode_one<A: DeserializeOwned + Any + Send + Sync>(bytes: &[u8]) -> Result<Value, TaskError> {
    decode_args::<A>(bytes).map(value)
}

fn no_arg<A>(index: usize) -> TaskError {
    TaskError::new(
        TaskErrorKind::TypeMismatch,
        format!("input {index} is not a {}", std::any::type_name::<A>()),
    )
}

fn past_last(index: usize) -> TaskError {
    TaskError::new(
        TaskErrorKind::TypeMismatch,
        format!("the function has no input {index}"),
    )
}

fn arg<A: Any>(values: &[Value], i: usize) -> Result<&A, TaskError> {
    values
        .get(i)
        .and_then(|v| v.downcast_ref::<A>())
        .ok_or_else(|| {
            TaskError::new(
                TaskErrorKind::TypeMismatch,
                format!("input {i} is not a {}", std::any::type_name::<A>()),
            )
        })
}

fn encode_args<T: Serialize + ?Sized>(args: &T, out: &mut Vec<u8>) -> Result<(), TaskError> {
    format::encode_into(args, out).map_err(|e| {
        serialization(format!(
            "cannot encode the inputs ({}): {e}",
            std::any::type_name::<T>()
        ))
    })
}

fn decode_args<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, TaskError> {
    format::decode::<T>(bytes).map_err(|e| {
        serialization(format!(
            "cannot decode the inputs as {}: {e}",
            std::any::type_name::<T>()
        ))
    })
}

impl RemoteArgs for () {
    fn encode(_: &[Value], _: &mut Vec<u8>) -> Result<(), TaskError> {
        Ok(())
    }
    fn decode(bytes: &[u8]) -> Result<Vec<Value>, TaskError> {
        decode_args::<()>(bytes)?;
        Ok(Vec::new())
    }
    fn encode_arg(index: usize, _: &Value, _: &mut Vec<u8>) -> Result<(), TaskError> {
        Err(past_last(index))
    }
    fn decode_arg(index: usize, _: &[u8]) -> Result<Value, TaskError> {
        Err(past_last(index))
    }
}

impl<A: Serialize + DeserializeOwned + Any + Send + Sync> RemoteArgs for Many<A> {
    fn encode(values: &[Value], out: &mut Vec<u8>) -> Result<(), TaskError> {
        let refs = (0..values.len())
            .map(|i| arg::<A>(values, i))
            .collect::<Result<Vec<&A>, _>>()?;
        encode_args(&refs, out)
    }
    fn decode(bytes: &[u8]) -> Result<Vec<Value>, TaskError> {
        Ok(decode_args::<Vec<A>>(bytes)?
            .into_iter()
            .map(value)
            .collect())
    }
    fn encode_arg(index: usize, value: &Value, out: &mut Vec<u8>) -> Result<(), TaskError> {
        encode_one::<A>(index, value, out)
    }
    fn decode_arg(_: usize, bytes: &[u8]) -> Result<Value, TaskError> {
        decode_one::<A>(bytes)
    }
}

impl<A: Serialize + DeserializeOwned + Any + Send + Sync> RemoteArgs for (A,) {
    fn encode(values: &[Value], out: &mut Vec<u8>) -> Result<(), TaskError> {
        encode_args(arg::<A>(values, 0)?, out)
    }
    fn decode(bytes: &[u8]) -> Result<Vec<Value>, TaskError> {
        Ok(vec![value(decode_args::<A>(bytes)?)])
    }
    fn encode_arg(index: usize, value: &Value, out: &mut Vec<u8>) -> Result<(), TaskError> {
        match index {
            0 => encode_one::<A>(index, value, out),
            _ => Err(past_last(index)),
        }
    }
    fn decode_arg(index: usize, bytes: &[u8]) -> Result<Value, TaskError> {
        match index {
            0 => decode_one::<A>(bytes),
            _ => Err(past_last(index)),
        }
    }
}

macro_rules! tuple_args {
    ($($name:ident $idx:tt),+) => {
        impl<$($name: Serialize + DeserializeOwned + Any + Send + Sync),+> RemoteArgs for ($($name,)+) {
            fn encode(values: &[Value], out: &mut Vec<u8>) -> Result<(), TaskError> {
                encode_args(&($(arg::<$name>(values, $idx)?,)+), out)
            }
            #[allow(non_snake_case)]
            fn decode(bytes: &[u8]) -> Result<Vec<Value>, TaskError> {
                let ($($name,)+) = decode_args::<($($name,)+)>(bytes)?;
                Ok(vec![$(value($name)),+])
            }
            fn encode_arg(index: usize, value: &Value, out: &mut Vec<u8>) -> Result<(), TaskError> {
                match index {
                    $($idx => encode_one::<$name>(index, value, out),)+
                    _ => Err(past_last(index)),
                }
            }
            fn decode_arg(index: usize, bytes: &[u8]) -> Result<Value, TaskError> {
                match index {
                    $($idx => decode_one::<$name>(bytes),)+
                    _ => Err(past_last(index)),
                }
            }
        }
    };
}

tuple_args!(A 0, B 1);
tuple_args!(A 0, B 1, C 2);
tuple_args!(A 0, B 1, C 2, D 3);

impl Graph {
    /// Adds a task that calls the registered function `remote` on its inputs'
    /// results: in a worker process under a
    /// [`ProcessPool`](crate::process::ProcessPool), in-process (no serialization) under any
    /// other executor. Typed like [`Graph::add`]: the inputs must match the
    /// function's parameters.
    ///
    /// ```
    /// use taskloom::{Graph, Scheduler};
    /// use taskloom::remote::Registry;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut registry = Registry::new();
    /// let square = registry.register("square", |x: &i64| x * x)?;
    /// // In a real program: `taskloom::remote::init(&registry);` here.
    /// let mut g = Graph::new();
    /// let x = g.add("x", (), || 7_i64)?;
    /// let y = g.add_remote("y", &x, &square)?;
    /// assert_eq!(Scheduler::current_thread().compute(&g, &y).await?, 49);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// As [`Graph::add`].
    pub fn add_remote<I, O>(
        &mut self,
        key: impl Into<Key>,
        inputs: I,
        remote: &Remote<I::Args, O>,
    ) -> Result<Handle<O>, GraphError>
    where
        I: Inputs,
        O: Any + Send + Sync,
    {
        let body = TaskBody::Blocking(BlockingFnBox {
            func: Arc::clone(&remote.local),
            remote: Some(Arc::clone(&remote.spec)),
        });
        self.push(key.into(), &inputs, body)
    }
}
