//! The scheduling loop's side of the result cache: before a computation starts, find
//! the entries it can load, and make the graph it runs.
//!
//! [`plan`] keys every cached task the targets need (see `cache::key`: a Merkle
//! chain, in one pass over the needed tasks in graph order), then walks down from
//! the targets: a task whose entry is there and whole (its header checked) becomes a
//! *loader*, a task without inputs that reads and checks its entry on a worker, and
//! the walk does not go below it; what only loaders needed is then culled by core's
//! `State` like any unneeded task. The graph it runs has the same tasks, ids and keys
//! (results come back as from the original); loaders replace the tasks found, and
//! every other cached task stores its value as soon as it is made: encoded by the
//! worker that made it (handed to the cache's writer), or, for a remote task run in
//! another process, by the parent as the value arrives (such a value comes back to
//! the parent instead of staying in its worker, and ends any chain it is in).
//!
//! A loader whose entry turns out damaged (a flipped bit in the value, caught by its
//! checksum) or gone (evicted meanwhile) recomputes its task where it is: a nested
//! computation of that task alone, with the same cache (its inputs are loaded where
//! their entries are sound), while the loader's thread waits. On an executor's
//! worker thread it runs right there; on a thread that runs a Tokio runtime's tasks
//! (the loop's own, under `CurrentThread`) it runs on a thread and a runtime of its
//! own, since its async tasks could never run on a runtime whose thread waits for
//! them. The damage is reported, and the value returned is always the recomputed
//! one.
//!
//! Nothing here runs for a computation without a cache, or without cached tasks.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use futures::FutureExt;
use taskloom_core::{Graph as CoreGraph, Key, TaskId};

use super::hooks::Hooks;
use super::{Held, Setup, run};
use crate::body::{AsyncFnBox, BlockingFn, BlockingFnBox, TaskBody};
use crate::cache::{Cache, Caching, EntryKey, Noted, Problem, Report, Spec};
use crate::callbacks::{CacheEvent, CacheEventKind, ComputationId};
use crate::error::{ComputeError, TaskError, TaskErrorKind};
use crate::executor::{CurrentThread, running};
use crate::graph::PerTask;
use crate::options::ComputeOptions;
use crate::size::Sizes;
use crate::value::Value;

/// What a computation with a cache runs.
pub(super) struct Planned {
    /// The graph to run: loaders and storing tasks in place of the cached ones.
    pub(super) graph: Arc<CoreGraph<TaskBody>>,
    /// Where the cache's doings are gathered.
    pub(super) report: Arc<Report>,
}

/// Everything a damaged entry's recomputation needs: the original graph and how the
/// computation was set up.
struct Recompute {
    setup: Arc<Setup>,
    graph: Arc<CoreGraph<TaskBody>>,
    sizes: Arc<Sizes>,
    /// Whether some task makes results of unknown size that may be large.
    unknown_sizes: bool,
    per_task: PerTask,
    options: ComputeOptions,
}

