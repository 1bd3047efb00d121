//! Pictures of a graph before it runs: [`Graph::to_dot`] and [`Graph::to_svg`].
//!
//! Each task is a node labelled with its key, each dependency an arrow from input
//! to user, and each node is coloured by a number ([`Color`]): its rank in the
//! static order taskloom will follow (the default), the results held after it in
//! that plan, the longest path through it, or the time it ran (after a
//! computation, from a [`Profiler`]). The colour map is perceptually uniform and
//! colour-blind safe ([`ColorMap`]: viridis or cividis), and every picture carries
//! its legend.
//!
//! Graphs of more than [`DotOptions::max_tasks`] tasks (2,000 by default) are
//! summarised: one node per group of keys (the name of a task's collection or
//! function, as Dask's high-level graphs group layers), labelled with its number of
//! tasks, and one arrow per pair of groups with a dependency between them.
//!
//! The SVG needs no external program: the layout is this module's own (a layered
//! drawing, as graphviz's `dot`; see `layout`), and wide, shallow graphs are drawn
//! around a circle so that they fit a screen. With [`Engine::Graphviz`] the DOT
//! text is drawn by graphviz's `dot` instead, if it is installed.
//!
//! Keys are data, never markup: every key is escaped for the format it is written
//! in (a quoted DOT string, XML text and attributes), so a key holding `<script>`,
//! `</svg>`, quotes, ampersands, newlines or any Unicode shows as that text.
//!
//! - `colormap`: [`ColorMap`] and [`Rgb`]; `metrics`: the number of each task;
//!   `names`: groups and short labels; `scene`: what is drawn (nodes, arrows,
//!   legend), summarised or not; `layout`: where it goes; `dot` and `svg`: the two
//!   formats; `graphviz`: the optional external renderer.
//!
//! ```
//! use taskloom::Graph;
//! use taskloom::diagnostics::picture::{Color, DotOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut g = Graph::new();
//! let a = g.add("a", (), || 1_i64)?;
//! let b = g.add("b", &a, |x: &i64| x + 1)?;
//! let dot = g.to_dot(&DotOptions::new());
//! assert!(dot.contains(r#""a" -> "b""#));
//! let svg = g.to_svg(&DotOptions::new().color(Color::CriticalPath))?;
//! assert!(svg.starts_with("<svg") && svg.contains("<title>b</title>"));
//! # Ok(())
//! # }
//! ```

mod colormap;
mod dot;
mod graphviz;
mod layout;
mod metrics;
pub(crate) mod names;
pub(crate) mod scene;
pub(crate) mod svg;

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use taskloom_core::Key;

pub use colormap::{ColorMap, Rgb};
pub use graphviz::PictureError;

use crate::Graph;
use crate::diagnostics::Profiler;

/// Default of [`DotOptions::max_tasks`]: past this many tasks, a picture shows
/// groups of tasks instead of tasks.
pub const DEFAULT_MAX_TASKS: usize = 2_000;

/// What a picture colours tasks by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Color {
    /// Rank in the static order (taskloom-core's plan): the order one worker runs
    /// the tasks in, and the order several workers start them in.
    #[default]
    Order,
    /// Results held right after the task runs, in the plan (what
    /// `taskloom_core::order::diagnostics` simulates): where the memory peaks.
    Pressure,
    /// Tasks on the longest path through the task; tasks on a longest path of the
    /// whole graph (the critical path) are outlined.
    CriticalPath,
    /// How long the task ran, as a [`Profiler`] measured it (see
    /// [`DotOptions::run_times`]); tasks it did not see are grey.
    RunTime,
}

impl Color {
    /// The name [`FromStr`] reads: `order`, `pressure`, `critical-path`, `run-time`.
    pub fn name(self) -> &'static str {
        match self {
            Color::Order => "order",
            Color::Pressure => "pressure",
            Color::CriticalPath => "critical-path",
            Color::RunTime => "run-time",
        }
    }
}

