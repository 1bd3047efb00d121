//! The pool's private directory for its workers' sockets: where each worker listens
//! for the others' fetches (`crate::link::peer`).
//!
//! Made by the pool when it starts, in the system's temporary directory, with mode
//! 0700 (`mkdir` fails on any name that exists, a link included, so the pool never
//! uses a directory it did not make), and removed with everything in it when the pool
//! is dropped (after its workers were killed and reaped). The directory is what keeps
//! other users out: connecting to a Unix socket takes search permission on the
//! directory holding it, which only the pool's user (and root) has.

use std::path::{Path, PathBuf};

/// Longest path of a socket `sockaddr_un` takes (108 bytes on Linux, 104 on macOS,
/// with the terminating zero): a directory whose sockets would be longer is not made.
const MAX_SOCKET_PATH: usize = 103;

/// Room for a socket's name in the directory: `/<pid>.sock`, a pid of up to 10
/// digits.
const SOCKET_NAME: usize = 16;

/// The pool's socket directory, removed when dropped.
#[derive(Debug)]
pub(super) struct PeerDir {
    path: PathBuf,
}

impl PeerDir {
    /// Makes a new private directory in the temporary directory.
    ///
    /// # Errors
    /// The directory could not be made, or its sockets' paths would be too long.
    pub(super) fn create() -> std::io::Result<Self> {
        Self::create_in(&std::env::temp_dir())
    }

    fn create_in(parent: &Path) -> std::io::Result<Self> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let pid = std::process::id();
        let mut last = None;
        for _ in 0..64 {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let path = parent.join(format!("taskloom-{pid}-{n}"));
            if path.as_os_str().len() + SOCKET_NAME > MAX_SOCKET_PATH {
                return Err(std::io::Error::other(format!(
                    "{} is too long a path for sockets",
                    path.display()
                )));
            }
            match make_private(&path) {
                Ok(()) => return Ok(PeerDir { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("no free name")))
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }
}

/// `mkdir path` with mode 0700 (whatever the umask), failing if the name exists.
#[cfg(unix)]
fn make_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new().mode(0o700).create(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
}

#[cfg(not(unix))]
fn make_private(_: &Path) -> std::io::Result<()> {
    Err(std::io::Error::other(
        "workers fetch from each other on Unix only",
    ))
}

impl Drop for PeerDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            tracing::debug!(path = %self.path.display(), error = %e, "could not remove the pool's socket directory");
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::PeerDir;

    #[test]
    fn the_directory_is_private_and_removed() {
        let dir = PeerDir::create().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().to_owned();
        let mode = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        std::fs::write(path.join("1.sock"), b"").unwrap_or_else(|e| panic!("{e}"));
        drop(dir);
        assert!(!path.exists());
    }
}
