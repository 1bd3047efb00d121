//! The per-cluster secret: 32 random bytes from the operating system, known to the
//! scheduler and to its workers and to nobody else, and the key of the HMAC both
//! sides prove themselves with (`handshake`).
//!
//! It travels as 64 hexadecimal digits: in a file of mode 0600 (what a launcher
//! passes, by path, in [`SECRET_FILE_ENV`]: the path on a command line or in a job's
//! environment reveals nothing) or in [`SECRET_ENV`] (a Kubernetes Secret mapped to
//! an environment variable). The bytes never appear in a message, a log line or a
//! `Debug` output.
//!
//! The file a cluster writes says, on a second line, how its workers connect, so
//! that one file is still all a worker needs:
//!
//! ```text
//! 3f5c...64 hex digits...
//! tls sha256:9a0e...the scheduler's certificate, 64 hex digits...
//! ```
//!
//! `tls sha256:...`: TLS, and the scheduler's certificate must have that fingerprint
//! (`tls`); `plain-tcp`: no TLS (a loopback cluster, or the loud opt-out). Without a
//! second line (a secret made by hand, as for Kubernetes) a worker speaks TLS and
//! accepts any certificate: the handshake's proofs, bound to the TLS session, still
//! keep out anyone without the secret.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::tls::{FINGERPRINT_LEN, Fingerprint};

/// The environment variable holding the path of a file with the cluster's secret.
pub const SECRET_FILE_ENV: &str = "TASKLOOM_CLUSTER_SECRET_FILE";

/// The environment variable holding the cluster's secret itself (64 hex digits).
pub const SECRET_ENV: &str = "TASKLOOM_CLUSTER_SECRET";

/// Bytes of a secret.
pub const SECRET_LEN: usize = 32;

/// A cluster's secret.
///
/// ```
/// use taskloom::cluster::Secret;
///
/// let secret = Secret::generate()?;
/// let again = Secret::from_hex(&secret.to_hex())?;
/// assert_eq!(secret, again);
/// assert_eq!(format!("{secret:?}"), "Secret(..)"); // never shown
/// # Ok::<(), taskloom::cluster::SecretError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret([u8; SECRET_LEN]);

/// Why a secret could not be made, read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The operating system gave no randomness.
    #[error("cannot get random bytes from the operating system: {0}")]
    Random(String),
    /// The text is not 64 hexadecimal digits.
    #[error("a cluster secret is {digits} hexadecimal digits; {0}", digits = SECRET_LEN * 2)]
    Malformed(String),
    /// The file could not be read or written.
    #[error("cannot {action} the cluster secret file {}: {error}", path.display())]
    File {
        /// "read", "write".
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        error: std::io::Error,
    },
    /// The file can be read by others than its owner: refused, as ssh refuses such
    /// keys.
    #[error(
        "the cluster secret file {} has mode {mode:o}: others than its owner can read it \
         (`chmod 600` it)",
        path.display()
    )]
    Exposed {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A line after the secret is neither `tls sha256:` and 64 hexadecimal digits nor
    /// `plain-tcp`.
    #[error(
        "the line after the cluster secret must be `tls sha256:` and 64 hexadecimal digits, \
         or `plain-tcp`; got {0:?}"
    )]
    Transport(String),
    /// Neither [`SECRET_FILE_ENV`] nor [`SECRET_ENV`] is set.
    #[error("no cluster secret: set {SECRET_FILE_ENV} (a file of mode 0600) or {SECRET_ENV}")]
    Missing,
}

impl Secret {
    /// 32 fresh random bytes from the operating system.
    ///
    /// # Errors
    /// [`SecretError::Random`] if the OS has no randomness to give.
    pub fn generate() -> Result<Secret, SecretError> {
        let mut bytes = [0_u8; SECRET_LEN];
        getrandom::fill(&mut bytes).map_err(|e| SecretError::Random(e.to_string()))?;
        Ok(Secret(bytes))
    }

