//! From a Dask graph to a taskloom graph.
//!
//! `get(dsk, keys)` hands this module a dict of Dask task-spec nodes (already through
//! Dask's own `convert_legacy_graph`, so every value is a `GraphNode`). It walks the
//! dict from the requested keys, so only what they need is built (Dask's culling);
//! reads each node's `dependencies`; puts the tasks in an order where every dependency
//! comes first (taskloom's `Graph` is built that way and so refuses cycles by
//! construction); and adds one untyped task per key with `Graph::add_dyn`. Ordering the
//! run is then taskloom-core's job, not Dask's `order`. Every task's result is measured
//! when it is made (`sizes`), so the scheduler knows large results from small ones.
//!
//! The walk holds the GIL; it reads the graph through the C API (dict lookups and one
//! attribute per node), so building costs well under a microsecond per task.

use std::sync::Arc;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyType};
use taskloom::remote::DynRemote;
use taskloom::{AnyHandle, Graph, Request};

use crate::callbacks::Stash;
use crate::error::GetError;
use crate::keys::KeyCoder;
use crate::pickled;
use crate::sizes::{PyValue, Sizer};
use crate::task::{Body, Call, Task, python_value};

/// A Dask graph made ready for taskloom.
pub(crate) struct Built {
    /// One task per key that the requested keys need.
    pub(crate) graph: Graph,
    /// The requested keys, nested as the caller nested them.
    pub(crate) request: Request,
    /// The Python key of each task, by task id (`TaskId::index`).
    pub(crate) keys: Vec<Py<PyAny>>,
    /// Whether each task, by task id, is data known before the computation starts (a
    /// `DataNode`, or a key found in `cache`): Dask keeps those in its cache from the
    /// start and tells callbacks nothing about them.
    pub(crate) data: Vec<bool>,
    /// Where tasks leave their results for the `posttask` callbacks, when there are
    /// callbacks.
    pub(crate) stash: Option<Arc<Stash>>,
}

/// How the tasks of one computation call Python.
pub(crate) struct Settings {
    /// The caller's `contextvars` context, entered (a fresh copy each time) around every
    /// call on a worker thread, as Dask's `ContextAwareThreadPoolExecutor` does. `None`
    /// for inline runs, which run in the caller's own context.
    pub(crate) context: Option<Arc<Py<PyAny>>>,
    /// Whether results must be handed to `posttask` callbacks.
    pub(crate) callbacks: bool,
    /// Whether every task is cached on disk (`get(..., cache="dir")`).
    pub(crate) disk_cache: bool,
    /// The function that runs a node in a worker process, when the tasks run in
    /// worker processes (`None`: in this one).
    pub(crate) remote: Option<Arc<DynRemote>>,
}

/// Builds the graph of everything `keys` needs from `dsk`, reading keys that `dsk`
/// lacks from `cache`.
///
/// # Errors
/// [`GetError::UnknownKey`] for a requested key that neither `dsk` nor `cache` has,
/// [`GetError::MissingDependency`] for a dependency that neither has,
/// [`GetError::Cycle`], [`GetError::NotANode`], or a Python error while reading.
pub(crate) fn build(
    dsk: &Bound<'_, PyDict>,
    keys: &Bound<'_, PyAny>,
    cache: Option<&Bound<'_, PyAny>>,
    settings: &Settings,
) -> Result<Built, GetError> {
    let mut walk = Walk::new(dsk, cache)?;
    let shape = walk.shape(keys)?;
    walk.run()?;
    let order = topological_order(&walk.nodes)?;
    assemble(walk, &order, &shape, settings)
}

