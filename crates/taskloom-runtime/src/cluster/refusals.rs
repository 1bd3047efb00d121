//! The log of refused connections: one warning per kind and interval, never one per
//! connection.
//!
//! A port scanner or a flood opens thousands of connections a second; a warning for
//! each would fill the disk the scheduler logs to, and cost more than refusing them.
//! So the first refusal of a kind is logged at once, with the peer and what it did;
//! the next ones of that kind are counted, and logged as one line ("1200 more in the
//! last 10.0 s; the latest from ...") once the interval is over. Memory stays
//! bounded too: a counter and the latest refusal per kind.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::status::RefusalKind;

/// At most one line per kind in this interval (after the first, logged at once).
pub(super) const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// What is logged of each kind.
#[derive(Debug, Default)]
pub(super) struct RefusalLog {
    kinds: BTreeMap<RefusalKind, Kind>,
}

#[derive(Debug, Default)]
struct Kind {
    /// When a line of this kind was last logged.
    logged: Option<Instant>,
    /// Refusals since then, not logged yet.
    unlogged: u64,
    /// The latest of them: who, and what it did.
    latest: Option<(SocketAddr, String)>,
}

/// A line to log.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Line {
    /// One refusal.
    One {
        peer: SocketAddr,
        kind: RefusalKind,
        reason: String,
    },
    /// `count` refusals of a kind over `over`, the latest from `peer`.
    Many {
        kind: RefusalKind,
        count: u64,
        over: Duration,
        peer: SocketAddr,
        reason: String,
    },
}

impl Line {
    /// Writes the line as a `tracing` warning.
    pub(super) fn log(&self) {
        match self {
            Line::One { peer, kind, reason } => {
                tracing::warn!(%peer, %kind, %reason, "taskloom cluster refused a connection");
            }
            Line::Many {
                kind,
                count,
                over,
                peer,
                reason,
            } => tracing::warn!(
                %kind,
                count,
                seconds = over.as_secs_f64(),
                latest_peer = %peer,
                latest_reason = %reason,
                "taskloom cluster refused {count} more connections ({kind}) in the last {:.1} s",
                over.as_secs_f64()
            ),
        }
    }
}

impl RefusalLog {
    /// Records a refusal at `now`; what to log now, if anything.
    pub(super) fn record(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        kind: RefusalKind,
        reason: &str,
    ) -> Option<Line> {
        let entry = self.kinds.entry(kind).or_default();
        let due = entry
            .logged
            .is_none_or(|at| now.duration_since(at) >= LOG_INTERVAL);
        if entry.unlogged == 0 && due {
            entry.logged = Some(now);
            return Some(Line::One {
                peer,
                kind,
                reason: reason.to_owned(),
            });
        }
        entry.unlogged += 1;
        // Only the latest is kept: one string per kind, however many refusals.
        match &mut entry.latest {
            Some((p, r)) => {
                *p = peer;
                r.clear();
                r.push_str(reason);
            }
            None => entry.latest = Some((peer, reason.to_owned())),
        }
        if due {
            Self::summary(kind, entry, now)
        } else {
            None
        }
    }

    /// What is due at `now`: a line for each kind with refusals not logged for an
    /// interval.
    pub(super) fn flush(&mut self, now: Instant) -> Vec<Line> {
        self.kinds
            .iter_mut()
            .filter(|(_, k)| {
                k.unlogged > 0
                    && k.logged
                        .is_none_or(|at| now.duration_since(at) >= LOG_INTERVAL)
            })
            .filter_map(|(kind, k)| Self::summary(*kind, k, now))
            .collect()
    }

    fn summary(kind: RefusalKind, entry: &mut Kind, now: Instant) -> Option<Line> {
        let (peer, reason) = entry.latest.take()?;
        let over = entry
            .logged
            .map_or(Duration::ZERO, |at| now.duration_since(at));
        let count = std::mem::take(&mut entry.unlogged);
        entry.logged = Some(now);
        Some(Line::Many {
            kind,
            count,
            over,
            peer,
            reason,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn peer(n: u8) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, n], 1000))
    }

    #[test]
    fn a_flood_logs_two_lines_per_kind_and_interval() {
        let mut log = RefusalLog::default();
        let t0 = Instant::now();
        let mut lines = Vec::new();
        // 10,000 evictions and 10,000 timeouts over 25 s, flushed every second.
        for i in 0..10_000_u32 {
            let now = t0 + Duration::from_micros(u64::from(i) * 2500);
            lines.extend(log.record(now, peer(2), RefusalKind::Evicted, "was evicted"));
            lines.extend(log.record(now, peer(3), RefusalKind::TimedOut, "sent nothing"));
            if i % 400 == 0 {
                lines.extend(log.flush(now));
            }
        }
        lines.extend(log.flush(t0 + Duration::from_secs(40)));
        // Per kind: the first at once, then one summary per 10 s (at 10, 20 s) and
        // the rest at the last flush.
        let count = |kind| {
            lines
                .iter()
                .filter(|l| matches!(l, Line::One { kind: k, .. } | Line::Many { kind: k, .. } if *k == kind))
                .count()
        };
        assert_eq!(count(RefusalKind::Evicted), 4, "{lines:#?}");
        assert_eq!(count(RefusalKind::TimedOut), 4);
        // Nothing is lost from the counts.
        let total: u64 = lines
            .iter()
            .map(|l| match l {
                Line::One { .. } => 1,
                Line::Many { count, .. } => *count,
            })
            .sum();
        assert_eq!(total, 20_000);
    }

    #[test]
    fn a_lone_refusal_after_a_quiet_interval_is_logged_at_once() {
        let mut log = RefusalLog::default();
        let t0 = Instant::now();
        assert!(log.record(t0, peer(2), RefusalKind::Garbage, "a").is_some());
        assert!(log.record(t0, peer(2), RefusalKind::Garbage, "b").is_none());
        let later = t0 + LOG_INTERVAL;
        let flushed = log.flush(later);
        assert!(
            matches!(&flushed[..], [Line::Many { count: 1, reason, .. }] if reason == "b"),
            "{flushed:?}"
        );
        let quiet = later + LOG_INTERVAL;
        assert!(matches!(
            log.record(quiet, peer(4), RefusalKind::Garbage, "c"),
            Some(Line::One { .. })
        ));
    }
}
