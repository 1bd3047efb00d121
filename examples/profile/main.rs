//! Profiles the seed's sum and writes a Chrome trace: open it in
//! <https://ui.perfetto.dev> or `chrome://tracing` to see one track per worker, every
//! task on it, and the process's CPU % and memory as counters.
//!
//! ```sh
//! cargo run --release --example profile -- [--out profile.json]
//!     [--executor threads|current-thread] [--workers N] [--work-us 1000]
//! ```
//!
//! `--work-us` is how long each `sum-chunk` task keeps its core busy (0: the bare
//! scheduling timeline).

mod seed_sum;

use std::path::PathBuf;
use std::time::Duration;

use taskloom::Scheduler;

struct Args {
    out: PathBuf,
    executor: String,
    workers: Option<usize>,
    work: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        out: "profile.json".into(),
        executor: "threads".into(),
        workers: None,
        work: Duration::from_micros(1000),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--out" => args.out = value("--out")?.into(),
            "--executor" => args.executor = value("--executor")?,
            "--workers" => {
                let n = value("--workers")?;
                args.workers = Some(n.parse().map_err(|e| format!("--workers {n}: {e}"))?);
            }
            "--work-us" => {
                let n = value("--work-us")?;
                let us = n.parse().map_err(|e| format!("--work-us {n}: {e}"))?;
                args.work = Duration::from_micros(us);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let scheduler = match (args.executor.as_str(), args.workers) {
        ("current-thread", _) => Scheduler::current_thread(),
        ("threads", Some(n)) => Scheduler::threads(n)?,
        ("threads", None) => Scheduler::new()?,
        (other, _) => return Err(format!("unknown executor {other}").into()),
    };
    let run = seed_sum::profile(&scheduler, args.work, &args.out).await?;
    println!(
        "sum = {} in {:.1} ms on {} ({} workers): {} tasks, {} task records and {} \
         resource samples written to {}",
        run.sum,
        run.elapsed.as_secs_f64() * 1e3,
        scheduler.executor().name(),
        scheduler.executor().num_workers(),
        run.tasks,
        run.records,
        run.samples,
        args.out.display(),
    );
    println!("open it in https://ui.perfetto.dev or chrome://tracing");
    Ok(())
}
