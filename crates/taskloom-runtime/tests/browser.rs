//! Reports and pictures in a real browser: headless Chromium loads each page from
//! disk, and the test reads back what it built (`--dump-dom`), what it logged, and
//! what it drew (`--screenshot`, decoded here).
//!
//! - a small run: no script error, one bar per task, a picture that is neither
//!   blank nor one colour;
//! - keys that look like markup (`<script>`, `</svg>`, an `<img onerror>`, quotes,
//!   newlines, Unicode): the report and the SVG show them as text and run nothing;
//! - a run of 100,000 tasks: the file stays under 10 MB and the page draws; its
//!   own drawing time and the browser's wall time are printed (speed is measured,
//!   not asserted, in tests).
//!
//! Chromium is found as `$TASKLOOM_CHROMIUM`, or `chromium`, `chromium-browser`,
//! `google-chrome` on `PATH`. Without it the tests say so and pass, unless
//! `TASKLOOM_REQUIRE_CHROMIUM=1` (CI), where they fail.
#![allow(clippy::unwrap_used)] // tests panic on unexpected errors by design

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use taskloom::diagnostics::Report;
use taskloom::diagnostics::picture::DotOptions;
use taskloom::{ComputeOptions, Graph, Handle, Scheduler};

/// Longest a browser run may take before it is killed (a hang fails the test).
const BROWSER_LIMIT: Duration = Duration::from_secs(90);

fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("TASKLOOM_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// Chromium, or `None` after saying why the test does nothing (a failure where
/// `TASKLOOM_REQUIRE_CHROMIUM` is set).
fn browser() -> Option<PathBuf> {
    let found = chromium();
    if found.is_none() {
        assert!(
            std::env::var_os("TASKLOOM_REQUIRE_CHROMIUM").is_none(),
            "TASKLOOM_REQUIRE_CHROMIUM is set but no chromium was found \
             (install Debian's `chromium`, or set TASKLOOM_CHROMIUM)"
        );
        eprintln!("no chromium on PATH: the browser checks did not run");
    }
    found
}

/// What one headless run gave back.
struct Run {
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

/// Runs headless Chromium on `page` with `args`, killed after [`BROWSER_LIMIT`].
fn headless(chrome: &Path, page: &Path, args: &[String]) -> Run {
    let profile = scratch(&format!("profile-{}", unique()));
    std::fs::create_dir_all(&profile).unwrap();
    let started = Instant::now();
    let mut child = Command::new(chrome)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > BROWSER_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium did not finish with {} in {BROWSER_LIMIT:?}",
                page.display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let elapsed = started.elapsed();
    let run = Run {
        stdout: reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
        elapsed,
    };
    let _ = std::fs::remove_dir_all(&profile);
    run
}

/// The page's DOM once loaded, and the console's complaints.
fn dump(chrome: &Path, page: &Path) -> (String, Run) {
    let run = headless(chrome, page, &["--dump-dom".to_owned()]);
    (run.stdout.clone(), run)
}

/// Console messages that are errors: uncaught exceptions and console.error.
fn console_errors(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains("CONSOLE") && (l.contains("Uncaught") || l.contains(":ERROR:")))
        .collect()
}

/// The attributes of the page's `<body>` tag.
fn body_tag(dom: &str) -> &str {
    let start = dom.find("<body").unwrap();
    let end = start + dom[start..].find('>').unwrap();
    &dom[start..=end]
}

fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let end = start + tag[start..].find('"')?;
    Some(&tag[start..end])
}

/// Checks that the page ran its script to the end without an error.
fn assert_drawn(dom: &str, run: &Run) -> String {
    let body = body_tag(dom).to_owned();
    assert_eq!(
        attribute(&body, "data-ready"),
        Some("1"),
        "{body}\n{}",
        run.stderr
    );
    assert_eq!(attribute(&body, "data-errors"), None, "{body}");
    assert!(console_errors(&run.stderr).is_empty(), "{}", run.stderr);
    body
}

fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("taskloom-browser-{}-{name}", std::process::id()))
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Decodes a PNG screenshot: (width, height, RGBA pixels).
fn pixels(png_bytes: &[u8]) -> (u32, u32, Vec<[u8; 4]>) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let data = &buf[..info.buffer_size()];
    let px: Vec<[u8; 4]> = match info.color_type {
        png::ColorType::Rgba => data.chunks(4).map(|c| [c[0], c[1], c[2], c[3]]).collect(),
        png::ColorType::Rgb => data.chunks(3).map(|c| [c[0], c[1], c[2], 255]).collect(),
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    (info.width, info.height, px)
}

/// `n` leaves, summed 100 at a time, then in one task.
fn wide(n: usize) -> (Graph, Handle<usize>) {
    let mut g = Graph::with_capacity(n + n / 100 + 1, n + n / 100);
    let leaves: Vec<_> = (0..n)
        .map(|i| g.add(("leaf", i), (), || 1_usize).unwrap())
        .collect();
    let sums: Vec<_> = leaves
        .chunks(100)
        .enumerate()
        .map(|(i, c)| {
            g.add(("part", i), c, |xs: &[&usize]| {
                xs.iter().copied().sum::<usize>()
            })
            .unwrap()
        })
        .collect();
    let total = g
        .add("total", &sums[..], |xs: &[&usize]| {
            xs.iter().copied().sum::<usize>()
        })
        .unwrap();
    (g, total)
}

/// Computes `total` of `g` on two threads with a report, and saves it.
fn report_of(g: &Graph, total: &Handle<usize>, name: &str) -> (PathBuf, usize) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let report = Arc::new(Report::new());
    report.graph(g);
    let options = ComputeOptions::new().shared_callback(report.clone());
    rt.block_on(
        Scheduler::threads(2)
            .unwrap()
            .compute_with(g, total, options),
    )
    .unwrap();
    let path = scratch(name);
    report.save(&path).unwrap();
    (path, report.profiler().records().len())
}

