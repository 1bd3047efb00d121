//! The web backend of the web example, as a module its integration test
//! (`tests/web.rs`) includes too: the router, its state and its request types.
//!
//! One [`Scheduler`] is shared by every request (cloning it is cheap and the clones
//! share its workers). `POST /compute` takes a JSON request, builds the graph off the
//! async threads (`spawn_blocking`: parsing and building a big graph is CPU work),
//! awaits `compute`, and answers with the result and timings. The computation belongs
//! to the request: when the deadline passes or the client disconnects, hyper drops the
//! handler's future, which drops the `Compute` future, which cancels the computation
//! (nothing new starts; running tasks see `taskloom::context::cancelled()`).
//!
//! Bad input is the client's error: malformed JSON is a 400, a graph that cannot run
//! (cycle, missing dependency, duplicate key, unknown target) or a request over the
//! limits is a 422, always with a JSON body `{"error", "kind"}`. A deadline that
//! passes is a 504.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::json;
use taskloom::core::file::GraphFile;
use taskloom::{ComputeError, Graph, GraphError, Handle, Scheduler, context};

/// Largest graph a request may send or ask for, in tasks.
pub(crate) const MAX_TASKS: usize = 200_000;
/// Longest deadline a request may ask for.
pub(crate) const MAX_TIMEOUT: Duration = Duration::from_secs(60);
/// Deadline of a request that names none.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the handlers share.
#[derive(Clone)]
pub(crate) struct AppState {
    scheduler: Scheduler,
    stats: Arc<Stats>,
}

impl AppState {
    /// State around `scheduler`, with fresh counters.
    pub(crate) fn new(scheduler: Scheduler) -> Self {
        AppState {
            scheduler,
            stats: Arc::default(),
        }
    }

    /// The counters (the test reads them to see computations stop).
    pub(crate) fn stats(&self) -> Arc<Stats> {
        Arc::clone(&self.stats)
    }
}

/// Counters served at `GET /stats`.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    /// Computations whose request is still being handled.
    pub(crate) computations_running: AtomicU64,
    /// Computations started.
    pub(crate) computations_started: AtomicU64,
    /// `sleep_ms` tasks started.
    pub(crate) sleeps_started: AtomicU64,
    /// `sleep_ms` tasks running now.
    pub(crate) sleeps_running: AtomicU64,
    /// `sleep_ms` tasks that stopped early because their computation was cancelled.
    pub(crate) sleeps_cancelled: AtomicU64,
}

impl Stats {
    /// The counters as JSON.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        let get = |c: &AtomicU64| c.load(Ordering::SeqCst);
        json!({
            "computations_running": get(&self.computations_running),
            "computations_started": get(&self.computations_started),
            "sleeps_started": get(&self.sleeps_started),
            "sleeps_running": get(&self.sleeps_running),
            "sleeps_cancelled": get(&self.sleeps_cancelled),
        })
    }
}

/// The application: `POST /compute`, `GET /stats`, `GET /` (usage).
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(usage))
        .route("/compute", post(compute))
        .route("/stats", get(stats))
        .with_state(state)
}

/// Body of `POST /compute`: exactly one of `tree_sum` and `graph`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ComputeRequest {
    /// Dask's `da.ones(chunks * chunk_len, chunks=chunk_len).sum()`.
    pub(crate) tree_sum: Option<TreeSum>,
    /// A graph in the shared JSON format (`{"name", "tasks": [{"key", "deps"}],
    /// "targets"}`); every task runs the built-in body `task`.
    pub(crate) graph: Option<GraphFile>,
    /// The body of every task of `graph` (default `depth`).
    #[serde(default)]
    pub(crate) task: Builtin,
    /// Deadline in milliseconds (default 10 s, at most 60 s).
    pub(crate) timeout_ms: Option<u64>,
}

/// A tree reduction: `chunks` chunks of `chunk_len` ones, a sum per chunk, then sums of
/// `split_every` partial sums until one is left. The result is `chunks * chunk_len`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TreeSum {
    /// Number of chunks (1 to 100,000).
    pub(crate) chunks: usize,
    /// Ones per chunk (1 to 1,000; default 2).
    #[serde(default = "two")]
    pub(crate) chunk_len: usize,
    /// Partial sums per aggregate (2 to 1,024; default 32).
    #[serde(default = "thirty_two")]
    pub(crate) split_every: usize,
}

fn two() -> usize {
    2
}

fn thirty_two() -> usize {
    32
}

/// Built-in task bodies for graphs sent as JSON (code cannot travel in a request).
#[derive(Debug, Default, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum Builtin {
    /// 1 + the largest input: the length of the longest path ending at the task.
    #[default]
    Depth,
    /// 1 + the sum of the inputs (saturating): tasks in a tree below the task.
    Count,
    /// Sleeps this many milliseconds (at most 10,000) in 1 ms steps, stopping early
    /// if the computation is cancelled; then as `depth`.
    SleepMs(u64),
}

