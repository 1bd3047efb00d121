//! The data of a run report, as the JSON object its page script draws from.
//!
//! Everything a screen cannot show is aggregated here, so a report of any size
//! stays small and opens fast:
//!
//! - up to [`DETAIL_LIMIT`] tasks, every task is one bar (key, worker, start,
//!   duration, function, error);
//! - past it, each worker's lane is cut into at most [`MAX_BINS`] time bins (fewer
//!   with many lanes), and each bin is one bar: its busy time, its number of tasks,
//!   the function that took most of it; runs of full bins of one function are one
//!   bar. Failures, retries and lost workers are still listed one by one (up to
//!   [`MAX_LISTED`] each).
//! - the results and bytes held (one point per task end) and the resource samples
//!   keep the highest value of each of at most [`MAX_POINTS`] time bins, so peaks
//!   survive.
//!
//! Times are milliseconds from the report's first instant. Strings are JSON
//! strings; the page parses them as data and shows them as text, never as markup.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::Instant;

use crate::callbacks::Outcome;
use crate::diagnostics::picture::names;
use crate::diagnostics::profiler::{ComputeRecord, TaskRecord};
use crate::diagnostics::resources::ResourceSample;
use crate::diagnostics::trace::{Lanes, json_string};
use crate::worker::Worker;

/// Most tasks a report draws one bar each; past it, bars are time bins per worker.
pub const DETAIL_LIMIT: usize = 20_000;
/// Most time bins per lane when tasks are aggregated.
pub(crate) const MAX_BINS: usize = 1_000;
/// Most bars in all when tasks are aggregated (bins per lane shrink with lanes).
const MAX_BARS: usize = 20_000;
/// Most points of a time series.
pub(crate) const MAX_POINTS: usize = 2_000;
/// Most failures, retries or lost workers listed one by one.
pub(crate) const MAX_LISTED: usize = 1_000;

/// What a report is made of.
pub(crate) struct Run<'a> {
    pub(crate) records: &'a [TaskRecord],
    pub(crate) computes: &'a [ComputeRecord],
    pub(crate) samples: &'a [ResourceSample],
}

/// A worker that died, seen in a task's lost runs or as a process slot whose pid
/// changed.
struct Lost {
    worker: Worker,
    at: Instant,
    ended: String,
    key: Option<String>,
}

