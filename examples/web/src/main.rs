//! A web backend computing task graphs: one shared `Scheduler`, one computation per
//! request, cancelled when its deadline passes or its client goes away.
//!
//! ```sh
//! cargo run --release -p taskloom-web-example -- [--addr 127.0.0.1:3000] [--workers N]
//! curl -s localhost:3000/compute -d '{"tree_sum": {"chunks": 500}}'
//! curl -s localhost:3000/compute --data-binary @examples/web/chains_1k_depth.json
//! # (a graph of benches/graphs as a request: jq -c '{graph: ., task: "depth"}' FILE)
//! curl -s localhost:3000/stats
//! ```
//!
//! The router and its request types are in `app.rs`, which `tests/web.rs` includes to
//! run the same application on an ephemeral port. This example is a package of its
//! own (`taskloom-web-example`), so that only those who build it compile axum.

mod app;

use std::net::SocketAddr;

use taskloom::Scheduler;

fn parse_args() -> Result<(SocketAddr, Option<usize>), String> {
    let mut addr: SocketAddr = ([127, 0, 0, 1], 3000).into();
    let mut workers = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--addr" => {
                addr = value("--addr")?
                    .parse()
                    .map_err(|e| format!("--addr: {e}"))?;
            }
            "--workers" => {
                workers = Some(
                    value("--workers")?
                        .parse()
                        .map_err(|e| format!("--workers: {e}"))?,
                );
            }
            other => {
                return Err(format!(
                    "unknown argument {other}; usage: taskloom-web-example [--addr IP:PORT] [--workers N]"
                ));
            }
        }
    }
    Ok((addr, workers))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (addr, workers) = parse_args()?;
    let scheduler = match workers {
        Some(n) => Scheduler::threads(n)?,
        None => Scheduler::new()?,
    };
    let state = app::AppState::new(scheduler.clone());
    let stats = state.stats();
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    println!(
        "taskloom web backend on http://{addr} ({} workers: {})",
        scheduler.executor().num_workers(),
        scheduler.executor().name()
    );
    println!("  curl -s {addr}/compute -d '{{\"tree_sum\": {{\"chunks\": 500}}}}'");
    println!(
        "  curl -s {addr}/compute -d '{{\"graph\": {{\"name\": \"g\", \"tasks\": \
         [{{\"key\": \"a\", \"deps\": []}}, {{\"key\": \"b\", \"deps\": [\"a\"]}}], \
         \"targets\": [\"b\"]}}, \"task\": \"depth\"}}'"
    );
    println!("  curl -s {addr}/stats");
    axum::serve(listener, app::router(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    println!("stopped; {}", stats.to_json());
    Ok(())
}
