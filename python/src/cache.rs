//! `get(..., cache="dir")`: Dask graphs on taskloom's result cache.
//!
//! Every task of the graph is cached by its Dask key: a collection's keys are
//! tokens of its contents and of the functions that made them (`tokenize`), so a
//! key names a value. Each entry's key is made (see `taskloom::cache`) of the Dask
//! key's `repr`, the keys of the task's inputs, and for a literal (a `DataNode`) its
//! pickle when it is small: a plain dict graph whose literal changed does not find
//! the old entries of what depends on it. Values are stored as pickles (protocol
//! 5), taken with the GIL on the worker that made them; a value that does not
//! pickle (a lambda) is computed and not stored.
//!
//! A pickle runs code when loaded: the cache refuses a directory other users can
//! write to (`PermissionError`), as `taskloom::cache::Cache::open` does.

use std::sync::{Arc, OnceLock};

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use taskloom::cache::{Cached, Codec};
use taskloom::{BoxError, Value};

use crate::gil;
use crate::task::{python_object, python_value};

/// Literals up to this size (pickled) go into their entry keys; larger ones are
/// taken to be named by their key (Dask's tokens of large data are hashes of it).
const LITERAL_IN_KEY: usize = 64 * 1024;

/// The version of every entry made by `get` (bumped if this mapping changes).
const VERSION: &str = "dask-1";

/// Python values as pickles.
pub(crate) struct Pickle;

/// The shared codec.
pub(crate) fn pickle() -> Arc<dyn Codec> {
    static CODEC: OnceLock<Arc<dyn Codec>> = OnceLock::new();
    Arc::clone(CODEC.get_or_init(|| Arc::new(Pickle)))
}

impl Codec for Pickle {
    fn name(&self) -> &str {
        "pickle-5"
    }

    fn encode(&self, value: &Value, out: &mut Vec<u8>) -> Result<(), BoxError> {
        let object = python_object(value).ok_or("not a Python object")?;
        gil::attach(|py| -> PyResult<()> {
            let dumped = py
                .import("pickle")?
                .call_method1("dumps", (object.bind(py), 5))?;
            out.extend_from_slice(dumped.cast::<PyBytes>()?.as_bytes());
            Ok(())
        })??;
        Ok(())
    }

    fn decode(&self, bytes: &[u8]) -> Result<Value, BoxError> {
        let object = gil::attach(|py| -> PyResult<Py<PyAny>> {
            let loaded = py
                .import("pickle")?
                .call_method1("loads", (PyBytes::new(py, bytes),))?;
            Ok(loaded.unbind())
        })??;
        // The pickle's length stands for the object's size: close for the arrays and
        // frames that make caching worth it.
        Ok(python_value(object, bytes.len() as u64))
    }
}

/// The cache setting of the task of Dask key `key`; `literal`: its value if it is a
/// `DataNode`.
pub(crate) fn spec(key: &Bound<'_, PyAny>, literal: Option<&Bound<'_, PyAny>>) -> PyResult<Cached> {
    let mut cached = Cached::new(VERSION).literal(key.repr()?.to_str()?);
    if let Some(value) = literal {
        let py = value.py();
        let pickled = py
            .import("pickle")
            .and_then(|p| p.call_method1("dumps", (value, 5)))
            .ok()
            .and_then(|b| b.cast::<PyBytes>().ok().map(|b| b.as_bytes().to_vec()));
        cached = match pickled {
            Some(bytes) if bytes.len() <= LITERAL_IN_KEY => cached.literal(bytes),
            _ => cached.literal("named by its key"),
        };
    }
    Ok(cached)
}
