//! The remote functions of the tests, registered the same way in the test process and
//! in its workers.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use taskloom::inputs::Many;
use taskloom::process::ProcessPool;
use taskloom::remote::{Codec, DynRemote, Raised, Registry, Remote};
use taskloom::{TaskError, TaskErrorKind, Value};

/// A value with some structure, to round-trip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Record {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) values: Vec<f32>,
    pub(crate) parent: Option<Box<Record>>,
}

/// A value whose encoding always fails.
#[derive(Debug)]
pub(crate) struct Unencodable;

impl Serialize for Unencodable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom(
            "Unencodable refuses to be encoded",
        ))
    }
}

impl<'de> Deserialize<'de> for Unencodable {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Ok(Unencodable)
    }
}

/// A value whose `Serialize` panics (in whichever process encodes it).
#[derive(Debug)]
pub(crate) struct EncodeBomb;

impl Serialize for EncodeBomb {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        panic!("EncodeBomb goes off when encoded")
    }
}

impl<'de> Deserialize<'de> for EncodeBomb {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <()>::deserialize(d).map(|()| EncodeBomb)
    }
}

/// A value whose `Deserialize` panics (in whichever process decodes it).
#[derive(Debug)]
pub(crate) struct DecodeBomb;

impl Serialize for DecodeBomb {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_unit()
    }
}

impl<'de> Deserialize<'de> for DecodeBomb {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        panic!("DecodeBomb goes off when decoded")
    }
}

/// A value whose `Drop` panics in a worker process (and only there: the tests'
/// process makes and drops them freely).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct DropBomb(pub(crate) u8);

impl Drop for DropBomb {
    fn drop(&mut self) {
        if taskloom::remote::is_worker() && !std::thread::panicking() {
            panic!("DropBomb goes off when dropped in a worker")
        }
    }
}

/// The inputs and result of `mix`: four arguments of different kinds.
pub(crate) type MixArgs = (f64, Vec<u8>, Option<String>, bool);
pub(crate) type MixOut = (f64, usize, String, bool);

/// Every remote function the tests use.
pub(crate) struct Fns {
    pub(crate) one: Remote<(), i64>,
    pub(crate) square: Remote<(i64,), i64>,
    pub(crate) add: Remote<(i64, i64), i64>,
    pub(crate) sum: Remote<Many<i64>, i64>,
    pub(crate) greet: Remote<(String, u32), String>,
    pub(crate) grow: Remote<(Record,), Record>,
    pub(crate) mix: Remote<MixArgs, MixOut>,
    pub(crate) len: Remote<(Vec<u8>,), usize>,
    pub(crate) pid: Remote<(), u32>,
    pub(crate) checked_div: Remote<(i64, i64), i64>,
    pub(crate) panics: Remote<(i64,), i64>,
    pub(crate) aborts: Remote<(), i64>,
    pub(crate) exits: Remote<(), i64>,
    pub(crate) segfaults: Remote<(), i64>,
    /// Writes its pid to the file, then sleeps until killed (or a minute).
    pub(crate) waits: Remote<(PathBuf,), u32>,
    pub(crate) garbage: Remote<(), i64>,
    pub(crate) oversized: Remote<(), i64>,
    pub(crate) prints: Remote<(), i64>,
    pub(crate) unencodable: Remote<(), Unencodable>,
    pub(crate) nested_pool: Remote<(), String>,
    /// Registered in the tests' process only: the workers do not know it.
    pub(crate) unknown: Remote<(), i64>,
    /// Kill their worker (abort) the first time they run, given a directory for
    /// their marker files; afterwards return the pid. Two names, so that two tasks
    /// with the same input each crash once.
    pub(crate) crash_once_a: Remote<(PathBuf,), u32>,
    pub(crate) crash_once_b: Remote<(PathBuf,), u32>,
    /// Starts `sleep 300`, writes its pid to the file, then waits (a minute) while
    /// it sleeps.
    pub(crate) spawns_sleep: Remote<(PathBuf,), u32>,
    /// Starts `sleep 300` in the background, writes its pid to the file, returns.
    pub(crate) leaves_sleep: Remote<(PathBuf,), u32>,
    pub(crate) encode_bomb: Remote<(), EncodeBomb>,
    pub(crate) decode_bomb: Remote<(), DecodeBomb>,
    pub(crate) takes_encode_bomb: Remote<(EncodeBomb,), i64>,
    pub(crate) takes_decode_bomb: Remote<(DecodeBomb,), i64>,
    pub(crate) drop_bomb: Remote<(), DropBomb>,
    pub(crate) takes_drop_bomb: Remote<(DropBomb,), i64>,
    /// Residency: a chunk of `n` numbers `i, i+1, ...` with the pid that made it.
    pub(crate) chunk: Remote<(u64, u64), Chunk>,
    /// `chunk`, after 100 ms (so that two of them ready at once go to two workers).
    pub(crate) chunk_slowly: Remote<(u64, u64), Chunk>,
    /// Doubles every number of a chunk (in the worker that runs it).
    pub(crate) double: Remote<(Chunk,), Chunk>,
    /// The sum of a chunk's numbers.
    pub(crate) chunk_sum: Remote<(Chunk,), u64>,
    /// The sum of partial sums.
    pub(crate) total: Remote<Many<u64>, u64>,
    /// Where a chunk was made and where this call runs: `(made_in, runs_in)`.
    pub(crate) where_made: Remote<(Chunk,), (u32, u32)>,
    /// The pids of two chunks' makers and of this call.
    pub(crate) where_made2: Remote<(Chunk, Chunk), (u32, u32, u32)>,
    /// Fails, whatever chunks it is given.
    pub(crate) refuse: Remote<Many<Chunk>, u64>,
    /// How many numbers some chunks hold.
    pub(crate) count: Remote<Many<Chunk>, u64>,
    /// What this worker holds for its executor: `(values, bytes)`.
    pub(crate) held_here: Remote<(), (u64, u64)>,
    /// Hangs (a minute) the first time it runs with a directory, writing its pid to
    /// `dir/hung`; afterwards returns its pid at once.
    pub(crate) hangs_once: Remote<(PathBuf,), u32>,
    /// Slowly, a chunk that kills the worker serving it to another worker (from
    /// the worker's peer thread) the first time, making `dir/served` then.
    pub(crate) fragile_slowly: Remote<(PathBuf, u64, u64), Fragile>,
    /// The pids of a fragile chunk's maker, of a chunk's maker and of this call, and
    /// the sum of both chunks' numbers.
    pub(crate) fragile_pair: Remote<(Fragile, Chunk), (u32, u32, u32, u64)>,
    /// The pids of two chunks' makers and of this call, and the sum of both chunks'
    /// numbers.
    pub(crate) pair: Remote<(Chunk, Chunk), (u32, u32, u32, u64)>,
    /// The directory this worker's socket is in, and whether the socket is there.
    pub(crate) peer_dir: Remote<(), (String, bool)>,
    /// Untyped, values `Vec<u8>` by a codec of their own: its inputs one after the
    /// other, then its payload.
    pub(crate) cat: DynRemote,
    /// Untyped: fails with a `Raised` error whose detail is its payload.
    pub(crate) raise: DynRemote,
}

