//! A flood of connections against a cluster's port, as an attacker on the network
//! would open them: idle (connect and hold), slow (a byte every few seconds) or
//! garbage (random bytes), each reopened as soon as the scheduler closes it, from one
//! source address or several (`127.0.0.2`, `127.0.0.3`, ... on loopback).
//!
//! Shared by the `cluster` example's `--flood` measurement and the cluster's tests
//! (which include this file), so the figures and the tests face the same flood. It
//! runs on a thread and a Tokio runtime of its own, so it costs the measured program
//! nothing but CPU, as a real attacker on the same machine would.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

/// What each connection of a flood does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FloodKind {
    /// Connects, sends nothing, holds the connection until the scheduler closes it.
    Idle,
    /// Sends one byte at once and one every [`SLOW_EVERY`], never a whole message.
    Slow,
    /// Sends [`GARBAGE_BYTES`] random bytes, then holds.
    Garbage,
}

/// How often a slow connection sends its next byte.
pub(crate) const SLOW_EVERY: Duration = Duration::from_secs(2);

/// Bytes a garbage connection sends.
pub(crate) const GARBAGE_BYTES: usize = 256;

impl FloodKind {
    /// The kind named `name` (`idle`, `slow`, `garbage`).
    pub(crate) fn parse(name: &str) -> Option<FloodKind> {
        match name {
            "idle" => Some(FloodKind::Idle),
            "slow" => Some(FloodKind::Slow),
            "garbage" => Some(FloodKind::Garbage),
            _ => None,
        }
    }

    /// The kind's name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            FloodKind::Idle => "idle",
            FloodKind::Slow => "slow",
            FloodKind::Garbage => "garbage",
        }
    }
}

/// The loopback source addresses of a flood from `n` addresses: `127.0.0.2`,
/// `127.0.0.3`, ... (`127.0.0.1` alone for one: the address real workers on this
/// machine use too).
pub(crate) fn loopback_sources(n: usize) -> Vec<IpAddr> {
    if n <= 1 {
        return vec![IpAddr::from([127, 0, 0, 1])];
    }
    (0..n)
        .map(|i| IpAddr::from([127, 0, 0, 2 + (i % 250) as u8]))
        .collect()
}

/// What a flood counts.
#[derive(Debug, Default)]
struct Counts {
    /// Connections opened in all.
    opened: AtomicU64,
    /// Connections open now (as the flood sees them).
    open: AtomicUsize,
    /// The most open at once.
    most_open: AtomicUsize,
}

/// A running flood; stopped (and its connections closed) when dropped.
pub(crate) struct Flood {
    counts: Arc<Counts>,
    stop: Option<tokio::sync::watch::Sender<bool>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Flood {
    /// Starts `connections` connections of `kind` to `target`, spread over
    /// `sources`, each reopened as soon as it closes.
    pub(crate) fn start(
        target: SocketAddr,
        kind: FloodKind,
        connections: usize,
        sources: &[IpAddr],
    ) -> std::io::Result<Flood> {
        let counts = Arc::new(Counts::default());
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let sources = sources.to_vec();
        let thread_counts = Arc::clone(&counts);
        let thread = std::thread::Builder::new()
            .name("flood".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let mut tasks = tokio::task::JoinSet::new();
                    for i in 0..connections {
                        let source = sources[i % sources.len()];
                        tasks.spawn(one(
                            target,
                            source,
                            kind,
                            i as u64,
                            stopped.clone(),
                            Arc::clone(&thread_counts),
                        ));
                    }
                    while tasks.join_next().await.is_some() {}
                });
            })?;
        Ok(Flood {
            counts,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Connections opened so far.
    pub(crate) fn opened(&self) -> u64 {
        self.counts.opened.load(Ordering::Relaxed)
    }

    /// Connections open now.
    pub(crate) fn open(&self) -> usize {
        self.counts.open.load(Ordering::Relaxed)
    }

    /// The most connections open at once so far.
    pub(crate) fn most_open(&self) -> usize {
        self.counts.most_open.load(Ordering::Relaxed)
    }

    /// Waits (at most `timeout`) until `n` connections were opened (each of the
    /// flood's connections at least once, for `n` of them); whether they were.
    pub(crate) fn wait_opened(&self, n: u64, timeout: Duration) -> bool {
        let start = std::time::Instant::now();
        while self.opened() < n {
            if start.elapsed() > timeout {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One connection of the flood, reopened until the flood stops.
async fn one(
    target: SocketAddr,
    source: IpAddr,
    kind: FloodKind,
    seed: u64,
    mut stop: tokio::sync::watch::Receiver<bool>,
    counts: Arc<Counts>,
) {
    let mut random = Xorshift(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    while !*stop.borrow() {
        let connected = async {
            let socket = TcpSocket::new_v4()?;
            socket.bind(SocketAddr::new(source, 0))?;
            socket.connect(target).await
        };
        let mut stream = tokio::select! {
            _ = stop.changed() => return,
            c = tokio::time::timeout(Duration::from_secs(1), connected) => match c {
                Ok(Ok(stream)) => stream,
                // Out of ports or refused: rest a moment, as a real flood would.
                _ => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        counts.opened.fetch_add(1, Ordering::Relaxed);
        let open = counts.open.fetch_add(1, Ordering::Relaxed) + 1;
        counts.most_open.fetch_max(open, Ordering::Relaxed);
        match kind {
            FloodKind::Garbage => {
                let bytes: Vec<u8> = (0..GARBAGE_BYTES).map(|_| random.byte()).collect();
                let _ = stream.write_all(&bytes).await;
            }
            FloodKind::Slow => {
                let _ = stream.write_all(&[random.byte()]).await;
            }
            FloodKind::Idle => {}
        }
        let mut sink = [0_u8; 512];
        let mut next_byte = tokio::time::interval(SLOW_EVERY);
        next_byte.tick().await; // the first tick is now: skip it
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                read = stream.read(&mut sink) => match read {
                    Ok(0) | Err(_) => break, // closed by the scheduler
                    Ok(_) => {}              // whatever it says, stay
                },
                _ = next_byte.tick(), if kind == FloodKind::Slow => {
                    if stream.write_all(&[random.byte()]).await.is_err() {
                        break;
                    }
                }
            }
        }
        counts.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A small random generator for garbage (no dependency for it).
struct Xorshift(u64);

impl Xorshift {
    fn byte(&mut self) -> u8 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 56) as u8
    }
}
