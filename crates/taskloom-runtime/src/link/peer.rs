//! Worker to worker, on one host: a process pool's worker serves the values it holds
//! to the other workers of its pool over a Unix domain socket, and fetches theirs,
//! so that a value moves once, from its holder to the worker that needs it, and never
//! through the parent.
//!
//! The pool makes a directory of its own (mode 0700, removed when the pool is
//! dropped: `process`'s `peers`) and names it to each worker in [`PEER_DIR_ENV`];
//! the worker listens at `<dir>/<pid>.sock` ([`socket_path`]) before it says hello,
//! and says in its hello whether it does. **The directory is the boundary**: only the
//! pool's user (and root) can reach a socket in it, so a connection is another
//! worker of the pool, or something running as the same user, which could read the
//! workers' memory anyway. No handshake runs on these sockets.
//!
//! The conversation is the parent's fetch, unchanged: a [`Request::Fetch`] frame,
//! answered by a [`Reply::Fetched`] frame (the value's bytes, or why there are none),
//! in the length-delimited framing of every other frame. A request is a few bytes
//! (longer: the connection is closed); an answer is at most [`WORKER_MAX_FRAME`],
//! the bound a worker puts on every frame it reads.
//!
//! The serving side is an accepting thread and a thread per connection (a worker has
//! at most one connection from each other worker: each keeps its connections), each
//! encoding from the shared table (`super::held`) while the worker's own calls run.
//! The fetching side runs in the worker's serve loop, on the thread of the call that
//! needs the value. A fetch never hangs: a holder that died closes its end (an error
//! at once), one that stops sending for [`STALL`] is given up; either way the call
//! answers [`Outcome::Unfetched`](super::protocol::Outcome::Unfetched) and the parent
//! moves the value through itself, where a lost holder is a lost worker
//! (`super::resident`).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::held::Table;
use super::protocol::{Blob, Reply, Request, WORKER_MAX_FRAME};
use crate::remote::{drop_guarded, format};

/// The environment variable naming the directory a pool's worker listens in.
pub(crate) const PEER_DIR_ENV: &str = "TASKLOOM_PEER_DIR";

/// Longest request a worker reads from another: a fetch is a few bytes.
const MAX_REQUEST: usize = 64;

/// A fetch whose holder sends nothing for this long fails (the holder is stuck).
pub(crate) const STALL: Duration = Duration::from_secs(120);

/// Where worker `pid` listens in the pool's directory `dir`.
pub(crate) fn socket_path(dir: &Path, pid: u32) -> PathBuf {
    dir.join(format!("{pid}.sock"))
}

/// Serves `table`'s values to the other workers at `dir/<this pid>.sock`, from
/// threads of their own, for the rest of the process's life.
///
/// # Errors
/// The socket could not be made (its directory is gone, the path is too long).
#[cfg(unix)]
pub(crate) fn listen(dir: &Path, table: &Table) -> std::io::Result<()> {
    use std::os::unix::net::UnixListener;
    let listener = UnixListener::bind(socket_path(dir, std::process::id()))?;
    let table = table.clone();
    std::thread::Builder::new()
        .name("taskloom-peer".into())
        .spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let table = table.clone();
                // A thread that cannot start leaves the connection closed: its
                // fetcher moves the value through the parent instead.
                let _ = std::thread::Builder::new()
                    .name("taskloom-peer-fetch".into())
                    .spawn(move || serve_peer(stream, &table));
            }
        })?;
    Ok(())
}

#[cfg(not(unix))]
pub(crate) fn listen(_: &Path, _: &Table) -> std::io::Result<()> {
    Err(std::io::Error::other(
        "workers fetch from each other on Unix only",
    ))
}

/// Answers one other worker's fetches until it closes the connection (or breaks
/// the protocol).
#[cfg(unix)]
fn serve_peer(mut stream: std::os::unix::net::UnixStream, table: &Table) {
    // A fetcher that stops reading an answer frees this thread after a while.
    let _ = stream.set_write_timeout(Some(STALL));
    let mut value = Vec::new();
    let mut body = Vec::new();
    loop {
        let Ok(Some(request)) = read_frame(&mut stream, MAX_REQUEST) else {
            return;
        };
        let Ok(Request::Fetch(id)) = format::decode_borrowed::<Request<'_>>(&request) else {
            return;
        };
        let held = table.get(id);
        let message;
        let answer = match &held {
            None => Err("it is not held"),
            Some(held) => match held.encode(&mut value) {
                Ok(()) if value.len() + 16 > WORKER_MAX_FRAME => {
                    Err("it encodes to more than a frame can carry")
                }
                Ok(()) => Ok(Blob(&value)),
                Err(e) => {
                    message = e.message().to_owned();
                    Err(message.as_str())
                }
            },
        };
        body.clear();
        let encoded = format::encode_into(&Reply::Fetched(answer), &mut body);
        let _ = drop_guarded(held, "a held value");
        if encoded.is_err() || write_frame(&mut stream, &body).is_err() {
            return;
        }
        value.clear();
        if value.capacity() > 1 << 20 {
            value = Vec::new(); // no idle thread keeps a large value's buffer
        }
    }
}

/// Writes one length-delimited frame.
fn write_frame(stream: &mut impl Write, body: &[u8]) -> std::io::Result<()> {
    let len = u32::try_from(body.len()).map_err(|_| std::io::Error::other("frame too long"))?;
    stream.write_all(&len.to_be_bytes())?;
    stream.write_all(body)?;
    stream.flush()
}

