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
use crate::body::{BlockingFn, RemoteCall};
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
        let local: BlockingFn = Arc::new(move |values: &[&Value]| f.call(values).map(value));
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
            spec: Arc::new(RemoteCall::new(
                name,
                Args::encode_arg,
                Args::encode,
                decode_result::<O>,
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
