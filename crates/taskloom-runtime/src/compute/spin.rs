//! Waiting for a few tiny tasks' completions without parking the loop's thread.
//!
//! A computation of a few tiny tasks on the pool is one round trip: the batch goes
//! to a worker, its completions come back over the channel. Awaiting the channel
//! parks the caller's runtime thread, and the worker's send has to wake it again: a
//! system call on the worker and a thread wake-up on the caller, which cost more
//! (5 to 40 µs, more on an idle virtual machine) than the tasks themselves. A
//! graph of a few hundred tiny tasks waits like that several times, for a few
//! tasks each (those whose inputs came back in different batches). When the
//! scheduler's last computation measured its tasks and what is in flight should be
//! over within [`WORK`], the loop instead looks at the channel in a busy loop for a
//! while before it awaits it: nothing registered a waker, so the worker sends
//! without a system call, and the loop reads the completion the moment it is
//! there.
//!
//! Safe by construction: no task ever runs on the caller's thread (a task that
//! suddenly takes seconds runs on its worker, as always), and the spinning is
//! bounded by time, not by what tasks do: each wait spins at most [`WINDOW`], and a
//! whole computation at most [`TOTAL`], after which it awaits the channel as any
//! other. So a computation holds its caller's thread, beyond its own bookkeeping,
//! for at most [`TOTAL`] in all. It never spins while async tasks of the
//! computation run (they may need the very thread it would hold) or while a task's
//! deadline or retry is being watched (their timer needs the runtime), and it stops
//! at once when the computation is cancelled. The thread pool, the process pool and
//! the cluster send completions from threads of their own; a custom executor that
//! sends them from a Tokio task on the caller's own runtime loses at most those
//! [`TOTAL`] per computation, the spin waiting for what only the runtime would bring.

use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::mpsc::error::TryRecvError;

use crate::executor::{Cancel, Message};

/// Spin only when the work in flight is expected to take at most this long.
pub(super) const WORK: Duration = Duration::from_micros(20);
/// Longest spin of one wait: the work in flight plus a worker's wake-up, with room.
pub(super) const WINDOW: Duration = Duration::from_micros(50);
/// Longest spin of one computation, all waits together.
pub(super) const TOTAL: Duration = Duration::from_micros(100);
/// Looks at the channel between two reads of the clock.
const STRIDE: u32 = 16;
/// Looks at the channel in a pure busy loop before each next look yields the core
/// first (a few microseconds' worth).
const PURE: u32 = 256;

/// Whether `tasks` tasks of `mean` duration (`None`: not measured yet) are expected
/// to be over within [`WORK`].
pub(super) fn tiny(mean: Option<Duration>, tasks: usize) -> bool {
    let tasks = u32::try_from(tasks).unwrap_or(u32::MAX);
    mean.is_some_and(|m| m.saturating_mul(tasks) <= WORK)
}

/// What is left of a computation's spinning.
pub(super) struct Spin {
    left: Duration,
}

impl Spin {
    pub(super) fn new() -> Self {
        Spin { left: TOTAL }
    }

    /// Whether the computation may spin now: the `in_flight` tasks are [`tiny`],
    /// and it has spin left.
    pub(super) fn worth(&self, mean: Option<Duration>, in_flight: usize) -> bool {
        !self.left.is_zero() && tiny(mean, in_flight)
    }

    /// Reads messages into `inbox` in a busy loop until one arrives, the
    /// computation is cancelled, or the window or the computation's spin budget is
    /// spent. Returns how many it read (0: none came; await the channel).
    pub(super) fn wait(
        &mut self,
        rx: &mut UnboundedReceiver<Message>,
        inbox: &mut Vec<Message>,
        cancel: &Cancel,
    ) -> usize {
        let start = Instant::now();
        let window = WINDOW.min(self.left);
        let mut looks = 0u32;
        let received = loop {
            match rx.try_recv() {
                Ok(message) => {
                    inbox.push(message);
                    // Whatever else came with it, without waiting.
                    while let Ok(more) = rx.try_recv() {
                        inbox.push(more);
                    }
                    break inbox.len();
                }
                Err(TryRecvError::Disconnected) => break 0,
                Err(TryRecvError::Empty) => {}
            }
            looks += 1;
            if looks % STRIDE == 0 && (cancel.is_cancelled() || start.elapsed() >= window) {
                break 0;
            }
            if looks < PURE {
                std::hint::spin_loop();
            } else {
                // A worker waiting for this core (a loaded machine) gets it.
                std::thread::yield_now();
            }
        };
        self.left = self.left.saturating_sub(start.elapsed());
        received
    }
}