/// Finds the entries `targets` can load and makes the graph to run (see the
/// module). `None` if no task the targets need is cached.
pub(super) fn plan(
    setup: &Arc<Setup>,
    graph: &Arc<CoreGraph<TaskBody>>,
    (sizes, unknown_sizes): (&Arc<Sizes>, bool),
    per_task: &PerTask,
    targets: &[TaskId],
    options: &ComputeOptions,
    caching: &Caching,
) -> Result<Option<Planned>, ComputeError> {
    let specs = &per_task.cached;
    if specs.is_empty() {
        return Ok(None);
    }
    let culled = taskloom_core::cull(graph, targets)?;
    let n = graph.len();
    // Keys, in graph order: every input comes before its dependents.
    let mut keys: Vec<Option<EntryKey>> = vec![None; n];
    let mut inputs = Vec::new();
    for t in culled.ids() {
        let Some(spec) = specs.of(t.index()) else {
            continue;
        };
        inputs.clear();
        let all = graph.deps(t).iter().all(|d| match keys[d.index()] {
            Some(k) => {
                inputs.push(k);
                true
            }
            None => false,
        });
        if all {
            keys[t.index()] = Some(EntryKey::of(
                &graph.key(t).to_string(),
                &spec.cached.version,
                &spec.cached.literal,
                spec.codec.name(),
                &inputs,
            ));
        } else {
            tracing::debug!(
                key = %graph.key(t),
                "taskloom task not cached: an input of it is not cached"
            );
        }
    }
    if keys.iter().all(Option::is_none) {
        return Ok(None);
    }
    let cache = &caching.cache;
    let report = caching.report.clone().unwrap_or_default();
    // From the targets down: a task found is loaded, and nothing below it is needed
    // for it.
    let mut found = vec![false; n];
    let mut seen = vec![false; n];
    let mut stack: Vec<TaskId> = targets.to_vec();
    while let Some(t) = stack.pop() {
        if std::mem::replace(&mut seen[t.index()], true) {
            continue;
        }
        if let Some(key) = &keys[t.index()] {
            match cache.probe(key) {
                Ok(()) => {
                    found[t.index()] = true;
                    report.note(Noted::Hit(t));
                    continue;
                }
                Err(Problem::Corrupt(why)) => {
                    tracing::warn!(key = %graph.key(t), %why, "taskloom cache entry is damaged; its task runs again");
                    cache.remove_damaged(key);
                    report.note(Noted::Corrupt(t, why));
                }
                Err(Problem::Missing | Problem::Unreadable(_)) => {}
            }
        }
        stack.extend_from_slice(graph.deps(t));
    }
    let recompute = Arc::new(Recompute {
        setup: Arc::new(Setup {
            executor: Arc::new(CurrentThread),
            chunksize: Some(1),
            max_async_tasks: setup.max_async_tasks,
            // The recomputation runs on a worker thread, outside any runtime: its
            // async tasks go to the one this computation runs on.
            runtime: setup
                .runtime
                .clone()
                .or_else(|| tokio::runtime::Handle::try_current().ok()),
            task_ns: AtomicU64::new(0),
        }),
        graph: Arc::clone(graph),
        sizes: Arc::clone(sizes),
        unknown_sizes,
        per_task: per_task.clone(),
        options: ComputeOptions {
            cancel: None,
            callbacks: Vec::new(),
            fuse: options.fuse,
            memory_limit: options.memory_limit,
            timeout: options.timeout,
            retry: options.retry.clone(),
            cache: Some(Caching {
                cache: cache.clone(),
                report: Some(Arc::clone(&report)),
            }),
        },
    });
    let mut rewritten = CoreGraph::with_capacity(n, graph.edge_count());
    for t in graph.ids() {
        let key = graph.key(t).clone();
        let body = graph.payload(t);
        let entry = keys[t.index()].filter(|_| seen[t.index()]);
        let spec = specs.of(t.index());
        let (deps, body): (&[TaskId], TaskBody) = match (entry, spec) {
            (Some(entry), Some(spec)) if found[t.index()] => {
                let entry = Entry::new(t, entry, spec, cache, &report);
                (&[], loader(entry, Arc::clone(&recompute)))
            }
            (Some(entry), Some(spec)) => {
                let entry = Entry::new(t, entry, spec, cache, &report);
                (graph.deps(t), storing(body, entry))
            }
            _ => (graph.deps(t), body.clone()),
        };
        rewritten.push(key, deps, body)?;
    }
    Ok(Some(Planned {
        graph: Arc::new(rewritten),
        report,
    }))
}

/// One cached task's entry, as its loader or its storing body sees it.
struct Entry {
    task: TaskId,
    key: EntryKey,
    spec: Arc<Spec>,
    cache: Cache,
    report: Arc<Report>,
}

impl Entry {
    fn new(
        task: TaskId,
        key: EntryKey,
        spec: &Arc<Spec>,
        cache: &Cache,
        report: &Arc<Report>,
    ) -> Arc<Self> {
        Arc::new(Entry {
            task,
            key,
            spec: Arc::clone(spec),
            cache: cache.clone(),
            report: Arc::clone(report),
        })
    }

    /// Stores `value`: encoded here, written by the cache's writer (see
    /// `cache::writer`); what becomes of it is reported.
    fn put(&self, value: &Value) {
        self.cache
            .store(&self.key, value, &*self.spec.codec, self.task, &self.report);
    }
}

/// A cached task's body that stores its value as soon as it is made.
fn storing(body: &TaskBody, entry: Arc<Entry>) -> TaskBody {
    match body {
        TaskBody::Blocking(b) => {
            let func = b.func.clone();
            // Run in another process (the process pool, the cluster), its value is
            // stored by the parent as it arrives: see `RemoteCall::with_on_result`.
            let remote = b.remote.as_ref().map(|call| {
                let entry = Arc::clone(&entry);
                Arc::new(call.with_on_result(Arc::new(move |value: &Value| entry.put(value))))
            });
            TaskBody::Blocking(BlockingFnBox {
                func: BlockingFn::new(move |inputs: &[&Value]| {
                    let value = func(inputs)?;
                    entry.put(&value);
                    Ok(value)
                }),
                remote,
            })
        }
        TaskBody::Async(a) => {
            let func = Arc::clone(&a.0);
            TaskBody::Async(AsyncFnBox(Arc::new(move |inputs: Vec<Value>| {
                let made = func(inputs);
                let entry = Arc::clone(&entry);
                async move {
                    let value = made.await?;
                    // Encoded on a blocking thread, and waited for: the entry is the
                    // value as it was made (the writer writes it later).
                    let stored = Value::clone(&value);
                    let _ = tokio::task::spawn_blocking(move || entry.put(&stored)).await;
                    Ok(value)
                }
                .boxed()
            })))
        }
    }
}

