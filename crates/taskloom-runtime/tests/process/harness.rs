//! The runner of this `harness = false` test binary: as much of libtest's command
//! line as `cargo test` and CI use, and a time limit per test.
//!
//! - Name filters: a test runs if its name contains any filter (`--exact`: equals
//!   one); no filter runs every test.
//! - `--skip FILTER` (or `--skip=FILTER`, repeatable) leaves out the tests whose name
//!   contains it (`--exact`: equals it), as libtest does.
//! - `--list` prints the selected names in libtest's format; `--ignored` selects
//!   nothing (no test here is ignored); options that take a value (`--test-threads 1`,
//!   `--format terse`, ...) consume it, so the value is never read as a filter. An
//!   option libtest does not have is an error, not silently a filter.
//! - Each test runs on its own thread. One that has not finished after the time
//!   limit (120 s, or `TASKLOOM_TEST_TIMEOUT_SECS`) is reported by name and the binary
//!   exits with status 101 at once: a hung process pool fails CI with the test's
//!   name instead of hanging it. The hung thread cannot be stopped, so nothing after
//!   it runs; the pool's workers die with this process (see `process` docs).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// A test: its name, as libtest would print it, and its body.
pub(crate) type Test<C> = (&'static str, fn(&C));

/// Environment variable overriding the per-test time limit, in seconds.
pub(crate) const TIMEOUT_VAR: &str = "TASKLOOM_TEST_TIMEOUT_SECS";

/// Time limit of one test unless [`TIMEOUT_VAR`] says otherwise: the slowest test
/// takes a few seconds; a loaded CI machine gets a wide margin.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// Exit status of a failed run (libtest's).
const FAILED: i32 = 101;

/// libtest's options that take no value and change nothing here (output capture,
/// verbosity, timing reports, shuffling: tests run one after the other, printing
/// as they go).
const NO_EFFECT: &[&str] = &[
    "--nocapture",
    "--no-capture",
    "--show-output",
    "--quiet",
    "-q",
    "--test",
    "--bench",
    "--include-ignored",
    "--force-run-in-process",
    "--report-time",
    "--ensure-time",
    "--shuffle",
];

/// libtest's options that take a value that changes nothing here.
const IGNORED_WITH_VALUE: &[&str] = &[
    "--test-threads",
    "--format",
    "--color",
    "--logfile",
    "--shuffle-seed",
    "-Z",
];

/// What the command line asks for.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Options {
    /// Name filters: run only tests matching one (all when empty).
    pub(crate) filters: Vec<String>,
    /// `--skip` filters: never run tests matching one.
    pub(crate) skip: Vec<String>,
    /// `--exact`: filters match whole names.
    pub(crate) exact: bool,
    /// `--list`: print the selected names instead of running them.
    pub(crate) list: bool,
    /// `--ignored`: run only ignored tests (there are none).
    pub(crate) ignored: bool,
}

impl Options {
    /// Reads libtest's arguments (without the program name).
    pub(crate) fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut options = Options::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_owned())),
                _ => (arg.as_str(), None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or_else(|| format!("{flag} needs a value"))
            };
            match flag {
                "--exact" => options.exact = true,
                "--list" => options.list = true,
                "--ignored" => options.ignored = true,
                "--skip" => options.skip.push(value()?),
                flag if IGNORED_WITH_VALUE.contains(&flag) => {
                    value()?;
                }
                flag if NO_EFFECT.contains(&flag) => {}
                flag if flag.starts_with('-') => {
                    return Err(format!("unrecognized option: {arg}"));
                }
                filter => options.filters.push(filter.to_owned()),
            }
        }
        Ok(options)
    }

    /// Whether the test called `name` runs.
    pub(crate) fn selects(&self, name: &str) -> bool {
        let matches = |filter: &String| {
            if self.exact {
                name == filter
            } else {
                name.contains(filter.as_str())
            }
        };
        !self.ignored
            && (self.filters.is_empty() || self.filters.iter().any(matches))
            && !self.skip.iter().any(matches)
    }
}

