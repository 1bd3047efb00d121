//! Opening a cache directory safely, as ssh treats its keys: created private to its
//! user (0700), and refused when another user could write to it.
//!
//! A cache entry is trusted once its checksum matches, and a Python cache's entries
//! are pickles, which run code when loaded: whoever can write to the directory can
//! make this process run their code. So a directory that is not a directory, not
//! this user's, or writable by its group or by others is refused with an error that
//! says which and how to fix it, before anything is read.

use std::path::{Path, PathBuf};

use super::CacheError;

/// Creates `dir` (private to this user) if it does not exist, and checks that it is
/// a directory this user owns and nobody else can write to.
pub(super) fn open(dir: &Path) -> Result<PathBuf, CacheError> {
    let io = |source| CacheError::Io {
        path: dir.to_owned(),
        source,
    };
    if !dir.exists() {
        create_private(dir).map_err(io)?;
    }
    let meta = std::fs::metadata(dir).map_err(io)?;
    if !meta.is_dir() {
        return Err(CacheError::NotADirectory {
            path: dir.to_owned(),
        });
    }
    check_private(dir, &meta)?;
    Ok(dir.to_owned())
}

/// Creates `dir` and its missing parents, each readable by this user only.
pub(super) fn create_private(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

#[cfg(unix)]
fn check_private(dir: &Path, meta: &std::fs::Metadata) -> Result<(), CacheError> {
    use std::os::unix::fs::MetadataExt;
    let user = rustix::process::geteuid().as_raw();
    if meta.uid() != user {
        return Err(CacheError::NotOwner {
            path: dir.to_owned(),
            owner: meta.uid(),
            user,
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(CacheError::Exposed {
            path: dir.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_dir: &Path, _meta: &std::fs::Metadata) -> Result<(), CacheError> {
    Ok(())
}
