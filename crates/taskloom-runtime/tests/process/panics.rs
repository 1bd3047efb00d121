//! User code that runs around a remote task rather than in it — `Serialize`,
//! `Deserialize` and `Drop` of its values, in the parent and in the worker — panics:
//! the task's error says what and where, names the key, and the pool (its slot in
//! the parent, its worker) lives on.

use taskloom::{ComputeError, Graph, TaskErrorKind};

use crate::failures::still_serves;
use crate::functions::{DecodeBomb, DropBomb, EncodeBomb, Fns};
use crate::roundtrip::{pool, runtime};

pub(crate) const TESTS: &[crate::Test] = &[
    ("panics::serialize_in_the_parent", serialize_in_the_parent),
    (
        "panics::deserialize_in_the_parent",
        deserialize_in_the_parent,
    ),
    (
        "panics::deserialize_in_the_worker",
        deserialize_in_the_worker,
    ),
    ("panics::serialize_in_the_worker", serialize_in_the_worker),
    (
        "panics::drop_of_a_result_in_the_worker",
        drop_of_a_result_in_the_worker,
    ),
    (
        "panics::drop_of_an_input_in_the_worker",
        drop_of_an_input_in_the_worker,
    ),
    (
        "panics::span_close_on_another_subscriber",
        span_close_on_another_subscriber,
    ),
];

/// Computes `build`'s graph on a one-worker pool and checks the error: about `key`,
/// of `kind`, with `text` in its message; then that the pool still serves, on the
/// same worker.
fn expect<T: std::fmt::Debug + Send + Sync + 'static>(
    f: &Fns,
    build: impl FnOnce(&mut Graph) -> taskloom::Handle<T>,
    key: &str,
    kind: TaskErrorKind,
    text: &str,
) {
    let rt = runtime();
    let (pool, s) = pool(1);
    let pids = pool.pids();
    let mut g = Graph::new();
    let target = build(&mut g);
    match rt.block_on(s.compute(&g, &target)) {
        Err(ComputeError::Task { key: k, error }) => {
            assert_eq!(k.to_string(), key, "{error}");
            assert_eq!(error.kind(), kind, "{error}");
            assert!(error.message().contains(text), "{error}");
        }
        other => panic!("expected a task error, got {other:?}"),
    }
    still_serves(&s, f);
    assert_eq!(pool.pids(), pids, "the worker lives on");
}

fn serialize_in_the_parent(f: &Fns) {
    expect(
        f,
        |g| {
            let bomb = g.add("bomb", (), || EncodeBomb).unwrap();
            g.add_remote("send-bomb", &bomb, &f.takes_encode_bomb)
                .unwrap()
        },
        "send-bomb",
        TaskErrorKind::Serialization,
        "panicked while encoding its inputs: EncodeBomb goes off when encoded",
    );
}

fn deserialize_in_the_parent(f: &Fns) {
    expect(
        f,
        |g| g.add_remote("get-bomb", (), &f.decode_bomb).unwrap(),
        "get-bomb",
        TaskErrorKind::Serialization,
        "panicked while decoding its result: DecodeBomb goes off when decoded",
    );
}

fn deserialize_in_the_worker(f: &Fns) {
    expect(
        f,
        |g| {
            let bomb = g.add("bomb", (), || DecodeBomb).unwrap();
            g.add_remote("send-bomb", &bomb, &f.takes_decode_bomb)
                .unwrap()
        },
        "send-bomb",
        TaskErrorKind::Serialization,
        "panicked while decoding its inputs: DecodeBomb goes off when decoded",
    );
}

fn serialize_in_the_worker(f: &Fns) {
    expect(
        f,
        |g| g.add_remote("make-bomb", (), &f.encode_bomb).unwrap(),
        "make-bomb",
        TaskErrorKind::Serialization,
        "panicked while encoding its result: EncodeBomb goes off when encoded",
    );
}

fn drop_of_a_result_in_the_worker(f: &Fns) {
    expect(
        f,
        |g| g.add_remote("make-bomb", (), &f.drop_bomb).unwrap(),
        "make-bomb",
        TaskErrorKind::DropPanicked,
        "its result panicked when dropped: DropBomb goes off when dropped in a worker",
    );
}

fn drop_of_an_input_in_the_worker(f: &Fns) {
    expect(
        f,
        |g| {
            let bomb = g.add("bomb", (), || DropBomb(2)).unwrap();
            g.add_remote("send-bomb", &bomb, &f.takes_drop_bomb)
                .unwrap()
        },
        "send-bomb",
        TaskErrorKind::DropPanicked,
        "one of its inputs panicked when dropped: DropBomb goes off when dropped in a worker",
    );
}

/// A global subscriber, and a scoped one for the computation (a test, a request
/// handler with its own): each task span is closed on a worker thread (the pool's
/// local thread, its supervisor), whose default is the global subscriber, and
/// tracing-subscriber's `Registry` panics there ("no such span"). That panic, as the
/// finished job went out of scope, used to leak the completion it had just made:
/// the computation waited forever.
fn span_close_on_another_subscriber(f: &Fns) {
    use tracing_subscriber::layer::SubscriberExt;
    let _global = crate::deaths::warnings(); // installs the global subscriber
    let (_pool, s) = pool(1);
    let scoped =
        tracing_subscriber::registry().with(tracing_subscriber::filter::LevelFilter::DEBUG);
    tracing::subscriber::with_default(scoped, || {
        let mut g = Graph::new();
        let x = g.add("local", (), || 4_i64).unwrap();
        let y = g.add_remote("remote", &x, &f.square).unwrap();
        assert_eq!(s.compute_blocking(&g, &y).unwrap(), 16);
    });
}