/// The untyped functions' codec: values are `Vec<u8>`, as their bytes.
pub(crate) const BYTES: Codec = Codec {
    encode: |v: &Value, out: &mut Vec<u8>| {
        let bytes = v
            .downcast_ref::<Vec<u8>>()
            .ok_or_else(|| TaskError::new(TaskErrorKind::TypeMismatch, "not bytes"))?;
        out.extend_from_slice(bytes);
        Ok(())
    },
    decode: |b: &[u8]| Ok(std::sync::Arc::new(b.to_vec()) as Value),
    size_of: |v: &Value| Ok(v.downcast_ref::<Vec<u8>>().map_or(0, Vec::len) as u64),
};

fn cat(payload: &[u8], inputs: &[&Value]) -> Result<Value, TaskError> {
    let mut out = Vec::new();
    for input in inputs {
        let bytes = input
            .downcast_ref::<Vec<u8>>()
            .ok_or_else(|| TaskError::new(TaskErrorKind::TypeMismatch, "not bytes"))?;
        out.extend_from_slice(bytes);
    }
    out.extend_from_slice(payload);
    Ok(std::sync::Arc::new(out))
}

/// A chunk that kills the worker serving it to another worker, once (see
/// [`Fns::fragile_slowly`]).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct Fragile {
    pub(crate) dir: PathBuf,
    pub(crate) chunk: Chunk,
}

impl Serialize for Fragile {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Encoded for another worker's fetch (not to measure it, nor for the
        // parent): the holder dies in the middle of that fetch, the first time.
        let serving = std::thread::current().name() == Some("taskloom-peer-fetch");
        if serving
            && std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(self.dir.join("served"))
                .is_ok()
        {
            std::process::abort();
        }
        (&self.dir, &self.chunk).serialize(s)
    }
}

/// A chunk of numbers, with the pid of the worker that made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Chunk {
    pub(crate) made_in: u32,
    pub(crate) values: Vec<u64>,
}

