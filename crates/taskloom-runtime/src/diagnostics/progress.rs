//! [`ProgressBar`]: a terminal progress bar for one computation (cargo feature
//! `progress`, on `indicatif`).
//!
//! Dask's `ProgressBar` is process-global and draws one bar for whatever runs. Here a
//! [`Progress`] owns one terminal area (an `indicatif::MultiProgress`, on stderr by
//! default) and hands out one [`ProgressBar`] callback per computation, so computations
//! running at the same time each get their own line:
//!
//! ```text
//! sum   [00:00:03] ██████████████▒░░░░░░░  6400/10000 tasks  2.1k/s  ETA 2s
//! load  [00:00:01] ███████░░░░░░░░░░░░░░░   312/1000 tasks  280/s   ETA 3s
//! ```
//!
//! A computation shorter than the minimum duration ([`DEFAULT_MIN_DURATION`] unless
//! set) prints nothing: the bar appears only once that much time has passed, so quick
//! requests in a service stay quiet. A bar that appeared ends at 100 % with the total
//! time, or stays where it was with the failure (or "cancelled") written beside it.
//! Ended bars stay on screen as plain lines; printing through
//! `MultiProgress::println` wipes them (indicatif forgets bars once dropped), so print
//! results after the bars, or keep lines short-lived.
//!
//! Progress is counted from task completions in the computation's scheduling loop: a
//! lock and an atomic add per task; drawing is rate-limited by indicatif. The bar of a
//! computation whose tasks are all long appears on time thanks to a Tokio timer
//! (the runtime needs its time driver, as `#[tokio::main]` enables); without a Tokio
//! runtime it appears at the first task that ends after the minimum.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::callbacks::{Callback, FinishInfo, Outcome, StartInfo, TaskFinish};

/// Computations shorter than this print nothing, unless set otherwise.
pub const DEFAULT_MIN_DURATION: Duration = Duration::from_secs(1);

/// How often a visible bar redraws when no task ends (so elapsed time and ETA move
/// during long tasks).
const TICK: Duration = Duration::from_millis(200);

const TEMPLATE: &str = "{prefix:.bold} [{elapsed_precise}] {wide_bar:.cyan/blue} \
                        {pos}/{len} tasks  {rate}  ETA {eta}  {msg}";
const DONE_TEMPLATE: &str = "{prefix:.bold} [{elapsed_precise}] {wide_bar:.green} \
                             {pos}/{len} tasks  {msg:.green}";
const FAILED_TEMPLATE: &str = "{prefix:.bold} [{elapsed_precise}] {wide_bar:.red} \
                               {pos}/{len} tasks  {msg:.red}";

/// A terminal area shared by the progress bars of several computations.
///
/// Cheap to clone; clones draw in the same area.
///
/// ```
/// use taskloom::{ComputeOptions, Graph, Scheduler};
/// use taskloom::diagnostics::Progress;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let progress = Progress::new(); // stderr; quiet under a second
/// let mut g = Graph::new();
/// let x = g.add("x", (), || 6_u32)?;
/// let y = g.add("y", &x, |x: &u32| x * 7)?;
/// let options = ComputeOptions::new().callback(progress.bar("answer"));
/// assert_eq!(Scheduler::threads(2)?.compute_with(&g, &y, options).await?, 42);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Progress {
    multi: MultiProgress,
    min_duration: Duration,
}

impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Progress")
            .field("min_duration", &self.min_duration)
            .finish_non_exhaustive()
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress {
    /// Bars on stderr (drawn only if it is a terminal), quiet for computations
    /// shorter than [`DEFAULT_MIN_DURATION`].
    pub fn new() -> Self {
        Self::with_draw_target(ProgressDrawTarget::stderr())
    }

    /// Bars drawn to `target` (for example `ProgressDrawTarget::stdout()`, or an
    /// in-memory terminal in tests).
    pub fn with_draw_target(target: ProgressDrawTarget) -> Self {
        Progress {
            multi: MultiProgress::with_draw_target(target),
            min_duration: DEFAULT_MIN_DURATION,
        }
    }

    /// Shows bars only for computations running at least `min` (zero: always).
    pub fn min_duration(mut self, min: Duration) -> Self {
        self.min_duration = min;
        self
    }

    /// A progress bar callback for one computation, labelled `label`.
    pub fn bar(&self, label: impl Into<String>) -> ProgressBar {
        ProgressBar {
            shared: Arc::new(Shared {
                multi: self.multi.clone(),
                min_duration: self.min_duration,
                label: label.into(),
                state: Mutex::new(State::Idle),
            }),
        }
    }

    /// The underlying `indicatif::MultiProgress`, to print lines above the bars
    /// (`println`) or add bars of your own.
    pub fn multi(&self) -> &MultiProgress {
        &self.multi
    }
}

/// The progress bar callback of one computation (made by [`Progress::bar`]).
///
/// Give each computation its own: a bar counts the tasks of the computation that
/// started it last.
#[derive(Clone)]
pub struct ProgressBar {
    shared: Arc<Shared>,
}

impl fmt::Debug for ProgressBar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProgressBar")
            .field("label", &self.shared.label)
            .finish_non_exhaustive()
    }
}

impl ProgressBar {
    /// A bar on stderr, in its own terminal area (use [`Progress::bar`] to show
    /// several computations together).
    pub fn new(label: impl Into<String>) -> Self {
        Progress::new().bar(label)
    }

