//! Entry keys: a BLAKE3 hash of how a task's value is made, chained through its
//! inputs (a Merkle chain, as graphchain does).
//!
//! A task's key hashes its graph key (what it is: `('load', 3)`), its cache version
//! (bumped when its code changes), the bytes of its literal inputs, the name of the
//! codec its value is stored with, and the keys of its inputs' entries, in order.
//! Computing a key never reads a value: an input of a gigabyte costs 32 bytes of
//! hashing, and a changed input changes the keys of everything downstream of it.
//! Each field is length-prefixed, so no two different lists of fields hash alike.

use std::fmt::Write as _;

/// The key of one cache entry.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) struct EntryKey([u8; 32]);

/// Separates this hash from every other use of BLAKE3 (and marks the scheme's
/// version: a change of scheme makes every old entry a miss, never a wrong hit).
const DOMAIN: &str = "taskloom cache entry key v1";

impl EntryKey {
    /// The key of a task: `name` (its graph key, as displayed), `version`,
    /// `literal` input bytes, `codec` name, and its inputs' keys in order.
    pub(crate) fn of(
        name: &str,
        version: &str,
        literal: &[u8],
        codec: &str,
        inputs: &[EntryKey],
    ) -> Self {
        let mut h = blake3::Hasher::new_derive_key(DOMAIN);
        for field in [
            name.as_bytes(),
            version.as_bytes(),
            literal,
            codec.as_bytes(),
        ] {
            h.update(&(field.len() as u64).to_le_bytes());
            h.update(field);
        }
        h.update(&(inputs.len() as u64).to_le_bytes());
        for input in inputs {
            h.update(&input.0);
        }
        EntryKey(*h.finalize().as_bytes())
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    #[cfg(test)]
    pub(crate) fn from_bytes(bytes: [u8; 32]) -> Self {
        EntryKey(bytes)
    }

    pub(crate) fn to_hex(self) -> String {
        let mut out = String::with_capacity(64);
        for b in self.0 {
            let _ = write!(out, "{b:02x}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::EntryKey;

    #[test]
    fn every_field_and_every_input_changes_the_key() {
        let a = EntryKey::of("x", "v1", b"", "postcard", &[]);
        let b = EntryKey::of("y", "v1", b"", "postcard", &[]);
        let base = EntryKey::of("t", "v1", b"lit", "postcard", &[a]);
        assert_eq!(base, EntryKey::of("t", "v1", b"lit", "postcard", &[a]));
        for other in [
            EntryKey::of("t", "v2", b"lit", "postcard", &[a]),
            EntryKey::of("t", "v1", b"lis", "postcard", &[a]),
            EntryKey::of("t", "v1", b"lit", "pickle", &[a]),
            EntryKey::of("t", "v1", b"lit", "postcard", &[b]),
            EntryKey::of("t", "v1", b"lit", "postcard", &[a, a]),
            EntryKey::of("t", "v1", b"lit", "postcard", &[]),
            // Fields are length-prefixed: moving a byte between them changes the key.
            EntryKey::of("tv", "1", b"lit", "postcard", &[a]),
        ] {
            assert_ne!(base, other);
        }
        assert_eq!(base.to_hex().len(), 64);
    }
}