/// A request the server refuses, and why.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            kind,
            message: message.into(),
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", message)
    }
}

impl From<GraphError> for ApiError {
    fn from(e: GraphError) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_graph",
            e.to_string(),
        )
    }
}

impl From<ComputeError> for ApiError {
    fn from(e: ComputeError) -> Self {
        match e {
            ComputeError::Graph(g) => g.into(),
            ComputeError::DuplicateTarget { .. } => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_graph",
                e.to_string(),
            ),
            // A built-in task failing is the server's problem, not the client's.
            other => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "computation_failed",
                other.to_string(),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({ "error": self.message, "kind": self.kind }));
        (self.status, body).into_response()
    }
}

/// Body of a successful `POST /compute`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ComputeResponse {
    /// The sum (`tree_sum`), or one `{key, value}` per target (`graph`).
    pub(crate) result: serde_json::Value,
    /// Tasks in the graph.
    pub(crate) tasks: usize,
    /// Executor of the shared scheduler.
    pub(crate) executor: String,
    /// Its workers.
    pub(crate) workers: usize,
    /// Where the time went, in milliseconds.
    pub(crate) timings: Timings,
}

/// Milliseconds spent parsing and building the graph, and computing it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Timings {
    /// Parsing, validating and building the graph.
    pub(crate) build_ms: f64,
    /// The `compute` call.
    pub(crate) compute_ms: f64,
}

/// A graph built from a request, with what to return.
enum Built {
    Sum(Graph, Handle<f64>),
    Keys(Graph, Vec<Handle<u64>>),
}

async fn usage() -> &'static str {
    "POST /compute {\"tree_sum\": {\"chunks\": 500}}\n\
     POST /compute {\"graph\": {\"name\": \"g\", \"tasks\": [{\"key\": \"a\", \"deps\": []}], \
     \"targets\": [\"a\"]}, \"task\": \"depth\"}\n\
     GET /stats\n"
}

async fn stats(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(state.stats.to_json())
}

/// Counts a computation as running until the handler ends or is dropped.
struct Running(Arc<Stats>);

impl Running {
    fn new(stats: &Arc<Stats>) -> Self {
        stats.computations_started.fetch_add(1, Ordering::SeqCst);
        stats.computations_running.fetch_add(1, Ordering::SeqCst);
        Running(Arc::clone(stats))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.computations_running.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn compute(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let started = Instant::now();
    let stats = Arc::clone(&state.stats);
    // Parsing and building a large graph is CPU work: keep it off the async threads.
    let (built, timeout) = tokio::task::spawn_blocking(move || build(&body, &stats))
        .await
        .map_err(|e| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
        })??;
    let build_ms = ms(started.elapsed());

    let _running = Running::new(&state.stats);
    let scheduler = &state.scheduler;
    let computing = Instant::now();
    let (result, tasks) = match built {
        Built::Sum(g, total) => {
            let sum = deadline(timeout, scheduler.compute(&g, &total)).await?;
            (json!(sum), g.len())
        }
        Built::Keys(g, targets) => {
            let values = deadline(timeout, scheduler.compute(&g, &targets)).await?;
            let result = targets
                .iter()
                .zip(values)
                .map(|(t, v)| json!({ "key": g.key(t).to_string(), "value": v }))
                .collect();
            (serde_json::Value::Array(result), g.len())
        }
    };
    Ok(Json(ComputeResponse {
        result,
        tasks,
        executor: scheduler.executor().name().to_owned(),
        workers: scheduler.executor().num_workers(),
        timings: Timings {
            build_ms,
            compute_ms: ms(computing.elapsed()),
        },
    })
    .into_response())
}

/// Awaits `compute` for at most `timeout`; past it, the computation is dropped, which
/// cancels it.
async fn deadline<T>(
    timeout: Duration,
    compute: impl Future<Output = Result<T, ComputeError>>,
) -> Result<T, ApiError> {
    match tokio::time::timeout(timeout, compute).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            format!(
                "the computation did not finish within {} ms and was cancelled",
                timeout.as_millis()
            ),
        )),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Parses, checks and builds the request's graph.
