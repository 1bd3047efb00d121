//! Tracing: one `compute` span per computation (with what it held), one `task` span
//! per task, entered on the worker thread that runs it, and a `turn` event per wait of
//! a loop that hands tasks to a pool.
//!
//! A test binary of its own, with the recorder as the global subscriber: span
//! callsites cache their interest process-wide, so a scoped subscriber in a binary
//! whose other tests run in parallel without one sees spans go missing at random.
#![allow(clippy::unwrap_used)] // tests panic on unexpected errors by design

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use taskloom::{Graph, Scheduler};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

#[derive(Default, Debug, Clone)]
struct SpanInfo {
    name: String,
    parent: Option<String>,
    fields: HashMap<String, String>,
    entered_on: Vec<String>,
}

/// An event: its message, its fields and the id of the span it happened in.
#[derive(Debug)]
struct EventInfo {
    fields: HashMap<String, String>,
    span: Option<u64>,
}

#[derive(Clone, Default)]
struct Recorder {
    spans: Arc<Mutex<HashMap<u64, SpanInfo>>>,
    events: Arc<Mutex<Vec<EventInfo>>>,
}

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut info = SpanInfo {
            name: attrs.metadata().name().to_owned(),
            parent: ctx
                .span(id)
                .and_then(|s| s.parent())
                .map(|p| p.name().to_owned()),
            ..SpanInfo::default()
        };
        attrs.record(&mut Fields(&mut info.fields));
        self.spans.lock().unwrap().insert(id.into_u64(), info);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        if let Some(info) = self.spans.lock().unwrap().get_mut(&id.into_u64()) {
            values.record(&mut Fields(&mut info.fields));
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let mut info = EventInfo {
            fields: HashMap::new(),
            span: ctx.event_span(event).map(|s| s.id().into_u64()),
        };
        event.record(&mut Fields(&mut info.fields));
        self.events.lock().unwrap().push(info);
    }

    fn on_enter(&self, id: &Id, _: Context<'_, S>) {
        let thread = std::thread::current().name().unwrap_or("?").to_owned();
        if let Some(info) = self.spans.lock().unwrap().get_mut(&id.into_u64()) {
            info.entered_on.push(thread);
        }
    }
}

#[tokio::test]
async fn spans_and_turn_events_carry_keys_workers_and_timings() {
    let recorder = Recorder::default();
    let subscriber = tracing_subscriber::registry()
        .with(recorder.clone())
        .with(tracing_subscriber::filter::LevelFilter::TRACE);
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let mut g = Graph::new();
    let a = g.add(("a", 1), (), || 1_i64).unwrap();
    let b = g.add_sized("b", &a, |x: &i64| x + 1).unwrap(); // 8 bytes
    let c = g
        .add_async("c", &b, |x: std::sync::Arc<i64>| async move { *x * 10 })
        .unwrap();
    let s = Scheduler::threads(2).unwrap();
    assert_eq!(s.compute(&g, &c).await.unwrap(), 20);
    assert_pool_run(&recorder);

    // A computation run inline never waits: it has no turns.
    let inline = Scheduler::current_thread();
    assert_eq!(inline.compute(&g, &b).await.unwrap(), 2);
    let spans = recorder.spans.lock().unwrap();
    let inline_compute = spans
        .iter()
        .find(|(_, s)| {
            s.name == "compute"
                && s.fields.get("executor").map(String::as_str) == Some("current-thread")
        })
        .map(|(id, _)| *id);
    drop(spans);
    assert!(inline_compute.is_some());
    assert!(turns_in(&recorder, inline_compute).is_empty());
}

/// The spans and events of the computation on the pool: one `compute`, three `task`s
/// with their workers and timings, and the loop's `turn`s.
fn assert_pool_run(recorder: &Recorder) {
    let spans = recorder.spans.lock().unwrap();
    let computes: Vec<_> = spans.values().filter(|s| s.name == "compute").collect();
    assert_eq!(computes.len(), 1);
    assert_eq!(
        computes[0].fields.get("tasks").map(String::as_str),
        Some("3")
    );
    assert_eq!(
        computes[0].fields.get("executor").map(String::as_str),
        Some("threads")
    );
    assert_eq!(
        computes[0].fields.get("workers").map(String::as_str),
        Some("2")
    );
    // What it held, recorded when it ended: b and c's results at once.
    let field = |name: &str| computes[0].fields.get(name).map(String::as_str);
    assert_eq!(field("peak_held"), Some("2"));
    assert_eq!(field("peak_held_bytes"), Some("8"));
    assert_eq!(field("memory_overruns"), Some("0"));
    let mut tasks: Vec<_> = spans.values().filter(|s| s.name == "task").collect();
    tasks.sort_by_key(|t| t.fields.get("key").cloned());
    assert_eq!(tasks.len(), 3, "{spans:#?}");
    assert_eq!(tasks[0].fields["key"], "('a', 1)");
    assert_eq!(tasks[1].fields["key"], "b");
    assert_eq!(tasks[2].fields["key"], "c");
    for t in &tasks {
        assert_eq!(t.parent.as_deref(), Some("compute"));
        assert!(
            t.fields.contains_key("run_us") && t.fields.contains_key("queued_us"),
            "{t:?}"
        );
    }
    // Blocking tasks run on the pool's threads, entering their span there.
    for t in &tasks[..2] {
        assert!(t.fields["worker"].starts_with("thread-"), "{t:?}");
        assert_eq!(t.entered_on.len(), 1);
        assert!(
            t.entered_on[0].starts_with("taskloom-worker-"),
            "entered on {:?}",
            t.entered_on
        );
    }
    // The async task ran as a Tokio task.
    assert_eq!(tasks[2].fields["worker"], "tokio");
    assert!(!tasks[2].entered_on.is_empty());
    // The loop waited for the pool at least once: each wait is a `turn` in `compute`.
    let compute = spans
        .iter()
        .find(|(_, s)| s.name == "compute")
        .map(|(id, _)| *id);
    drop(spans);
    let turns = turns_in(recorder, compute);
    assert!(!turns.is_empty(), "{:#?}", recorder.events.lock().unwrap());
    for turn in &turns {
        for field in ["busy_us", "wait_us", "spun", "messages"] {
            assert!(turn.contains_key(field), "{turn:?}");
        }
        assert_ne!(turn["in_flight"], "0", "{turn:?}");
    }
    assert!(turns.iter().any(|t| t["messages"] != "0"), "{turns:?}");
}

/// The fields of the `turn` events that happened in span `compute`.
fn turns_in(recorder: &Recorder, compute: Option<u64>) -> Vec<HashMap<String, String>> {
    recorder
        .events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| {
            e.span == compute && e.fields.get("message").map(String::as_str) == Some("turn")
        })
        .map(|e| e.fields.clone())
        .collect()
}