/// What a key of the graph is.
enum Kind<'py> {
    /// Not read yet.
    Unread,
    /// A value known now: a `DataNode`'s, or the key's value in `cache`.
    Data(Bound<'py, PyAny>),
    /// Dask's `Alias`: the value of its one dependency.
    Alias,
    /// Any other node: called as `node(values)`.
    Call(Bound<'py, PyAny>),
    /// Neither in the graph nor in `cache`.
    Missing,
}

struct Node<'py> {
    key: Bound<'py, PyAny>,
    kind: Kind<'py>,
    /// Positions in `Walk::nodes` of the dependencies, in the node's own order.
    deps: Vec<usize>,
}

/// The requested keys with their positions in `Walk::nodes`.
enum Shape {
    Key(usize),
    List(Vec<Shape>),
}

/// Dask's node classes, imported once.
struct NodeTypes<'py> {
    graph_node: Bound<'py, PyType>,
    data_node: Bound<'py, PyType>,
    alias: Bound<'py, PyType>,
}

impl<'py> NodeTypes<'py> {
    fn get(py: Python<'py>) -> PyResult<Self> {
        static GRAPH_NODE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
        static DATA_NODE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
        static ALIAS: PyOnceLock<Py<PyType>> = PyOnceLock::new();
        const MODULE: &str = "dask._task_spec";
        Ok(NodeTypes {
            graph_node: GRAPH_NODE.import(py, MODULE, "GraphNode")?.clone(),
            data_node: DATA_NODE.import(py, MODULE, "DataNode")?.clone(),
            alias: ALIAS.import(py, MODULE, "Alias")?.clone(),
        })
    }
}

/// A depth-first walk of the Dask graph from the requested keys.
struct Walk<'a, 'py> {
    dsk: &'a Bound<'py, PyDict>,
    cache: Option<&'a Bound<'py, PyAny>>,
    types: NodeTypes<'py>,
    /// Python key → position in `nodes`.
    index: Bound<'py, PyDict>,
    nodes: Vec<Node<'py>>,
    /// Positions of nodes met but not read yet.
    todo: Vec<usize>,
}

impl<'a, 'py> Walk<'a, 'py> {
    fn new(dsk: &'a Bound<'py, PyDict>, cache: Option<&'a Bound<'py, PyAny>>) -> PyResult<Self> {
        let py = dsk.py();
        Ok(Walk {
            dsk,
            cache,
            types: NodeTypes::get(py)?,
            index: PyDict::new(py),
            nodes: Vec::new(),
            todo: Vec::new(),
        })
    }

    /// The requested keys: a key, or a (nested) list of keys, as Dask's `get` takes
    /// them (only `list`s nest; a tuple is a key).
    fn shape(&mut self, keys: &Bound<'py, PyAny>) -> PyResult<Shape> {
        if let Ok(list) = keys.cast::<PyList>() {
            let items = list.iter().map(|k| self.shape(&k));
            return Ok(Shape::List(items.collect::<PyResult<_>>()?));
        }
        Ok(Shape::Key(self.intern(keys)?))
    }

    /// The position of `key`, adding it to the walk the first time.
    fn intern(&mut self, key: &Bound<'py, PyAny>) -> PyResult<usize> {
        if let Some(at) = self.index.get_item(key)? {
            return at.extract();
        }
        let at = self.nodes.len();
        self.index.set_item(key, at)?;
        self.nodes.push(Node {
            key: key.clone(),
            kind: Kind::Unread,
            deps: Vec::new(),
        });
        self.todo.push(at);
        Ok(at)
    }

    /// Reads every node the requested keys need.
    fn run(&mut self) -> Result<(), GetError> {
        while let Some(at) = self.todo.pop() {
            self.read(at)?;
        }
        if let Some(at) = self
            .nodes
            .iter()
            .position(|n| matches!(n.kind, Kind::Missing))
        {
            return Err(self.missing(at));
        }
        Ok(())
    }

