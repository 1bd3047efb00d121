//! Twelve inputs, the most a tuple takes: blocking, async and remote tasks compute
//! with them (each argument in its place, with its own type), a computation returns
//! twelve targets, and typed wiring still refuses a function whose parameters do not
//! match its inputs (checked by probes that compile either way, not by compile-fail
//! tests).

use std::sync::Arc;

use taskloom::inputs::{AsyncTaskFn, Inputs, TaskFn};
use taskloom::remote::{Registry, RemoteArgs};
use taskloom::{Graph, Handle, ResultSize, Scheduler, TaskErrorKind, Value, value};

fn schedulers() -> Vec<Scheduler> {
    vec![Scheduler::current_thread(), Scheduler::threads(2).unwrap()]
}

/// Handles of twelve inputs, one type each, so that an argument read from the wrong
/// place cannot pass.
type Twelve<'a> = (
    &'a Handle<i64>,
    &'a Handle<u8>,
    &'a Handle<i32>,
    &'a Handle<u64>,
    &'a Handle<String>,
    &'a Handle<f64>,
    &'a Handle<bool>,
    &'a Handle<char>,
    &'a Handle<u16>,
    &'a Handle<Vec<i64>>,
    &'a Handle<i16>,
    &'a Handle<u32>,
);

/// The argument marker twelve such inputs give a task function.
type Args = <Twelve<'static> as Inputs>::Args;

/// What every task below makes of its twelve inputs: each value, in argument order.
const EXPECTED: &str = "-1 2 -3 4 five 6.5 true h 9 [10, 11] -12 13";

struct Leaves {
    a: Handle<i64>,
    b: Handle<u8>,
    c: Handle<i32>,
    d: Handle<u64>,
    e: Handle<String>,
    f: Handle<f64>,
    g: Handle<bool>,
    h: Handle<char>,
    i: Handle<u16>,
    j: Handle<Vec<i64>>,
    k: Handle<i16>,
    l: Handle<u32>,
}

impl Leaves {
    fn add(g: &mut Graph) -> Self {
        Leaves {
            a: g.add("a", (), || -1_i64).unwrap(),
            b: g.add("b", (), || 2_u8).unwrap(),
            c: g.add("c", (), || -3_i32).unwrap(),
            d: g.add("d", (), || 4_u64).unwrap(),
            e: g.add("e", (), || "five".to_owned()).unwrap(),
            f: g.add("f", (), || 6.5_f64).unwrap(),
            g: g.add("g", (), || true).unwrap(),
            h: g.add("h", (), || 'h').unwrap(),
            i: g.add("i", (), || 9_u16).unwrap(),
            j: g.add("j", (), || vec![10_i64, 11]).unwrap(),
            k: g.add("k", (), || -12_i16).unwrap(),
            l: g.add("l", (), || 13_u32).unwrap(),
        }
    }

    fn all(&self) -> Twelve<'_> {
        (
            &self.a, &self.b, &self.c, &self.d, &self.e, &self.f, &self.g, &self.h, &self.i,
            &self.j, &self.k, &self.l,
        )
    }
}

#[allow(clippy::too_many_arguments, clippy::ptr_arg)] // one parameter per input, typed as the inputs are
fn describe(
    a: &i64,
    b: &u8,
    c: &i32,
    d: &u64,
    e: &String,
    f: &f64,
    g: &bool,
    h: &char,
    i: &u16,
    j: &Vec<i64>,
    k: &i16,
    l: &u32,
) -> String {
    format!("{a} {b} {c} {d} {e} {f} {g} {h} {i} {j:?} {k} {l}")
}

#[tokio::test]
async fn a_blocking_task_takes_twelve_inputs() {
    for s in schedulers() {
        let mut g = Graph::new();
        let leaves = Leaves::add(&mut g);
        let out = g.add("out", leaves.all(), describe).unwrap();
        let closure = g
            .add(
                "closure",
                leaves.all(),
                |a: &i64,
                 b: &u8,
                 c: &i32,
                 d: &u64,
                 e: &String,
                 f: &f64,
                 g: &bool,
                 h: &char,
                 i: &u16,
                 j: &Vec<i64>,
                 k: &i16,
                 l: &u32| describe(a, b, c, d, e, f, g, h, i, j, k, l),
            )
            .unwrap();
        assert_eq!(s.compute(&g, &out).await.unwrap(), EXPECTED);
        assert_eq!(s.compute(&g, &closure).await.unwrap(), EXPECTED);
    }
}