impl fmt::Display for Color {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is no [`Color`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown colouring {0:?}: use order, pressure (or memory), critical-path or run-time")]
pub struct UnknownColor(pub String);

impl FromStr for Color {
    type Err = UnknownColor;

    /// `order`, `pressure` (`memory`, `memorypressure`), `critical-path`
    /// (`critical`), `run-time` (`runtime`, `time`), in any case, `_` for `-`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "order" => Ok(Color::Order),
            "pressure" | "memory" | "memorypressure" | "memory-pressure" => Ok(Color::Pressure),
            "critical-path" | "critical" | "criticalpath" => Ok(Color::CriticalPath),
            "run-time" | "runtime" | "time" | "duration" => Ok(Color::RunTime),
            _ => Err(UnknownColor(s.to_owned())),
        }
    }
}

/// Which program lays the SVG out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Engine {
    /// This module's own layout: no external program, the same picture on every
    /// machine, wide graphs drawn around a circle.
    #[default]
    Builtin,
    /// Graphviz's `dot` program (found on `PATH`), given the DOT text.
    Graphviz,
}

/// How to draw a graph: [`Graph::to_dot`] and [`Graph::to_svg`].
#[derive(Clone, Debug)]
pub struct DotOptions {
    pub(crate) color: Color,
    pub(crate) map: ColorMap,
    pub(crate) max_tasks: usize,
    pub(crate) run_times: HashMap<Key, Duration>,
    pub(crate) title: Option<String>,
    pub(crate) engine: Engine,
}

impl Default for DotOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl DotOptions {
    /// Coloured by static order with viridis, summarised past
    /// [`DEFAULT_MAX_TASKS`] tasks, drawn by the built-in layout.
    pub fn new() -> Self {
        DotOptions {
            color: Color::Order,
            map: ColorMap::Viridis,
            max_tasks: DEFAULT_MAX_TASKS,
            run_times: HashMap::new(),
            title: None,
            engine: Engine::Builtin,
        }
    }

    /// What tasks are coloured by.
    pub fn color(mut self, color: Color) -> Self {
        self.color = color;
        self
    }

    /// The colour map.
    pub fn color_map(mut self, map: ColorMap) -> Self {
        self.map = map;
        self
    }

    /// Past this many tasks, draw one node per group of keys instead (0: always).
    pub fn max_tasks(mut self, max_tasks: usize) -> Self {
        self.max_tasks = max_tasks;
        self
    }

    /// The run times `profiler` measured, by key, for [`Color::RunTime`] (a task
    /// that ran more than once counts its last run).
    pub fn run_times(mut self, profiler: &Profiler) -> Self {
        for record in profiler.records() {
            self.run_times.insert(record.key.clone(), record.duration());
        }
        self
    }

    /// A title written above the picture.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Which program lays out the SVG.
    pub fn engine(mut self, engine: Engine) -> Self {
        self.engine = engine;
        self
    }
}

impl Graph {
    /// The graph in graphviz's DOT language: one node per task (its key as the
    /// node's quoted identifier and tooltip, a short label, a fill colour), one
    /// edge per dependency, and the legend as a cluster of its own. See the
    /// [`picture`](crate::diagnostics::picture) module.
    ///
    /// ```
    /// use taskloom::Graph;
    /// use taskloom::diagnostics::picture::DotOptions;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut g = Graph::new();
    /// let a = g.add("a", (), || 1_i64)?;
    /// g.add("b", &a, |x: &i64| x + 1)?;
    /// let dot = g.to_dot(&DotOptions::new());
    /// assert!(dot.starts_with("digraph"));
    /// // First in the plan: the darkest colour of viridis.
    /// assert!(dot.contains(r##""a" [label="a", tooltip="a", fillcolor="#440154""##));
    /// # Ok(())
    /// # }
    /// ```
    pub fn to_dot(&self, options: &DotOptions) -> String {
        let scene = scene::Scene::of_graph(self.core(), options);
        dot::write(&scene)
    }

    /// The graph as a standalone SVG picture (see [`Graph::to_dot`]), laid out
    /// without any external program unless [`Engine::Graphviz`] is chosen.
    ///
    /// # Errors
    /// Only with [`Engine::Graphviz`]: [`PictureError::Graphviz`] if `dot` cannot
    /// be run or fails.
    pub fn to_svg(&self, options: &DotOptions) -> Result<String, PictureError> {
        let scene = scene::Scene::of_graph(self.core(), options);
        match options.engine {
            Engine::Builtin => Ok(svg::write(&scene)),
            Engine::Graphviz => graphviz::render(&dot::write(&scene)),
        }
    }
}
