//! Remote tasks get the same `task` spans as other tasks: key, worker (the process),
//! queue wait and run time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use taskloom::Graph;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

use crate::functions::Fns;
use crate::roundtrip::pool;

pub(crate) const TESTS: &[crate::Test] = &[
    (
        "spans::task_spans_name_the_process",
        task_spans_name_the_process,
    ),
    (
        "spans::compute_spans_count_the_bytes",
        compute_spans_count_the_bytes,
    ),
];

/// A span's name and fields.
type SpanRecord = (String, HashMap<String, String>);

/// Every span's record, by span id.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<HashMap<u64, SpanRecord>>>);

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: tracing::Subscriber> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut fields = HashMap::new();
        attrs.record(&mut Fields(&mut fields));
        let name = attrs.metadata().name().to_owned();
        self.0.lock().unwrap().insert(id.into_u64(), (name, fields));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        if let Some((_, fields)) = self.0.lock().unwrap().get_mut(&id.into_u64()) {
            values.record(&mut Fields(fields));
        }
    }
}

fn task_spans_name_the_process(f: &Fns) {
    let (pool, s) = pool(1);
    let recorder = Recorder::default();
    let subscriber = tracing_subscriber::registry()
        .with(recorder.clone())
        .with(tracing_subscriber::filter::LevelFilter::DEBUG);
    tracing::subscriber::with_default(subscriber, || {
        let mut g = Graph::new();
        let x = g.add("x", (), || 4_i64).unwrap();
        let y = g.add_remote("y", &x, &f.square).unwrap();
        assert_eq!(s.compute_blocking(&g, &y).unwrap(), 16);
    });
    let pid = pool.pids()[0].unwrap();
    let spans = recorder.0.lock().unwrap();
    let (_, fields) = spans
        .values()
        .find(|(name, fields)| name == "task" && fields.get("key").map(String::as_str) == Some("y"))
        .expect("a task span for y");
    assert_eq!(
        fields.get("worker").map(String::as_str),
        Some(format!("process-0 (pid {pid})").as_str()),
        "{fields:?}"
    );
    assert!(fields.contains_key("queued_us"), "{fields:?}");
    assert!(fields.contains_key("run_us"), "{fields:?}");
    let computes = spans.values().filter(|(name, _)| name == "compute").count();
    assert_eq!(computes, 1);
    let executor = spans
        .values()
        .find(|(name, _)| name == "compute")
        .and_then(|(_, fields)| fields.get("executor").cloned());
    assert_eq!(executor.as_deref(), Some("processes"));
}

/// The `compute` span carries what its data did: bytes produced, kept in the worker,
/// and through the parent.
fn compute_spans_count_the_bytes(f: &Fns) {
    let (_pool, s) = pool(1);
    let recorder = Recorder::default();
    let subscriber = tracing_subscriber::registry()
        .with(recorder.clone())
        .with(tracing_subscriber::filter::LevelFilter::INFO);
    tracing::subscriber::with_default(subscriber, || {
        let mut g = Graph::new();
        let start = g.add("start", (), || 0_u64).unwrap();
        let n = g.add("n", (), || 10_000_u64).unwrap();
        let chunk = g.add_remote("chunk", (&start, &n), &f.chunk).unwrap();
        let sum = g.add_remote("sum", &chunk, &f.chunk_sum).unwrap();
        // Unfused: `chunk` is a result of its own, kept in the worker.
        let options = taskloom::ComputeOptions::new().fuse(false);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let out = rt.block_on(s.compute_with(&g, &sum, options)).unwrap();
        assert_eq!(out, 49_995_000);
    });
    let spans = recorder.0.lock().unwrap();
    let (_, fields) = spans
        .values()
        .find(|(name, _)| name == "compute")
        .expect("a compute span");
    let field = |name: &str| -> u64 {
        fields
            .get(name)
            .unwrap_or_else(|| panic!("no {name} in {fields:?}"))
            .parse()
            .unwrap()
    };
    // The chunk (10,000 numbers, 1 to 3 bytes each) stayed in the worker; its sum
    // (a few bytes) came back; the inputs sent were two small numbers.
    assert!(field("bytes_kept") > 10_000, "{fields:?}");
    assert_eq!(
        field("bytes_produced"),
        field("bytes_kept") + field("bytes_to_parent")
    );
    assert!(field("bytes_to_parent") < 10, "{fields:?}");
    assert!(field("bytes_from_parent") < 10, "{fields:?}");
    assert_eq!(field("bytes_moved"), 0, "{fields:?}");
    assert_eq!(field("bytes_held_peak"), field("bytes_kept"), "{fields:?}");
}
