//! Python values between processes: pickle protocol 5, buffers out of band.
//!
//! A task of the process scheduler or the cluster runs in a worker interpreter, so
//! what it runs (its Dask node) and the values it takes and makes cross as bytes.
//! `taskloom._pickle.dumps` pickles an object with protocol 5 and hands its large
//! buffers (numpy arrays, bytes) over out of band; this module lays them out in one
//! block, each buffer copied once, straight from the object's memory:
//!
//! ```text
//! u32 buffers | u64 pickle length | u64 length of each buffer | pickle | (pad to 64) buffer ...
//! ```
//!
//! (little-endian; each buffer starts at a multiple of 64 bytes from the block's
//! start, so numpy arrays read from it are aligned). `taskloom._pickle.loads` reads
//! the block back with each buffer a slice of one `bytearray`: arrays come back
//! writable, without a copy of their own.
//!
//! Values are a task result's [`Value`]: a live object ([`python_object`]) where it
//! was made or given, or [`Pickled`] bytes where it arrived. Bytes stay bytes until
//! Python needs the object: the parent passes a value from one worker to another
//! without unpickling it, and unpickles only the results it returns.

use std::sync::Arc;

use pyo3::buffer::PyBuffer;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyByteArray, PyList, PyTuple};
use taskloom::remote::Codec;
use taskloom::{TaskError, TaskErrorKind, Value};

use crate::gil;
use crate::task::python_object;

/// A value as it arrived from another process: a block of this module's layout.
pub(crate) struct Pickled(pub(crate) Vec<u8>);

/// How the Python tasks' values cross: [`Pickled`] blocks.
pub(crate) const CODEC: Codec = Codec {
    encode,
    decode,
    size_of,
};

/// Buffers start at multiples of this many bytes from the block's start.
const ALIGN: usize = 64;

/// `taskloom._pickle`, imported once.
fn module(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    MODULE
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(py.import("taskloom._pickle")?.unbind())
        })
        .map(|m| m.bind(py))
}

/// Appends the block of `object` to `out`.
///
/// # Errors
/// The exception of `pickle` (and of `cloudpickle`, tried when `pickle` cannot) if
/// the object cannot be pickled.
pub(crate) fn write(py: Python<'_>, object: &Bound<'_, PyAny>, out: &mut Vec<u8>) -> PyResult<()> {
    let dumped = module(py)?
        .getattr(intern!(py, "dumps"))?
        .call1((object,))?;
    let (data, raws): (Bound<'_, PyAny>, Bound<'_, PyList>) = dumped.extract()?;
    let data: PyBuffer<u8> = PyBuffer::get(&data)?;
    let buffers = raws
        .iter()
        .map(|raw| PyBuffer::<u8>::get(&raw))
        .collect::<PyResult<Vec<_>>>()?;
    let start = out.len();
    let count = u32::try_from(buffers.len())
        .map_err(|_| pyo3::exceptions::PyValueError::new_err("too many pickle buffers"))?;
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&(data.len_bytes() as u64).to_le_bytes());
    for buffer in &buffers {
        out.extend_from_slice(&(buffer.len_bytes() as u64).to_le_bytes());
    }
    append(py, &data, out)?;
    for buffer in &buffers {
        let at = start + (out.len() - start).next_multiple_of(ALIGN);
        out.resize(at, 0);
        append(py, buffer, out)?;
    }
    Ok(())
}

/// Appends a contiguous buffer's bytes to `out`: one copy.
fn append(py: Python<'_>, buffer: &PyBuffer<u8>, out: &mut Vec<u8>) -> PyResult<()> {
    let at = out.len();
    out.resize(at + buffer.len_bytes(), 0);
    buffer.copy_to_slice(py, &mut out[at..])
}

/// The object of a block.
///
/// # Errors
/// The exception of `pickle.loads`.
pub(crate) fn read<'py>(py: Python<'py>, bytes: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    let block = PyByteArray::new(py, bytes);
    module(py)?.getattr(intern!(py, "loads"))?.call1((block,))
}

/// The object of a task's value: itself, or unpickled from its block.
///
/// # Errors
/// As [`read`]; a value that is neither is a `TypeError`.
pub(crate) fn object<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    if let Some(object) = python_object(value) {
        return Ok(object.bind(py).clone());
    }
    match value.downcast_ref::<Pickled>() {
        Some(Pickled(bytes)) => read(py, bytes),
        None => Err(pyo3::exceptions::PyTypeError::new_err(
            "a task's value is not a Python object",
        )),
    }
}

/// The value's block: its bytes as they came, or the object pickled now.
fn encode(value: &Value, out: &mut Vec<u8>) -> Result<(), TaskError> {
    if let Some(Pickled(bytes)) = value.downcast_ref::<Pickled>() {
        out.extend_from_slice(bytes);
        return Ok(());
    }
    let object = python_object(value).ok_or_else(not_python)?;
    gil::attach(|py| {
        write(py, object.bind(py), out).map_err(|e| {
            out.clear();
            TaskError::new(
                TaskErrorKind::Serialization,
                format!("cannot pickle the value: {}", describe(py, &e)),
            )
        })
    })
    .map_err(|exiting| TaskError::new(TaskErrorKind::Cancelled, exiting.to_string()))?
}

/// Bytes stay bytes until Python needs the object.
fn decode(bytes: &[u8]) -> Result<Value, TaskError> {
    Ok(Arc::new(Pickled(bytes.to_vec())))
}

/// A block's length, or Dask's estimate of an object's size (`dask.sizeof`), which
/// decides whether a result stays in its worker.
fn size_of(value: &Value) -> Result<u64, TaskError> {
    if let Some(Pickled(bytes)) = value.downcast_ref::<Pickled>() {
        return Ok(bytes.len() as u64);
    }
    let object = python_object(value).ok_or_else(not_python)?;
    gil::attach(|py| {
        module(py)
            .and_then(|m| m.getattr(intern!(py, "sizeof")))
            .and_then(|sizeof| sizeof.call1((object.bind(py),)))
            .and_then(|n| n.extract::<u64>())
            .map_err(|e| {
                TaskError::new(
                    TaskErrorKind::Serialization,
                    format!("cannot measure the value: {}", describe(py, &e)),
                )
            })
    })
    .map_err(|exiting| TaskError::new(TaskErrorKind::Cancelled, exiting.to_string()))?
}

fn not_python() -> TaskError {
    TaskError::new(
        TaskErrorKind::TypeMismatch,
        "a task's value is not a Python object",
    )
}

/// `TypeError: cannot pickle '_thread.lock' object`: an exception as one line.
pub(crate) fn describe(py: Python<'_>, error: &PyErr) -> String {
    let name = error
        .get_type(py)
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "Exception".into());
    format!("{name}: {}", error.value(py))
}

/// The block of a task: its node and the keys of its dependencies, in the order of
/// its inputs (Dask calls a node with a dict of its dependencies' values).
///
/// # Errors
/// The exception of pickling the node.
pub(crate) fn task(
    py: Python<'_>,
    node: &Bound<'_, PyAny>,
    keys: impl IntoIterator<Item = Py<PyAny>>,
) -> PyResult<Vec<u8>> {
    let keys = PyTuple::new(py, keys.into_iter().collect::<Vec<_>>())?;
    let mut out = Vec::new();
    let task = PyTuple::new(py, [node.clone(), keys.into_any()])?;
    write(py, task.as_any(), &mut out)?;
    Ok(out)
}
