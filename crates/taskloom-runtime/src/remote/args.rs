//! How a remote function's arguments move between processes: [`RemoteArgs`], for
//! every argument shape a task can take.
//!
//! The parent encodes a task's input values by reference (no copy), whole or one
//! argument at a time (a worker may already hold some of them); a worker decodes them
//! into owned values. The shapes are the argument markers of
//! [`Graph::add`](crate::Graph::add): `()`, tuples from the crate's one tuple macro,
//! and [`Many<A>`].

use std::any::Any;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::format::{self, serialization_error};
use crate::error::{TaskError, TaskErrorKind};
use crate::inputs::Many;
use crate::tuples::all_the_tuples;
use crate::value::{Value, value};

/// The argument shapes a remote function can take, with how to move them between
/// processes: encoded in the parent from the input values (by reference, no copy),
/// decoded in the worker into owned values.
///
/// Implemented for the argument markers of [`Graph::add`](crate::Graph::add): `()`,
/// `(A,)`, `(A, B)`, ... up to twelve arguments, and [`Many<A>`], for serde types
/// `A`...; there is no need to implement it.
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
        serialization_error(format!(
            "cannot encode the inputs ({}): {e}",
            std::any::type_name::<T>()
        ))
    })
}

fn decode_args<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, TaskError> {
    format::decode::<T>(bytes).map_err(|e| {
        serialization_error(format!(
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

macro_rules! tuple_args {
    // One argument crosses as itself, not as a one-element tuple (the same bytes in
    // postcard, but errors name the argument's type).
    ($name:ident $idx:tt) => {
        impl<$name: Serialize + DeserializeOwned + Any + Send + Sync> RemoteArgs for ($name,) {
            fn encode(values: &[Value], out: &mut Vec<u8>) -> Result<(), TaskError> {
                encode_args(arg::<$name>(values, 0)?, out)
            }
            fn decode(bytes: &[u8]) -> Result<Vec<Value>, TaskError> {
                Ok(vec![value(decode_args::<$name>(bytes)?)])
            }
            fn encode_arg(index: usize, value: &Value, out: &mut Vec<u8>) -> Result<(), TaskError> {
                match index {
                    0 => encode_one::<$name>(index, value, out),
                    _ => Err(past_last(index)),
                }
            }
            fn decode_arg(index: usize, bytes: &[u8]) -> Result<Value, TaskError> {
                match index {
                    0 => decode_one::<$name>(bytes),
                    _ => Err(past_last(index)),
                }
            }
        }
    };
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

all_the_tuples!(tuple_args);