    fn read(&mut self, at: usize) -> Result<(), GetError> {
        let key = self.nodes[at].key.clone();
        let Some(node) = self.dsk.get_item(&key)? else {
            self.nodes[at].kind = match self.cache {
                Some(cache) if cache.contains(&key)? => Kind::Data(cache.get_item(&key)?),
                _ => Kind::Missing,
            };
            return Ok(());
        };
        if node.is_instance(&self.types.data_node)? {
            // Dask evaluates data nodes on the scheduler's thread before anything runs.
            self.nodes[at].kind = Kind::Data(node.call0()?);
            return Ok(());
        }
        if !node.is_instance(&self.types.graph_node)? {
            return Err(GetError::NotANode {
                key: key.str()?.to_string(),
                type_name: node.get_type().name()?.to_string(),
            });
        }
        let dependencies = node.getattr(intern!(key.py(), "dependencies"))?;
        let mut deps = Vec::with_capacity(dependencies.len().unwrap_or(0));
        for dep in dependencies.try_iter()? {
            deps.push(self.intern(&dep?)?);
        }
        let alias = node.get_type().is(&self.types.alias) && deps.len() == 1;
        let n = &mut self.nodes[at];
        n.deps = deps;
        n.kind = if alias { Kind::Alias } else { Kind::Call(node) };
        Ok(())
    }

    /// The error for the missing key at `at`: Dask's `ValueError` when tasks need it,
    /// its `KeyError` when only the caller asked for it.
    fn missing(&self, at: usize) -> GetError {
        let dependents: Vec<String> = self
            .nodes
            .iter()
            .filter(|n| n.deps.contains(&at))
            .map(|n| n.key.repr().map(|r| r.to_string()).unwrap_or_default())
            .collect();
        let key = &self.nodes[at].key;
        if dependents.is_empty() {
            GetError::UnknownKey(key.clone().unbind())
        } else {
            GetError::MissingDependency {
                key: key.str().map(|s| s.to_string()).unwrap_or_default(),
                dependents: dependents.join(", "),
            }
        }
    }
}

