//! A cluster worker's TLS connection: the handshake on rustls' blocking stream, then
//! one session shared by the thread that reads (the serve loop) and the threads that
//! write (answers, heartbeats, the retirement notice).
//!
//! rustls' `StreamOwned` keeps the session and the socket together for one thread;
//! a worker reads on one thread while others write (a heartbeat must go out while a
//! call runs and the serve loop waits for the next batch). So after the handshake the
//! session goes under a mutex and the socket is cloned, one clone per direction:
//!
//! - the reader reads raw bytes from its socket **without** the lock, then, under it,
//!   feeds them to the session and takes the plaintext out;
//! - a writer, under a second lock (the socket's writing side, held across a whole
//!   write so that records reach the socket in the order they were sealed), seals
//!   its bytes under the session's lock, lets go of it, and writes the records.
//!
//! The session's lock is never held across a blocking read or write, so a writer
//! stuck on a full socket never keeps the reader from draining the scheduler's
//! frames (which could deadlock both ends). Records the reader's session wants to
//! send (an alert, a key update's answer) go out at once when no writer is busy, or
//! with the next write (a heartbeat, at the latest).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rustls::{ClientConnection, StreamOwned};

use crate::link::serve::Output;

/// Plaintext sealed per turn of a write: the session's lock is let go between
/// turns (and rustls buffers at most this much ciphertext by default).
const SEAL_AT_ONCE: usize = 16 * 1024;

/// The session both directions share.
struct Session {
    conn: Mutex<ClientConnection>,
    /// The socket's writing side; held across a whole write.
    out: Mutex<Out>,
}

struct Out {
    sock: TcpStream,
    /// Whole answer frames held back, to go out with the next write.
    held: Vec<u8>,
    /// Sealed records on their way to the socket.
    records: Vec<u8>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The reading half.
pub(super) struct TlsReader {
    session: Arc<Session>,
    sock: TcpStream,
    raw: Vec<u8>,
    start: usize,
    end: usize,
}

/// The writing half, as the serve loop's [`Output`].
pub(super) struct TlsWriter {
    session: Arc<Session>,
}

/// Splits an established connection (after the cluster's handshake ran over it).
pub(super) fn split(
    stream: StreamOwned<ClientConnection, TcpStream>,
) -> io::Result<(TlsReader, TlsWriter)> {
    let StreamOwned { conn, sock } = stream;
    let writer = sock.try_clone()?;
    let session = Arc::new(Session {
        conn: Mutex::new(conn),
        out: Mutex::new(Out {
            sock: writer,
            held: Vec::new(),
            records: Vec::with_capacity(SEAL_AT_ONCE + 1024),
        }),
    });
    Ok((
        TlsReader {
            session: Arc::clone(&session),
            sock,
            raw: vec![0; 32 * 1024],
            start: 0,
            end: 0,
        },
        TlsWriter { session },
    ))
}

impl Session {
    /// Seals `parts` and writes the records, in order, under the socket's lock.
    fn write(&self, parts: &[&[u8]]) -> io::Result<()> {
        let mut out = lock(&self.out);
        let Out {
            sock,
            held,
            records,
        } = &mut *out;
        let held_now = std::mem::take(held);
        let mut result = Ok(());
        for part in std::iter::once(&held_now[..]).chain(parts.iter().copied()) {
            let mut rest = part;
            while !rest.is_empty() {
                let chunk = &rest[..rest.len().min(SEAL_AT_ONCE)];
                records.clear();
                let taken = {
                    let mut conn = lock(&self.conn);
                    let taken = conn.writer().write(chunk)?;
                    while conn.wants_write() {
                        conn.write_tls(records)?;
                    }
                    taken
                };
                if taken == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "the TLS session took no bytes",
                    ));
                }
                rest = &rest[taken..];
                result = sock.write_all(records);
                if result.is_err() {
                    break;
                }
            }
            if result.is_err() {
                break;
            }
        }
        // Reuse the held buffer's allocation.
        let mut held_now = held_now;
        held_now.clear();
        *held = held_now;
        result?;
        sock.flush()
    }

    /// Writes what the session wants to send (an alert, a key update's answer) now,
    /// if no writer is busy; else the next write sends it.
    fn flush_if_free(&self) {
        let Ok(mut out) = self.out.try_lock() else {
            return;
        };
        let Out { sock, records, .. } = &mut *out;
        records.clear();
        {
            let mut conn = lock(&self.conn);
            while conn.wants_write() {
                if conn.write_tls(records).is_err() {
                    break;
                }
            }
        }
        let _ = sock.write_all(records);
    }
}

impl Read for TlsReader {
    fn read(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        loop {
            let fed = {
                let mut conn = lock(&self.session.conn);
                match conn.reader().read(dst) {
                    // 0: the scheduler closed the session (close_notify).
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
                if self.start < self.end {
                    let mut raw = &self.raw[self.start..self.end];
                    let n = conn.read_tls(&mut raw)?;
                    self.start += n;
                    let processed = conn.process_new_packets();
                    let wants_write = conn.wants_write();
                    drop(conn);
                    if wants_write {
                        // An alert (on an error, telling the scheduler why), or a
                        // key update's answer.
                        self.session.flush_if_free();
                    }
                    if let Err(error) = processed {
                        return Err(io::Error::new(io::ErrorKind::InvalidData, error));
                    }
                    true
                } else {
                    false
                }
            };
            if fed {
                continue; // plaintext may be ready now
            }
            let n = self.sock.read(&mut self.raw)?;
            if n == 0 {
                // The socket closed without close_notify: the scheduler died, or the
                // network cut it. Either way the input ended.
                return Ok(0);
            }
            self.start = 0;
            self.end = n;
        }
    }
}

impl Output for TlsWriter {
    fn write_frames(&self, bytes: &[u8]) -> io::Result<()> {
        self.session.write(&[bytes])
    }

    fn hold(&self, bytes: &[u8]) -> io::Result<()> {
        lock(&self.session.out).held.extend_from_slice(bytes);
        Ok(())
    }
}
