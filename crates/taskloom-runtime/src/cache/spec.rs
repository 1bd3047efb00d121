//! What a task's cache entry is made of: [`Cached`] (its version and literal inputs)
//! and the [`Codec`] that turns its value into bytes and back; and the table of a
//! graph's cached tasks.

use std::any::Any;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::BoxError;
use crate::value::{Value, value};

/// Turns a task's value into bytes and back, for the cache.
///
/// [`Postcard`] is the codec of [`Graph::cached`](crate::Graph::cached): serde
/// values in postcard. Implement it for values serde does not describe, or to store
/// several types under one graph-wide setting ([`Graph::cache_all`](crate::Graph::cache_all)):
/// `encode` then looks at the value's type.
///
/// ```
/// use std::sync::Arc;
/// use taskloom::{BoxError, Value, value};
/// use taskloom::cache::Codec;
///
/// /// Strings as their UTF-8 bytes.
/// struct Utf8;
///
/// impl Codec for Utf8 {
///     fn name(&self) -> &str {
///         "utf8"
///     }
///     fn encode(&self, v: &Value, out: &mut Vec<u8>) -> Result<(), BoxError> {
///         let s = v.downcast_ref::<String>().ok_or("not a String")?;
///         out.extend_from_slice(s.as_bytes());
///         Ok(())
///     }
///     fn decode(&self, bytes: &[u8]) -> Result<Value, BoxError> {
///         Ok(value(String::from_utf8(bytes.to_vec())?))
///     }
/// }
/// let mut bytes = Vec::new();
/// Utf8.encode(&value(String::from("hé")), &mut bytes)?;
/// assert_eq!(Utf8.decode(&bytes)?.downcast_ref::<String>().unwrap(), "hé");
/// # Ok::<(), BoxError>(())
/// ```
pub trait Codec: Send + Sync + 'static {
    /// The codec's name, part of every entry key it stores: a value stored by one
    /// codec is never decoded by another.
    fn name(&self) -> &str;

    /// Appends the bytes of `value` to `out`. An error (a value of a type it does
    /// not store) leaves the task's value out of the cache, and says so in the
    /// computation's cache events; the computation goes on.
    ///
    /// # Errors
    /// Whatever stops the encoding.
    fn encode(&self, value: &Value, out: &mut Vec<u8>) -> Result<(), BoxError>;

    /// The value whose bytes `bytes` are. An error makes the entry corrupt: it is
    /// removed and the task runs again.
    ///
    /// # Errors
    /// Bytes that are not a value.
    fn decode(&self, bytes: &[u8]) -> Result<Value, BoxError>;
}

/// The [`Codec`] of values of type `T` in postcard (serde's compact binary format,
/// also the process pool's).
pub struct Postcard<T>(PhantomData<fn() -> T>);

impl<T> Postcard<T> {
    /// The codec.
    pub fn new() -> Self {
        Postcard(PhantomData)
    }
}

impl<T> Default for Postcard<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Codec for Postcard<T>
where
    T: Serialize + DeserializeOwned + Any + Send + Sync,
{
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }

    fn encode(&self, v: &Value, out: &mut Vec<u8>) -> Result<(), BoxError> {
        let v = v
            .downcast_ref::<T>()
            .ok_or_else(|| format!("the value is not a {}", std::any::type_name::<T>()))?;
        let taken = std::mem::take(out);
        *out = postcard::to_extend(v, taken)?;
        Ok(())
    }

    fn decode(&self, bytes: &[u8]) -> Result<Value, BoxError> {
        Ok(value(postcard::from_bytes::<T>(bytes)?))
    }
}

/// How a task's cache entry is keyed: a version to bump when its code changes, and
/// the bytes of what it takes besides its inputs (the literals its closure
/// captured, which the cache cannot see).
///
/// A `&str` is a `Cached` with that version and no literal.
///
/// ```
/// use taskloom::cache::Cached;
///
/// let path = "data/2024-05.csv";
/// let spec = Cached::new("v2").literal(path);
/// # drop(spec);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Cached {
    pub(crate) version: String,
    pub(crate) literal: Vec<u8>,
}

impl Cached {
    /// An entry of version `version`.
    pub fn new(version: impl Into<String>) -> Self {
        Cached {
            version: version.into(),
            literal: Vec::new(),
        }
    }

    /// Adds `bytes` to what the entry's key is made of (call it once per literal:
    /// each is length-prefixed).
    pub fn literal(mut self, bytes: impl AsRef<[u8]>) -> Self {
        let bytes = bytes.as_ref();
        self.literal
            .extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        self.literal.extend_from_slice(bytes);
        self
    }

    /// Adds the postcard bytes of `value` to what the entry's key is made of.
    pub fn input<T: Serialize + ?Sized>(self, value: &T) -> Self {
        // A value that does not encode (a map with non-string keys in some formats;
        // none in postcard's) adds its type name instead: never a silent collision
        // with the literal-free key.
        match postcard::to_allocvec(value) {
            Ok(bytes) => self.literal(bytes),
            Err(_) => self.literal(std::any::type_name::<T>()),
        }
    }
}

impl From<&str> for Cached {
    fn from(version: &str) -> Self {
        Cached::new(version)
    }
}

impl From<String> for Cached {
    fn from(version: String) -> Self {
        Cached::new(version)
    }
}

/// One task's cache setting.
#[derive(Clone)]
pub(crate) struct Spec {
    pub(crate) cached: Cached,
    pub(crate) codec: Arc<dyn Codec>,
}

/// The cached tasks of a graph: its own settings by task index, and the graph-wide
/// one for the others. Shared with computations and copied on write.
#[derive(Clone, Default)]
pub(crate) struct Specs {
    by_task: Vec<Option<Arc<Spec>>>,
    all: Option<Arc<Spec>>,
}

impl std::fmt::Debug for Specs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Specs")
            .field("tasks", &self.by_task.iter().flatten().count())
            .field("all", &self.all.is_some())
            .finish()
    }
}

impl Specs {
    pub(crate) fn set(&mut self, task: usize, spec: Spec) {
        if self.by_task.len() <= task {
            self.by_task.resize(task + 1, None);
        }
        self.by_task[task] = Some(Arc::new(spec));
    }

    pub(crate) fn set_all(&mut self, spec: Spec) {
        self.all = Some(Arc::new(spec));
    }

    /// Whether no task is cached.
    pub(crate) fn is_empty(&self) -> bool {
        self.all.is_none() && self.by_task.iter().all(Option::is_none)
    }

    /// Task `index`'s setting, if it is cached.
    pub(crate) fn of(&self, index: usize) -> Option<&Arc<Spec>> {
        match self.by_task.get(index) {
            Some(Some(spec)) => Some(spec),
            _ => self.all.as_ref(),
        }
    }
}