/// Node positions with every dependency before its dependents (an iterative depth-first
/// post-order, so a chain of 10,000 tasks needs no deep recursion).
///
/// # Errors
/// [`GetError::Cycle`] naming the keys on a cycle, as Dask words it.
fn topological_order(nodes: &[Node<'_>]) -> Result<Vec<usize>, GetError> {
    const NEW: u8 = 0;
    const OPEN: u8 = 1;
    const DONE: u8 = 2;
    let mut mark = vec![NEW; nodes.len()];
    let mut order = Vec::with_capacity(nodes.len());
    // (node, how many of its dependencies were looked at)
    let mut stack: Vec<(usize, usize)> = Vec::new();
    for root in 0..nodes.len() {
        if mark[root] != NEW {
            continue;
        }
        mark[root] = OPEN;
        stack.push((root, 0));
        while let Some(top) = stack.last_mut() {
            let (at, seen) = *top;
            let Some(&dep) = nodes[at].deps.get(seen) else {
                mark[at] = DONE;
                order.push(at);
                stack.pop();
                continue;
            };
            top.1 += 1;
            match mark[dep] {
                NEW => {
                    mark[dep] = OPEN;
                    stack.push((dep, 0));
                }
                OPEN => {
                    let from = stack.iter().position(|&(n, _)| n == dep).unwrap_or(0);
                    let mut cycle: Vec<String> = stack[from..]
                        .iter()
                        .map(|&(n, _)| nodes[n].key.to_string())
                        .collect();
                    cycle.push(nodes[dep].key.to_string());
                    return Err(GetError::Cycle(cycle.join("\n  -> ")));
                }
                _ => {}
            }
        }
    }
    Ok(order)
}

/// Adds the tasks to a taskloom graph in `order` and builds the request.
fn assemble(
    walk: Walk<'_, '_>,
    order: &[usize],
    shape: &Shape,
    settings: &Settings,
) -> Result<Built, GetError> {
    let nodes = walk.nodes;
    let edges = nodes.iter().map(|n| n.deps.len()).sum();
    let mut graph = Graph::with_capacity(nodes.len(), edges);
    let stash = settings
        .callbacks
        .then(|| Arc::new(Stash::new(nodes.len())));
    let mut coder = KeyCoder::default();
    let mut handles: Vec<Option<AnyHandle>> = vec![None; nodes.len()];
    let mut rust_keys = vec![None; nodes.len()];
    let mut keys = Vec::with_capacity(nodes.len());
    let mut data = Vec::with_capacity(nodes.len());
    let mut inputs = Vec::new();
    let sizer = Arc::new(Sizer::new(walk.dsk.py()));
    for &at in order {
        let node = &nodes[at];
        inputs.clear();
        for &dep in &node.deps {
            inputs.push(handles[dep].ok_or_else(|| {
                GetError::Internal(format!("a dependency of {} was not added first", node.key))
            })?);
        }
        let index = graph.len();
        if let (Kind::Call(callable), Some(remote)) = (&node.kind, &settings.remote) {
            let py = callable.py();
            let deps = node.deps.iter().map(|&d| nodes[d].key.clone().unbind());
            let payload =
                pickled::task(py, callable, deps).map_err(|error| GetError::Unpicklable {
                    key: node.key.to_string(),
                    error: pickled::describe(py, &error),
                    source: error,
                })?;
            let key = coder.key(&node.key, at);
            let handle = graph.add_dyn_remote(key.clone(), &inputs, remote, payload)?;
            if handle.id().index() != index {
                return Err(GetError::Internal("task ids are not dense".into()));
            }
            handles[at] = Some(handle);
            rust_keys[at] = Some(key);
            keys.push(node.key.clone().unbind());
            data.push(false);
            continue;
        }
        let body = match &node.kind {
            Kind::Data(value) => {
                let bytes = sizer.measure(value, std::time::Duration::ZERO);
                Body::Constant(python_value(value.clone().unbind(), bytes))
            }
            Kind::Alias => Body::Alias,
            Kind::Call(callable) => Body::Call(Call::new(
                callable.clone().unbind(),
                node.deps.iter().map(|&d| nodes[d].key.clone().unbind()),
                settings.context.clone(),
                Arc::clone(&sizer),
            )),
            Kind::Unread | Kind::Missing => {
                return Err(GetError::Internal(format!(
                    "key {} was not read before the graph was built",
                    node.key
                )));
            }
        };
        let is_data = matches!(body, Body::Constant(_));
        let cached = if settings.disk_cache {
            let literal = match &node.kind {
                Kind::Data(value) => Some(value),
                _ => None,
            };
            Some(crate::cache::spec(&node.key, literal)?)
        } else {
            None
        };
        let task = Task::new(body, index, if is_data { None } else { stash.clone() });
        let key = coder.key(&node.key, at);
        let handle = graph.add_dyn(key.clone(), &inputs, move |values| task.run(values))?;
        if let Some(cached) = cached {
            graph.cached_with(&handle, cached, crate::cache::pickle())?;
        }
        graph.measure_dyn::<PyValue>(&handle)?;
        if handle.id().index() != index {
            return Err(GetError::Internal("task ids are not dense".into()));
        }
        handles[at] = Some(handle);
        rust_keys[at] = Some(key);
        keys.push(node.key.clone().unbind());
        data.push(is_data);
    }
    let request = request(shape, &rust_keys)?;
    Ok(Built {
        graph,
        request,
        keys,
        data,
        stash,
    })
}

/// The taskloom request of the same shape as the caller's keys.
fn request(shape: &Shape, keys: &[Option<taskloom::Key>]) -> Result<Request, GetError> {
    Ok(match shape {
        Shape::Key(at) => Request::Key(
            keys[*at]
                .clone()
                .ok_or_else(|| GetError::Internal("a requested key has no task".into()))?,
        ),
        Shape::List(items) => Request::List(
            items
                .iter()
                .map(|s| request(s, keys))
                .collect::<Result<_, _>>()?,
        ),
    })
}