/// The JSON object of `run`.
pub(crate) fn json(run: &Run<'_>, title: &str) -> String {
    let records = run.records;
    let origin = run
        .computes
        .iter()
        .map(|c| c.start)
        .chain(records.iter().map(|r| r.start))
        .chain(run.samples.iter().map(|s| s.at))
        .min()
        .unwrap_or_else(Instant::now);
    let ms = |t: Instant| t.saturating_duration_since(origin).as_secs_f64() * 1e3;
    let end = run
        .computes
        .iter()
        .filter_map(|c| c.end.as_ref().map(|(t, _)| *t))
        .chain(records.iter().map(|r| r.end))
        .chain(run.samples.iter().map(|s| s.at))
        .max()
        .unwrap_or(origin);
    let span = ms(end).max(1e-3);

    // Functions (groups of keys), the biggest total first: they get the colours.
    let group_of: Vec<String> = records.iter().map(|r| names::group(&r.key)).collect();
    let mut totals: HashMap<&str, Stats> = HashMap::new();
    for (r, g) in records.iter().zip(&group_of) {
        totals.entry(g.as_str()).or_default().add(r);
    }
    let mut functions: Vec<(&str, Stats)> = totals.into_iter().collect();
    functions.sort_by(|a, b| b.1.total.total_cmp(&a.1.total).then(a.0.cmp(b.0)));
    let fn_index: HashMap<&str, usize> = functions
        .iter()
        .enumerate()
        .map(|(i, (name, _))| (*name, i))
        .collect();
    let fn_of: Vec<usize> = group_of.iter().map(|g| fn_index[g.as_str()]).collect();

    // Lanes: the profiler's (worker, lane) tracks, then workers lost without a task.
    let lanes = Lanes::assign(records);
    let mut lane_names: Vec<(u32, String)> = lanes
        .ids
        .iter()
        .map(|(&(worker, lane), &id)| {
            let name = if lane == 0 {
                worker.to_string()
            } else {
                format!("{worker} #{lane}")
            };
            (id, name)
        })
        .collect();
    lane_names.sort_by_key(|(id, _)| *id);
    let mut lane_names: Vec<String> = lane_names.into_iter().map(|(_, n)| n).collect();
    let lane_of: Vec<usize> = lanes.of_record.iter().map(|&id| id as usize - 1).collect();
    let lost = lost_workers(records);
    let mut lost_lane = Vec::with_capacity(lost.len());
    for l in &lost {
        let lane = match lanes.ids.get(&(l.worker, 0)) {
            Some(&id) => id as usize - 1,
            None => {
                let name = l.worker.to_string();
                match lane_names.iter().position(|n| *n == name) {
                    Some(i) => i,
                    None => {
                        lane_names.push(name);
                        lane_names.len() - 1
                    }
                }
            }
        };
        lost_lane.push(lane);
    }

    let mut out = String::with_capacity(4096 + records.len().min(DETAIL_LIMIT) * 96);
    out.push_str("{\"title\":");
    json_string(&mut out, title);
    let _ = write!(out, ",\"span\":{span:.3},\"tasks\":{}", records.len());

    out.push_str(",\"computations\":[");
    for (i, c) in run.computes.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{{\"id\":{},\"executor\":", c.computation.get());
        json_string(&mut out, &c.executor);
        let _ = write!(
            out,
            ",\"workers\":{},\"tasks\":{},\"start\":{:.3},\"end\":",
            c.workers,
            c.tasks,
            ms(c.start)
        );
        match &c.end {
            Some((t, _)) => {
                let _ = write!(out, "{:.3}", ms(*t));
            }
            None => out.push_str("null"),
        }
        out.push_str(",\"outcome\":");
        let outcome = match c.end.as_ref().map(|(_, o)| o) {
            None => "running".to_owned(),
            Some(Outcome::Done) => "done".to_owned(),
            Some(Outcome::Cancelled) => "cancelled".to_owned(),
            Some(Outcome::Failed(m)) => format!("failed: {m}"),
        };
        json_string(&mut out, &outcome);
        out.push('}');
    }
    out.push(']');

    out.push_str(",\"lanes\":");
    string_array(&mut out, lane_names.iter().map(String::as_str));
    out.push_str(",\"functions\":");
    string_array(&mut out, functions.iter().map(|(name, _)| *name));

    let detail = records.len() <= DETAIL_LIMIT;
    let _ = write!(out, ",\"detail\":{detail}");
    if detail {
        tasks(&mut out, records, &lane_of, &fn_of, &ms);
    } else {
        bins(
            &mut out,
            records,
            &lane_of,
            &fn_of,
            lane_names.len(),
            span,
            &ms,
        );
    }

    // Failures and retries, listed.
    out.push_str(",\"failures\":[");
    let mut listed = 0;
    for (i, r) in records.iter().enumerate() {
        let Some(error) = &r.error else { continue };
        if listed >= MAX_LISTED {
            break;
        }
        if listed > 0 {
            out.push(',');
        }
        listed += 1;
        let _ = write!(
            out,
            "{{\"lane\":{},\"at\":{:.3},\"key\":",
            lane_of[i],
            ms(r.end)
        );
        json_string(&mut out, &r.key.to_string());
        out.push_str(",\"error\":");
        json_string(&mut out, error);
        out.push('}');
    }
    let failed = records.iter().filter(|r| !r.ok()).count();
    let retried = records.iter().filter(|r| !r.lost_runs.is_empty()).count();
    let _ = write!(out, "],\"failedCount\":{failed},\"retriedCount\":{retried}");
    out.push_str(",\"retries\":[");
    let mut listed = 0;
    for (i, r) in records.iter().enumerate() {
        if r.lost_runs.is_empty() || listed >= MAX_LISTED {
            continue;
        }
        if listed > 0 {
            out.push(',');
        }
        listed += 1;
        let _ = write!(
            out,
            "{{\"lane\":{},\"at\":{:.3},\"runs\":{},\"key\":",
            lane_of[i],
            ms(r.start),
            r.lost_runs.len()
        );
        json_string(&mut out, &r.key.to_string());
        out.push('}');
    }
    out.push_str("],\"lost\":[");
    for (i, (l, lane)) in lost.iter().zip(&lost_lane).take(MAX_LISTED).enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{{\"lane\":{lane},\"at\":{:.3},\"worker\":", ms(l.at));
        json_string(&mut out, &l.worker.to_string());
        out.push_str(",\"ended\":");
        json_string(&mut out, &l.ended);
        out.push_str(",\"key\":");
        match &l.key {
            Some(k) => json_string(&mut out, k),
            None => out.push_str("null"),
        }
        out.push('}');
    }
    let _ = write!(out, "],\"lostCount\":{}", lost.len());

    // What the loop held, one point per task end (highest of each bin past
    // MAX_POINTS), and the process's CPU and memory.
    let mut ends: Vec<&TaskRecord> = records.iter().collect();
    ends.sort_by_key(|r| r.end);
    let held: Vec<(f64, [f64; 2])> = ends
        .iter()
        .map(|r| (ms(r.end), [r.held_results as f64, r.held_bytes as f64]))
        .collect();
    series(&mut out, "held", &["results", "bytes"], &held, span);
    let resources: Vec<(f64, [f64; 2])> = run
        .samples
        .iter()
        .map(|s| (ms(s.at), [s.cpu_percent, s.rss_bytes as f64]))
        .collect();
    series(&mut out, "resources", &["cpu", "rss"], &resources, span);

    // The table, per function.
    out.push_str(",\"table\":[");
    for (i, (name, s)) in functions.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"fn\":");
        json_string(&mut out, name);
        let _ = write!(
            out,
            ",\"count\":{},\"total\":{:.3},\"mean\":{:.4},\"max\":{:.3},\"failed\":{},\"retried\":{}}}",
            s.count,
            s.total * 1e3,
            s.total * 1e3 / s.count.max(1) as f64,
            s.max * 1e3,
            s.failed,
            s.retried
        );
    }
    out.push_str("]}");
    // Inside a <script> element, `</script>` or `<!--` in a key would end it or
    // change how it is read: no `<` is left (JSON reads `\u003c` as `<`).
    out.replace('<', "\\u003c")
}

