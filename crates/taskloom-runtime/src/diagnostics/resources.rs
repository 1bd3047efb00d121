//! [`ResourceProfiler`]: the process's CPU use and resident memory over time, sampled
//! on a background thread while the computations it is given to run.
//!
//! This is Dask's `ResourceProfiler`, per computation. One thread samples for every
//! profiler of the process, started by the first and parked while none is running.
//! On Linux it reads
//! `/proc/self/stat` (user + system CPU time, in clock ticks) and `/proc/self/statm`
//! (resident pages): two small file reads per sample, no dependency. CPU % is the CPU
//! time used between two samples over the wall time between them, so it counts every
//! thread of the process and can exceed 100 on several cores (as `top` does). On
//! other systems, or if `/proc` cannot be read, it records nothing and
//! [`ResourceProfiler::is_supported`] says so.
//!
//! The numbers are for the whole process: in a server, computations running at the
//! same time and everything else the process does are included.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use crate::callbacks::{Callback, FinishInfo, StartInfo};

/// One measurement of the process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResourceSample {
    /// When it was taken.
    pub at: Instant,
    /// CPU used since the previous sample, in percent of one core.
    pub cpu_percent: f64,
    /// Resident memory, in bytes.
    pub rss_bytes: u64,
}

/// Default time between two samples.
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(10);

/// Samples CPU and memory while its computations run.
///
/// Sampling starts when the first computation it is given to starts and stops when the
/// last one running ends (with a final sample), so one profiler can follow several
/// computations.
///
/// ```
/// use std::sync::Arc;
/// use taskloom::{ComputeOptions, Graph, Scheduler};
/// use taskloom::diagnostics::ResourceProfiler;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut g = Graph::new();
/// let x = g.add("x", (), || std::thread::sleep(std::time::Duration::from_millis(5)))?;
/// let resources = Arc::new(ResourceProfiler::new());
/// let options = ComputeOptions::new().shared_callback(resources.clone());
/// Scheduler::threads(1)?.compute_with(&g, &x, options).await?;
///
/// let samples = resources.samples();
/// if ResourceProfiler::is_supported() {
///     assert!(!samples.is_empty() && samples[0].rss_bytes > 0);
/// } else {
///     assert!(samples.is_empty());
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct ResourceProfiler {
    interval: Duration,
    /// A plain mutex: held only to start or stop the sampler and to move samples.
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Computations started and not yet finished.
    running: usize,
    sampler: Option<Sampler>,
    samples: Vec<ResourceSample>,
}

impl Default for ResourceProfiler {
    fn default() -> Self {
        Self::new()
    }
}

impl ResourceProfiler {
    /// A profiler sampling every [`DEFAULT_INTERVAL`].
    pub fn new() -> Self {
        Self::with_interval(DEFAULT_INTERVAL)
    }

    /// A profiler sampling every `interval` (at least 1 ms).
    pub fn with_interval(interval: Duration) -> Self {
        ResourceProfiler {
            interval: interval.max(Duration::from_millis(1)),
            state: Mutex::new(State::default()),
        }
    }

    /// Whether this system can be sampled (Linux with a readable `/proc`).
    pub fn is_supported() -> bool {
        read_proc().is_some()
    }

    /// The samples taken so far, oldest first; includes those of a sampler still
    /// running.
    pub fn samples(&self) -> Vec<ResourceSample> {
        let state = self.lock();
        let mut samples = state.samples.clone();
        if let Some(sampler) = &state.sampler {
            samples.extend(sampler.snapshot());
        }
        samples
    }

    /// Starts sampling now (also what `on_start` does).
    pub fn start(&self) {
        let mut state = self.lock();
        state.running += 1;
        if state.sampler.is_none() {
            state.sampler = Sampler::spawn(self.interval);
        }
    }