#[tokio::test]
async fn an_async_task_takes_twelve_inputs() {
    for s in schedulers() {
        let mut g = Graph::new();
        let leaves = Leaves::add(&mut g);
        let out = g
            .add_async(
                "out",
                leaves.all(),
                |a: Arc<i64>,
                 b: Arc<u8>,
                 c: Arc<i32>,
                 d: Arc<u64>,
                 e: Arc<String>,
                 f: Arc<f64>,
                 g: Arc<bool>,
                 h: Arc<char>,
                 i: Arc<u16>,
                 j: Arc<Vec<i64>>,
                 k: Arc<i16>,
                 l: Arc<u32>| async move {
                    tokio::task::yield_now().await;
                    describe(&a, &b, &c, &d, &e, &f, &g, &h, &i, &j, &k, &l)
                },
            )
            .unwrap();
        assert_eq!(s.compute(&g, &out).await.unwrap(), EXPECTED);
    }
}

#[tokio::test]
async fn a_remote_task_takes_twelve_inputs_on_an_in_process_executor() {
    let mut registry = Registry::new();
    let remote = registry.register("describe", describe).unwrap();
    for s in schedulers() {
        let mut g = Graph::new();
        let leaves = Leaves::add(&mut g);
        let out = g.add_remote("out", leaves.all(), &remote).unwrap();
        assert_eq!(s.compute(&g, &out).await.unwrap(), EXPECTED);
    }
}

#[tokio::test]
async fn a_computation_returns_twelve_targets() {
    let mut graph = Graph::new();
    let leaves = Leaves::add(&mut graph);
    let out = Scheduler::threads(2)
        .unwrap()
        .compute(&graph, leaves.all())
        .await
        .unwrap();
    let (a, b, c, d, e, f, g, h, i, j, k, l) = out;
    assert_eq!(
        describe(&a, &b, &c, &d, &e, &f, &g, &h, &i, &j, &k, &l),
        EXPECTED
    );
}

/// The values of [`Leaves`], as a task's inputs.
fn twelve_values() -> Vec<Value> {
    vec![
        value(-1_i64),
        value(2_u8),
        value(-3_i32),
        value(4_u64),
        value("five".to_owned()),
        value(6.5_f64),
        value(true),
        value('h'),
        value(9_u16),
        value(vec![10_i64, 11]),
        value(-12_i16),
        value(13_u32),
    ]
}

fn describe_values(values: &[Value]) -> String {
    fn get<T: 'static>(values: &[Value], i: usize) -> &T {
        values[i].downcast_ref::<T>().unwrap()
    }
    describe(
        get(values, 0),
        get(values, 1),
        get(values, 2),
        get(values, 3),
        get(values, 4),
        get(values, 5),
        get(values, 6),
        get(values, 7),
        get(values, 8),
        get(values, 9),
        get(values, 10),
        get(values, 11),
    )
}

#[test]
fn twelve_remote_arguments_cross_whole_and_one_by_one() {
    let values = twelve_values();
    let mut bytes = Vec::new();
    Args::encode(&values, &mut bytes).unwrap();
    assert_eq!(describe_values(&Args::decode(&bytes).unwrap()), EXPECTED);

    let one_by_one: Vec<Value> = values
        .iter()
        .enumerate()
        .map(|(index, v)| {
            let mut bytes = Vec::new();
            Args::encode_arg(index, v, &mut bytes).unwrap();
            Args::decode_arg(index, &bytes).unwrap()
        })
        .collect();
    assert_eq!(describe_values(&one_by_one), EXPECTED);

    // Input 11 is a `u32`; there is no input 12.
    let err = Args::encode_arg(11, &value(13_i64), &mut bytes).unwrap_err();
    assert_eq!(err.kind(), TaskErrorKind::TypeMismatch);
    let err = Args::encode_arg(12, &value(13_u32), &mut bytes).unwrap_err();
    assert_eq!(err.kind(), TaskErrorKind::TypeMismatch);
    assert!(err.message().contains("no input 12"), "{}", err.message());
    let err = Args::decode_arg(12, &[]).unwrap_err();
    assert_eq!(err.kind(), TaskErrorKind::TypeMismatch);
}