/// Aborts the worker the first time it runs with `dir` (making `dir/name`), returns
/// the pid afterwards.
fn crash_once(dir: &std::path::Path, name: &str) -> u32 {
    std::fs::create_dir_all(dir).unwrap();
    let first = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dir.join(name))
        .is_ok();
    if first {
        std::process::abort();
    }
    std::process::id()
}

/// Starts `sleep 300`, writes its pid to `path`, and returns it. Never waited for:
/// it is meant to outlive the call, and to die with its worker's process group.
#[allow(clippy::zombie_processes)]
fn start_sleep(path: &std::path::Path) -> u32 {
    let child = std::process::Command::new("sleep")
        .arg("300")
        .spawn()
        .unwrap();
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, child.id().to_string()).unwrap();
    std::fs::rename(&tmp, path).unwrap(); // the reader never sees a half-written pid
    child.id()
}

pub(crate) fn registry() -> (Registry, Fns) {
    let mut r = Registry::new();
    let fns = Fns {
        one: r.register("one", || 1_i64).unwrap(),
        square: r.register("square", |x: &i64| x * x).unwrap(),
        add: r.register("add", |a: &i64, b: &i64| a + b).unwrap(),
        sum: r
            .register("sum", |xs: &[&i64]| xs.iter().copied().sum::<i64>())
            .unwrap(),
        greet: r
            .register("greet", |name: &String, n: &u32| {
                format!("{} {name}", "hello".repeat(*n as usize))
            })
            .unwrap(),
        grow: r
            .register("grow", |rec: &Record| Record {
                id: rec.id + 1,
                name: format!("{}+", rec.name),
                values: rec.values.iter().map(|v| v * 2.0).collect(),
                parent: Some(Box::new(rec.clone())),
            })
            .unwrap(),
        mix: r
            .register(
                "mix",
                |f: &f64, bytes: &Vec<u8>, s: &Option<String>, b: &bool| {
                    (f * 2.0, bytes.len(), s.clone().unwrap_or_default(), !b)
                },
            )
            .unwrap(),
        len: r.register("len", |v: &Vec<u8>| v.len()).unwrap(),
        pid: r.register("pid", std::process::id).unwrap(),
        checked_div: r
            .register_fallible("checked_div", |a: &i64, b: &i64| {
                a.checked_div(*b).ok_or("division by zero")
            })
            .unwrap(),
        panics: r
            .register("panics", |x: &i64| -> i64 { panic!("boom {x}") })
            .unwrap(),
        aborts: r
            .register("aborts", || -> i64 { std::process::abort() })
            .unwrap(),
        exits: r
            .register("exits", || -> i64 { std::process::exit(3) })
            .unwrap(),
        segfaults: r
            .register("segfaults", || -> i64 {
                // SIGSEGV without unsafe code. Rust's runtime catches the first one
                // (its stack-overflow handler), restores the default action and
                // returns; the second one kills, as a real segfault would.
                let pid = std::process::id().to_string();
                for _ in 0..2 {
                    let _ = std::process::Command::new("kill")
                        .args(["-SEGV", &pid])
                        .status();
                    std::thread::sleep(Duration::from_millis(50));
                }
                std::thread::sleep(Duration::from_secs(60));
                0
            })
            .unwrap(),
        waits: r
            .register("waits", |path: &PathBuf| {
                let pid = std::process::id();
                std::fs::write(path, pid.to_string()).unwrap();
                for _ in 0..6000 {
                    std::thread::sleep(Duration::from_millis(10));
                }
                pid
            })
            .unwrap(),
        garbage: r
            .register("garbage", || {
                // A length of 9 bytes, then bytes that are no message.
                taskloom::remote::__write_raw_to_pool(b"\0\0\0\x09\xff\xff\xff\xffgarbage")
                    .unwrap();
                1_i64
            })
            .unwrap(),
        oversized: r
            .register("oversized", || {
                taskloom::remote::__write_raw_to_pool(b"\xff\xff\xff\xf0").unwrap();
                1_i64
            })
            .unwrap(),
        prints: r
            .register("prints", || {
                println!("a task that prints to stdout does not break the pool");
                print!("00000005 not a frame, and no newline");
                2_i64
            })
            .unwrap(),
        unencodable: r.register("unencodable", || Unencodable).unwrap(),
        nested_pool: r
            .register("nested_pool", || match ProcessPool::new(1) {
                Ok(_) => "started a pool".to_owned(),
                Err(e) => e.to_string(),
            })
            .unwrap(),
        unknown: Registry::new().register("unknown", || 5_i64).unwrap(),
        hangs_once: r
            .register("hangs_once", |dir: &PathBuf| {
                use std::io::Write as _;
                let first = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(dir.join("hung"));
                if let Ok(mut marker) = first {
                    write!(marker, "{}", std::process::id()).unwrap();
                    drop(marker);
                    std::thread::sleep(Duration::from_secs(60));
                }
                std::process::id()
            })
            .unwrap(),
        cat: r.register_dyn("cat", BYTES, cat).unwrap(),
        raise: r
            .register_dyn("raise", BYTES, |payload: &[u8], _: &[&Value]| {
                Err(TaskError::failed(Raised::new("raised", payload.to_vec())))
            })
            .unwrap(),

        crash_once_a: r
            .register("crash_once_a", |dir: &PathBuf| crash_once(dir, "a"))
            .unwrap(),
        crash_once_b: r
            .register("crash_once_b", |dir: &PathBuf| crash_once(dir, "b"))
            .unwrap(),
        spawns_sleep: r
            .register("spawns_sleep", |path: &PathBuf| {
                let sleep = start_sleep(path);
                for _ in 0..6000 {
                    std::thread::sleep(Duration::from_millis(10));
                }
                sleep
            })
            .unwrap(),
        leaves_sleep: r
            .register("leaves_sleep", |path: &PathBuf| start_sleep(path))
            .unwrap(),
        encode_bomb: r.register("encode_bomb", || EncodeBomb).unwrap(),
        decode_bomb: r.register("decode_bomb", || DecodeBomb).unwrap(),
        takes_encode_bomb: r
            .register("takes_encode_bomb", |_: &EncodeBomb| 1_i64)
            .unwrap(),
        takes_decode_bomb: r
            .register("takes_decode_bomb", |_: &DecodeBomb| 1_i64)
            .unwrap(),
        drop_bomb: r.register("drop_bomb", || DropBomb(1)).unwrap(),
        takes_drop_bomb: r
            .register("takes_drop_bomb", |b: &DropBomb| i64::from(b.0))
            .unwrap(),
        chunk: r
            .register("chunk", |start: &u64, n: &u64| Chunk {
                made_in: std::process::id(),
                values: (*start..*start + *n).collect(),
            })
            .unwrap(),
        chunk_slowly: r
            .register("chunk_slowly", |start: &u64, n: &u64| {
                std::thread::sleep(Duration::from_millis(100));
                Chunk {
                    made_in: std::process::id(),
                    values: (*start..*start + *n).collect(),
                }
            })
            .unwrap(),
        double: r
            .register("double", |c: &Chunk| Chunk {
                made_in: std::process::id(),
                values: c.values.iter().map(|v| v * 2).collect(),
            })
            .unwrap(),
        chunk_sum: r
            .register("chunk_sum", |c: &Chunk| c.values.iter().sum::<u64>())
            .unwrap(),
        total: r
            .register("total", |xs: &[&u64]| xs.iter().copied().sum::<u64>())
            .unwrap(),
        where_made: r
            .register("where_made", |c: &Chunk| (c.made_in, std::process::id()))
            .unwrap(),
        where_made2: r
            .register("where_made2", |a: &Chunk, b: &Chunk| {
                (a.made_in, b.made_in, std::process::id())
            })
            .unwrap(),
        refuse: r
            .register_fallible("refuse", |_: &[&Chunk]| -> Result<u64, &str> {
                Err("refused")
            })
            .unwrap(),
        count: r
            .register("count", |cs: &[&Chunk]| {
                cs.iter().map(|c| c.values.len() as u64).sum::<u64>()
            })
            .unwrap(),
        held_here: r
            .register("held_here", taskloom::remote::held_here)
            .unwrap(),
        fragile_slowly: r
            .register("fragile_slowly", |dir: &PathBuf, start: &u64, n: &u64| {
                std::thread::sleep(Duration::from_millis(100));
                Fragile {
                    dir: dir.clone(),
                    chunk: Chunk {
                        made_in: std::process::id(),
                        values: (*start..*start + *n).collect(),
                    },
                }
            })
            .unwrap(),
        fragile_pair: r
            .register("fragile_pair", |a: &Fragile, b: &Chunk| {
                let sum = a.chunk.values.iter().chain(&b.values).sum::<u64>();
                (a.chunk.made_in, b.made_in, std::process::id(), sum)
            })
            .unwrap(),
        pair: r
            .register("pair", |a: &Chunk, b: &Chunk| {
                let sum = a.values.iter().chain(&b.values).sum::<u64>();
                (a.made_in, b.made_in, std::process::id(), sum)
            })
            .unwrap(),
        peer_dir: r
            .register("peer_dir", || {
                let dir = std::env::var("TASKLOOM_PEER_DIR").unwrap_or_default();
                let socket =
                    std::path::Path::new(&dir).join(format!("{}.sock", std::process::id()));
                (dir, socket.exists())
            })
            .unwrap(),
    };
    (r, fns)
}