    /// Stops sampling once every [`start`](Self::start) has been matched by a stop
    /// (also what `on_finish` does).
    pub fn stop(&self) {
        let mut state = self.lock();
        state.running = state.running.saturating_sub(1);
        if state.running > 0 {
            return;
        }
        if let Some(sampler) = state.sampler.take() {
            let taken = sampler.finish();
            state.samples.extend(taken);
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Callback for ResourceProfiler {
    fn name(&self) -> &str {
        "resource-profiler"
    }

    /// It samples the process, not tasks: chains still run whole on a worker.
    fn task_events(&self) -> bool {
        false
    }

    fn on_start(&self, _: &StartInfo) {
        self.start();
    }

    fn on_finish(&self, _: &FinishInfo) {
        self.stop();
    }
}

impl Drop for ResourceProfiler {
    fn drop(&mut self) {
        if let Some(sampler) = self.lock().sampler.take() {
            sampler.finish();
        }
    }
}

/// A profiler's subscription to the process's sampling thread, while it runs.
#[derive(Debug)]
struct Sampler {
    sub: Arc<Sub>,
}

/// What the sampling thread keeps for one running profiler.
#[derive(Debug)]
struct Sub {
    interval: Duration,
    state: Mutex<SubState>,
}

#[derive(Debug)]
struct SubState {
    /// The last reading: the baseline of the next sample's CPU %.
    previous: Option<Reading>,
    /// When the next sample is due.
    next: Instant,
    samples: Vec<ResourceSample>,
}

impl Sub {
    fn lock(&self) -> MutexGuard<'_, SubState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The process's one sampling thread and the profilers it samples for.
///
/// Starting and stopping a thread per computation would cost more than a short
/// computation itself (a spawn and a join, some 100 µs): the thread is started once,
/// by the first profiler, and parks while nothing is sampled. Subscribing and
/// unsubscribing cost a lock and a wake-up; the thread takes the first reading.
#[derive(Debug, Default)]
struct Shared {
    subs: Mutex<Subs>,
    wake: Condvar,
}

#[derive(Debug, Default)]
struct Subs {
    list: Vec<Arc<Sub>>,
    started: bool,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(Shared::default)
}

impl Sampler {
    /// Subscribes to the sampling thread (starting it the first time); `None` where
    /// `/proc` cannot be read (diagnostics never fail the computation).
    fn spawn(interval: Duration) -> Option<Self> {
        if !cfg!(target_os = "linux") {
            return None;
        }
        let sub = Arc::new(Sub {
            interval,
            state: Mutex::new(SubState {
                previous: None,
                next: Instant::now(),
                samples: Vec::new(),
            }),
        });
        let shared = shared();
        let mut subs = shared.subs.lock().unwrap_or_else(PoisonError::into_inner);
        subs.list.push(Arc::clone(&sub));
        if !subs.started {
            // If no thread can be started, only the last sample of each run is taken.
            subs.started = std::thread::Builder::new()
                .name("taskloom-resources".into())
                .spawn(move || sample_forever(shared))
                .is_ok();
        }
        drop(subs);
        shared.wake.notify_one();
        Some(Sampler { sub })
    }

    fn snapshot(&self) -> Vec<ResourceSample> {
        self.sub.lock().samples.clone()
    }

    /// Unsubscribes, takes a last sample, and returns every sample.
    fn finish(self) -> Vec<ResourceSample> {
        let shared = shared();
        shared
            .subs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .list
            .retain(|s| !Arc::ptr_eq(s, &self.sub));
        let mut state = self.sub.lock();
        if let Some(now) = read_proc() {
            let sample = match &state.previous {
                Some(previous) => now.since(previous),
                None => ResourceSample {
                    at: now.at,
                    cpu_percent: 0.0,
                    rss_bytes: now.rss_bytes,
                },
            };
            state.samples.push(sample);
        }
        std::mem::take(&mut state.samples)
    }
}

/// The sampling thread: for each subscribed profiler, a reading when it subscribes
/// and a sample every interval after; parked while nothing is subscribed.
fn sample_forever(shared: &Shared) {
    let mut subs = shared.subs.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        if subs.list.is_empty() {
            subs = shared
                .wake
                .wait(subs)
                .unwrap_or_else(PoisonError::into_inner);
            continue;
        }
        let now = Instant::now();
        let due: Vec<Arc<Sub>> = subs
            .list
            .iter()
            .filter(|s| s.lock().next <= now)
            .cloned()
            .collect();
        if due.is_empty() {
            let next = subs.list.iter().map(|s| s.lock().next).min().unwrap_or(now);
            subs = shared
                .wake
                .wait_timeout(subs, next.saturating_duration_since(now))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            continue;
        }
        drop(subs);
        let reading = read_proc();
        for sub in &due {
            let mut state = sub.lock();
            if let Some(reading) = reading {
                if let Some(previous) = &state.previous {
                    let sample = reading.since(previous);
                    state.samples.push(sample);
                }
                state.previous = Some(reading);
            }
            state.next = now + sub.interval;
        }
        subs = shared.subs.lock().unwrap_or_else(PoisonError::into_inner);
    }
}

/// One read of `/proc`: when, CPU time so far, resident memory.
#[derive(Debug, Clone, Copy)]
struct Reading {
    at: Instant,
    cpu: Duration,
    rss_bytes: u64,
}

impl Reading {
    fn since(&self, previous: &Reading) -> ResourceSample {
        let wall = self.at.saturating_duration_since(previous.at).as_secs_f64();
        let cpu = self.cpu.saturating_sub(previous.cpu).as_secs_f64();
        ResourceSample {
            at: self.at,
            cpu_percent: if wall > 0.0 { cpu / wall * 100.0 } else { 0.0 },
            rss_bytes: self.rss_bytes,
        }
    }
}

#[cfg(target_os = "linux")]
fn read_proc() -> Option<Reading> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let at = Instant::now();
    let (ticks, pages) = parse_proc(&stat, &statm)?;
    let (hz, page_size) = sysconf();
    Some(Reading {
        at,
        cpu: Duration::from_secs_f64(ticks as f64 / hz as f64),
        rss_bytes: pages.saturating_mul(page_size),
    })
}

#[cfg(not(target_os = "linux"))]
fn read_proc() -> Option<Reading> {
    None
}

/// User + system CPU clock ticks from `/proc/self/stat`, resident pages from
/// `/proc/self/statm`.
///
/// The command name in `stat` is in parentheses and may itself contain spaces and
/// parentheses, so fields are counted from the last `)`: after it come `state` (field
/// 3 of proc(5)), ..., `utime` (14) and `stime` (15).
fn parse_proc(stat: &str, statm: &str) -> Option<(u64, u64)> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let resident: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some((utime + stime, resident))
}

/// Clock ticks per second (the unit of `stat`'s times) and bytes per page (of
/// `statm`'s sizes).
#[cfg(target_os = "linux")]
fn sysconf() -> (u64, u64) {
    (
        rustix::param::clock_ticks_per_second().max(1),
        rustix::param::page_size() as u64,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_command_name_with_spaces_and_parentheses() {
        let stat = "4242 (a (weird) name) R 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 3 0 99 1000 321";
        let statm = "5000 321 100 1 0 400 0";
        assert_eq!(parse_proc(stat, statm), Some((300, 321)));
    }

    #[test]
    fn refuses_truncated_files() {
        assert_eq!(parse_proc("1 (x) R 1 2", "5 6"), None);
        assert_eq!(parse_proc("no parenthesis", "5 6"), None);
    }

    #[test]
    fn cpu_percent_is_cpu_time_over_wall_time() {
        let t0 = Instant::now();
        let a = Reading {
            at: t0,
            cpu: Duration::from_millis(100),
            rss_bytes: 1,
        };
        let b = Reading {
            at: t0 + Duration::from_millis(100),
            cpu: Duration::from_millis(250),
            rss_bytes: 2,
        };
        let s = b.since(&a);
        assert!((s.cpu_percent - 150.0).abs() < 1e-9, "{}", s.cpu_percent);
        assert_eq!(s.rss_bytes, 2);
    }
}
