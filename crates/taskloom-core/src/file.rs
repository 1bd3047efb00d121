//! The shared JSON graph format: `{"name", "tasks": [{"key", "deps"}], "targets"}`.
//!
//! The benchmark graphs (the shapes Dask was measured on) are stored in this format,
//! with Dask's tuple keys written as Python `repr`s (`"('x', 3)"`); they become tuple
//! [`Key`]s here. Every benchmark and example loads graphs through this one module.
//! Parsing only: reading the file is the caller's business, so the core stays free of
//! I/O.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;

use crate::{Graph, GraphBuilder, GraphError, Key, TaskId};

/// A graph file as stored: keys and dependencies as text.
#[derive(Clone, Debug, Deserialize)]
pub struct GraphFile {
    /// Name of the graph (for reports).
    pub name: String,
    /// The tasks, in any order.
    pub tasks: Vec<FileTask>,
    /// Keys whose results are requested.
    pub targets: Vec<String>,
}

/// One task of a [`GraphFile`].
#[derive(Clone, Debug, Deserialize)]
pub struct FileTask {
    /// The task's key.
    pub key: String,
    /// Keys of the tasks it depends on, in argument order.
    pub deps: Vec<String>,
}

/// Why a graph file could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// The text is not JSON of the expected shape.
    #[error("malformed graph file: {0}")]
    Json(#[from] serde_json::Error),
    /// The JSON describes a graph that cannot be scheduled.
    #[error(transparent)]
    Graph(#[from] GraphError),
}

/// A loaded graph file: the validated graph and its targets.
#[derive(Clone, Debug)]
pub struct LoadedGraph {
    /// Name from the file.
    pub name: String,
    /// The graph; payloads are empty.
    pub graph: Graph<()>,
    /// The requested tasks.
    pub targets: Vec<TaskId>,
}

impl GraphFile {
    /// Parses the JSON text of a graph file.
    ///
    /// # Errors
    /// [`FileError::Json`] when the text is not a graph file.
    pub fn from_json(text: &str) -> Result<Self, FileError> {
        Ok(serde_json::from_str(text)?)
    }

    /// Validates the tasks into a graph (see [`GraphBuilder::build`]) and resolves
    /// the targets.
    ///
    /// # Errors
    /// The [`GraphError`] of a duplicate key, missing dependency, cycle or unknown
    /// target.
    pub fn to_graph(&self) -> Result<LoadedGraph, GraphError> {
        let edges = self.tasks.iter().map(|t| t.deps.len()).sum();
        let mut builder = GraphBuilder::with_capacity(self.tasks.len(), edges);
        // Chunks of one collection share their name: intern it once.
        let mut names: HashMap<String, Arc<str>> = HashMap::new();
        let mut intern = |name: &str| -> Arc<str> {
            if let Some(n) = names.get(name) {
                return Arc::clone(n);
            }
            let n: Arc<str> = Arc::from(name);
            names.insert(name.to_owned(), Arc::clone(&n));
            n
        };
        for task in &self.tasks {
            let key = Key::parse_dask_interned(&task.key, &mut intern);
            let deps: Vec<Key> = task
                .deps
                .iter()
                .map(|d| Key::parse_dask_interned(d, &mut intern))
                .collect();
            builder.add(key, deps, ())?;
        }
        let graph = builder.build()?;
        let targets: Vec<Key> = self
            .targets
            .iter()
            .map(|t| Key::parse_dask_interned(t, &mut intern))
            .collect();
        let targets = graph.resolve(&targets)?;
        Ok(LoadedGraph {
            name: self.name.clone(),
            graph,
            targets,
        })
    }
}

/// Parses and validates a graph file's text in one step.
///
/// ```
/// let g = taskloom_core::file::load_json(
///     r#"{"name": "tiny", "tasks": [{"key": "('x', 0)", "deps": []},
///                                   {"key": "y", "deps": ["('x', 0)"]}],
///        "targets": ["y"]}"#,
/// )?;
/// assert_eq!(g.graph.len(), 2);
/// assert_eq!(g.graph.key(g.targets[0]).to_string(), "y");
/// # Ok::<(), taskloom_core::file::FileError>(())
/// ```
///
/// # Errors
/// [`FileError`] when the text is not a graph file or the graph is malformed.
pub fn load_json(text: &str) -> Result<LoadedGraph, FileError> {
    Ok(GraphFile::from_json(text)?.to_graph()?)
}