    /// Whether the bar is on screen (the computation outlived the minimum duration).
    pub fn is_visible(&self) -> bool {
        match &*self.shared.lock() {
            State::Running { bar, .. } => bar.is_some(),
            State::Ended { shown } => *shown,
            State::Idle => false,
        }
    }
}

struct Shared {
    multi: MultiProgress,
    min_duration: Duration,
    label: String,
    /// A plain mutex: callbacks of one computation come one at a time, and the reveal
    /// timer takes it once; nothing awaits under it.
    state: Mutex<State>,
}

enum State {
    /// Not started.
    Idle,
    Running {
        started: Instant,
        total: u64,
        done: u64,
        /// The bar, once the computation outlived the minimum duration.
        bar: Option<indicatif::ProgressBar>,
        /// The timer that shows the bar after the minimum duration.
        reveal: Option<tokio::task::JoinHandle<()>>,
    },
    /// Ended; whether the bar was shown.
    Ended { shown: bool },
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Puts the bar on screen (once).
    fn reveal(&self, state: &mut State) {
        let State::Running {
            started,
            total,
            done,
            bar,
            ..
        } = state
        else {
            return;
        };
        if bar.is_none() {
            // Elapsed time counts from the computation's start, not from the reveal.
            let new = indicatif::ProgressBar::new(*total)
                .with_style(style(TEMPLATE))
                .with_prefix(self.label.clone())
                .with_position(*done)
                .with_elapsed(started.elapsed());
            let new = self.multi.add(new);
            new.enable_steady_tick(TICK);
            *bar = Some(new);
        }
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key("rate", |state: &ProgressState, w: &mut dyn fmt::Write| {
            let _ = write!(w, "{}/s", human(state.per_sec()));
        })
        .progress_chars("█▒░")
}

/// `1234.5` → `1.2k`: rates of tiny tasks are large numbers.
fn human(x: f64) -> String {
    match x {
        x if x >= 1e6 => format!("{:.1}M", x / 1e6),
        x if x >= 1e3 => format!("{:.1}k", x / 1e3),
        x => format!("{x:.0}"),
    }
}

impl Callback for ProgressBar {
    fn name(&self) -> &str {
        "progress-bar"
    }

    fn on_start(&self, info: &StartInfo) {
        let mut state = self.shared.lock();
        if let State::Running {
            bar: Some(bar),
            reveal,
            ..
        } = &mut *state
        {
            // Reused before the previous computation ended: retire its bar.
            bar.abandon();
            if let Some(timer) = reveal.take() {
                timer.abort();
            }
        }
        *state = State::Running {
            started: info.at,
            total: info.tasks as u64,
            done: 0,
            bar: None,
            reveal: None,
        };
        if self.shared.min_duration.is_zero() {
            self.shared.reveal(&mut state);
            return;
        }
        // Show the bar when the minimum duration has passed, even if no task ends
        // by then (long tasks). Outside a Tokio runtime, task completions check it.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let weak: Weak<Shared> = Arc::downgrade(&self.shared);
            let min = self.shared.min_duration;
            let timer = runtime.spawn(async move {
                tokio::time::sleep(min).await;
                if let Some(shared) = weak.upgrade() {
                    let mut state = shared.lock();
                    shared.reveal(&mut state);
                }
            });
            if let State::Running { reveal, .. } = &mut *state {
                *reveal = Some(timer);
            }
        }
    }

    fn on_task_finish(&self, _: &TaskFinish<'_>) {
        let mut state = self.shared.lock();
        let State::Running {
            started, done, bar, ..
        } = &mut *state
        else {
            return;
        };
        *done += 1;
        if let Some(bar) = bar {
            bar.set_position(*done);
        } else if started.elapsed() >= self.shared.min_duration {
            self.shared.reveal(&mut state);
        }
    }

    fn on_finish(&self, info: &FinishInfo) {
        let outcome = &info.outcome;
        let mut state = self.shared.lock();
        let previous = std::mem::replace(&mut *state, State::Ended { shown: false });
        let State::Running {
            started,
            total,
            bar,
            reveal,
            ..
        } = previous
        else {
            return;
        };
        if let Some(timer) = reveal {
            timer.abort();
        }
        let Some(bar) = bar else {
            return; // a short computation: nothing was printed, nothing is
        };
        match outcome {
            Outcome::Done => {
                bar.set_style(style(DONE_TEMPLATE));
                bar.set_position(total);
                bar.finish_with_message(format!(
                    "done in {:.2} s",
                    started.elapsed().as_secs_f64()
                ));
            }
            Outcome::Failed(message) => {
                bar.set_style(style(FAILED_TEMPLATE));
                bar.abandon_with_message(format!("failed: {message}"));
            }
            Outcome::Cancelled => {
                bar.set_style(style(FAILED_TEMPLATE));
                bar.abandon_with_message("cancelled");
            }
        }
        *state = State::Ended { shown: true };
    }
}

#[cfg(test)]
mod tests {
    use super::human;

    #[test]
    fn rates_are_short() {
        assert_eq!(human(12.4), "12");
        assert_eq!(human(2_345.0), "2.3k");
        assert_eq!(human(1_500_000.0), "1.5M");
    }
}
