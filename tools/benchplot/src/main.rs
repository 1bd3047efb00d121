//! taskloom-benchplot: the benchmark figures, drawn and tabulated from measured data.
//!
//! ```sh
//! taskloom-benchplot plot docs/bench          # taskloom.jsonl, dask.jsonl -> scaling-*.svg
//! taskloom-benchplot grain docs/bench/grain   # grain.jsonl -> grain.svg (efficiency)
//! taskloom-benchplot tables                   # docs/bench -> the figures' Markdown tables
//! taskloom-benchplot tables --check           # fails if a generated file is stale
//! taskloom-benchplot gen-chains 10000 100     # chains graph (JSON graph format) on stdout
//! ```
//!
//! `plot` reads `taskloom.jsonl` and `dask.jsonl` of a folder (what
//! `tools/benchplot/measure.sh` writes there): JSON lines in the schema of
//! `scripts/dask_overhead.py` and taskloom's `overhead` example (`system, graph,
//! executor, workers, tasks, edges, runs, median_s, min_s, us_per_task`). It draws µs
//! per task against the number of tasks (the `chains_*` graphs) and against
//! dependencies per task (the `crosstalk_*_k*` graphs), one series per system and
//! executor, log scales, as SVG; and prints the same numbers as Markdown tables.
//! Other JSON-lines files of the folder have other layouts and are not read.
//!
//! `grain` reads `grain.jsonl` of a folder: the granularity benchmark's JSON lines
//! (taskloom's `grain` example, `scripts/dask_grain.py`, and Taskflow's
//! `grain.cpp` turned into the same schema by `tools/benchplot/grain.sh`), and draws
//! the efficiency (ideal time ÷ measured) against the task length, one series per
//! system and number of workers, with the targets; it prints the same numbers as a
//! Markdown table.
//!
//! `tables` (run from the repository root, or given it with `--root DIR`) writes every
//! table of measured figures that the guide and the README show, from the committed
//! data in `docs/bench` (and `corpus/dask.json`): see [`tables`]. The output depends on
//! nothing but those files, so `--check` can tell a table edited by hand, or data
//! re-measured without regenerating, from an up-to-date one.
//!
//! `gen-chains WIDTH HEIGHT` writes Dask's `graphs.chains(width, height)` (the shape
//! of the `chains_*` files of `benches/graphs`: `WIDTH` independent chains of
//! `HEIGHT` tasks, keys `c{chain}_{i}`, the last task of each chain a target), for
//! sizes the stored set lacks (1M tasks: 10000 × 100).

use std::collections::BTreeMap;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use plotters::element::DashedPathElement;
use plotters::prelude::*;
use serde::Deserialize;

mod grain;
mod markdown;
mod tables;

/// Why the figures could not be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// Bad command line.
    #[error(
        "{0}\nusage: taskloom-benchplot plot DIR | grain DIR | tables [--check] [--root DIR] \
         | gen-chains WIDTH HEIGHT"
    )]
    Usage(String),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// A line is not a measurement.
    #[error("{}:{line}: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The line number (from 1).
        line: usize,
        /// What is wrong with it.
        source: serde_json::Error,
    },
    /// Nothing to draw.
    #[error("no measurement of {0} graphs in the data")]
    NoData(&'static str),
    /// A data file lacks what a table needs.
    #[error("{}: {message}", path.display())]
    Data {
        /// The file.
        path: PathBuf,
        /// What is missing.
        message: String,
    },
    /// The README has no place for its generated table.
    #[error("{}: no `{start}` ... `{end}` markers to put the generated table between", path.display())]
    NoMarkers {
        /// The README.
        path: PathBuf,
        /// The opening marker.
        start: &'static str,
        /// The closing marker.
        end: &'static str,
    },
    /// `tables --check`: generated files that differ from what the data gives.
    #[error(
        "stale generated tables (regenerate with `cargo run -p taskloom-benchplot -- tables`): {}",
        .0.join(", ")
    )]
    Stale(Vec<String>),
    /// plotters failed.
    #[error("drawing {}: {message}", path.display())]
    Draw {
        /// The figure.
        path: PathBuf,
        /// plotters' message.
        message: String,
    },
}

