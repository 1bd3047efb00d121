//! A report of a run: one self-contained HTML file that opens from disk with no
//! network, what Dask's `visualize([prof, rprof])` shows with Bokeh, without Bokeh.
//!
//! - the task stream: one lane per worker (named as the executor names it:
//!   `thread-1`, `process-0 (pid 4242)`, `cluster-2 on n1 (slurm job 7, pid 99)`),
//!   a bar per task coloured by function (its key's group), details on hover, zoom
//!   by dragging;
//! - the results and bytes the scheduling loop held, and the process's resident
//!   memory and CPU, over the same time axis;
//! - a table per function: tasks, total, mean and longest run time, failures;
//! - failures, tasks run again after their worker was lost, and lost workers,
//!   marked on the stream and listed;
//! - the graph (see [`picture`](super::picture)), coloured by the run time of each
//!   task.
//!
//! Large runs stay small and fast to open: past a screen's worth of bars, tasks are
//! summed into time bins per worker (see `data`).
//!
//! [`Report`] is a callback that records all of it; [`HtmlReport`] builds the page
//! from a [`Profiler`] and a [`ResourceProfiler`] already in use.
//!
//! ```
//! use std::sync::Arc;
//! use taskloom::{ComputeOptions, Graph, Scheduler};
//! use taskloom::diagnostics::Report;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut g = Graph::new();
//! let a = g.add("a", (), || 20_i64)?;
//! let b = g.add("b", &a, |a: &i64| a * 2 + 2)?;
//!
//! let report = Arc::new(Report::new());
//! report.graph(&g);
//! let options = ComputeOptions::new().shared_callback(report.clone());
//! assert_eq!(Scheduler::threads(2)?.compute_with(&g, &b, options).await?, 42);
//!
//! let html = report.to_html();
//! assert!(html.starts_with("<!doctype html>") && html.contains(r#""tasks":2"#));
//! # let path = std::env::temp_dir().join(format!("doc-report-{}.html", std::process::id()));
//! report.save(&path)?; // opens in any browser, offline
//! # std::fs::remove_file(&path)?;
//! # Ok(())
//! # }
//! ```

mod data;
mod html;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use crate::Graph;
use crate::body::TaskBody;
use crate::callbacks::{Callback, FinishInfo, StartInfo, TaskFinish, TaskStart};
use crate::diagnostics::picture::{Color, DotOptions, scene, svg};
use crate::diagnostics::profiler::{ComputeRecord, Profiler, TaskRecord};
use crate::diagnostics::resources::{ResourceProfiler, ResourceSample};

pub use data::DETAIL_LIMIT;

/// Why a report could not be saved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// The file could not be written.
    #[error("could not write the report to {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
}

type CoreGraph = taskloom_core::Graph<TaskBody>;

/// A callback that records what a report shows (every task, and the process's CPU
/// and memory while its computations run), and writes the report.
///
/// Give it to any number of computations (`Arc` and
/// [`ComputeOptions::shared_callback`](crate::ComputeOptions::shared_callback)); it
/// shows them all, on one time axis. See the [module](self).
#[derive(Debug, Default)]
pub struct Report {
    profiler: Profiler,
    resources: ResourceProfiler,
    /// The graph to draw, and the title.
    extra: Mutex<Extra>,
}

#[derive(Debug, Default)]
struct Extra {
    graph: Option<Arc<CoreGraph>>,
    title: Option<String>,
}

impl Report {
    /// An empty report: sampling CPU and memory every 10 ms while a computation runs.
    pub fn new() -> Self {
        Self::default()
    }

    /// The graph to draw in the report (the last one given is drawn). Cheap: the
    /// graph is shared, not copied.
    pub fn graph(&self, graph: &Graph) {
        self.lock().graph = Some(graph.snapshot());
    }

    /// The report's title (default "taskloom run report").
    pub fn title(&self, title: impl Into<String>) {
        self.lock().title = Some(title.into());
    }

    /// The task records so far.
    pub fn profiler(&self) -> &Profiler {
        &self.profiler
    }

    /// The CPU and memory samples so far.
    pub fn resources(&self) -> &ResourceProfiler {
        &self.resources
    }

