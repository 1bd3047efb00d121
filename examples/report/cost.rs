//! What recording a report costs: the seed's sum on two threads plain, with a
//! callback that only asks for task events (what any per-task profiling costs the
//! scheduling loop), and with a [`Report`]; medians of rounds run alternately.
//!
//! Each round runs the three kinds in a rotated order, so a machine that slows down
//! or speeds up during the measurement weighs on all alike. A report is made anew
//! for each computation it records, as a program that reports every run would.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use taskloom::callbacks::Callback;
use taskloom::diagnostics::Report;
use taskloom::{ComputeOptions, Scheduler};

use crate::BoxError;
use crate::seed_sum::{self, Fns};

/// Computations of each kind run before measuring (threads started, caches warm).
const WARM_UP: usize = 20;

/// A callback that wants task events and does nothing with them.
struct Events;

impl Callback for Events {}

/// One way of running the sum.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Plain,
    Events,
    Report,
}

impl Kind {
    pub(crate) fn parse(name: &str) -> Option<Kind> {
        match name {
            "plain" => Some(Kind::Plain),
            "events" => Some(Kind::Events),
            "report" => Some(Kind::Report),
            _ => None,
        }
    }
}

/// Runs the sum `rounds` times one way only, after the warm-up: what
/// `valgrind --tool=callgrind` counts the instructions of.
pub(crate) fn only(fns: &Fns, rounds: usize, kind: Kind) -> Result<(), BoxError> {
    let (graph, total) = seed_sum::graph(fns)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let scheduler = Scheduler::threads(2)?;
    for _ in 0..WARM_UP + rounds {
        let sum = runtime.block_on(scheduler.compute_with(&graph, &total, options(kind)))?;
        assert_eq!(sum, 1000.0);
    }
    Ok(())
}

fn options(kind: Kind) -> ComputeOptions {
    match kind {
        Kind::Plain => ComputeOptions::new(),
        Kind::Events => ComputeOptions::new().shared_callback(Arc::new(Events)),
        Kind::Report => ComputeOptions::new().shared_callback(Arc::new(Report::new())),
    }
}

pub(crate) fn measure(fns: &Fns, rounds: usize, json: Option<&Path>) -> Result<(), BoxError> {
    let (graph, total) = seed_sum::graph(fns)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let workers = 2;
    let scheduler = Scheduler::threads(workers)?;
    let once = |kind: Kind| -> Result<f64, BoxError> {
        let start = Instant::now();
        let sum = runtime.block_on(scheduler.compute_with(&graph, &total, options(kind)))?;
        let elapsed = start.elapsed().as_secs_f64() * 1e3;
        assert_eq!(sum, 1000.0);
        Ok(elapsed)
    };
    let kinds = [Kind::Plain, Kind::Events, Kind::Report];
    for _ in 0..WARM_UP {
        for kind in kinds {
            once(kind)?;
        }
    }
    let mut times: [Vec<f64>; 3] = Default::default();
    for round in 0..rounds {
        for k in 0..3 {
            let i = (round + k) % 3;
            times[i].push(once(kinds[i])?);
        }
    }
    let [plain_ms, events_ms, report_ms] = times.map(|mut t| median(&mut t));
    let overhead = (report_ms / plain_ms - 1.0) * 100.0;
    println!(
        "seed's sum ({} tasks) on {workers} threads, median of {rounds}: {plain_ms:.3} ms plain, \
         {events_ms:.3} ms with task events, {report_ms:.3} ms recording a report: {overhead:+.1} %",
        graph.len()
    );
    if let Some(path) = json {
        let line = format!(
            "{{\"graph\":\"seed_sum\",\"tasks\":{},\"executor\":\"threads\",\"workers\":{workers},\
             \"rounds\":{rounds},\"plain_ms\":{plain_ms:.4},\"events_ms\":{events_ms:.4},\
             \"report_ms\":{report_ms:.4},\"overhead_percent\":{overhead:.2}}}",
            graph.len()
        );
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        writeln!(file, "{line}")?;
    }
    Ok(())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