/// One measured line of the `overhead` example or `scripts/dask_overhead.py`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Measurement {
    pub(crate) system: String,
    pub(crate) graph: String,
    pub(crate) executor: String,
    pub(crate) workers: u32,
    pub(crate) tasks: u64,
    pub(crate) edges: u64,
    pub(crate) us_per_task: f64,
}

impl Measurement {
    /// The series this point belongs to: system without its version, executor, workers.
    fn series(&self) -> String {
        let system = self
            .system
            .split_whitespace()
            .next()
            .unwrap_or(&self.system);
        if self.workers > 1 {
            format!("{system} {} ({} workers)", self.executor, self.workers)
        } else {
            format!("{system} {}", self.executor)
        }
    }

    fn is_dask(&self) -> bool {
        self.system.starts_with("dask")
    }

    /// Dependencies per task of a `crosstalk_*_k{k}` graph.
    fn crosstalk_k(&self) -> Option<u32> {
        let (_, k) = self.graph.rsplit_once("_k")?;
        self.graph
            .starts_with("crosstalk")
            .then(|| k.parse().ok())?
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("taskloom-benchplot: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["plot", dir] => plot(Path::new(dir)),
        ["grain", dir] => grain::plot(Path::new(dir)),
        ["tables", ref rest @ ..] => {
            let mut check = false;
            let mut root = PathBuf::from(".");
            let mut rest = rest.iter();
            while let Some(arg) = rest.next() {
                match *arg {
                    "--check" => check = true,
                    "--root" => {
                        root = rest
                            .next()
                            .ok_or_else(|| Error::Usage("--root needs a folder".into()))?
                            .into();
                    }
                    other => return Err(Error::Usage(format!("unexpected argument {other}"))),
                }
            }
            tables::run(&root, check)
        }
        ["gen-chains", width, height] => {
            let number = |s: &str| {
                s.parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| Error::Usage(format!("not a positive number: {s}")))
            };
            let (width, height) = (number(width)?, number(height)?);
            let stdout = io::stdout();
            gen_chains(width, height, &mut BufWriter::new(stdout.lock())).map_err(|source| {
                Error::Io {
                    path: "<stdout>".into(),
                    source,
                }
            })
        }
        _ => Err(Error::Usage(format!("unexpected arguments {args:?}"))),
    }
}

/// Writes `graphs.chains(width, height)` in the shared JSON format.
fn gen_chains(width: usize, height: usize, out: &mut impl Write) -> io::Result<()> {
    let tasks = width * height;
    let name = match tasks {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("chains_{}m", n / 1_000_000),
        n if n >= 1000 && n % 1000 == 0 => format!("chains_{}k", n / 1000),
        n => format!("chains_{n}"),
    };
    writeln!(out, "{{\"name\": \"{name}\",\n\"tasks\": [")?;
    for c in 0..width {
        for i in 0..height {
            let sep = if c + 1 == width && i + 1 == height {
                ""
            } else {
                ","
            };
            if i == 0 {
                writeln!(out, "{{\"key\":\"c{c}_0\",\"deps\":[]}}{sep}")?;
            } else {
                writeln!(
                    out,
                    "{{\"key\":\"c{c}_{i}\",\"deps\":[\"c{c}_{}\"]}}{sep}",
                    i - 1
                )?;
            }
        }
    }
    write!(out, "],\n\"targets\": [")?;
    for c in 0..width {
        let sep = if c + 1 == width { "" } else { ", " };
        write!(out, "\"c{c}_{}\"{sep}", height - 1)?;
    }
    writeln!(out, "]}}")?;
    out.flush()
}

/// The files of the scaling figures' layout in a folder: what `measure.sh` writes.
pub(crate) const SCALING_FILES: [&str; 2] = ["taskloom.jsonl", "dask.jsonl"];

