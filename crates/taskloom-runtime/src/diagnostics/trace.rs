//! [`ChromeTrace`]: task records and resource samples as a Chrome trace-event file.
//!
//! The trace-event format (a JSON object with a `traceEvents` array) is what
//! Perfetto (<https://ui.perfetto.dev>) and `chrome://tracing` open. Each task is a
//! complete event (`"ph": "X"`) on the track of the worker that ran it (each attempt
//! of a task its retry policy ran again is an event of its own, with its `attempt`
//! number and error in its args); CPU % and
//! resident memory are counter events (`"ph": "C"`) drawn as graphs above the tracks,
//! and so is what the scheduling loop held: `memory (MiB)` has a `held` series (bytes
//! of results as they report them) beside the sampler's `rss`, and `results held`
//! counts them, one point per task end (the high point of that step: its result
//! kept, its inputs not yet dropped). Times are microseconds from the earliest
//! instant in the trace.
//!
//! A track shows one event at a time, so tasks that overlap on the same worker (async
//! tasks all run as "tokio"; a profiler shared by computations running inline on
//! different threads) are spread over extra lanes of that worker (`tokio #1`, ...).
//!
//! The JSON is written by hand: the schema is fixed and small, and the library stays
//! free of a JSON dependency. Keys are escaped as JSON strings.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::worker::Worker;

use super::profiler::{ComputeRecord, Profiler, TaskRecord};
use super::resources::{ResourceProfiler, ResourceSample};

/// Why a trace could not be saved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TraceError {
    /// The file could not be written.
    #[error("could not write trace to {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
}

/// A trace being assembled from profilers.
///
/// ```
/// use std::sync::Arc;
/// use taskloom::{ComputeOptions, Graph, Scheduler};
/// use taskloom::diagnostics::{ChromeTrace, Profiler};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut g = Graph::new();
/// let a = g.add(("chunk", 0), (), || 1_u8)?;
/// let profiler = Arc::new(Profiler::new());
/// let options = ComputeOptions::new().shared_callback(profiler.clone());
/// Scheduler::current_thread().compute_with(&g, &a, options).await?;
///
/// let path = std::env::temp_dir().join(format!("doc-trace-{}.json", std::process::id()));
/// ChromeTrace::new().tasks(&profiler).save(&path)?;
/// let text = std::fs::read_to_string(&path)?;
/// assert!(text.contains(r#""name":"('chunk', 0)","cat":"task","ph":"X""#));
/// # std::fs::remove_file(&path)?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct ChromeTrace {
    records: Vec<TaskRecord>,
    computes: Vec<ComputeRecord>,
    samples: Vec<ResourceSample>,
    process_name: Option<String>,
}

impl ChromeTrace {
    /// An empty trace.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the tasks and computations a profiler recorded.
    pub fn tasks(mut self, profiler: &Profiler) -> Self {
        self.records.extend(profiler.records());
        self.computes.extend(profiler.computes());
        self
    }

    /// Adds task records (for records kept or filtered by the caller).
    pub fn records(mut self, records: impl IntoIterator<Item = TaskRecord>) -> Self {
        self.records.extend(records);
        self
    }

    /// Adds the CPU and memory samples a resource profiler took.
    pub fn resources(mut self, resources: &ResourceProfiler) -> Self {
        self.samples.extend(resources.samples());
        self
    }

    /// Adds resource samples.
    pub fn samples(mut self, samples: impl IntoIterator<Item = ResourceSample>) -> Self {
        self.samples.extend(samples);
        self
    }

    /// Names the process row of the trace (default "taskloom").
    pub fn process_name(mut self, name: impl Into<String>) -> Self {
        self.process_name = Some(name.into());
        self
    }

