//! Dask keys as taskloom keys.
//!
//! taskloom's core breaks ties between ready tasks by [`Key`], so the common Dask key
//! shapes become the keys a Rust user would write for them: `'total'` is
//! `Key::new("total")` and `('x', 0, 1)` is `Key::tuple("x", [0, 1])`. Any other
//! hashable key (an int, a float, a tuple with other parts) gets a key of its own,
//! ordered by when the walk met it.
//!
//! The mapping only serves ordering and display: which Python key a task has is kept
//! beside the graph (see [`crate::graph`]), never recovered from its `Key`.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyInt, PyString, PyTuple};
use taskloom::Key;

/// Name of the keys given to Python keys of other shapes: `('taskloom:key', n)` for the
/// `n`-th key met in the graph.
const OTHER: &str = "taskloom:key";

/// Turns Python keys into [`Key`]s, sharing the name of consecutive tuple keys.
#[derive(Default)]
pub(crate) struct KeyCoder {
    /// The name of the last tuple key and its allocation: the chunks of one collection
    /// come in runs that share one `str` object, and their `Key`s can share one
    /// `Arc<str>`.
    last_name: Option<(Py<PyString>, Arc<str>)>,
}

impl KeyCoder {
    /// The taskloom key of `key`, the `index`-th key met in the graph.
    pub(crate) fn key(&mut self, key: &Bound<'_, PyAny>, index: usize) -> Key {
        if let Ok(s) = key.cast::<PyString>() {
            if let Ok(text) = s.to_str() {
                return Key::new(text);
            }
        } else if let Ok(tuple) = key.cast::<PyTuple>() {
            if let Some(k) = self.tuple(tuple) {
                return k;
            }
        }
        Key::tuple(OTHER, [i64::try_from(index).unwrap_or(i64::MAX)])
    }

    /// `('name', i, j, ...)` with integer indices, or `None` for another shape.
    fn tuple(&mut self, tuple: &Bound<'_, PyTuple>) -> Option<Key> {
        let mut items = tuple.iter();
        let first = items.next()?;
        let name = first.cast::<PyString>().ok()?;
        let mut indices = Vec::with_capacity(tuple.len() - 1);
        for item in items {
            indices.push(item.cast::<PyInt>().ok()?.extract::<i64>().ok()?);
        }
        let shared = match &self.last_name {
            Some((last, shared)) if last.is(name) => Arc::clone(shared),
            _ => {
                let shared: Arc<str> = Arc::from(name.to_str().ok()?);
                self.last_name = Some((name.clone().unbind(), Arc::clone(&shared)));
                shared
            }
        };
        Some(Key::tuple(shared, indices))
    }
}