#[test]
fn a_twelve_tuple_reports_its_size() {
    let flat = (
        1_u8, 2_u16, 3_u32, 4_u64, 5_i8, 6_i16, 7_i32, 8_i64, 9_f32, 10_f64, true, 'c',
    );
    assert_eq!(flat.result_size(), std::mem::size_of_val(&flat));
    let with_heap = (
        1_u8,
        2_u16,
        3_u32,
        4_u64,
        5_i8,
        6_i16,
        7_i32,
        8_i64,
        9_f32,
        10_f64,
        true,
        String::from("twelve"),
    );
    assert_eq!(
        with_heap.result_size(),
        std::mem::size_of_val(&with_heap) + "twelve".len()
    );
}

/// Whether closure `$f` is a task function (blocking: `TaskFn`, async: `AsyncTaskFn`)
/// of twelve inputs' marker [`Args`] returning `$out`. Decided at compile time and
/// compiling either way: the inherent `accepted` exists only if the bound holds, and
/// method lookup prefers it to the trait's fallback.
macro_rules! accepts {
    ($f:expr, $bound:ident<$out:ty>) => {{
        struct Probe<F>(F);
        #[allow(dead_code)]
        trait Refused {
            fn accepted(&self) -> bool {
                false
            }
        }
        impl<F> Refused for Probe<F> {}
        #[allow(dead_code)]
        impl<F: $bound<Args, $out>> Probe<F> {
            fn accepted(&self) -> bool {
                true
            }
        }
        Probe($f).accepted()
    }};
}

#[test]
fn typed_wiring_refuses_a_mismatch_at_twelve_inputs() {
    // The marker is the twelve types in order.
    let _: Option<Args> = None::<(
        i64,
        u8,
        i32,
        u64,
        String,
        f64,
        bool,
        char,
        u16,
        Vec<i64>,
        i16,
        u32,
    )>;
    assert!(accepts!(describe, TaskFn<String>));
    // The same function with two inputs swapped (`&u8` and `&i32`), one input short,
    // or a result of another type: refused.
    #[allow(clippy::too_many_arguments, clippy::ptr_arg)]
    fn swapped(
        _: &i64,
        _: &i32,
        _: &u8,
        _: &u64,
        _: &String,
        _: &f64,
        _: &bool,
        _: &char,
        _: &u16,
        _: &Vec<i64>,
        _: &i16,
        _: &u32,
    ) -> String {
        String::new()
    }
    #[allow(clippy::too_many_arguments, clippy::ptr_arg)]
    fn short(
        _: &i64,
        _: &u8,
        _: &i32,
        _: &u64,
        _: &String,
        _: &f64,
        _: &bool,
        _: &char,
        _: &u16,
        _: &Vec<i64>,
        _: &i16,
    ) -> String {
        String::new()
    }
    assert!(!accepts!(swapped, TaskFn<String>));
    assert!(!accepts!(short, TaskFn<String>));
    assert!(!accepts!(describe, TaskFn<u64>));

    // Async: `Arc`s of the same twelve types, in order.
    let ok = |_: Arc<i64>,
              _: Arc<u8>,
              _: Arc<i32>,
              _: Arc<u64>,
              _: Arc<String>,
              _: Arc<f64>,
              _: Arc<bool>,
              _: Arc<char>,
              _: Arc<u16>,
              _: Arc<Vec<i64>>,
              _: Arc<i16>,
              _: Arc<u32>| std::future::ready(1_u8);
    let last_wrong = |_: Arc<i64>,
                      _: Arc<u8>,
                      _: Arc<i32>,
                      _: Arc<u64>,
                      _: Arc<String>,
                      _: Arc<f64>,
                      _: Arc<bool>,
                      _: Arc<char>,
                      _: Arc<u16>,
                      _: Arc<Vec<i64>>,
                      _: Arc<i16>,
                      _: Arc<u64>| std::future::ready(1_u8);
    assert!(accepts!(ok, AsyncTaskFn<std::future::Ready<u8>>));
    assert!(!accepts!(last_wrong, AsyncTaskFn<std::future::Ready<u8>>));
}