    /// The secret written as 64 hexadecimal digits (surrounding whitespace allowed).
    ///
    /// # Errors
    /// [`SecretError::Malformed`] for anything else (the message does not repeat it).
    pub fn from_hex(text: &str) -> Result<Secret, SecretError> {
        let text = text.trim();
        if text.len() != SECRET_LEN * 2 {
            return Err(SecretError::Malformed(format!(
                "got {} characters",
                text.chars().count()
            )));
        }
        let mut bytes = [0_u8; SECRET_LEN];
        for (byte, pair) in bytes.iter_mut().zip(text.as_bytes().chunks(2)) {
            let digits = std::str::from_utf8(pair).ok();
            *byte = digits
                .and_then(|d| u8::from_str_radix(d, 16).ok())
                .ok_or_else(|| {
                    SecretError::Malformed("found a character that is not one".into())
                })?;
        }
        Ok(Secret(bytes))
    }

    /// The secret as 64 lowercase hexadecimal digits.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Reads the secret from `path`, which only its owner may read (mode 0600 or
    /// stricter, on Unix): its first line. A second line may say how workers
    /// connect: `tls sha256:` and the scheduler's certificate's fingerprint (TLS, that
    /// certificate pinned), or `plain-tcp`; a file the cluster writes always has one.
    ///
    /// # Errors
    /// [`SecretError::File`], [`SecretError::Exposed`], [`SecretError::Malformed`],
    /// [`SecretError::Transport`].
    pub fn from_file(path: impl AsRef<Path>) -> Result<Secret, SecretError> {
        Given::from_file(path.as_ref()).map(|given| given.secret)
    }

    /// The secret a worker was given: the file named by [`SECRET_FILE_ENV`], or else
    /// [`SECRET_ENV`] (the secret, or the whole content of a secret file).
    ///
    /// # Errors
    /// [`SecretError::Missing`] if neither is set; as [`Secret::from_file`] and
    /// [`Secret::from_hex`] otherwise.
    pub fn from_env() -> Result<Secret, SecretError> {
        Given::from_env().map(|given| given.secret)
    }

    /// Writes the secret to a new file at `path`, readable by its owner only (the
    /// file is created with mode 0600; an existing file is an error, never
    /// overwritten).
    ///
    /// # Errors
    /// [`SecretError::File`].
    pub fn write_new(&self, path: impl AsRef<Path>) -> Result<(), SecretError> {
        write_new(path.as_ref(), &format!("{}\n", self.to_hex()))
    }

    /// The key bytes, for the handshake's HMAC.
    pub(super) fn key(&self) -> &[u8] {
        &self.0
    }
}

/// How a worker connects to its scheduler, as its secret file says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Transport {
    /// TLS; the scheduler's certificate has this fingerprint (any, if `None`).
    Tls(Option<Fingerprint>),
    /// Plain TCP.
    Plain,
}

impl Transport {
    /// The line of the secret file that says it (none for unpinned TLS).
    fn line(self) -> Option<String> {
        match self {
            Transport::Tls(Some(pin)) => Some(format!("tls {pin}")),
            Transport::Tls(None) => None,
            Transport::Plain => Some(PLAIN_LINE.to_owned()),
        }
    }

    fn parse(line: &str) -> Result<Transport, SecretError> {
        let line = line.trim();
        if line == PLAIN_LINE {
            return Ok(Transport::Plain);
        }
        let bad = || SecretError::Transport(line.chars().take(100).collect());
        let hex = line.strip_prefix("tls sha256:").ok_or_else(bad)?;
        let bytes = parse_hex::<FINGERPRINT_LEN>(hex).ok_or_else(bad)?;
        Ok(Transport::Tls(Some(Fingerprint(bytes))))
    }
}

/// The line of a secret file that makes its workers speak plain TCP.
const PLAIN_LINE: &str = "plain-tcp";

/// What a worker is given: the secret, and how to connect.
#[derive(Debug, Clone)]
pub(super) struct Given {
    pub(super) secret: Secret,
    pub(super) transport: Transport,
}

impl Given {
    /// The secret and its transport line (unpinned TLS when there is none).
    pub(super) fn parse(text: &str) -> Result<Given, SecretError> {
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        let secret = Secret::from_hex(lines.next().unwrap_or(""))?;
        let transport = match lines.next() {
            None => Transport::Tls(None),
            Some(line) => Transport::parse(line)?,
        };
        if let Some(extra) = lines.next() {
            return Err(SecretError::Transport(extra.chars().take(100).collect()));
        }
        Ok(Given { secret, transport })
    }

