//! taskloom's `tracing` spans printed by `tracing-subscriber`: one `compute` span per
//! computation and one `task` span per task, each closed with its timings.
//!
//! ```sh
//! cargo run --example tracing_spans                   # compute and task spans
//! RUST_LOG=info cargo run --example tracing_spans     # compute spans only
//! RUST_LOG=taskloom=debug cargo run --example tracing_spans   # taskloom's spans only
//! RUST_LOG=taskloom=trace cargo run --example tracing_spans   # and the loop's `turn` events
//! ```
//!
//! The library installs no subscriber: the program chooses one. Here `fmt` prints a
//! line when each span closes (`FmtSpan::CLOSE`: `time.busy`, `time.idle`), with the
//! span's fields (`compute`: tasks, executor, workers, inline; `task`: key, worker,
//! queued_us, run_us) and the thread it closed on. `RUST_LOG` filters, as usual with
//! `EnvFilter`; the default shows taskloom's spans down to `task` (DEBUG) and this
//! program's INFO events. A target in a filter matches by prefix, so `taskloom`
//! covers every module of the library.

use std::time::Duration;

use taskloom::{Graph, Handle, Scheduler};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

/// Eight chunks summed in pairs, plus an async task (a stand-in for I/O).
fn graph() -> Result<(Graph, Handle<u64>), Box<dyn std::error::Error>> {
    let mut g = Graph::new();
    let chunks: Vec<Handle<u64>> = (0..8)
        .map(|i| g.add(("chunk", i), (), move || i as u64))
        .collect::<Result<_, _>>()?;
    let pairs: Vec<Handle<u64>> = chunks
        .chunks(2)
        .enumerate()
        .map(|(i, pair)| {
            g.add(("pair", i as i64), pair, |xs: &[&u64]| {
                xs.iter().copied().sum()
            })
        })
        .collect::<Result<_, _>>()?;
    let fetched = g.add_async("fetch", (), || async {
        tokio::time::sleep(Duration::from_millis(2)).await;
        100_u64
    })?;
    let sum = g.add("sum", &pairs, |xs: &[&u64]| xs.iter().copied().sum::<u64>())?;
    let total = g.add("total", (&sum, &fetched), |a: &u64, b: &u64| a + b)?;
    Ok((g, total))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("warn,taskloom=debug,tracing_spans=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::CLOSE)
        .with_thread_names(true)
        .with_target(false)
        .init();

    let (g, total) = graph()?;
    for scheduler in [Scheduler::threads(2)?, Scheduler::current_thread()] {
        let out = scheduler.compute(&g, &total).await?;
        tracing::info!(executor = scheduler.executor().name(), out, "computed");
        assert_eq!(out, 128);
    }
    Ok(())
}
