//! One cache entry on disk: its format, its atomic write and its checked read.
//!
//! An entry is a file named by its key (64 hex digits) in a subdirectory named by
//! the key's first two: a fixed header, then the value's bytes.
//!
//! | bytes | what |
//! |-------|------|
//! | 8     | magic `TLCACHE2` (the format's version is its last byte) |
//! | 32    | the entry's key (a file renamed or copied over another is caught) |
//! | 8     | length of the value's bytes, little-endian |
//! | 8     | XXH3-64 checksum of the value's bytes, little-endian |
//! | n     | the value's bytes, as the task's codec encoded them |
//!
//! The checksum is there to catch damage (a torn write, a flipped bit, a page of
//! zeros after a power loss), not forgery: whoever can write to the directory can
//! write a matching checksum of any kind, which is why the directory must be
//! private (see `dir`). So it is XXH3-64, not a cryptographic hash: it reads five
//! to seven times faster than BLAKE3 on one core (0.12 against 0.65 ms per MiB on
//! the 2-core development machine; it runs for every entry written and every entry
//! loaded, over all its bytes), and random damage slips past it once in 2^64. Keys stay BLAKE3 (`key`): they name entries, where a
//! collision would be a wrong hit.
//!
//! Written to a temporary file of its own in the same directory, then renamed over
//! the entry's name: another process (or thread) sees the whole old entry, the
//! whole new one, or none, never half of one; two processes writing the same entry
//! each rename a complete file. Not synced to disk: an entry survives the process
//! (a crash, SIGKILL) but maybe not the machine's power loss, after which a torn
//! entry fails its checks and is recomputed.
//!
//! Read back with every check before use: a file shorter than its header, a wrong
//! magic or key, a length that is not the file's (checked against the file's size
//! *before* allocating, so a corrupt length cannot ask for terabytes), and a
//! checksum that does not match are all a [`Problem`], and the entry is recomputed.

use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::key::EntryKey;

const MAGIC: &[u8; 8] = b"TLCACHE2";
/// Bytes before the value.
pub(super) const HEADER: usize = 8 + 32 + 8 + 8;

/// Why an entry on disk cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Problem {
    /// There is no entry (never written, evicted, or removed meanwhile).
    Missing,
    /// There is one, but it is damaged: what is wrong with it.
    Corrupt(String),
    /// It could not be read (permissions, I/O error).
    Unreadable(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Missing => f.write_str("no entry"),
            Problem::Corrupt(why) => write!(f, "corrupt entry: {why}"),
            Problem::Unreadable(why) => write!(f, "unreadable entry: {why}"),
        }
    }
}

/// Where the entry of `key` lives under `root`.
pub(super) fn path_of(root: &Path, key: &EntryKey) -> PathBuf {
    let hex = key.to_hex();
    root.join(&hex[..2]).join(hex)
}

/// Whether a file name is an entry's (64 lowercase hex digits).
pub(super) fn is_entry_name(name: &str) -> bool {
    name.len() == 64
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Whether a file name is a temporary file of a write.
pub(super) fn is_temp_name(name: &str) -> bool {
    name.starts_with(".tmp-")
}

/// Writes the entry of `key` with `value`'s bytes, atomically; returns its size on
/// disk.
pub(super) fn write(root: &Path, key: &EntryKey, value: &[u8]) -> std::io::Result<u64> {
    let path = path_of(root, key);
    let dir = path.parent().unwrap_or(root);
    if !dir.exists() {
        super::dir::create_private(dir)?;
    }
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let temp = dir.join(format!(
        ".tmp-{}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        &key.to_hex()[..16]
    ));
    let written = write_new(&temp, key, value).and_then(|()| std::fs::rename(&temp, &path));
    if let Err(error) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(error);
    }
    Ok((HEADER + value.len()) as u64)
}

fn write_new(temp: &Path, key: &EntryKey, value: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(temp)?;
    let mut header = [0_u8; HEADER];
    header[..8].copy_from_slice(MAGIC);
    header[8..40].copy_from_slice(key.as_bytes());
    header[40..48].copy_from_slice(&(value.len() as u64).to_le_bytes());
    header[48..56].copy_from_slice(&checksum(value).to_le_bytes());
    file.write_all(&header)?;
    file.write_all(value)
}

/// The checksum of a value's bytes (see the module).
fn checksum(value: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(value)
}

/// Checks the header of `key`'s entry without reading its value: present, of the
/// size it claims, for this key.
pub(super) fn probe(root: &Path, key: &EntryKey) -> Result<(), Problem> {
    let (_, _) = open_checked(root, key)?;
    Ok(())
}

