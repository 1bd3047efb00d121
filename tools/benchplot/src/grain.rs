//! The granularity figure: efficiency against task length, taskloom beside Taskflow
//! and Dask.
//!
//! Reads `grain.jsonl` of a folder, one JSON line per (system, task length,
//! workers) in the schema of taskloom's `grain` example; a system measured more than
//! once (several rounds of `grain.sh`) counts with its best run, as each run counts
//! with its best of five. Draws `grain.svg` and prints the table.

use std::collections::BTreeMap;
use std::path::Path;

use plotters::element::DashedPathElement;
use plotters::prelude::*;
use serde::Deserialize;

use crate::{Error, read_jsonl};

/// Efficiency targets with 2 workers: (task µs, efficiency).
const TARGETS: [(u64, f64); 4] = [(1, 0.70), (10, 0.95), (100, 0.98), (1000, 0.98)];

/// One measured line.
#[derive(Debug, Clone, Deserialize)]
struct Point {
    system: String,
    task_us: u64,
    tasks: u64,
    workers: u32,
    best_s: f64,
    ideal_s: f64,
    /// Absent for Taskflow, whose program prints the best run only.
    median_s: Option<f64>,
}

impl Point {
    /// The system without its version.
    fn name(&self) -> &str {
        self.system
            .split_whitespace()
            .next()
            .unwrap_or(&self.system)
    }
}

/// The best (shortest) run per (system, workers, task length), with the median of
/// that run.
type Best = BTreeMap<(String, u32, u64), Point>;

fn load(dir: &Path) -> Result<Best, Error> {
    let mut best = Best::new();
    for p in read_jsonl::<Point>(&dir.join("grain.jsonl"))? {
        let key = (p.name().to_owned(), p.workers, p.task_us);
        if best.get(&key).is_none_or(|b| p.best_s < b.best_s) {
            best.insert(key, p);
        }
    }
    if best.is_empty() {
        return Err(Error::NoData("grain"));
    }
    Ok(best)
}

/// Systems in table and legend order, and their colours.
const SYSTEMS: [(&str, RGBColor); 3] = [
    ("taskloom", RGBColor(44, 160, 44)),
    ("taskflow", RGBColor(255, 127, 14)),
    ("dask", RGBColor(148, 103, 189)),
];

fn percent(p: &Point) -> String {
    let best = p.ideal_s / p.best_s * 100.0;
    match p.median_s {
        Some(m) => format!("{best:.1} ({:.1})", p.ideal_s / m * 100.0),
        None => format!("{best:.1}"),
    }
}

/// The efficiency table, as `grain` prints it and the guide shows it.
fn table(best: &Best) -> String {
    let mut workers: Vec<u32> = best.keys().map(|k| k.1).collect();
    workers.sort_unstable();
    workers.dedup();
    let mut lengths: Vec<u64> = best.keys().map(|k| k.2).collect();
    lengths.sort_unstable();
    lengths.dedup();
    let present: Vec<&str> = SYSTEMS
        .iter()
        .map(|s| s.0)
        .filter(|s| best.keys().any(|k| k.0 == *s))
        .collect();
    let mut out = String::from("| task | tasks |");
    for w in &workers {
        for s in &present {
            out += &format!(" {s}, {w} worker{} |", if *w == 1 { "" } else { "s" });
        }
    }
    out += " target, 2 workers |\n";
    out += &format!(
        "|---|---:|{}---:|\n",
        "---:|".repeat(workers.len() * present.len())
    );
    for &us in &lengths {
        let tasks = best
            .values()
            .find(|p| p.task_us == us)
            .map_or(0, |p| p.tasks);
        out += &format!("| {us} µs | {tasks} |");
        for w in &workers {
            for s in &present {
                match best.get(&((*s).to_owned(), *w, us)) {
                    Some(p) => out += &format!(" {} |", percent(p)),
                    None => out += " – |",
                }
            }
        }
        match TARGETS.iter().find(|t| t.0 == us) {
            Some(t) => out += &format!(" ≥ {:.0} |\n", t.1 * 100.0),
            None => out += " |\n",
        }
    }
    out += "\nEfficiency in % = ideal ÷ measured, ideal = tasks × length ÷ workers; best of \
            the runs, (median) where the program reports one.\n";
    out
}

/// The table of `dir`'s `grain.jsonl`, for the generated figures.
pub(crate) fn table_of(dir: &Path) -> Result<String, Error> {
    Ok(table(&load(dir)?))
}