    /// The report as it stands, to be saved or shown.
    pub fn html(&self) -> HtmlReport {
        let extra = self.lock();
        let mut page = HtmlReport::new()
            .tasks(&self.profiler)
            .resources(&self.resources);
        page.graph = extra.graph.clone();
        page.title = extra.title.clone();
        page
    }

    /// The page's HTML.
    pub fn to_html(&self) -> String {
        self.html().to_html()
    }

    /// Writes the page to `path` (created or replaced).
    ///
    /// # Errors
    /// [`ReportError::Write`] if the file cannot be written.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), ReportError> {
        self.html().save(path)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Extra> {
        self.extra.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Callback for Report {
    fn name(&self) -> &str {
        "report"
    }

    fn on_start(&self, info: &StartInfo) {
        self.profiler.on_start(info);
        self.resources.on_start(info);
    }

    fn on_task_start(&self, event: &TaskStart<'_>) {
        self.profiler.on_task_start(event);
    }

    fn on_task_finish(&self, event: &TaskFinish<'_>) {
        self.profiler.on_task_finish(event);
    }

    fn on_finish(&self, info: &FinishInfo) {
        self.profiler.on_finish(info);
        self.resources.on_finish(info);
    }
}

/// A run report assembled from profilers (as [`ChromeTrace`](super::ChromeTrace) is).
///
/// ```
/// use std::sync::Arc;
/// use taskloom::{ComputeOptions, Graph, Scheduler};
/// use taskloom::diagnostics::{HtmlReport, Profiler, ResourceProfiler};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut g = Graph::new();
/// let x = g.add(("chunk", 0), (), || 1_u8)?;
/// let profiler = Arc::new(Profiler::new());
/// let resources = Arc::new(ResourceProfiler::new());
/// let options = ComputeOptions::new()
///     .shared_callback(profiler.clone())
///     .shared_callback(resources.clone());
/// Scheduler::current_thread().compute_with(&g, &x, options).await?;
///
/// let html = HtmlReport::new()
///     .tasks(&profiler)
///     .resources(&resources)
///     .graph(&g)
///     .title("one chunk")
///     .to_html();
/// assert!(html.contains("<title>one chunk</title>"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct HtmlReport {
    records: Vec<TaskRecord>,
    computes: Vec<ComputeRecord>,
    samples: Vec<ResourceSample>,
    graph: Option<Arc<CoreGraph>>,
    title: Option<String>,
}

impl HtmlReport {
    /// An empty report.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the tasks and computations a profiler recorded.
    pub fn tasks(mut self, profiler: &Profiler) -> Self {
        self.records.extend(profiler.records());
        self.computes.extend(profiler.computes());
        self
    }

    /// Adds task records (for records kept or filtered by the caller).
    pub fn records(mut self, records: impl IntoIterator<Item = TaskRecord>) -> Self {
        self.records.extend(records);
        self
    }

    /// Adds the CPU and memory samples a resource profiler took.
    pub fn resources(mut self, resources: &ResourceProfiler) -> Self {
        self.samples.extend(resources.samples());
        self
    }

    /// Adds resource samples.
    pub fn samples(mut self, samples: impl IntoIterator<Item = ResourceSample>) -> Self {
        self.samples.extend(samples);
        self
    }

    /// The graph to draw (coloured by the run time of each task).
    pub fn graph(mut self, graph: &Graph) -> Self {
        self.graph = Some(graph.snapshot());
        self
    }

    /// The title (default "taskloom run report").
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// The page's HTML.
    pub fn to_html(&self) -> String {
        let title = self.title.as_deref().unwrap_or("taskloom run report");
        let run = data::Run {
            records: &self.records,
            computes: &self.computes,
            samples: &self.samples,
        };
        let json = data::json(&run, title);
        let picture = self.graph.as_ref().map(|g| {
            let mut options = DotOptions::new().color(Color::RunTime);
            for r in &self.records {
                options.run_times.insert(r.key.clone(), r.duration());
            }
            svg::write(&scene::Scene::of_graph(g, &options))
        });
        html::page(title, &json, picture.as_deref())
    }

    /// Writes the page to `path` (created or replaced).
    ///
    /// # Errors
    /// [`ReportError::Write`] if the file cannot be written.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), ReportError> {
        let path = path.as_ref();
        std::fs::write(path, self.to_html()).map_err(|source| ReportError::Write {
            path: path.to_owned(),
            source,
        })
    }
}
