//! A man in the middle on loopback: a TCP proxy between workers and their scheduler
//! that records every byte both ways (a reader on the path) and, when armed, flips
//! one byte of what the scheduler sends next (a tamperer on the path).
//!
//! The cluster advertises the proxy's address, so the workers its launcher starts
//! connect through it; the proxy learns the scheduler's address once the cluster is
//! built (a worker that connects before waits for it, within [`WAIT`]).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use crate::support::WAIT;

#[derive(Default)]
struct State {
    target: Mutex<Option<SocketAddr>>,
    known: Condvar,
    /// Every byte seen, both ways, in the order the proxy forwarded them.
    seen: Mutex<Vec<u8>>,
    /// Flip a byte of the next chunk from the scheduler.
    armed: AtomicBool,
    /// Bytes flipped so far.
    flipped: AtomicUsize,
}

pub(crate) struct Proxy {
    addr: SocketAddr,
    state: Arc<State>,
}

impl Proxy {
    pub(crate) fn new() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State::default());
        let accepting = Arc::clone(&state);
        // Ends with the process (the tests are one process; a few idle threads).
        std::thread::spawn(move || {
            for worker in listener.incoming().flatten() {
                let state = Arc::clone(&accepting);
                std::thread::spawn(move || relay(worker, &state));
            }
        });
        Proxy { addr, state }
    }

    /// The address workers should connect to.
    pub(crate) fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// Where the scheduler listens.
    pub(crate) fn forward_to(&self, scheduler: SocketAddr) {
        *self.state.target.lock().unwrap() = Some(scheduler);
        self.state.known.notify_all();
    }

    /// Everything seen so far, both ways.
    pub(crate) fn seen(&self) -> Vec<u8> {
        self.state.seen.lock().unwrap().clone()
    }

    /// Flips one byte of the next chunk the scheduler sends.
    pub(crate) fn arm(&self) {
        self.state.armed.store(true, Ordering::SeqCst);
    }

    /// Bytes flipped so far.
    pub(crate) fn flipped(&self) -> usize {
        self.state.flipped.load(Ordering::SeqCst)
    }
}

fn relay(worker: TcpStream, state: &Arc<State>) {
    let target = {
        let guard = state.target.lock().unwrap();
        let (guard, _) = state
            .known
            .wait_timeout_while(guard, WAIT, |t| t.is_none())
            .unwrap();
        match *guard {
            Some(target) => target,
            None => return,
        }
    };
    let Ok(scheduler) = TcpStream::connect(target) else {
        return;
    };
    let (w2, s2) = (worker.try_clone().unwrap(), scheduler.try_clone().unwrap());
    let up = Arc::clone(state);
    std::thread::spawn(move || pump(worker, scheduler, &up, false));
    pump(s2, w2, state, true);
}

/// Copies `from` to `to` until either closes; `from_scheduler` chunks may be
/// tampered with.
fn pump(mut from: TcpStream, mut to: TcpStream, state: &State, from_scheduler: bool) {
    let mut buf = vec![0_u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &mut buf[..n];
        if from_scheduler && state.armed.swap(false, Ordering::SeqCst) {
            chunk[n / 2] ^= 0x20;
            state.flipped.fetch_add(1, Ordering::SeqCst);
        }
        state.seen.lock().unwrap().extend_from_slice(chunk);
        if to.write_all(chunk).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}
