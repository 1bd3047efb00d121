//! What recording a report costs: the seed's sum on two threads with and without a
//! [`Report`] callback, alternated, and their medians.
//!
//! Each round runs both, in ABBA order (plain, report, report, plain, ...), so a
//! machine that slows down or speeds up during the measurement weighs on both
//! alike. A report is made anew for each computation it records, as a program that
//! reports every run would.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use taskloom::diagnostics::Report;
use taskloom::{ComputeOptions, Scheduler};

use crate::BoxError;
use crate::seed_sum::{self, Fns};

/// Computations of each kind run before measuring (threads started, caches warm).
const WARM_UP: usize = 20;

pub(crate) fn measure(fns: &Fns, rounds: usize, json: Option<&Path>) -> Result<(), BoxError> {
    let (graph, total) = seed_sum::graph(fns)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let workers = 2;
    let scheduler = Scheduler::threads(workers)?;
    let once = |report: bool| -> Result<Duration, BoxError> {
        let mut options = ComputeOptions::new();
        if report {
            options = options.shared_callback(Arc::new(Report::new()));
        }
        let start = Instant::now();
        let sum = runtime.block_on(scheduler.compute_with(&graph, &total, options))?;
        let elapsed = start.elapsed();
        assert_eq!(sum, 1000.0);
        Ok(elapsed)
    };
    for _ in 0..WARM_UP {
        once(false)?;
        once(true)?;
    }
    let (mut plain, mut report) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    for round in 0..rounds {
        let first_plain = round % 2 == 0;
        for with_report in [!first_plain, first_plain] {
            let t = once(with_report)?;
            if with_report { &mut report } else { &mut plain }.push(t.as_secs_f64() * 1e3);
        }
    }
    let (plain_ms, report_ms) = (median(&mut plain), median(&mut report));
    let overhead = (report_ms / plain_ms - 1.0) * 100.0;
    println!(
        "seed's sum ({} tasks) on {workers} threads, median of {rounds}: {plain_ms:.3} ms plain, \
         {report_ms:.3} ms recording a report: {overhead:+.1} %",
        graph.len()
    );
    if let Some(path) = json {
        let line = format!(
            "{{\"graph\":\"seed_sum\",\"tasks\":{},\"executor\":\"threads\",\"workers\":{workers},\
             \"rounds\":{rounds},\"plain_ms\":{plain_ms:.4},\"report_ms\":{report_ms:.4},\
             \"overhead_percent\":{overhead:.2}}}",
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