/// Reads the scaling figures' files of `dir` ([`SCALING_FILES`]); a later line for the
/// same series and graph replaces an earlier one.
pub(crate) fn load(dir: &Path) -> Result<Vec<Measurement>, Error> {
    let mut latest: BTreeMap<(String, String), Measurement> = BTreeMap::new();
    for name in SCALING_FILES {
        for m in read_jsonl::<Measurement>(&dir.join(name))? {
            latest.insert((m.series(), m.graph.clone()), m);
        }
    }
    Ok(latest.into_values().collect())
}

/// The JSON objects of `path`, one per line, in order; lines that do not start with
/// `{` (blank lines, notes) are skipped. An error names the file and the line.
pub(crate) fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| io_error(path, source))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| line.trim_start().starts_with('{'))
        .map(|(n, line)| {
            serde_json::from_str(line).map_err(|source| Error::Json {
                path: path.to_owned(),
                line: n + 1,
                source,
            })
        })
        .collect()
}

pub(crate) fn io_error(path: &Path, source: io::Error) -> Error {
    Error::Io {
        path: path.to_owned(),
        source,
    }
}

/// One line of a figure.
struct Series {
    label: String,
    dask: bool,
    executor: String,
    points: Vec<(f64, f64)>,
}

/// Groups measurements into series of (x, µs per task) points, sorted by x; taskloom
/// first, then Dask, each by executor (inline, threads, processes).
fn series(data: &[Measurement], x: impl Fn(&Measurement) -> Option<f64>) -> Vec<Series> {
    let mut by_label: BTreeMap<(bool, u8, String), Series> = BTreeMap::new();
    for m in data {
        if let Some(x) = x(m) {
            by_label
                .entry((m.is_dask(), executor_rank(&m.executor), m.series()))
                .or_insert_with(|| Series {
                    label: m.series(),
                    dask: m.is_dask(),
                    executor: m.executor.clone(),
                    points: Vec::new(),
                })
                .points
                .push((x, m.us_per_task));
        }
    }
    let mut all: Vec<Series> = by_label.into_values().collect();
    for s in &mut all {
        s.points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    all
}

/// Executors in the order of the legend; Dask's `sync` is taskloom's `current-thread`.
fn executor_rank(executor: &str) -> u8 {
    match executor {
        "current-thread" | "sync" => 0,
        "threads" => 1,
        "processes" => 2,
        _ => 3,
    }
}

/// One colour per kind of executor, the same for both systems, so each taskloom
/// executor is drawn beside its Dask counterpart: blue for one thread, green for
/// threads, red for processes. taskloom's lines are solid with dots, Dask's dashed
/// with triangles.
fn colour(s: &Series) -> RGBColor {
    match executor_rank(&s.executor) {
        0 => RGBColor(31, 119, 180),
        1 => RGBColor(44, 160, 44),
        2 => RGBColor(214, 39, 40),
        _ => RGBColor(148, 103, 189),
    }
}

/// A log-log figure of `series` saved as SVG at `path`.
///
/// The x axis is drawn linear in `log_base(x)` with a tick per power of the base
/// (1k, 10k, 100k, 1M; or k = 1, 2, 4, 8, 16), which reads better than plotters'
/// log axis with its dense minor grid; y uses plotters' log axis (decades).
struct Figure<'a> {
    path: PathBuf,
    title: &'a str,
    x_label: &'a str,
    log_base: f64,
    x_format: fn(f64) -> String,
    series: Vec<Series>,
}