/// The per-test time limit: [`TIMEOUT_VAR`] in seconds, or [`DEFAULT_TIMEOUT`].
pub(crate) fn timeout() -> Result<Duration, String> {
    match std::env::var(TIMEOUT_VAR) {
        Ok(secs) => match secs.trim().parse::<u64>() {
            Ok(secs) if secs > 0 => Ok(Duration::from_secs(secs)),
            _ => Err(format!(
                "{TIMEOUT_VAR}={secs:?}: expected a whole number of seconds above 0"
            )),
        },
        Err(_) => Ok(DEFAULT_TIMEOUT),
    }
}

/// Runs the tests `options` selects, each on its own thread with `ctx`, and exits
/// the process: 0 if every one passed, 101 if one failed, at the first one that
/// outlives `limit`, or if the command line is wrong.
pub(crate) fn main<C: Sync>(tests: &[Test<C>], ctx: &C) -> ! {
    let (options, limit) = match Options::parse(std::env::args().skip(1))
        .and_then(|options| Ok((options, timeout()?)))
    {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("error: {message}");
            std::process::exit(FAILED);
        }
    };
    let selected: Vec<&Test<C>> = tests
        .iter()
        .filter(|(name, _)| options.selects(name))
        .collect();
    if options.list {
        for (name, _) in &selected {
            println!("{name}: test");
        }
        std::process::exit(0);
    }
    println!("\nrunning {} tests", selected.len());
    let start = Instant::now();
    let mut failed = Vec::new();
    for &&(name, test) in &selected {
        let passed = run_one(name, test, ctx, limit);
        println!("test {name} ... {}", if passed { "ok" } else { "FAILED" });
        if !passed {
            failed.push(name);
        }
    }
    let passed = selected.len() - failed.len();
    println!(
        "\ntest result: {}. {passed} passed; {} failed; 0 ignored; 0 measured; {} filtered out; finished in {:.2}s\n",
        if failed.is_empty() { "ok" } else { "FAILED" },
        failed.len(),
        tests.len() - selected.len(),
        start.elapsed().as_secs_f64()
    );
    if failed.is_empty() {
        std::process::exit(0);
    }
    eprintln!("failures: {failed:?}");
    std::process::exit(FAILED);
}

/// Runs one test on a thread named after it (panic messages then name the test);
/// whether it passed. Exits the process if it outlives `limit`.
fn run_one<C: Sync>(name: &'static str, test: fn(&C), ctx: &C, limit: Duration) -> bool {
    let (done, finished) = mpsc::channel();
    thread::scope(|scope| {
        let spawned = thread::Builder::new()
            .name(name.to_owned())
            .spawn_scoped(scope, move || {
                let passed = catch_unwind(AssertUnwindSafe(|| test(ctx))).is_ok();
                let _ = done.send(passed); // the receiver waits unless it timed out
            });
        if let Err(e) = spawned {
            eprintln!("{name}: could not start its thread: {e}");
            return false;
        }
        match finished.recv_timeout(limit) {
            Ok(passed) => passed,
            // The thread ended without a verdict: its panic was not caught (abort).
            Err(RecvTimeoutError::Disconnected) => false,
            Err(RecvTimeoutError::Timeout) => {
                // Leaving the scope would join the hung thread: exit from inside it.
                println!(
                    "test {name} ... TIMED OUT after {} s ({TIMEOUT_VAR} sets the limit)",
                    limit.as_secs()
                );
                eprintln!("failures: [{name:?}] (timed out)");
                std::process::exit(FAILED);
            }
        }
    })
}

/// Environment variable that adds [`HANG`] to the tests, for the timeout self-test.
pub(crate) const HANG_VAR: &str = "TASKLOOM_HARNESS_HANG";

/// A test that never finishes, listed only when [`HANG_VAR`] is set.
pub(crate) const HANG: &str = "harness::hangs_forever";

/// Blocks its thread forever.
pub(crate) fn hangs_forever<C>(_: &C) {
    loop {
        thread::park();
    }
}

/// The harness's own tests, for the list of `main.rs`.
pub(crate) fn tests<C>() -> Vec<Test<C>> {
    let mut tests: Vec<Test<C>> = vec![
        (
            "harness::skip_excludes_and_exact_matches_whole_names",
            skip_excludes_and_exact_matches_whole_names,
        ),
        (
            "harness::the_command_line_selects_the_listed_tests",
            the_command_line_selects_the_listed_tests,
        ),
        (
            "harness::a_hung_test_fails_the_run_with_its_name",
            a_hung_test_fails_the_run_with_its_name,
        ),
    ];
    if std::env::var_os(HANG_VAR).is_some() {
        tests.push((HANG, hangs_forever));
    }
    tests
}