    /// The trace as JSON text.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(256 + self.records.len() * 160);
        self.write_json(&mut out);
        out
    }

    /// Writes the trace as JSON to `writer`.
    ///
    /// # Errors
    /// What `writer` returns.
    pub fn write_to(&self, mut writer: impl io::Write) -> io::Result<()> {
        writer.write_all(self.to_json().as_bytes())?;
        writer.flush()
    }

    /// Writes the trace to the file at `path` (created or replaced).
    ///
    /// # Errors
    /// [`TraceError::Write`] if the file cannot be written.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), TraceError> {
        let path = path.as_ref();
        let file = std::fs::File::create(path).map_err(|source| TraceError::Write {
            path: path.to_owned(),
            source,
        })?;
        self.write_to(io::BufWriter::new(file))
            .map_err(|source| TraceError::Write {
                path: path.to_owned(),
                source,
            })
    }

    /// The earliest instant of the trace: time zero.
    fn origin(&self) -> Option<Instant> {
        let computes = self.computes.iter().map(|c| c.start);
        let tasks = self.records.iter().map(|r| r.start);
        let samples = self.samples.iter().map(|s| s.at);
        computes.chain(tasks).chain(samples).min()
    }

    fn write_json(&self, out: &mut String) {
        let origin = self.origin().unwrap_or_else(Instant::now);
        let us = |t: Instant| t.saturating_duration_since(origin).as_secs_f64() * 1e6;
        let lanes = Lanes::assign(&self.records);

        out.push_str(r#"{"displayTimeUnit":"ms","otherData":{"generator":"taskloom""#);
        if let Some(c) = self.computes.first() {
            out.push_str(r#","executor":"#);
            json_string(out, &c.executor);
            let _ = write!(out, r#","workers":{},"tasks":{}"#, c.workers, c.tasks);
        }
        out.push_str(r#"},"traceEvents":["#);
        let mut events = Events { out, first: true };

        let process = self.process_name.as_deref().unwrap_or("taskloom");
        let line = events.next();
        line.push_str(r#"{"name":"process_name","ph":"M","pid":1,"args":{"name":"#);
        json_string(line, process);
        line.push_str("}}");

        for (tid, (worker, lane)) in lanes.tracks() {
            let line = events.next();
            let _ = write!(
                line,
                r#"{{"name":"thread_name","ph":"M","pid":1,"tid":{tid},"args":{{"name":"#
            );
            if lane == 0 {
                json_string(line, &worker.to_string());
            } else {
                json_string(line, &format!("{worker} #{lane}"));
            }
            line.push_str("}}");
            let line = events.next();
            let _ = write!(
                line,
                r#"{{"name":"thread_sort_index","ph":"M","pid":1,"tid":{tid},"args":{{"sort_index":{tid}}}}}"#
            );
        }

        for (i, c) in self.computes.iter().enumerate() {
            // The whole computation as one event on a track of its own, above the
            // workers, so gaps between tasks show as scheduling time.
            let end = c.end.as_ref().map_or(c.start, |(t, _)| *t);
            let outcome = match c.end.as_ref().map(|(_, o)| o) {
                None => "running".to_owned(),
                Some(crate::callbacks::Outcome::Done) => "done".to_owned(),
                Some(crate::callbacks::Outcome::Cancelled) => "cancelled".to_owned(),
                Some(crate::callbacks::Outcome::Failed(m)) => format!("failed: {m}"),
            };
            let line = events.next();
            let _ = write!(
                line,
                r#"{{"name":"compute {i}","cat":"compute","ph":"X","ts":{:.3},"dur":{:.3},"pid":1,"tid":0,"args":{{"tasks":{},"executor":"#,
                us(c.start),
                us(end) - us(c.start),
                c.tasks,
            );
            json_string(line, &c.executor);
            line.push_str(r#","outcome":"#);
            json_string(line, &outcome);
            line.push_str("}}");
        }
        if !self.computes.is_empty() {
            let line = events.next();
            line.push_str(
                r#"{"name":"thread_name","ph":"M","pid":1,"tid":0,"args":{"name":"computations"}}"#,
            );
        }

        for (record, tid) in self.records.iter().zip(&lanes.of_record) {
            let line = events.next();
            line.push_str(r#"{"name":"#);
            json_string(line, &record.key.to_string());
            let _ = write!(
                line,
                r#","cat":"task","ph":"X","ts":{:.3},"dur":{:.3},"pid":1,"tid":{tid},"args":{{"worker":"#,
                us(record.start),
                us(record.end) - us(record.start),
            );
            json_string(line, &record.worker.to_string());
            let _ = write!(line, r#","ok":{}"#, record.ok());
            if record.attempt > 1 {
                let _ = write!(line, r#","attempt":{}"#, record.attempt);
            }
            if let Some(error) = &record.error {
                line.push_str(r#","error":"#);
                json_string(line, error);
            }
            line.push_str("}}");
        }

        // What the loop held, at each task's end, per computation (several
        // computations in one trace each get their own series).
        let mut ends: Vec<&TaskRecord> = self.records.iter().collect();
        ends.sort_by_key(|r| r.end);
        let several = self.computes.len() > 1;
        for record in ends {
            let suffix = if several {
                format!(" {}", record.computation)
            } else {
                String::new()
            };
            let line = events.next();
            let _ = write!(
                line,
                r#"{{"name":"memory (MiB)","ph":"C","ts":{:.3},"pid":1,"args":{{"held{suffix}":{:.3}}}}}"#,
                us(record.end),
                record.held_bytes as f64 / (1024.0 * 1024.0),
            );
            let line = events.next();
            let _ = write!(
                line,
                r#"{{"name":"results held","ph":"C","ts":{:.3},"pid":1,"args":{{"results{suffix}":{}}}}}"#,
                us(record.end),
                record.held_results,
            );
        }

        for sample in &self.samples {
            let line = events.next();
            let _ = write!(
                line,
                r#"{{"name":"CPU %","ph":"C","ts":{:.3},"pid":1,"args":{{"cpu %":{:.1}}}}}"#,
                us(sample.at),
                sample.cpu_percent,
            );
            let line = events.next();
            let _ = write!(
                line,
                r#"{{"name":"memory (MiB)","ph":"C","ts":{:.3},"pid":1,"args":{{"rss":{:.3}}}}}"#,
                us(sample.at),
                sample.rss_bytes as f64 / (1024.0 * 1024.0),
            );
        }
        events.out.push_str("\n]}\n");
    }
}

/// Appends comma-separated events, one per line (diffable, greppable files).
struct Events<'a> {
    out: &'a mut String,
    first: bool,
}

impl Events<'_> {
    fn next(&mut self) -> &mut String {
        self.out.push_str(if self.first { "\n" } else { ",\n" });
        self.first = false;
        self.out
    }
}

/// Tracks of the trace: every (worker, lane) used, and the track of each record.
/// The run report draws its task stream on the same lanes.
pub(super) struct Lanes {
    /// Track id of each record, in record order.
    pub(super) of_record: Vec<u32>,
    /// Track ids by (worker, lane), in the order the tracks are shown.
    pub(super) ids: BTreeMap<(Worker, u32), u32>,
}

impl Lanes {
    /// Puts each record on the first lane of its worker that is free at its start
    /// (records on one worker that never overlap all share lane 0).
    pub(super) fn assign(records: &[TaskRecord]) -> Self {
        let mut order: Vec<usize> = (0..records.len()).collect();
        order.sort_by_key(|&i| records[i].start);
        // For each worker, when each of its lanes becomes free.
        let mut free_at: BTreeMap<Worker, Vec<Instant>> = BTreeMap::new();
        let mut lane_of = vec![0_u32; records.len()];
        for i in order {
            let r = &records[i];
            let lanes = free_at.entry(r.worker).or_default();
            let lane = match lanes.iter().position(|&free| free <= r.start) {
                Some(lane) => lane,
                None => {
                    lanes.push(r.start);
                    lanes.len() - 1
                }
            };
            lanes[lane] = r.end;
            lane_of[i] = lane as u32;
        }
        // Track ids in sorted order, so tracks appear as inline, thread-0, thread-1,
        // ..., tokio; id 0 is the computations' track.
        let ids: BTreeMap<(Worker, u32), u32> = free_at
            .iter()
            .flat_map(|(worker, lanes)| (0..lanes.len() as u32).map(move |lane| (*worker, lane)))
            .zip(1..)
            .collect();
        let of_record = records
            .iter()
            .zip(&lane_of)
            .map(|(r, &lane)| ids[&(r.worker, lane)])
            .collect();
        Lanes { of_record, ids }
    }

    fn tracks(&self) -> impl Iterator<Item = (u32, (Worker, u32))> + '_ {
        self.ids.iter().map(|(&track, &id)| (id, track))
    }
}

/// Appends `s` as a JSON string literal.
pub(super) fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c < ' ' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use taskloom_core::Key;

    fn record(key: &str, worker: Worker, t0: Instant, start_ms: u64, end_ms: u64) -> TaskRecord {
        TaskRecord {
            computation: crate::callbacks::ComputationId::next(),
            key: Key::from(key),
            attempt: 1,
            worker,
            start: t0 + Duration::from_millis(start_ms),
            end: t0 + Duration::from_millis(end_ms),
            error: None,
            held_results: 1,
            held_bytes: 1 << 20,
            lost_runs: Vec::new(),
        }
    }

    #[test]
    fn overlapping_tasks_of_one_worker_get_separate_lanes() {
        let t0 = Instant::now();
        let records = [
            record("a", Worker::Async, t0, 0, 10),
            record("b", Worker::Async, t0, 5, 15),
            record("c", Worker::Async, t0, 10, 20), // a's lane is free again at 10
            record("d", Worker::Thread(0), t0, 0, 30),
        ];
        let lanes = Lanes::assign(&records);
        assert_eq!(lanes.of_record[0], lanes.of_record[2]);
        assert_ne!(lanes.of_record[0], lanes.of_record[1]);
        assert_eq!(lanes.ids.len(), 3);
        // Thread(0) sorts before Async (declaration order of `Worker`).
        assert_eq!(lanes.of_record[3], 1);
    }

    #[test]
    fn what_the_loop_held_is_a_counter_next_to_rss() {
        let t0 = Instant::now();
        let records = [record("a", Worker::Thread(0), t0, 0, 10)];
        let json = ChromeTrace::new().records(records).to_json();
        assert!(json.contains(
            r#"{"name":"memory (MiB)","ph":"C","ts":10000.000,"pid":1,"args":{"held":1.000}}"#
        ));
        assert!(json.contains(
            r#"{"name":"results held","ph":"C","ts":10000.000,"pid":1,"args":{"results":1}}"#
        ));
    }

    #[test]
    fn strings_are_escaped() {
        let mut out = String::new();
        json_string(&mut out, "('x', 3) \"q\" \\ \n\u{1}é");
        assert_eq!(out, r#""('x', 3) \"q\" \\ \n\u0001é""#);
    }
}