/// Reads `key`'s entry and checks it; its value's bytes.
pub(super) fn read(root: &Path, key: &EntryKey) -> Result<Vec<u8>, Problem> {
    let (mut file, (len, expected)) = open_checked(root, key)?;
    // `len` was checked against the file's size: this allocates what is there.
    let mut value = vec![0_u8; len];
    file.read_exact(&mut value)
        .map_err(|e| Problem::Corrupt(format!("its value could not be read whole ({e})")))?;
    if checksum(&value) != expected {
        return Err(Problem::Corrupt(
            "its checksum does not match its bytes".into(),
        ));
    }
    // Used now: the least recently used entries are evicted first.
    let _ = file.set_modified(std::time::SystemTime::now());
    Ok(value)
}

/// Opens `key`'s entry and checks its header; the file (positioned at the value),
/// the value's length and its checksum.
fn open_checked(root: &Path, key: &EntryKey) -> Result<(File, (usize, u64)), Problem> {
    let path = path_of(root, key);
    let mut file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Problem::Missing),
        Err(e) => return Err(Problem::Unreadable(e.to_string())),
    };
    let size = file
        .metadata()
        .map_err(|e| Problem::Unreadable(e.to_string()))?
        .len();
    if size < HEADER as u64 {
        return Err(Problem::Corrupt(format!(
            "truncated: {size} bytes, fewer than its {HEADER}-byte header"
        )));
    }
    let mut header = [0_u8; HEADER];
    file.read_exact(&mut header)
        .map_err(|e| Problem::Corrupt(format!("its header could not be read ({e})")))?;
    if &header[..8] != MAGIC {
        return Err(Problem::Corrupt(
            "not a taskloom cache entry (wrong magic)".into(),
        ));
    }
    if &header[8..40] != key.as_bytes() {
        return Err(Problem::Corrupt("it holds another key's entry".into()));
    }
    let mut len = [0_u8; 8];
    len.copy_from_slice(&header[40..48]);
    let claimed = u64::from_le_bytes(len);
    let holds = size - HEADER as u64;
    if claimed != holds {
        return Err(Problem::Corrupt(format!(
            "it claims a {claimed}-byte value and holds {holds} bytes"
        )));
    }
    let len = usize::try_from(claimed)
        .map_err(|_| Problem::Corrupt(format!("its {claimed}-byte value cannot be held")))?;
    let mut checksum = [0_u8; 8];
    checksum.copy_from_slice(&header[48..56]);
    Ok((file, (len, u64::from_le_bytes(checksum))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("taskloom-entry-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        super::super::dir::create_private(&dir).unwrap();
        dir
    }

    #[test]
    fn an_entry_reads_back_and_every_kind_of_damage_is_caught() {
        let root = scratch("damage");
        let key = EntryKey::from_bytes([7; 32]);
        let other = EntryKey::from_bytes([8; 32]);
        assert_eq!(read(&root, &key), Err(Problem::Missing));
        let value = b"the value of a task".repeat(100);
        let size = write(&root, &key, &value).unwrap();
        assert_eq!(size, (HEADER + value.len()) as u64);
        assert_eq!(read(&root, &key).unwrap(), value);
        let path = path_of(&root, &key);
        let good = std::fs::read(&path).unwrap();
        let damaged = |bytes: &[u8]| {
            std::fs::write(&path, bytes).unwrap();
            match read(&root, &key) {
                Err(Problem::Corrupt(why)) => why,
                other => panic!("expected a corrupt entry, got {other:?}"),
            }
        };
        // Truncated: in the header, and in the value.
        assert!(damaged(&good[..20]).contains("truncated"));
        assert!(damaged(&good[..good.len() - 1]).contains("holds"));
        // A bit flipped in the value, in the key, in the magic.
        let mut flipped = good.clone();
        flipped[HEADER + 5] ^= 0x10;
        assert!(damaged(&flipped).contains("checksum"));
        let mut flipped = good.clone();
        flipped[9] ^= 1;
        assert!(damaged(&flipped).contains("another key"));
        let mut flipped = good.clone();
        flipped[0] ^= 1;
        assert!(damaged(&flipped).contains("magic"));
        // A length beyond the file is refused before anything is allocated.
        let mut huge = good.clone();
        huge[40..48].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
        assert!(damaged(&huge).contains("claims a 9223372036854775807-byte value"));
        // An entry copied over another key's.
        std::fs::write(&path, &good).unwrap();
        write(&root, &other, b"x").unwrap();
        std::fs::copy(path_of(&root, &other), &path).unwrap();
        assert!(matches!(read(&root, &key), Err(Problem::Corrupt(_))));
        let _ = std::fs::remove_dir_all(&root);
    }
}