/// Count, total, longest, failures and retries of one function.
#[derive(Default, Clone, Copy)]
struct Stats {
    count: usize,
    total: f64,
    max: f64,
    failed: usize,
    retried: usize,
}

impl Stats {
    fn add(&mut self, r: &TaskRecord) {
        let d = r.duration().as_secs_f64();
        self.count += 1;
        self.total += d;
        self.max = self.max.max(d);
        self.failed += usize::from(!r.ok());
        self.retried += usize::from(!r.lost_runs.is_empty());
    }
}

/// Every task as a bar, in columns.
fn tasks(
    out: &mut String,
    records: &[TaskRecord],
    lane_of: &[usize],
    fn_of: &[usize],
    ms: &dyn Fn(Instant) -> f64,
) {
    out.push_str(",\"bars\":{\"lane\":");
    number_array(out, lane_of.iter().map(|&l| l as f64), 0);
    out.push_str(",\"start\":");
    number_array(out, records.iter().map(|r| ms(r.start)), 3);
    out.push_str(",\"dur\":");
    number_array(
        out,
        records.iter().map(|r| r.duration().as_secs_f64() * 1e3),
        3,
    );
    out.push_str(",\"fn\":");
    number_array(out, fn_of.iter().map(|&f| f as f64), 0);
    out.push_str(",\"key\":");
    let keys: Vec<String> = records.iter().map(|r| r.key.to_string()).collect();
    string_array(out, keys.iter().map(String::as_str));
    // Flags: 1 failed, 2 run again after its worker was lost.
    out.push_str(",\"flags\":");
    number_array(
        out,
        records
            .iter()
            .map(|r| f64::from(u8::from(!r.ok()) | (u8::from(!r.lost_runs.is_empty()) << 1))),
        0,
    );
    out.push('}');
}

/// One time bin of one lane: busy ms, tasks started in it, busy ms per function.
type Cell = (f64, usize, HashMap<usize, f64>);

/// Tasks aggregated into time bins per lane (see the module's documentation).
fn bins(
    out: &mut String,
    records: &[TaskRecord],
    lane_of: &[usize],
    fn_of: &[usize],
    lanes: usize,
    span: f64,
    ms: &dyn Fn(Instant) -> f64,
) {
    let per_lane = (MAX_BARS / lanes.max(1)).clamp(50, MAX_BINS);
    let width = span / per_lane as f64;
    let mut cells: BTreeMap<(usize, usize), Cell> = BTreeMap::new();
    for (i, r) in records.iter().enumerate() {
        let (s, e) = (ms(r.start), ms(r.end));
        let first = ((s / width) as usize).min(per_lane - 1);
        let last = ((e / width) as usize).min(per_lane - 1);
        for b in first..=last {
            let lo = (b as f64 * width).max(s);
            let hi = ((b + 1) as f64 * width).min(e);
            let busy = (hi - lo).max(0.0);
            let cell = cells.entry((lane_of[i], b)).or_default();
            cell.0 += busy;
            if b == first {
                cell.1 += 1;
            }
            *cell.2.entry(fn_of[i]).or_default() += busy;
        }
    }
    let mut bar: Vec<(usize, f64, f64, usize, usize, f64)> = Vec::new(); // lane, start, dur, fn, tasks, busy
    for (&(lane, b), (busy, count, fns)) in &cells {
        let main = fns
            .iter()
            .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(a.0)))
            .map_or(0, |(f, _)| *f);
        let start = b as f64 * width;
        let full = *busy >= 0.95 * width;
        if let Some(last) = bar.last_mut() {
            let contiguous = last.0 == lane && (last.1 + last.2 - start).abs() < width * 1e-6;
            if contiguous && full && last.3 == main && last.5 >= 0.95 * last.2 {
                last.2 += width;
                last.4 += count;
                last.5 += busy;
                continue;
            }
        }
        bar.push((lane, start, width, main, *count, *busy));
    }
    let _ = write!(out, ",\"binWidth\":{width:.3}");
    out.push_str(",\"bins\":{\"lane\":");
    number_array(out, bar.iter().map(|b| b.0 as f64), 0);
    out.push_str(",\"start\":");
    number_array(out, bar.iter().map(|b| b.1), 3);
    out.push_str(",\"dur\":");
    number_array(out, bar.iter().map(|b| b.2), 3);
    out.push_str(",\"fn\":");
    number_array(out, bar.iter().map(|b| b.3 as f64), 0);
    out.push_str(",\"count\":");
    number_array(out, bar.iter().map(|b| b.4 as f64), 0);
    out.push_str(",\"busy\":");
    number_array(out, bar.iter().map(|b| b.5), 3);
    out.push('}');
}