fn draw(figure: &Figure<'_>) -> Result<(), Error> {
    let err = |e: &dyn std::fmt::Display| Error::Draw {
        path: figure.path.clone(),
        message: e.to_string(),
    };
    let to_x = |x: f64| x.log(figure.log_base);
    let all = figure.series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in all {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    // (log10(1000) is 2.9999999999999996 in floating point.)
    let (x0, x1) = ((to_x(x0) + 1e-9).floor(), (to_x(x1) - 1e-9).ceil());
    // Whole decades on y, with a margin so the bottom decade keeps its label.
    let (y0, y1) = (
        10f64.powf(y0.log10().floor()) / 1.3,
        10f64.powf(y1.log10().ceil()) * 1.3,
    );

    let root = SVGBackend::new(&figure.path, (980, 540)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    // The legend gets a panel of its own: inside the plot it would hide points.
    let (plot, legend) = root.split_horizontally(720);
    let mut chart = ChartBuilder::on(&plot)
        .caption(figure.title, ("sans-serif", 20))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(x0 - 0.25..x1 + 0.25, (y0..y1).log_scale())
        .map_err(|e| err(&e))?;
    let base = figure.log_base;
    chart
        .configure_mesh()
        .x_desc(figure.x_label)
        .y_desc("µs per task (median of runs)")
        .x_labels((x1 - x0) as usize + 1)
        .x_label_formatter(&|x| (figure.x_format)(base.powf(*x).round()))
        .x_max_light_lines(0)
        .y_label_formatter(&|y| format_us(*y))
        .label_style(("sans-serif", 15))
        .draw()
        .map_err(|e| err(&e))?;
    for (i, s) in figure.series.iter().enumerate() {
        let colour = colour(s);
        let style = colour.stroke_width(2);
        let points = s.points.iter().map(|&(x, y)| (to_x(x), y));
        if s.dask {
            chart
                .draw_series(DashedLineSeries::new(points.clone(), 8, 5, style))
                .map_err(|e| err(&e))?;
            chart
                .draw_series(points.map(|p| TriangleMarker::new(p, 6, colour.filled())))
                .map_err(|e| err(&e))?;
        } else {
            chart
                .draw_series(LineSeries::new(points.clone(), style))
                .map_err(|e| err(&e))?;
            chart
                .draw_series(points.map(|p| Circle::new(p, 4, colour.filled())))
                .map_err(|e| err(&e))?;
        }
        // Legend entry: a line sample with its marker, and the label.
        let y = 90 + 28 * i as i32;
        if s.dask {
            legend
                .draw(&DashedPathElement::new(vec![(0, y), (34, y)], 8, 5, style))
                .map_err(|e| err(&e))?;
            legend
                .draw(&TriangleMarker::new((17, y), 6, colour.filled()))
                .map_err(|e| err(&e))?;
        } else {
            legend
                .draw(&PathElement::new(vec![(0, y), (34, y)], style))
                .map_err(|e| err(&e))?;
            legend
                .draw(&Circle::new((17, y), 4, colour.filled()))
                .map_err(|e| err(&e))?;
        }
        legend
            .draw(&Text::new(
                s.label.clone(),
                (42, y - 8),
                ("sans-serif", 15).into_font(),
            ))
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

fn format_us(y: f64) -> String {
    if y >= 1.0 {
        format!("{y:.0}")
    } else {
        format!("{y}")
    }
}

fn format_tasks(x: f64) -> String {
    match x {
        x if x >= 1e6 => format!("{}M", x / 1e6),
        x if x >= 1e3 => format!("{}k", x / 1e3),
        x => format!("{x}"),
    }
}

fn format_k(x: f64) -> String {
    format!("{x}")
}

/// The cost of one more dependency, from crosstalk k = 1 to k = 16: (time of k16 −
/// time of k1) / (edges of k16 − edges of k1), per series, as a Markdown table.
fn per_edge(data: &[Measurement]) -> String {
    let find = |series: &str, k: u32| {
        data.iter()
            .find(|m| m.series() == series && m.crosstalk_k() == Some(k))
    };
    let mut names: Vec<String> = data.iter().map(Measurement::series).collect();
    names.sort();
    names.dedup();
    let mut out = String::from("| ns per extra edge (crosstalk k1 → k16) | |\n|---|---:|\n");
    for name in names {
        let (Some(a), Some(b)) = (find(&name, 1), find(&name, 16)) else {
            continue;
        };
        if b.edges <= a.edges {
            continue;
        }
        let extra_ns = (b.us_per_task * b.tasks as f64 - a.us_per_task * a.tasks as f64) * 1e3;
        out += &format!(
            "| {name} | {:.1} |\n",
            extra_ns / (b.edges - a.edges) as f64
        );
    }
    out
}

/// A Markdown table: one row per x, one column per series.
fn table(series: &[Series], x_name: &str, x_format: fn(f64) -> String) -> String {
    let mut xs: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    let mut out = format!("| {x_name} |");
    for s in series {
        out += &format!(" {} |", s.label);
    }
    out += &format!("\n|---|{}\n", "---:|".repeat(series.len()));
    for x in xs {
        out += &format!("| {} |", x_format(x));
        for s in series {
            match s.points.iter().find(|p| p.0 == x) {
                Some(&(_, y)) if y < 10.0 => out += &format!(" {y:.3} |"),
                Some(&(_, y)) => out += &format!(" {y:.1} |"),
                None => out += " – |",
            }
        }
        out.push('\n');
    }
    out
}

/// The scaling figures' tables (chains, crosstalk, cost per extra edge) of `data`, as
/// `plot` prints them and the guide shows them.
pub(crate) fn scaling_tables(data: &[Measurement]) -> Result<String, Error> {
    let chains = chains_series(data);
    if chains.is_empty() {
        return Err(Error::NoData("chains_*"));
    }
    let crosstalk = crosstalk_series(data);
    if crosstalk.is_empty() {
        return Err(Error::NoData("crosstalk_*_k*"));
    }
    Ok(format!(
        "µs per task, chains graphs:\n\n{}\nµs per task, crosstalk graphs (10,000 tasks, k \
         dependencies each):\n\n{}\n{}",
        table(&chains, "tasks", format_tasks),
        table(&crosstalk, "deps per task", format_k),
        per_edge(data)
    ))
}

fn chains_series(data: &[Measurement]) -> Vec<Series> {
    series(data, |m| {
        m.graph.starts_with("chains").then_some(m.tasks as f64)
    })
}

fn crosstalk_series(data: &[Measurement]) -> Vec<Series> {
    series(data, |m| m.crosstalk_k().map(f64::from))
}

fn plot(dir: &Path) -> Result<(), Error> {
    let data = load(dir)?;
    println!("{}", scaling_tables(&data)?);
    let (chains, crosstalk) = (chains_series(&data), crosstalk_series(&data));
    for figure in [
        Figure {
            path: dir.join("scaling-tasks.svg"),
            title: "Overhead per task vs number of tasks (chains graphs)",
            x_label: "tasks in the graph",
            log_base: 10.0,
            x_format: format_tasks,
            series: chains,
        },
        Figure {
            path: dir.join("scaling-deps.svg"),
            title: "Overhead per task vs dependencies per task (crosstalk, 10k tasks)",
            x_label: "dependencies per task (k)",
            log_base: 2.0,
            x_format: format_k,
            series: crosstalk,
        },
    ] {
        draw(&figure)?;
        eprintln!("wrote {}", figure.path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_chains_have_the_shape_of_the_shared_files() {
        let mut out = Vec::new();
        gen_chains(2, 3, &mut out).unwrap_or_else(|e| panic!("{e}"));
        let g: serde_json::Value = serde_json::from_slice(&out).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(g["name"], "chains_6");
        assert_eq!(g["tasks"].as_array().map(Vec::len), Some(6));
        assert_eq!(g["tasks"][4]["key"], "c1_1");
        assert_eq!(g["tasks"][4]["deps"][0], "c1_0");
        assert_eq!(g["targets"], serde_json::json!(["c0_2", "c1_2"]));
    }

    #[test]
    fn series_are_named_without_the_version() {
        let line = r#"{"system": "dask 2026.8.0", "graph": "crosstalk_10k_k4",
            "executor": "threads", "workers": 2, "tasks": 10000, "edges": 39600,
            "runs": 3, "median_s": 1.0, "min_s": 1.0, "us_per_task": 100.0}"#;
        let m: Measurement = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.series(), "dask threads (2 workers)");
        assert_eq!(m.crosstalk_k(), Some(4));
        assert!(m.is_dask());
    }
}