#[test]
fn a_small_run_draws_a_bar_per_task() {
    let Some(chrome) = browser() else { return };
    let (g, total) = wide(300);
    let (page, tasks) = report_of(&g, &total, "small.html");
    assert_eq!(tasks, g.len());

    let (dom, run) = dump(&chrome, &page);
    let body = assert_drawn(&dom, &run);
    assert_eq!(
        attribute(&body, "data-bars"),
        Some(tasks.to_string().as_str())
    );
    assert_eq!(
        dom.matches("class=\"bar\"").count(),
        tasks,
        "a rect per task"
    );
    assert!(
        dom.contains("<td>leaf</td>") || dom.contains("leaf</td>"),
        "the table"
    );

    let shot = scratch("small.png");
    let run = headless(
        &chrome,
        &page,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1200,1000".to_owned(),
        ],
    );
    assert!(console_errors(&run.stderr).is_empty(), "{}", run.stderr);
    let (w, h, px) = pixels(&std::fs::read(&shot).unwrap());
    assert_eq!((w, h), (1200, 1000));
    let white = px
        .iter()
        .filter(|p| p[0] > 245 && p[1] > 245 && p[2] > 245)
        .count();
    let distinct: std::collections::HashSet<[u8; 4]> = px.iter().copied().collect();
    assert!(
        white < px.len() * 97 / 100,
        "the page is blank: {white} of {} white",
        px.len()
    );
    assert!(
        distinct.len() > 20,
        "the page is nearly one colour: {} colours",
        distinct.len()
    );
    // The task stream's colours are there (the palette's blue, the first function's).
    assert!(
        px.iter()
            .any(|p| p[0] == 0x00 && p[1] == 0x72 && p[2] == 0xb2),
        "no bar of the first function's colour"
    );
    let _ = std::fs::remove_file(&page);
    let _ = std::fs::remove_file(&shot);
}

/// Keys as users and web clients may send them.
const HOSTILE_KEYS: [&str; 6] = [
    "<script>document.body.setAttribute('data-pwned','key')</script>",
    "</svg><img src=x onerror=\"document.body.setAttribute('data-pwned','img')\">",
    "say \"hi\" & 'bye' \\ back",
    "two\nlines\r\tand a bell \u{7}",
    "日本語のキー ✓ é",
    "]]><!-- --></title></style></script>",
];

#[test]
fn keys_that_look_like_markup_stay_text() {
    let Some(chrome) = browser() else { return };
    let mut g = Graph::new();
    let inputs: Vec<_> = HOSTILE_KEYS
        .iter()
        .map(|key| g.add(*key, (), || 1_usize).unwrap())
        .collect();
    let total = g
        .add("<b>total</b>", &inputs[..], |xs: &[&usize]| xs.len())
        .unwrap();
    let (page, tasks) = report_of(&g, &total, "hostile.html");

    let (dom, run) = dump(&chrome, &page);
    let body = assert_drawn(&dom, &run);
    assert_eq!(
        attribute(&body, "data-pwned"),
        None,
        "a key ran as script: {body}"
    );
    assert_eq!(
        attribute(&body, "data-bars"),
        Some(tasks.to_string().as_str())
    );
    // Each key is in the page as text (the DOM serializes `<` in text as `&lt;`).
    assert!(
        dom.contains("&lt;script&gt;document.body.setAttribute('data-pwned','key')&lt;/script&gt;")
    );
    assert!(dom.contains("&lt;/svg&gt;&lt;img src=x onerror="));
    assert!(dom.contains("日本語のキー ✓ é"));
    assert!(
        !dom.contains("<img src=\"x\""),
        "an image element was made from a key"
    );
    // The graph picture is whole: its nodes all drawn.
    assert_eq!(dom.matches("<g class=\"node\">").count(), g.len());

    // The standalone SVG parses as XML, shows the keys, and runs nothing.
    let svg = scratch("hostile.svg");
    std::fs::write(&svg, g.to_svg(&DotOptions::new()).unwrap()).unwrap();
    let (dom, run) = dump(&chrome, &svg);
    assert!(
        !dom.contains("parsererror") && !dom.contains("This page contains the following errors"),
        "{dom}"
    );
    assert!(dom.contains("&lt;script&gt;document.body"), "{dom}");
    assert!(!dom.contains("data-pwned=\""), "{dom}");
    assert!(console_errors(&run.stderr).is_empty(), "{}", run.stderr);
    let _ = std::fs::remove_file(&page);
    let _ = std::fs::remove_file(&svg);
}

#[test]
fn a_run_of_100_000_tasks_stays_small_and_draws() {
    let Some(chrome) = browser() else { return };
    let (g, total) = wide(100_000);
    let (page, tasks) = report_of(&g, &total, "big.html");
    assert!(tasks > 100_000);
    let bytes = std::fs::metadata(&page).unwrap().len();
    assert!(bytes < 10 * 1024 * 1024, "{bytes} bytes");

    let (dom, run) = dump(&chrome, &page);
    let body = assert_drawn(&dom, &run);
    let bars: usize = attribute(&body, "data-bars").unwrap().parse().unwrap();
    assert!(bars > 0 && bars <= 20_000, "{bars} bars");
    eprintln!(
        "report of {tasks} tasks: {:.2} MB; drawn by the page in {} ms; chromium ran {:.2} s \
         (start, load, draw, exit)",
        bytes as f64 / 1e6,
        attribute(&body, "data-render-ms").unwrap_or("?"),
        run.elapsed.as_secs_f64()
    );
    let _ = std::fs::remove_file(&page);
}
