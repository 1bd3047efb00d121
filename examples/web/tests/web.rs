//! The web backend example (`src/app.rs`) on 127.0.0.1 with an ephemeral port:
//! 200 concurrent requests all answered right, bad requests refused with a 4xx and a
//! JSON error, and computations that stop when their deadline passes or their client
//! disconnects. Loopback only; every loop is bounded.
//!
//! No test depends on the machine's speed. The server runs on a Tokio runtime of its
//! own whose clock stands still ([`Server`]), so a request's deadline passes only when
//! a test moves that clock: after the tasks it needs are running, never because a
//! loaded machine was slow to start them (nor for the 200 concurrent requests).
#![allow(clippy::unwrap_used)] // tests panic on unexpected errors by design

#[path = "../src/app.rs"]
#[allow(dead_code)] // parts only the example's main uses
mod app;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use taskloom::Scheduler;
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot};

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// Upper bound of every wait in these tests (on the tests' real clock), reached only
/// when what is awaited never happens: a regression fails instead of hanging.
const LIMIT: Duration = Duration::from_secs(60);

/// The app served on an ephemeral loopback port by a thread of its own, on a
/// current-thread Tokio runtime with its clock paused.
///
/// A paused clock moves by itself only when the runtime is idle, and never while a
/// `spawn_blocking` task runs (Tokio's documented rule, see `tokio::time::pause`):
/// the server keeps one blocking task waiting for its whole life, so its clock moves
/// only through [`Server::advance`]. Task bodies and the app's timings use the real
/// clock (`std::time`); only request deadlines are on the paused one.
struct Server {
    addr: SocketAddr,
    stats: Arc<app::Stats>,
    /// Asks the server's runtime to move its clock; answers when done. Dropping it
    /// stops the server.
    clock: mpsc::UnboundedSender<(Duration, oneshot::Sender<()>)>,
}

impl Server {
    fn start() -> Server {
        let (ready, started) = std::sync::mpsc::channel();
        let (clock, mut moves) = mpsc::unbounded_channel::<(Duration, oneshot::Sender<()>)>();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .start_paused(true)
                .build()
                .unwrap();
            runtime.block_on(async move {
                let (release, held) = std::sync::mpsc::channel::<()>();
                let holder = tokio::task::spawn_blocking(move || held.recv());
                // Built here so that its async tasks run on this runtime.
                let state = app::AppState::new(Scheduler::threads(2).unwrap());
                let stats = state.stats();
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                ready.send((listener.local_addr().unwrap(), stats)).unwrap();
                let server =
                    tokio::spawn(async move { axum::serve(listener, app::router(state)).await });
                while let Some((by, done)) = moves.recv().await {
                    tokio::time::advance(by).await;
                    let _ = done.send(());
                }
                server.abort();
                drop(release);
                let _ = holder.await;
            });
        });
        let (addr, stats) = started.recv_timeout(LIMIT).expect("the server starts");
        Server { addr, stats, clock }
    }

    /// Moves the server's clock by `by`: deadlines that fall within it pass.
    async fn advance(&self, by: Duration) {
        let (done, moved) = oneshot::channel();
        self.clock.send((by, done)).unwrap();
        tokio::time::timeout(LIMIT, moved)
            .await
            .expect("the server's clock moves")
            .unwrap();
    }
}

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// POSTs `body` to `/compute`; returns the status and the JSON answer.
async fn post(
    client: &HttpClient,
    addr: SocketAddr,
    body: impl Into<Bytes>,
) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(Method::POST)
        .uri(format!("http://{addr}/compute"))
        .header("content-type", "application/json")
        .body(Full::new(body.into()))
        .unwrap();
    let response = tokio::time::timeout(LIMIT, client.request(request))
        .await
        .expect("answered in time")
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "{status}: not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, value)
}

/// A graph in the shared JSON format: `width` chains of `height` tasks.
fn chains(width: usize, height: usize) -> Value {
    let mut tasks = Vec::new();
    for c in 0..width {
        for i in 0..height {
            let deps: Vec<String> = if i == 0 {
                vec![]
            } else {
                vec![format!("c{c}_{}", i - 1)]
            };
            tasks.push(json!({"key": format!("c{c}_{i}"), "deps": deps}));
        }
    }
    let targets: Vec<String> = (0..width).map(|c| format!("c{c}_{}", height - 1)).collect();
    json!({"name": "chains", "tasks": tasks, "targets": targets})
}

