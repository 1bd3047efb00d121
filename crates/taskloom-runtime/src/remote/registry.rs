//! The registry: functions by name, as the parent calls them ([`Remote`]) and as a
//! worker serves them (`Served`).
//!
//! Registering a function records, once, everything both sides need: for the parent a
//! [`Remote`] (the in-process function, and the neutral descriptor tasks carry, filled
//! in with this format's encoders), for a worker a `Served` (how to decode each
//! argument, call the function, and encode or measure its result). With `format`, this
//! is the only code that names the wire format: the descriptor itself does not.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::args::RemoteArgs;
use super::format::{self, serialization_error};
use crate::body::{BlockingFn, Moves, RemoteCall};
use crate::error::{BoxError, TaskError, TaskErrorKind};
use crate::inputs::TaskFn;
use crate::unwind::{discard, unpanic};
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
/// the function (as for [`Graph::add`](crate::Graph::add)), `O` its result type.
pub struct Remote<Args, O> {
    /// The descriptor every task calling it carries.
    pub(super) spec: Arc<RemoteCall>,
    /// The function itself, for executors that run it in-process.
    pub(super) local: BlockingFn,
    _types: PhantomData<fn(Args) -> O>,
}

impl<Args, O> Clone for Remote<Args, O> {
    fn clone(&self) -> Self {
        Remote {
            spec: Arc::clone(&self.spec),
            local: self.local.clone(),
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
/// called at the top of `main`), then pass it to [`init`](super::init):
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

/// An untyped function body: the task's payload and its inputs' values.
type DynFn = Arc<dyn Fn(&[u8], &[&Value]) -> Result<Value, TaskError> + Send + Sync>;

/// A registered function, as a worker serves it: how to decode each argument, the
/// function on values, and how to encode or measure its result.
#[derive(Clone)]
pub(crate) struct Served {
    call: Call,
    decode: Decode,
    encode_result: fn(&Value, &mut Vec<u8>) -> Result<(), TaskError>,
    size_of: fn(&Value) -> Result<u64, TaskError>,
    /// Its argument and result types (`fn((i64,)) -> i64`), for the fingerprint.
    signature: &'static str,
}

/// How a served function's arguments decode (and encode again: a worker that keeps
/// an input moved to it serves its bytes to the next worker that needs it).
#[derive(Clone, Copy)]
enum Decode {
    /// By their serde types: one (by its position) or all at once.
    Typed {
        arg: fn(usize, &[u8]) -> Result<Value, TaskError>,
        all: fn(&[u8]) -> Result<Vec<Value>, TaskError>,
        encode_arg: fn(usize, &Value, &mut Vec<u8>) -> Result<(), TaskError>,
    },
    /// By an untyped function's codec, each alone.
    Codec {
        decode: fn(&[u8]) -> Result<Value, TaskError>,
        encode: fn(&Value, &mut Vec<u8>) -> Result<(), TaskError>,
    },
}

/// A served function's body.
#[derive(Clone)]
enum Call {
    /// A typed function: its inputs alone.
    Typed(BlockingFn),
    /// An untyped function: the task's payload, then its inputs.
    Dyn(DynFn),
}

impl Served {
    /// Decodes argument `index` from `bytes`, a panic in `Deserialize` included.
    pub(crate) fn decode_arg(&self, index: usize, bytes: &[u8]) -> Result<Value, TaskError> {
        unpanic("decoding its inputs", || match self.decode {
            Decode::Typed { arg, .. } => arg(index, bytes),
            Decode::Codec { decode, .. } => decode(bytes),
        })
    }

    /// Encodes argument `index`'s value into `out` (cleared first): the bytes
    /// [`Served::decode_arg`] made it from.
    pub(crate) fn encode_arg(
        &self,
        index: usize,
        value: &Value,
        out: &mut Vec<u8>,
    ) -> Result<(), TaskError> {
        out.clear();
        unpanic("encoding its input", || match self.decode {
            Decode::Typed { encode_arg, .. } => encode_arg(index, value, out),
            Decode::Codec { encode, .. } => encode(value, out),
        })
    }

    /// Decodes every argument at once (from [`RemoteCall::encode_all`]'s form).
    pub(crate) fn decode_all(&self, bytes: &[u8]) -> Result<Vec<Value>, TaskError> {
        unpanic("decoding its inputs", || match self.decode {
            Decode::Typed { all, .. } => all(bytes),
            Decode::Codec { .. } => Err(TaskError::new(
                TaskErrorKind::TypeMismatch,
                "an untyped remote function takes its inputs one by one",
            )),
        })
    }

    /// Calls the function on its inputs (and the task's payload, if it has one: a
    /// typed function has none); a panic is the task's [`TaskErrorKind::Panicked`]
    /// error.
    pub(crate) fn call(
        &self,
        payload: Option<&[u8]>,
        inputs: &[&Value],
    ) -> Result<Value, TaskError> {
        catch_unwind(AssertUnwindSafe(|| match &self.call {
            Call::Typed(f) => f(inputs),
            Call::Dyn(f) => f(payload.unwrap_or_default(), inputs),
        }))
        .unwrap_or_else(|payload| {
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

/// How the values of an untyped remote function move between processes (see
/// [`Registry::register_dyn`]): plain functions, so that every process of the
/// program has the same ones.
#[derive(Clone, Copy, Debug)]
pub struct Codec {
    /// Appends the bytes of a value (an input or a result) to `out`.
    pub encode: fn(&Value, &mut Vec<u8>) -> Result<(), TaskError>,
    /// The value back from its bytes.
    pub decode: fn(&[u8]) -> Result<Value, TaskError>,
    /// How many bytes a result takes, without encoding it (an estimate will do: it
    /// decides whether a result stays in its worker, and counts the bytes kept).
    pub size_of: fn(&Value) -> Result<u64, TaskError>,
}

/// An untyped function registered with [`Registry::register_dyn`]; tasks call it
/// with [`Graph::add_dyn_remote`](crate::Graph::add_dyn_remote), each with a payload
/// of its own. Cheap to clone.
#[derive(Clone)]
pub struct DynRemote {
    /// The descriptor every task calling it starts from.
    pub(super) spec: Arc<RemoteCall>,
    /// The function itself, for executors that run it in-process.
    pub(super) f: DynFn,
}

impl fmt::Debug for DynRemote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DynRemote({})", self.spec.name)
    }
}

impl DynRemote {
    /// The name the function was registered under.
    pub fn name(&self) -> &str {
        &self.spec.name
    }
}

/// A task's failure whose details cross the process boundary as bytes: an untyped
/// function (see [`Registry::register_dyn`]) that fails with
/// `TaskError::failed(Raised::new(message, detail))` in a worker fails its task in
/// the parent with an equal `Raised` as the [`TaskError`]'s source, so the parent
/// can rebuild the error as it was (another language's exception, with its
/// traceback).
///
/// ```
/// use taskloom::remote::Raised;
/// use taskloom::TaskError;
///
/// let error = TaskError::failed(Raised::new("ValueError: 12345", b"...".to_vec()));
/// let raised = std::error::Error::source(&error)
///     .and_then(|e| e.downcast_ref::<Raised>())
///     .expect("the source is the Raised error");
/// assert_eq!(raised.detail(), b"...");
/// assert_eq!(error.message(), "ValueError: 12345");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Raised {
    message: String,
    detail: Vec<u8>,
}

impl Raised {
    /// An error saying `message`, with `detail` for the parent to decode.
    pub fn new(message: impl Into<String>, detail: Vec<u8>) -> Self {
        Raised {
            message: message.into(),
            detail,
        }
    }

    /// The message, as shown in the task's error.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The bytes the function encoded its failure into.
    pub fn detail(&self) -> &[u8] {
        &self.detail
    }
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

    /// Registers `f` under `name`. `f` has the shapes [`Graph::add`](crate::Graph::add)
    /// accepts (`Fn() -> O`, `Fn(&A) -> O`, `Fn(&A, &B) -> O` up to twelve inputs,
    /// `Fn(&[&A]) -> O`), with serde inputs and result.
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
        let local = BlockingFn::new(move |values: &[&Value]| f.call(values).map(value));
        self.insert::<Args, O>(name, local, std::any::type_name::<fn(Args) -> O>())
    }

    /// Registers a fallible `f`: it returns `Result<O, E>`, and an `Err` ends the
    /// computation with an error naming the task's key and carrying `E`'s message
    /// (as [`Graph::try_add`](crate::Graph::try_add)).
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
        let local = BlockingFn::new(move |values: &[&Value]| match f.call(values)? {
            Ok(v) => Ok(value(v)),
            Err(e) => Err(TaskError::failed(e)),
        });
        let signature = std::any::type_name::<fn(Args) -> Result<O, E>>();
        self.insert::<Args, O>(name, local, signature)
    }

    /// Registers an untyped function `f`, whose values move by `codec` instead of
    /// serde: for values that Rust sees only as [`Value`]s (another language's
    /// objects, in a binding). Each task calling it carries a payload of its own
    /// (what to run, encoded by whoever built the graph: see
    /// [`Graph::add_dyn_remote`](crate::Graph::add_dyn_remote)); `f` receives it with
    /// the task's inputs, in order.
    ///
    /// A `f` that fails with a [`Raised`](super::Raised) error has that error's bytes
    /// carried back to the parent as they are, in the task's error.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use taskloom::remote::{Codec, Registry};
    /// use taskloom::{TaskError, TaskErrorKind, Value};
    ///
    /// fn encode(v: &Value, out: &mut Vec<u8>) -> Result<(), TaskError> {
    ///     let n = v.downcast_ref::<u64>().ok_or_else(|| TaskError::new(TaskErrorKind::TypeMismatch, "not a u64"))?;
    ///     out.extend_from_slice(&n.to_le_bytes());
    ///     Ok(())
    /// }
    /// fn decode(b: &[u8]) -> Result<Value, TaskError> {
    ///     let bytes = b.try_into().map_err(|_| TaskError::new(TaskErrorKind::Serialization, "not 8 bytes"))?;
    ///     Ok(Arc::new(u64::from_le_bytes(bytes)))
    /// }
    /// fn size_of(_: &Value) -> Result<u64, TaskError> {
    ///     Ok(8)
    /// }
    ///
    /// let mut registry = Registry::new();
    /// let codec = Codec { encode, decode, size_of };
    /// // The payload says what to add to the sum of the inputs.
    /// let add = registry.register_dyn("add", codec, |payload: &[u8], inputs: &[&Value]| {
    ///     let extra = u64::from(payload.first().copied().unwrap_or(0));
    ///     let sum: u64 = inputs.iter().filter_map(|v| v.downcast_ref::<u64>()).sum();
    ///     Ok(Arc::new(sum + extra) as Value)
    /// })?;
    /// assert_eq!(add.name(), "add");
    /// # Ok::<(), taskloom::remote::RegisterError>(())
    /// ```
    ///
    /// # Errors
    /// [`RegisterError::DuplicateFunction`] if the name is taken.
    pub fn register_dyn<F>(
        &mut self,
        name: &str,
        codec: Codec,
        f: F,
    ) -> Result<DynRemote, RegisterError>
    where
        F: Fn(&[u8], &[&Value]) -> Result<Value, TaskError> + Send + Sync + 'static,
    {
        let name: Arc<str> = Arc::from(name);
        if self.functions.contains_key(&name) {
            return Err(RegisterError::DuplicateFunction(name.to_string()));
        }
        let f: DynFn = Arc::new(f);
        let served = Served {
            call: Call::Dyn(Arc::clone(&f)),
            decode: Decode::Codec {
                decode: codec.decode,
                encode: codec.encode,
            },
            encode_result: codec.encode,
            size_of: codec.size_of,
            signature: "dyn",
        };
        self.functions.insert(Arc::clone(&name), served);
        Ok(DynRemote {
            spec: Arc::new(RemoteCall::new(
                name,
                Moves::Codec {
                    encode: codec.encode,
                    decode: codec.decode,
                },
            )),
            f,
        })
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
            call: Call::Typed(local.clone()),
            decode: Decode::Typed {
                arg: Args::decode_arg,
                all: Args::decode,
                encode_arg: Args::encode_arg,
            },
            encode_result: encode_value::<O>,
            size_of: size_of_value::<O>,
            signature,
        };
        self.functions.insert(Arc::clone(&name), served);
        Ok(Remote {
            spec: Arc::new(RemoteCall::new(
                name,
                Moves::Typed {
                    encode_arg: Args::encode_arg,
                    encode_all: Args::encode,
                    decode: decode_result::<O>,
                },
            )),
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
        serialization_error(format!(
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
        .map_err(|e| serialization_error(format!("cannot measure the result: {e}")))
}

fn decode_result<O: DeserializeOwned + Any + Send + Sync>(
    bytes: &[u8],
) -> Result<Value, TaskError> {
    format::decode::<O>(bytes).map(value).map_err(|e| {
        serialization_error(format!(
            "cannot decode the result as {}: {e}",
            std::any::type_name::<O>()
        ))
    })
}
