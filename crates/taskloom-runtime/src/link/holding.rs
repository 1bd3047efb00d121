//! A worker's output over a plain stream (the process pool's pipe, a plain cluster
//! connection) that holds the answers of short calls back, as `serve`'s module
//! says why: whole frames, written with the next write, ahead of it.
//!
//! The serve loop writes held answers when a call ends (see `serve`), so a long call
//! after short ones would keep their answers until it ends, and the tasks waiting
//! for them with them. A pool worker therefore runs a flusher thread that looks every
//! [`TICK`] and writes what has been held for [`HOLD_AT_MOST`] or more: a long call
//! delays the answers before it by a tick at most, about what a batch of tiny tasks
//! takes anyway (the scheduler sizes them to about 2 ms of work). Waking the flusher
//! for each run of held answers instead cost back half of what holding saves (a
//! system call and two wake-ups a batch), so it only parks, on a condvar, after
//! [`PARK_AFTER`] with nothing held, and `hold` wakes it only then. A cluster worker
//! has its heartbeat thread instead, which writes held answers with each beat.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::serve::{HOLD_AT_MOST, Output, ServeError};

/// How often the flusher looks at what is held.
const TICK: Duration = Duration::from_millis(2);
/// The flusher parks after this long with nothing held.
const PARK_AFTER: Duration = Duration::from_millis(200);

/// See the module.
pub(crate) struct Holding<W> {
    held: Mutex<Held<W>>,
    /// Wakes a parked flusher when answers start to be held again.
    wake: Condvar,
    /// Whether the flusher is parked (never set where no flusher runs).
    parked: AtomicBool,
}

struct Held<W> {
    out: W,
    /// Answers held back, whole frames.
    frames: Vec<u8>,
    /// When the oldest of them was held.
    since: Option<Instant>,
}

impl<W> Holding<W> {
    /// Holds answers until the next write (a cluster worker's heartbeat bounds the
    /// wait).
    pub(crate) fn new(out: W) -> Self {
        Holding {
            held: Mutex::new(Held {
                out,
                frames: Vec::with_capacity(4096),
                since: None,
            }),
            wake: Condvar::new(),
            parked: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Held<W>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<W: Write + Send + 'static> Holding<W> {
    /// Holds answers until the next write, or until the flusher thread this starts
    /// finds them [`HOLD_AT_MOST`] old (within a [`TICK`] of that). Lives as long as
    /// the process.
    pub(crate) fn flushed(out: W) -> Result<&'static Self, ServeError> {
        let holding: &'static Self = Box::leak(Box::new(Holding::new(out)));
        std::thread::Builder::new()
            .name("taskloom-flush".into())
            .spawn(move || holding.flush_aged())
            .map_err(ServeError::Setup)?;
        Ok(holding)
    }

    /// The flusher: every [`TICK`], writes held answers [`HOLD_AT_MOST`] old or
    /// more; parks after [`PARK_AFTER`] with nothing held. Ends when a write fails
    /// (the serve loop sees the broken stream too).
    fn flush_aged(&self) {
        let mut last_held = Instant::now();
        loop {
            std::thread::sleep(TICK);
            let mut held = self.lock();
            let now = Instant::now();
            match held.since {
                Some(since) => {
                    last_held = now;
                    if now.duration_since(since) >= HOLD_AT_MOST && held.write(&[]).is_err() {
                        return;
                    }
                }
                None if now.duration_since(last_held) >= PARK_AFTER => {
                    self.parked.store(true, Ordering::SeqCst);
                    while held.since.is_none() {
                        held = self.wake.wait(held).unwrap_or_else(PoisonError::into_inner);
                    }
                    self.parked.store(false, Ordering::SeqCst);
                    last_held = Instant::now();
                }
                None => {}
            }
        }
    }
}

impl<W: Write> Held<W> {
    /// Writes what is held, then `bytes`, and pushes them out.
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.since = None;
        if self.frames.is_empty() {
            self.out.write_all(bytes)?;
        } else {
            self.frames.extend_from_slice(bytes);
            let written = self.out.write_all(&self.frames);
            self.frames.clear();
            written?;
        }
        self.out.flush()
    }
}

impl<W: Write + Send> Output for Holding<W> {
    fn write_frames(&self, bytes: &[u8]) -> std::io::Result<()> {
        self.lock().write(bytes)
    }

    fn hold(&self, bytes: &[u8]) -> std::io::Result<()> {
        let mut held = self.lock();
        held.frames.extend_from_slice(bytes);
        if held.since.is_none() {
            held.since = Some(Instant::now());
            // Under the lock, so a flusher about to park sees `since` set first.
            if self.parked.load(Ordering::SeqCst) {
                self.wake.notify_one();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    /// A stream that records what reaches it.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn held_frames_go_out_ahead_of_the_next_write() {
        let sink = Sink::default();
        let out = Holding::new(sink.clone());
        out.hold(b"a").unwrap();
        out.hold(b"b").unwrap();
        assert!(sink.0.lock().unwrap().is_empty(), "held, not written");
        out.write_frames(b"c").unwrap();
        assert_eq!(&*sink.0.lock().unwrap(), b"abc");
        out.write_frames(b"d").unwrap();
        assert_eq!(&*sink.0.lock().unwrap(), b"abcd");
    }

    #[test]
    fn the_flusher_writes_what_was_held_too_long() {
        let sink = Sink::default();
        let out = Holding::flushed(sink.clone()).unwrap();
        out.hold(b"held").unwrap();
        // Nothing else writes: the flusher does, once the answer is HOLD_AT_MOST old
        // (a generous bound for a loaded machine).
        let start = Instant::now();
        while sink.0.lock().unwrap().is_empty() {
            assert!(start.elapsed() < Duration::from_secs(10), "never flushed");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(&*sink.0.lock().unwrap(), b"held");
        assert!(start.elapsed() >= HOLD_AT_MOST / 2);
        // It parks once nothing has been held for a while, and the next held answer
        // wakes it.
        std::thread::sleep(PARK_AFTER + 20 * TICK);
        assert!(out.parked.load(Ordering::SeqCst), "parked while idle");
        out.hold(b"!").unwrap();
        while sink.0.lock().unwrap().len() < 5 {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "never flushed again"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(&*sink.0.lock().unwrap(), b"held!");
    }
}