    /// The file's content: the secret, then its transport line.
    pub(super) fn text(&self) -> String {
        match self.transport.line() {
            Some(line) => format!("{}\n{line}\n", self.secret.to_hex()),
            None => format!("{}\n", self.secret.to_hex()),
        }
    }

    /// Writes a new private file (see [`Secret::write_new`]).
    pub(super) fn write_new(&self, path: &Path) -> Result<(), SecretError> {
        write_new(path, &self.text())
    }

    /// What the worker was given: the file named by [`SECRET_FILE_ENV`], or else
    /// [`SECRET_ENV`].
    pub(super) fn from_env() -> Result<Given, SecretError> {
        if let Some(path) = std::env::var_os(SECRET_FILE_ENV).filter(|p| !p.is_empty()) {
            return Given::from_file(Path::new(&path));
        }
        match std::env::var(SECRET_ENV) {
            Ok(text) if !text.is_empty() => Given::parse(&text),
            _ => Err(SecretError::Missing),
        }
    }

    fn from_file(path: &Path) -> Result<Given, SecretError> {
        let error = |error| SecretError::File {
            action: "read",
            path: path.to_owned(),
            error,
        };
        let text = std::fs::read_to_string(path).map_err(error)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).map_err(error)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(SecretError::Exposed {
                    path: path.to_owned(),
                    mode,
                });
            }
        }
        Given::parse(&text)
    }
}

/// Writes `text` to a new file at `path`, readable by its owner only.
fn write_new(path: &Path, text: &str) -> Result<(), SecretError> {
    let error = |error| SecretError::File {
        action: "write",
        path: path.to_owned(),
        error,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(error)?;
    file.write_all(text.as_bytes()).map_err(error)?;
    file.sync_all().map_err(error)
}

/// `N` bytes written as `2 * N` hexadecimal digits.
fn parse_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != N * 2 {
        return None;
    }
    let mut bytes = [0_u8; N];
    for (byte, pair) in bytes.iter_mut().zip(text.as_bytes().chunks(2)) {
        *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(bytes)
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::{Given, Secret, SecretError, Transport};
    use crate::cluster::tls::Fingerprint;

    #[test]
    fn the_file_says_how_workers_connect() {
        let secret = Secret::generate().unwrap();
        let pin = Fingerprint([0xab; 32]);
        for transport in [
            Transport::Tls(Some(pin)),
            Transport::Tls(None),
            Transport::Plain,
        ] {
            let given = Given {
                secret: secret.clone(),
                transport,
            };
            let again = Given::parse(&given.text()).unwrap();
            assert_eq!((again.secret, again.transport), (secret.clone(), transport));
        }
        let text = Given {
            secret: secret.clone(),
            transport: Transport::Tls(Some(pin)),
        }
        .text();
        assert!(
            text.ends_with(&format!("\ntls sha256:{}\n", "ab".repeat(32))),
            "{text}"
        );
        // The secret alone (as made by hand): TLS, any certificate.
        assert_eq!(
            Given::parse(&secret.to_hex()).unwrap().transport,
            Transport::Tls(None)
        );
        for bad in ["tls sha256:abc", "tls md5:00", "plain", "plain-tcp\nmore"] {
            let text = format!("{}\n{bad}\n", secret.to_hex());
            assert!(
                matches!(Given::parse(&text), Err(SecretError::Transport(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn two_secrets_differ() {
        assert_ne!(Secret::generate().unwrap(), Secret::generate().unwrap());
    }

    #[test]
    fn malformed_text_is_refused_without_echo() {
        let err = Secret::from_hex("not hex").unwrap_err();
        assert!(matches!(err, SecretError::Malformed(_)));
        assert!(!err.to_string().contains("not hex"), "{err}");
        let almost = "g".repeat(64);
        assert!(Secret::from_hex(&almost).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn files_are_private_and_never_overwritten() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("taskloom-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secret");
        let _ = std::fs::remove_file(&path);
        let secret = Secret::generate().unwrap();
        secret.write_new(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(Secret::from_file(&path).unwrap(), secret);
        assert!(secret.write_new(&path).is_err(), "never overwrites");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            Secret::from_file(&path),
            Err(SecretError::Exposed { mode: 0o644, .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