/// The body of a task found in the cache: loads its entry, or recomputes the task
/// if the entry is damaged or gone.
fn loader(entry: Arc<Entry>, recompute: Arc<Recompute>) -> TaskBody {
    TaskBody::Blocking(BlockingFnBox::local(BlockingFn::new(
        move |_: &[&Value]| match entry.cache.load(&entry.key, &*entry.spec.codec) {
            Ok(value) => Ok(value),
            Err(problem) => {
                let key = recompute.graph.key(entry.task);
                if let Problem::Corrupt(why) = &problem {
                    tracing::warn!(%key, %why, "taskloom cache entry is damaged; its task runs again");
                    entry.report.note(Noted::Corrupt(entry.task, why.clone()));
                }
                recompute.task(entry.task, &problem)
            }
        },
    )))
}

impl Recompute {
    /// Computes `task` alone, with the cache, blocking this thread until it is done.
    fn task(&self, task: TaskId, problem: &Problem) -> Result<Value, TaskError> {
        let computed = if tokio::runtime::Handle::try_current().is_ok() {
            self.on_own_thread(task)
        } else {
            // A worker thread of an executor: the computation's runtime is free to
            // run the recomputation's async tasks.
            futures::executor::block_on(self.run(Arc::clone(&self.setup), task, None))
        };
        match computed {
            Ok(mut held) => held.take(task).ok_or_else(|| {
                TaskError::new(
                    TaskErrorKind::WorkerLost,
                    "its recomputation returned no value",
                )
            }),
            Err(ComputeError::Task { key, error }) => Err(TaskError::new(
                error.kind(),
                format!(
                    "its cache entry could not be used ({problem}), and recomputing it failed: task `{key}` {error}"
                ),
            )),
            Err(e) => Err(TaskError::new(
                TaskErrorKind::Failed,
                format!(
                    "its cache entry could not be used ({problem}), and recomputing it failed: {e}"
                ),
            )),
        }
    }

    /// The recomputation of `task` on `setup`, cancelled with `cancel`.
    fn run(
        &self,
        setup: Arc<Setup>,
        task: TaskId,
        cancel: Option<tokio_util::sync::CancellationToken>,
    ) -> impl Future<Output = Result<Held, ComputeError>> + Send + 'static {
        let mut options = self.options.clone();
        options.cancel = cancel;
        run(
            setup,
            Arc::clone(&self.graph),
            (Arc::clone(&self.sizes), self.unknown_sizes),
            self.per_task.clone(),
            vec![task],
            options,
        )
    }

    /// The recomputation on a thread of its own, with a current-thread runtime of
    /// its own for its async tasks, while this thread waits.
    ///
    /// This thread runs a Tokio runtime's tasks (the loader runs inline, under
    /// `CurrentThread`): blocking it for a recomputation whose async tasks are
    /// spawned on that runtime would wait forever on a current-thread runtime, whose
    /// only thread this is. The recomputation is cancelled with the computation this
    /// loader runs in (found here, on the loader's thread).
    fn on_own_thread(&self, task: TaskId) -> Result<Held, ComputeError> {
        let cancel = running::enclosing_token();
        let setup = Arc::new(Setup {
            executor: Arc::clone(&self.setup.executor),
            chunksize: self.setup.chunksize,
            max_async_tasks: self.setup.max_async_tasks,
            runtime: None,
            task_ns: AtomicU64::new(0),
        });
        let computation = self.run(setup, task, cancel);
        let recompute = move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| {
                    ComputeError::Protocol(format!(
                        "no runtime could be made for a recomputation ({e})"
                    ))
                })?;
            runtime.block_on(computation)
        };
        let joined = std::thread::Builder::new()
            .name("taskloom-cache-recompute".into())
            .spawn(recompute)
            .map_err(|e| {
                ComputeError::Protocol(format!(
                    "no thread could be started for a recomputation ({e})"
                ))
            })?
            .join();
        joined.unwrap_or_else(|payload| {
            Err(ComputeError::Protocol(format!(
                "the recomputation's thread panicked: {}",
                TaskError::panicked(&*payload).message()
            )))
        })
    }
}

/// Tells the callbacks what the cache did since the last call.
pub(super) fn tell(
    report: &Report,
    hooks: &Hooks,
    graph: &CoreGraph<TaskBody>,
    computation: ComputationId,
) -> Result<(), ComputeError> {
    for noted in report.take() {
        let (task, kind): (TaskId, CacheEventKind<'_>) = match &noted {
            Noted::Hit(t) => (*t, CacheEventKind::Hit),
            Noted::Stored(t, bytes) => (*t, CacheEventKind::Stored { bytes: *bytes }),
            Noted::Corrupt(t, why) => (*t, CacheEventKind::Corrupt { reason: why }),
            Noted::Unwritable(t, why) => (*t, CacheEventKind::Unwritable { reason: why }),
            Noted::NotStored(t, why) => (*t, CacheEventKind::NotStored { reason: why }),
        };
        let key: &Key = graph.key(task);
        hooks.cache(&CacheEvent {
            computation,
            key,
            kind,
        })?;
    }
    Ok(())
}