/// The workers that died: those in tasks' lost runs, and process slots whose pid
/// changed (a worker replaced after it died while idle or between tasks).
fn lost_workers(records: &[TaskRecord]) -> Vec<Lost> {
    let mut lost: Vec<Lost> = Vec::new();
    for r in records {
        for run in &r.lost_runs {
            if !lost.iter().any(|l| l.worker == run.worker) {
                lost.push(Lost {
                    worker: run.worker,
                    at: run.at,
                    ended: run.ended.clone(),
                    key: Some(r.key.to_string()),
                });
            }
        }
    }
    // Per process slot, its pids in the order they were first seen, with the last
    // end of each.
    let mut slots: BTreeMap<u32, Vec<(u32, Instant, Instant)>> = BTreeMap::new();
    for r in records {
        if let Worker::Process { index, pid } = r.worker {
            let pids = slots.entry(index).or_default();
            match pids.iter_mut().find(|p| p.0 == pid) {
                Some(p) => {
                    p.1 = p.1.min(r.start);
                    p.2 = p.2.max(r.end);
                }
                None => pids.push((pid, r.start, r.end)),
            }
        }
    }
    for (index, mut pids) in slots {
        pids.sort_by_key(|p| p.1);
        for w in pids.windows(2) {
            let worker = Worker::Process { index, pid: w[0].0 };
            if !lost.iter().any(|l| l.worker == worker) {
                lost.push(Lost {
                    worker,
                    at: w[0].2,
                    ended: format!("was replaced by pid {}", w[1].0),
                    key: None,
                });
            }
        }
    }
    lost.sort_by_key(|l| l.at);
    lost
}

/// `"name":{"t":[...],"a":[...],"b":[...]}`, the highest value of each of at most
/// [`MAX_POINTS`] bins.
fn series(out: &mut String, name: &str, fields: &[&str; 2], points: &[(f64, [f64; 2])], span: f64) {
    let kept: Vec<(f64, [f64; 2])> = if points.len() <= MAX_POINTS {
        points.to_vec()
    } else {
        let width = span / MAX_POINTS as f64;
        let mut kept: Vec<(f64, [f64; 2])> = Vec::with_capacity(MAX_POINTS + 1);
        let mut bin = usize::MAX;
        for &(t, v) in points {
            let b = (t / width) as usize;
            match kept.last_mut() {
                Some(last) if b == bin => {
                    last.0 = t;
                    last.1[0] = last.1[0].max(v[0]);
                    last.1[1] = last.1[1].max(v[1]);
                }
                _ => {
                    bin = b;
                    kept.push((t, v));
                }
            }
        }
        kept
    };
    let _ = write!(out, ",\"{name}\":{{\"t\":");
    number_array(out, kept.iter().map(|p| p.0), 3);
    for (i, field) in fields.iter().enumerate() {
        let _ = write!(out, ",\"{field}\":");
        number_array(out, kept.iter().map(|p| p.1[i]), 1);
    }
    out.push('}');
}

fn number_array(out: &mut String, values: impl Iterator<Item = f64>, decimals: usize) {
    out.push('[');
    for (i, v) in values.enumerate() {
        if i > 0 {
            out.push(',');
        }
        let v = if v.is_finite() { v } else { 0.0 };
        let _ = write!(out, "{v:.decimals$}");
    }
    out.push(']');
}

fn string_array<'s>(out: &mut String, values: impl Iterator<Item = &'s str>) {
    out.push('[');
    for (i, v) in values.enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_string(out, v);
    }
    out.push(']');
}
