//! The scheduling loop's turns as `turn` events (TRACE): how a computation's time on a
//! pool splits between the loop's own work and its waits for the workers.
//!
//! Each wait of the loop for completions ends a turn. Its event, a child of the
//! `compute` span, tells the tasks in flight when the wait began (`in_flight`), the
//! loop's work since its previous wait (`busy_us`: completions taken in, batches built
//! and handed out, and whatever the runtime ran while the loop yielded to it; for the
//! first turn, since the loop started), the wait itself
//! (`wait_us`), whether the loop spun for it rather than parked (`spun`, see `spin`),
//! and the messages it brought (`messages`). Where `busy_us` is as long as `wait_us`,
//! the workers wait for the loop rather than the loop for them: on two cores, a
//! graph of a few hundred microsecond tasks is such a run.
//!
//! Off unless a subscriber enables TRACE for this module: then a wait costs one check
//! of the level and no read of the clock.

use std::time::{Duration, Instant};

use crate::executor::micros;

/// The end of the loop's last wait, while turns are traced.
pub(super) struct Turns {
    last: Option<Instant>,
}

/// A wait that began, while turns are traced.
pub(super) struct Turn {
    began: Instant,
    busy: Duration,
    in_flight: usize,
}

impl Turns {
    /// The loop starts: its first turn's work counts from now.
    pub(super) fn start() -> Self {
        Turns {
            last: traced().then(Instant::now),
        }
    }

    /// A wait for completions begins with `in_flight` tasks out; `None` unless turns
    /// are traced.
    pub(super) fn waiting(&mut self, in_flight: usize) -> Option<Turn> {
        if !traced() {
            self.last = None;
            return None;
        }
        let began = Instant::now();
        Some(Turn {
            began,
            busy: self
                .last
                .map_or(Duration::ZERO, |last| began.saturating_duration_since(last)),
            in_flight,
        })
    }

    /// The wait ended with `messages` messages, read while spinning or not: the turn's
    /// event, in `span`.
    pub(super) fn waited(
        &mut self,
        turn: Option<Turn>,
        span: &tracing::Span,
        messages: usize,
        spun: bool,
    ) {
        let Some(turn) = turn else {
            return;
        };
        let now = Instant::now();
        self.last = Some(now);
        tracing::trace!(
            parent: span,
            in_flight = turn.in_flight,
            busy_us = micros(turn.busy),
            wait_us = micros(now.saturating_duration_since(turn.began)),
            spun,
            messages,
            "turn"
        );
    }
}

/// Whether a subscriber takes this module's TRACE events.
fn traced() -> bool {
    tracing::enabled!(tracing::Level::TRACE)
}
