//! Pictures from Python: `taskloom.visualize` draws a Dask graph as taskloom will
//! run it (DOT or SVG, coloured by static order, memory pressure or critical path),
//! and `taskloom.report` records runs into one HTML report ([`Report`]).
//!
//! Both use the runtime's `diagnostics::picture` and `diagnostics::Report`: the Dask
//! graph is built into a taskloom graph exactly as `get` builds it (same culling,
//! same keys), so the picture is of the graph `get` would run.

use std::sync::Arc;

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use taskloom::diagnostics::picture::{Color, ColorMap, DotOptions, Engine};

use crate::graph::{self, Settings};

/// Draws the graph of `keys` in `dsk` (a dict of Dask task-spec nodes) as DOT
/// (`format="dot"`) or SVG (`format="svg"`), and returns the text.
#[pyfunction]
#[pyo3(signature = (dsk, keys, *, color = "order", format = "svg", colormap = "viridis", max_tasks = 2000, engine = "builtin", title = None))]
#[allow(clippy::too_many_arguments)] // Python keyword arguments
pub(crate) fn picture(
    dsk: &Bound<'_, PyDict>,
    keys: &Bound<'_, PyAny>,
    color: &str,
    format: &str,
    colormap: &str,
    max_tasks: usize,
    engine: &str,
    title: Option<String>,
) -> PyResult<String> {
    let color: Color =
        color
            .parse()
            .map_err(|e: taskloom::diagnostics::picture::UnknownColor| {
                PyValueError::new_err(e.to_string())
            })?;
    if color == Color::RunTime {
        return Err(PyValueError::new_err(
            "color=\"run-time\" needs a run: use taskloom.report(), whose page draws the graph coloured by run time",
        ));
    }
    let map = match colormap {
        "viridis" => ColorMap::Viridis,
        "cividis" => ColorMap::Cividis,
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown colormap {other:?}: use viridis or cividis"
            )));
        }
    };
    let engine = match engine {
        "builtin" => Engine::Builtin,
        "graphviz" | "dot" => Engine::Graphviz,
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown engine {other:?}: use builtin or graphviz"
            )));
        }
    };
    let settings = Settings {
        context: None,
        callbacks: false,
        disk_cache: false,
        remote: None,
    };
    let built = graph::build(dsk, keys, None, &settings).map_err(PyErr::from)?;
    let mut options = DotOptions::new()
        .color(color)
        .color_map(map)
        .max_tasks(max_tasks)
        .engine(engine);
    if let Some(title) = title {
        options = options.title(title);
    }
    match format {
        "dot" | "gv" => Ok(built.graph.to_dot(&options)),
        "svg" => built
            .graph
            .to_svg(&options)
            .map_err(|e| PyOSError::new_err(e.to_string())),
        other => Err(PyValueError::new_err(format!(
            "unknown format {other:?}: use svg or dot"
        ))),
    }
}

/// A report of runs: handed to `compute(..., report=...)`, it records every task
/// (key, worker thread, start, end, failure) and the process's CPU and memory, and
/// writes one self-contained HTML page.
#[pyclass(module = "taskloom._native", frozen)]
pub(crate) struct Report {
    pub(crate) inner: Arc<taskloom::diagnostics::Report>,
}

#[pymethods]
impl Report {
    #[new]
    #[pyo3(signature = (title = None))]
    fn new(title: Option<String>) -> Self {
        let inner = taskloom::diagnostics::Report::new();
        if let Some(title) = title {
            inner.title(title);
        }
        Report {
            inner: Arc::new(inner),
        }
    }

    /// The page's HTML.
    fn to_html(&self, py: Python<'_>) -> String {
        let inner = Arc::clone(&self.inner);
        py.detach(move || inner.to_html())
    }

    /// Writes the page to `path`.
    fn save(&self, py: Python<'_>, path: std::path::PathBuf) -> PyResult<()> {
        let inner = Arc::clone(&self.inner);
        py.detach(move || inner.save(&path))
            .map_err(|e| PyOSError::new_err(e.to_string()))
    }

    /// How many tasks it recorded.
    fn __len__(&self) -> usize {
        self.inner.profiler().records().len()
    }
}