/// Reads one length-delimited frame of at most `max` bytes; `None` if the stream
/// ended before its first byte.
fn read_frame(stream: &mut impl Read, max: usize) -> std::io::Result<Option<Vec<u8>>> {
    let mut header = [0_u8; 4];
    let mut got = 0;
    while got < header.len() {
        match stream.read(&mut header[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = u32::from_be_bytes(header) as usize;
    if len > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("a frame of {len} bytes, more than {max}"),
        ));
    }
    let mut body = vec![0_u8; len];
    stream.read_exact(&mut body)?;
    Ok(Some(body))
}

/// A worker's connections to the other workers it fetched from, kept for the next
/// fetch (at most one per other worker; a connection that failed is dropped).
#[derive(Default)]
pub(crate) struct Fetcher {
    #[cfg(unix)]
    conns: HashMap<String, std::os::unix::net::UnixStream>,
}

impl Fetcher {
    /// Fetches value `id` from the worker listening `at`, and hands its bytes to
    /// `take`. `Err` says why there are none, as a clause naming the holder.
    #[cfg(unix)]
    pub(crate) fn fetch<R>(
        &mut self,
        at: &str,
        id: u64,
        take: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, String> {
        use std::os::unix::net::UnixStream;
        let holder = || {
            Path::new(at)
                .file_stem()
                .map_or_else(|| at.to_owned(), |s| s.to_string_lossy().into_owned())
        };
        let mut stream = match self.conns.remove(at) {
            Some(stream) => stream,
            None => {
                let stream = UnixStream::connect(at)
                    .map_err(|e| format!("worker {} does not answer at {at} ({e})", holder()))?;
                let _ = stream.set_read_timeout(Some(STALL));
                let _ = stream.set_write_timeout(Some(STALL));
                stream
            }
        };
        let mut request = Vec::with_capacity(12);
        format::encode_into(&Request::Fetch(id), &mut request)
            .map_err(|e| format!("the fetch would not encode ({e})"))?;
        write_frame(&mut stream, &request)
            .map_err(|e| format!("worker {} took no fetch ({e})", holder()))?;
        let frame = match read_frame(&mut stream, WORKER_MAX_FRAME) {
            Ok(Some(frame)) => frame,
            Ok(None) => {
                return Err(format!(
                    "worker {} closed the connection before answering",
                    holder()
                ));
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(format!(
                    "worker {} sent nothing for {} s",
                    holder(),
                    STALL.as_secs()
                ));
            }
            Err(e) => return Err(format!("worker {} did not answer ({e})", holder())),
        };
        let taken = match format::decode_borrowed::<Reply<'_>>(&frame) {
            Ok(Reply::Fetched(Ok(Blob(bytes)))) => Ok(take(bytes)),
            Ok(Reply::Fetched(Err(why))) => Err(format!(
                "worker {} could not send value {id}: {why}",
                holder()
            )),
            _ => Err(format!("worker {} answered with something else", holder())),
        };
        if taken.is_ok() {
            self.conns.insert(at.to_owned(), stream);
        }
        taken
    }

    #[cfg(not(unix))]
    pub(crate) fn fetch<R>(
        &mut self,
        _: &str,
        _: u64,
        _: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, String> {
        Err("workers fetch from each other on Unix only".into())
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::net::UnixListener;
    use std::path::PathBuf;

    use super::{Fetcher, listen, read_frame, socket_path};
    use crate::link::held::{Encoder, Table};
    use crate::remote::{Registry, format};
    use crate::value::value;

    /// A private directory of this test's own.
    fn dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("taskloom-peer-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        dir
    }

    #[test]
    fn a_fetch_carries_the_value_and_a_missing_one_is_named() {
        let mut registry = Registry::new();
        registry
            .register("bytes", |n: &u64| vec![7_u8; *n as usize])
            .unwrap_or_else(|e| panic!("{e}"));
        let served = registry
            .served("bytes")
            .unwrap_or_else(|| panic!("registered"))
            .clone();
        let table = Table::default();
        let id = table.keep(value(vec![7_u8; 5000]), Encoder::Result(served), 5003);
        let dir = dir("fetch");
        listen(&dir, &table).unwrap_or_else(|e| panic!("{e}"));
        let at = socket_path(&dir, std::process::id());
        let at = at.to_str().unwrap_or_else(|| panic!("a UTF-8 path"));
        let mut fetcher = Fetcher::default();
        // Twice on one connection: kept for the next fetch.
        for _ in 0..2 {
            let got = fetcher
                .fetch(at, id, format::decode::<Vec<u8>>)
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(got, vec![7_u8; 5000]);
        }
        let missing = fetcher.fetch(at, id + 1, |_| ()).unwrap_err();
        assert!(
            missing.ends_with(&format!("could not send value {}: it is not held", id + 1)),
            "{missing}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_holder_that_closes_or_is_gone_is_an_error_at_once() {
        let dir = dir("gone");
        let at = dir.join("4242.sock");
        let path = at
            .to_str()
            .unwrap_or_else(|| panic!("a UTF-8 path"))
            .to_owned();
        let mut fetcher = Fetcher::default();
        // Nobody listens.
        let none = fetcher.fetch(&path, 1, |_| ()).unwrap_err();
        assert!(none.starts_with("worker 4242 does not answer at"), "{none}");
        // It reads the request, then dies before answering.
        let listener = UnixListener::bind(&at).unwrap_or_else(|e| panic!("{e}"));
        let holder = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap_or_else(|e| panic!("{e}"));
            let _ = read_frame(&mut stream, 64);
        });
        let closed = fetcher.fetch(&path, 1, |_| ()).unwrap_err();
        assert_eq!(closed, "worker 4242 closed the connection before answering");
        holder
            .join()
            .unwrap_or_else(|_| panic!("the holder panicked"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
