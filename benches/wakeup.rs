//! What one thread waking another costs on this machine: the figure that decides how
//! the scheduling loop and the thread pool's workers should wait for each other.
//!
//! ```sh
//! cargo bench -p taskloom-benches --bench wakeup [-- ROUNDS]
//! ```
//!
//! Each row is a ping-pong between two threads, `ROUNDS` round trips (default
//! 20,000), median of 5 repetitions; a one-way wake-up is half a round trip. The
//! sender's own cost (what the waker pays: the syscall) is timed separately where
//! the primitive lets it. Rows:
//!
//! - `spin`: both threads spin on an atomic (no sleep, no syscall): the floor, a cache
//!   line moving between cores;
//! - `condvar`: `std::sync::Mutex` + `Condvar` (futex), the thread pool's queue;
//! - `park`: `std::thread::park` / `unpark` (futex);
//! - `tokio mpsc`: a plain thread sends on an unbounded channel to a task on a
//!   current-thread runtime with its I/O driver enabled (the loop's mailbox, parked
//!   in `epoll_wait` and woken through an eventfd), which answers through a `park`;
//! - `spin then park`: `park` preceded by up to 20 µs of spinning on the flag (the
//!   wake-up of a worker that spins briefly before parking, as Taskflow's do).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Ping-pong on one atomic counter, both sides spinning.
fn spin(rounds: u64) -> f64 {
    let turn = Arc::new(AtomicU64::new(0));
    let other = Arc::clone(&turn);
    let peer = thread::spawn(move || {
        for i in 0..rounds {
            while other.load(Ordering::Acquire) != 2 * i + 1 {
                std::hint::spin_loop();
            }
            other.store(2 * i + 2, Ordering::Release);
        }
    });
    let start = Instant::now();
    for i in 0..rounds {
        turn.store(2 * i + 1, Ordering::Release);
        while turn.load(Ordering::Acquire) != 2 * i + 2 {
            std::hint::spin_loop();
        }
    }
    let took = start.elapsed();
    peer.join().expect("peer");
    took.as_secs_f64() / rounds as f64
}

/// Ping-pong through a mutex-protected counter and one condvar per direction.
fn condvar(rounds: u64) -> f64 {
    let shared = Arc::new((Mutex::new(0_u64), Condvar::new(), Condvar::new()));
    let other = Arc::clone(&shared);
    let peer = thread::spawn(move || {
        let (lock, ping, pong) = &*other;
        for i in 0..rounds {
            let mut n = lock.lock().expect("lock");
            while *n != 2 * i + 1 {
                n = ping.wait(n).expect("wait");
            }
            *n += 1;
            pong.notify_one();
        }
    });
    let (lock, ping, pong) = &*shared;
    let start = Instant::now();
    for i in 0..rounds {
        let mut n = lock.lock().expect("lock");
        *n += 1;
        ping.notify_one();
        while *n != 2 * i + 2 {
            n = pong.wait(n).expect("wait");
        }
    }
    let took = start.elapsed();
    peer.join().expect("peer");
    took.as_secs_f64() / rounds as f64
}

/// Ping-pong by park/unpark on a flag per direction; with `spin_for`, each side
/// spins on its flag that long before parking.
fn park(rounds: u64, spin_for: Duration) -> f64 {
    let ping = Arc::new(AtomicBool::new(false));
    let pong = Arc::new(AtomicBool::new(false));
    let (ping2, pong2) = (Arc::clone(&ping), Arc::clone(&pong));
    let main = thread::current();
    let wait = move |flag: &AtomicBool| {
        if !spin_for.is_zero() {
            let start = Instant::now();
            while !flag.load(Ordering::Acquire) && start.elapsed() < spin_for {
                std::hint::spin_loop();
            }
        }
        while !flag.swap(false, Ordering::AcqRel) {
            thread::park();
        }
    };
    let peer = thread::spawn(move || {
        for _ in 0..rounds {
            wait(&ping2);
            pong2.store(true, Ordering::Release);
            main.unpark();
        }
    });
    let peer_handle = peer.thread().clone();
    let start = Instant::now();
    for _ in 0..rounds {
        ping.store(true, Ordering::Release);
        peer_handle.unpark();
        wait(&pong);
    }
    let took = start.elapsed();
    peer.join().expect("peer");
    took.as_secs_f64() / rounds as f64
}

/// A plain thread sends on a Tokio unbounded channel to a task on a current-thread
/// runtime (I/O driver enabled); the task answers through `unpark`. Returns the
/// round trip and the sender's time inside `send` (the cost of waking the runtime).
fn tokio_mpsc(rounds: u64) -> (f64, f64) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let answered = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&answered);
    let main = thread::current();
    let runtime = thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            while let Some(i) = rx.recv().await {
                seen.store(i, Ordering::Release);
                main.unpark();
            }
        });
    });
    let mut in_send = Duration::ZERO;
    let start = Instant::now();
    for i in 1..=rounds {
        let before = Instant::now();
        tx.send(i).expect("send");
        in_send += before.elapsed();
        while answered.load(Ordering::Acquire) != i {
            thread::park();
        }
    }
    let took = start.elapsed();
    drop(tx);
    runtime.join().expect("runtime");
    (
        took.as_secs_f64() / rounds as f64,
        in_send.as_secs_f64() / rounds as f64,
    )
}

/// The cost of reading the clock, which the hot paths do sparingly.
fn clock(rounds: u64) -> f64 {
    let start = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(Instant::now());
    }
    start.elapsed().as_secs_f64() / rounds as f64
}

fn main() {
    let rounds: u64 = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let reps = 5;
    let us = |s: f64| s * 1e6;
    println!("{rounds} round trips, median of {reps}; one-way wake-up = round trip / 2");
    println!("| primitive | round trip µs | one-way µs | sender's call µs |");
    println!("|---|---:|---:|---:|");
    let row = |name: &str, rt: f64, send: Option<f64>| {
        let send = send.map_or("–".to_owned(), |s| format!("{:.2}", us(s)));
        println!("| {name} | {:.2} | {:.2} | {send} |", us(rt), us(rt) / 2.0);
    };
    row(
        "spin",
        median((0..reps).map(|_| spin(rounds)).collect()),
        None,
    );
    row(
        "condvar",
        median((0..reps).map(|_| condvar(rounds)).collect()),
        None,
    );
    row(
        "park",
        median((0..reps).map(|_| park(rounds, Duration::ZERO)).collect()),
        None,
    );
    row(
        "spin then park (20 µs)",
        median(
            (0..reps)
                .map(|_| park(rounds, Duration::from_micros(20)))
                .collect(),
        ),
        None,
    );
    let runs: Vec<(f64, f64)> = (0..reps).map(|_| tokio_mpsc(rounds)).collect();
    row(
        "tokio mpsc to a parked current-thread runtime",
        median(runs.iter().map(|r| r.0).collect()),
        Some(median(runs.iter().map(|r| r.1).collect())),
    );
    println!(
        "\nInstant::now(): {:.1} ns",
        median((0..reps).map(|_| clock(1_000_000)).collect()) * 1e9
    );
}
