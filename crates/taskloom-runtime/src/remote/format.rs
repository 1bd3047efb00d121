//! The one serde format values and frames use to cross the process boundary:
//! postcard.
//!
//! Chosen by measurement among well-kept compact binary formats (postcard 1.x,
//! bincode 2.0, rmp-serde 1.3; encode + decode of unit, integers, strings, vectors and
//! a small struct): postcard and bincode were within 10% of each other everywhere
//! (postcard ahead on floats and structs, bincode on large integer vectors), both well
//! ahead of MessagePack, and postcard's varints give the smallest frames. Postcard
//! also has a documented, stable wire format (its 1.0 specification), which matters
//! for a protocol between two builds of the same program. Every use of the format goes
//! through this module, so changing it is a one-file change.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{TaskError, TaskErrorKind};

/// A task's [`TaskErrorKind::Serialization`] error, with `message` saying what did
/// not encode or decode.
pub(crate) fn serialization_error(message: String) -> TaskError {
    TaskError::new(TaskErrorKind::Serialization, message)
}

/// Appends the encoding of `value` to `out`. On error `out` is left empty: callers
/// encode into a scratch buffer of their own.
pub(crate) fn encode_into<T: Serialize + ?Sized>(
    value: &T,
    out: &mut Vec<u8>,
) -> Result<(), postcard::Error> {
    let buf = std::mem::take(out);
    *out = postcard::to_extend(value, buf)?;
    Ok(())
}

/// The number of bytes `value` encodes to, counted without writing them.
pub(crate) fn size_of<T: Serialize + ?Sized>(value: &T) -> Result<usize, postcard::Error> {
    postcard::serialize_with_flavor(value, postcard::ser_flavors::Size::default())
}

/// Decodes a `T` that must fill `bytes` exactly (trailing bytes mean the two sides
/// disagree on the type).
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, postcard::Error> {
    let (value, rest) = postcard::take_from_bytes(bytes)?;
    if rest.is_empty() {
        Ok(value)
    } else {
        Err(postcard::Error::DeserializeBadEncoding)
    }
}

/// Decodes a borrowed `T` (protocol frames: names and payloads stay in the frame).
pub(crate) fn decode_borrowed<'a, T: serde::Deserialize<'a>>(
    bytes: &'a [u8],
) -> Result<T, postcard::Error> {
    let (value, rest) = postcard::take_from_bytes(bytes)?;
    if rest.is_empty() {
        Ok(value)
    } else {
        Err(postcard::Error::DeserializeBadEncoding)
    }
}