fn parse(args: &[&str]) -> Result<Options, String> {
    Options::parse(args.iter().map(|a| a.to_string()))
}

fn skip_excludes_and_exact_matches_whole_names<C>(_: &C) {
    let names = ["roundtrip::a", "roundtrip::ab", "failures::a", "spans::b"];
    let selected = |args: &[&str]| -> Vec<&str> {
        let options = parse(args).unwrap();
        names
            .iter()
            .copied()
            .filter(|n| options.selects(n))
            .collect()
    };
    assert_eq!(selected(&[]), names);
    assert_eq!(
        selected(&["--skip", "roundtrip"]),
        ["failures::a", "spans::b"]
    );
    assert_eq!(selected(&["--skip=roundtrip"]), ["failures::a", "spans::b"]);
    assert_eq!(
        selected(&["--skip", "roundtrip", "--skip", "spans"]),
        ["failures::a"]
    );
    assert_eq!(selected(&["roundtrip", "--skip", "ab"]), ["roundtrip::a"]);
    assert_eq!(
        selected(&["::a"]),
        ["roundtrip::a", "roundtrip::ab", "failures::a"]
    );
    assert_eq!(selected(&["--exact", "roundtrip::a"]), ["roundtrip::a"]);
    assert_eq!(selected(&["--exact", "roundtrip"]), Vec::<&str>::new());
    assert_eq!(
        selected(&["--exact", "--skip", "roundtrip::a"]),
        ["roundtrip::ab", "failures::a", "spans::b"]
    );
    // Values of options are not filters.
    assert_eq!(
        selected(&["--test-threads", "1", "--format=terse", "--color", "never"]),
        names
    );
    assert_eq!(selected(&["--nocapture", "-q", "spans"]), ["spans::b"]);
    assert_eq!(selected(&["--ignored"]), Vec::<&str>::new());
    assert_eq!(parse(&["--skip"]).unwrap_err(), "--skip needs a value");
    assert_eq!(
        parse(&["--frobnicate"]).unwrap_err(),
        "unrecognized option: --frobnicate"
    );
}

/// Runs this binary with `args` and `env`; its exit code and standard output.
/// Bounded: a child that runs for `bound` fails the test.
fn run_self(args: &[&str], env: &[(&str, &str)], bound: Duration) -> (Option<i32>, String) {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = command.spawn().unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > bound {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} still running after {bound:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

fn the_command_line_selects_the_listed_tests<C>(_: &C) {
    let bound = Duration::from_secs(60);
    let (code, all) = run_self(&["--list"], &[], bound);
    assert_eq!(code, Some(0), "{all}");
    let all: Vec<&str> = all.lines().collect();
    assert!(all.iter().any(|l| l.starts_with("roundtrip::")), "{all:?}");
    let (code, kept) = run_self(&["--list", "--skip", "roundtrip::"], &[], bound);
    assert_eq!(code, Some(0));
    let kept: Vec<&str> = kept.lines().collect();
    let expect: Vec<&str> = all
        .iter()
        .copied()
        .filter(|l| !l.starts_with("roundtrip::"))
        .collect();
    assert_eq!(
        kept, expect,
        "--skip leaves out exactly the roundtrip tests"
    );
    assert!(kept.len() < all.len());
    let (code, exact) = run_self(&["--list", "--exact", HANG], &[(HANG_VAR, "1")], bound);
    assert_eq!(
        (code, exact.as_str()),
        (Some(0), "harness::hangs_forever: test\n")
    );
}

fn a_hung_test_fails_the_run_with_its_name<C>(_: &C) {
    let (code, out) = run_self(
        &["--exact", HANG],
        &[(HANG_VAR, "1"), (TIMEOUT_VAR, "1")],
        Duration::from_secs(60),
    );
    assert_eq!(code, Some(FAILED), "{out}");
    assert!(
        out.contains("test harness::hangs_forever ... TIMED OUT after 1 s"),
        "{out}"
    );
    let (code, _) = run_self(
        &["--list"],
        &[(TIMEOUT_VAR, "soon")],
        Duration::from_secs(60),
    );
    assert_eq!(
        code,
        Some(FAILED),
        "a bad limit is an error, not the default"
    );
}