fn draw(best: &Best, path: &Path) -> Result<(), Error> {
    let err = |e: &dyn std::fmt::Display| Error::Draw {
        path: path.to_owned(),
        message: e.to_string(),
    };
    let root = SVGBackend::new(path, (980, 540)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let (plot, legend) = root.split_horizontally(720);
    let mut chart = ChartBuilder::on(&plot)
        .caption(
            "Efficiency vs task length (independent tasks + tree reduction)",
            ("sans-serif", 20),
        )
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.25_f64..3.25_f64, 0.0_f64..110.0_f64)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("task length (µs of calibrated CPU work)")
        .y_desc("efficiency, % of ideal (best of runs)")
        .x_labels(4)
        .x_label_formatter(&|x| format!("{}", 10f64.powf(x.round())))
        .x_max_light_lines(0)
        .label_style(("sans-serif", 15))
        .draw()
        .map_err(|e| err(&e))?;
    let mut row = 0;
    let mut workers: Vec<u32> = best.keys().map(|k| k.1).collect();
    workers.sort_unstable();
    workers.dedup();
    for &w in workers.iter().rev() {
        for (system, colour) in SYSTEMS {
            let points: Vec<(f64, f64)> = best
                .values()
                .filter(|p| p.name() == system && p.workers == w)
                .map(|p| ((p.task_us as f64).log10(), p.ideal_s / p.best_s * 100.0))
                .collect();
            if points.is_empty() {
                continue;
            }
            let style = colour.stroke_width(2);
            let y = 90 + 28 * row;
            row += 1;
            if w == 1 {
                chart
                    .draw_series(DashedLineSeries::new(points.clone(), 8, 5, style))
                    .map_err(|e| err(&e))?;
                chart
                    .draw_series(
                        points
                            .iter()
                            .map(|&p| TriangleMarker::new(p, 6, colour.filled())),
                    )
                    .map_err(|e| err(&e))?;
                legend
                    .draw(&DashedPathElement::new(vec![(0, y), (34, y)], 8, 5, style))
                    .map_err(|e| err(&e))?;
                legend
                    .draw(&TriangleMarker::new((17, y), 6, colour.filled()))
                    .map_err(|e| err(&e))?;
            } else {
                chart
                    .draw_series(LineSeries::new(points.clone(), style))
                    .map_err(|e| err(&e))?;
                chart
                    .draw_series(points.iter().map(|&p| Circle::new(p, 4, colour.filled())))
                    .map_err(|e| err(&e))?;
                legend
                    .draw(&PathElement::new(vec![(0, y), (34, y)], style))
                    .map_err(|e| err(&e))?;
                legend
                    .draw(&Circle::new((17, y), 4, colour.filled()))
                    .map_err(|e| err(&e))?;
            }
            let label = format!("{system}, {w} worker{}", if w == 1 { "" } else { "s" });
            legend
                .draw(&Text::new(
                    label,
                    (42, y - 8),
                    ("sans-serif", 15).into_font(),
                ))
                .map_err(|e| err(&e))?;
        }
    }
    // The targets, as crosses, with their legend entry.
    chart
        .draw_series(
            TARGETS
                .iter()
                .map(|&(us, e)| Cross::new(((us as f64).log10(), e * 100.0), 6, BLACK)),
        )
        .map_err(|e| err(&e))?;
    let y = 90 + 28 * row;
    legend
        .draw(&Cross::new((17, y), 6, BLACK))
        .map_err(|e| err(&e))?;
    legend
        .draw(&Text::new(
            "target, 2 workers",
            (42, y - 8),
            ("sans-serif", 15).into_font(),
        ))
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

/// Prints the table and draws `grain.svg` in `dir` from its `grain.jsonl`.
pub(crate) fn plot(dir: &Path) -> Result<(), Error> {
    let best = load(dir)?;
    println!("{}", table(&best));
    let path = dir.join("grain.svg");
    draw(&best, &path)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_run_of_each_system_counts() {
        let dir = std::env::temp_dir().join(format!("grain-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let line = |system: &str, best: f64| {
            format!(
                r#"{{"system": "{system}", "task_us": 10, "tasks": 20000, "workers": 2,
                "best_s": {best}, "ideal_s": 0.1, "median_s": 0.2}}"#
            )
            .replace('\n', " ")
        };
        let text = [
            line("taskloom 0.1.0", 0.125),
            line("taskloom 0.1.0", 0.11),
            line("taskflow", 0.105),
        ]
        .join("\n");
        std::fs::write(dir.join("grain.jsonl"), text).unwrap_or_else(|e| panic!("{e}"));
        let best = load(&dir).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(best.len(), 2);
        let ours = &best[&("taskloom".to_owned(), 2, 10)];
        assert_eq!(ours.best_s, 0.11);
        assert_eq!(percent(ours), "90.9 (50.0)");
        plot(&dir).unwrap_or_else(|e| panic!("{e}"));
        assert!(dir.join("grain.svg").exists());
        std::fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    }
}