fn build(body: &[u8], stats: &Arc<Stats>) -> Result<(Built, Duration), ApiError> {
    let request: ComputeRequest = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("malformed request: {e}"),
        )
    })?;
    let timeout = match request.timeout_ms {
        None => DEFAULT_TIMEOUT,
        Some(ms) if Duration::from_millis(ms) <= MAX_TIMEOUT => Duration::from_millis(ms),
        Some(ms) => {
            return Err(ApiError::invalid(format!(
                "timeout_ms {ms} is over the limit of {} ms",
                MAX_TIMEOUT.as_millis()
            )));
        }
    };
    let built = match (request.tree_sum, request.graph) {
        (Some(t), None) => tree_sum(&t)?,
        (None, Some(file)) => from_file(&file, request.task, stats)?,
        _ => {
            return Err(ApiError::invalid(
                "give exactly one of `tree_sum` and `graph`",
            ));
        }
    };
    Ok((built, timeout))
}

/// The graph of `da.ones(chunks * chunk_len, chunks=chunk_len).sum()` (the quickstart's).
fn tree_sum(t: &TreeSum) -> Result<Built, ApiError> {
    if !(1..=100_000).contains(&t.chunks)
        || !(1..=1000).contains(&t.chunk_len)
        || !(2..=1024).contains(&t.split_every)
    {
        return Err(ApiError::invalid(
            "tree_sum needs 1 <= chunks <= 100000, 1 <= chunk_len <= 1000, \
             2 <= split_every <= 1024",
        ));
    }
    let mut g = Graph::with_capacity(3 * t.chunks, 3 * t.chunks);
    let mut level = Vec::with_capacity(t.chunks);
    let len = t.chunk_len;
    for i in 0..t.chunks as i64 {
        let ones = g.add(("ones", i), (), move || vec![1.0_f64; len])?;
        level.push(g.add(("sum-chunk", i), &ones, |c: &Vec<f64>| c.iter().sum())?);
    }
    let mut depth = 0;
    while level.len() > 1 {
        depth += 1;
        let mut next = Vec::with_capacity(level.len().div_ceil(t.split_every));
        for (i, group) in level.chunks(t.split_every).enumerate() {
            next.push(g.add(
                ("sum-aggregate", depth, i as i64),
                group,
                |parts: &[&f64]| parts.iter().copied().sum(),
            )?);
        }
        level = next;
    }
    Ok(Built::Sum(g, level[0]))
}

/// Builds a graph file's tasks, each running `task`.
fn from_file(file: &GraphFile, task: Builtin, stats: &Arc<Stats>) -> Result<Built, ApiError> {
    if file.tasks.len() > MAX_TASKS {
        return Err(ApiError::invalid(format!(
            "{} tasks is over the limit of {MAX_TASKS}",
            file.tasks.len()
        )));
    }
    if matches!(task, Builtin::SleepMs(ms) if ms > 10_000) {
        return Err(ApiError::invalid("sleep_ms is at most 10000"));
    }
    // Validates duplicates, missing dependencies, cycles and targets, naming the keys.
    let loaded = file.to_graph()?;
    let core = &loaded.graph;
    let mut g = Graph::with_capacity(core.len(), core.edge_count());
    let mut handles: Vec<Handle<u64>> = Vec::with_capacity(core.len());
    let mut inputs = Vec::new();
    for id in core.ids() {
        inputs.clear();
        // Ids of a built graph are a topological order: dependencies come first.
        inputs.extend(core.deps(id).iter().map(|d| handles[d.index()]));
        let key = core.key(id).clone();
        let handle = match task {
            Builtin::Depth => g.add(key, &inputs[..], |xs: &[&u64]| {
                1 + xs.iter().copied().max().copied().unwrap_or(0)
            })?,
            Builtin::Count => g.add(key, &inputs[..], |xs: &[&u64]| {
                xs.iter().fold(1_u64, |acc, x| acc.saturating_add(**x))
            })?,
            Builtin::SleepMs(ms) => {
                let stats = Arc::clone(stats);
                g.add(key, &inputs[..], move |xs: &[&u64]| {
                    sleep_unless_cancelled(&stats, Duration::from_millis(ms));
                    1 + xs.iter().copied().max().copied().unwrap_or(0)
                })?
            }
        };
        handles.push(handle);
    }
    let targets = loaded.targets.iter().map(|t| handles[t.index()]).collect();
    Ok(Built::Keys(g, targets))
}

/// The body of `sleep_ms` tasks: a blocking task that cannot be killed checks its
/// computation's cancellation flag between short sleeps.
fn sleep_unless_cancelled(stats: &Stats, length: Duration) {
    stats.sleeps_started.fetch_add(1, Ordering::SeqCst);
    stats.sleeps_running.fetch_add(1, Ordering::SeqCst);
    let end = Instant::now() + length;
    while Instant::now() < end {
        if context::cancelled() {
            stats.sleeps_cancelled.fetch_add(1, Ordering::SeqCst);
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    stats.sleeps_running.fetch_sub(1, Ordering::SeqCst);
}