/// Waits until `done` holds (bounded by [`LIMIT`]).
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    tokio::time::timeout(LIMIT, async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting until {what}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_requests_are_all_answered_right() {
    // The server's clock stands still: no request's deadline can pass, however long
    // 200 requests take on 2 workers of a loaded machine.
    let server = Server::start();
    let (addr, stats) = (server.addr, Arc::clone(&server.stats));
    let client = client();
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..200_usize {
        let client = client.clone();
        requests.spawn(async move {
            if i % 4 == 3 {
                // A graph request: chains of i/4 + 1 tasks; each target's depth is that.
                let height = i / 4 + 1;
                let body = json!({"graph": chains(3, height), "task": "depth"});
                let (status, answer) = post(&client, addr, body.to_string()).await;
                assert_eq!(status, StatusCode::OK, "{answer}");
                let result = answer["result"].as_array().unwrap();
                assert_eq!(result.len(), 3);
                for (c, target) in result.iter().enumerate() {
                    assert_eq!(target["key"], format!("c{c}_{}", height - 1));
                    assert_eq!(target["value"], height as u64);
                }
                assert_eq!(answer["tasks"], 3 * height);
            } else {
                let chunks = 1 + 7 * i;
                let body =
                    json!({"tree_sum": {"chunks": chunks, "chunk_len": 3, "split_every": 8}});
                let (status, answer) = post(&client, addr, body.to_string()).await;
                assert_eq!(status, StatusCode::OK, "{answer}");
                assert_eq!(
                    answer["result"].as_f64(),
                    Some((3 * chunks) as f64),
                    "{answer}"
                );
                assert_eq!(answer["executor"], "threads");
                assert!(answer["timings"]["compute_ms"].as_f64().unwrap() >= 0.0);
            }
        });
    }
    let mut answered = 0;
    while let Some(done) = requests.join_next().await {
        done.unwrap(); // re-raises a failed assertion of that request
        answered += 1;
    }
    assert_eq!(answered, 200);
    assert_eq!(stats.computations_started.load(Ordering::SeqCst), 200);
    assert_eq!(stats.computations_running.load(Ordering::SeqCst), 0);
}

/// The request body the guide shows (`curl ... -d @examples/web/chains_1k_depth.json`):
/// Dask's `chains_1k` graph, 10 chains of 100 tasks, each target at depth 100.
#[tokio::test]
async fn the_documented_request_body_is_answered() {
    let server = Server::start();
    let body = include_str!("../chains_1k_depth.json");
    let (status, answer) = post(&client(), server.addr, body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["tasks"], 1000);
    let result = answer["result"].as_array().unwrap();
    assert_eq!(result.len(), 10);
    for (c, target) in result.iter().enumerate() {
        assert_eq!(target["key"], format!("c{c}_99"));
        assert_eq!(target["value"], 100);
    }
}

#[tokio::test]
async fn bad_requests_get_a_4xx_with_the_error() {
    let server = Server::start();
    let (addr, stats) = (server.addr, Arc::clone(&server.stats));
    let client = client();
    let cycle = json!({"graph": {"name": "loop", "tasks": [
        {"key": "a", "deps": ["c"]}, {"key": "b", "deps": ["a"]}, {"key": "c", "deps": ["b"]}
    ], "targets": ["c"]}});
    let missing = json!({"graph": {"name": "hole", "tasks": [
        {"key": "a", "deps": []}, {"key": "b", "deps": ["a", "ghost"]}
    ], "targets": ["b"]}});
    let unknown_target = json!({"graph": {"name": "t", "tasks": [{"key": "a", "deps": []}],
        "targets": ["zzz"]}});
    let duplicate = json!({"graph": {"name": "d", "tasks": [
        {"key": "a", "deps": []}, {"key": "a", "deps": []}], "targets": ["a"]}});
    let cases: Vec<(String, StatusCode, &str, &str)> = vec![
        (
            "{\"tree_sum\": ".into(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "malformed",
        ),
        (
            "[1, 2]".into(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "malformed",
        ),
        (
            json!({"graph": chains(1, 2), "task": "explode"}).to_string(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "explode",
        ),
        (
            cycle.to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_graph",
            "cycle",
        ),
        (
            missing.to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_graph",
            "`ghost`",
        ),
        (
            unknown_target.to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_graph",
            "`zzz`",
        ),
        (
            duplicate.to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_graph",
            "duplicate",
        ),
        (
            json!({"tree_sum": {"chunks": 0}}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "chunks",
        ),
        (
            json!({}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "exactly one",
        ),
        (
            json!({"tree_sum": {"chunks": 2}, "timeout_ms": 3_600_000}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "timeout_ms",
        ),
    ];
    for (body, status, kind, needle) in cases {
        let (got, answer) = post(&client, addr, body.clone()).await;
        assert_eq!(got, status, "{body} -> {answer}");
        assert_eq!(answer["kind"], kind, "{body} -> {answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(error.contains(needle), "{body} -> {error}");
    }
    assert_eq!(
        stats.computations_started.load(Ordering::SeqCst),
        0,
        "none ran"
    );
    // The server still serves good requests.
    let (status, answer) = post(
        &client,
        addr,
        json!({"tree_sum": {"chunks": 500}}).to_string(),
    )
    .await;
    assert_eq!(
        (status, answer["result"].as_f64()),
        (StatusCode::OK, Some(1000.0))
    );
}

/// 100 tasks of 10 s each (the longest a `sleep_ms` task may be), two running at a
/// time: minutes of work unless cancelled.
fn sleepy(timeout_ms: u64) -> String {
    let tasks: Vec<Value> = (0..100)
        .map(|i| json!({"key": format!("s{i}"), "deps": []}))
        .collect();
    let targets: Vec<String> = (0..100).map(|i| format!("s{i}")).collect();
    json!({
        "graph": {"name": "sleepy", "tasks": tasks, "targets": targets},
        "task": {"sleep_ms": 10_000},
        "timeout_ms": timeout_ms,
    })
    .to_string()
}

/// Checks that the computation stopped: nothing runs, the running tasks saw the
/// cancellation, and no task starts afterwards.
async fn assert_stopped(stats: &app::Stats) {
    until("the request ended", || {
        stats.computations_running.load(Ordering::SeqCst) == 0
    })
    .await;
    until("running tasks saw the cancellation", || {
        stats.sleeps_running.load(Ordering::SeqCst) == 0
    })
    .await;
    let started = stats.sleeps_started.load(Ordering::SeqCst);
    assert!(
        (1..100).contains(&started),
        "{started} of 100 tasks started"
    );
    assert!(
        stats.sleeps_cancelled.load(Ordering::SeqCst) >= 1,
        "the tasks running at the cancel stopped early"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        stats.sleeps_started.load(Ordering::SeqCst),
        started,
        "nothing new started"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_request_cancels_its_computation() {
    let server = Server::start();
    let stats = Arc::clone(&server.stats);
    let (client, addr) = (client(), server.addr);
    let request = tokio::spawn(async move { post(&client, addr, sleepy(500)).await });
    until("a task runs", || {
        stats.sleeps_running.load(Ordering::SeqCst) > 0
    })
    .await;
    assert_eq!(
        stats.computations_running.load(Ordering::SeqCst),
        1,
        "the server's clock has not moved: nothing timed out yet"
    );
    server.advance(Duration::from_secs(1)).await; // past the 500 ms deadline
    let (status, answer) = tokio::time::timeout(LIMIT, request)
        .await
        .expect("answered once the deadline passed")
        .unwrap();
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{answer}");
    assert_eq!(answer["kind"], "timeout");
    assert_stopped(&stats).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_cancels_its_computation() {
    let server = Server::start();
    let (addr, stats) = (server.addr, Arc::clone(&server.stats));
    let body = sleepy(60_000);
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /compute HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    until("a task runs", || {
        stats.sleeps_running.load(Ordering::SeqCst) > 0
    })
    .await;
    drop(stream); // the client goes away without reading the answer
    assert_stopped(&stats).await;
}
