//! The measurement of the `memory` example, apart from its command line so that
//! `tests/memory.rs` runs the same code: graphs whose every task makes a buffer that
//! reports its size, what the scheduling loop counts as held (its own counter, read
//! from `on_finish`), a gauge of the buffers alive as a cross-check, and the
//! process's RSS from `/proc`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use taskloom::callbacks::{Callback, FinishInfo, MemoryStats};
use taskloom::core::file::LoadedGraph;
use taskloom::{ComputeOptions, Graph, Handle, ResultSize, Scheduler};

/// Any error of a measurement (graph building or computing).
pub(crate) type BoxError = Box<dyn std::error::Error>;

/// Buffers alive now, and the most alive at once since the last [`Gauge::reset`].
#[derive(Debug, Default)]
pub(crate) struct Gauge {
    live: AtomicUsize,
    peak: AtomicUsize,
}

impl Gauge {
    /// Starts a new peak from what is alive now.
    pub(crate) fn reset(&self) {
        self.peak
            .store(self.live.load(Ordering::SeqCst), Ordering::SeqCst);
    }

    /// Buffers alive now.
    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    /// The most buffers alive at once since the last reset.
    pub(crate) fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

/// A task's result: `len` bytes, every page written. Counted by its gauge from its
/// making to its drop.
pub(crate) struct Buffer {
    bytes: Vec<u8>,
    gauge: Arc<Gauge>,
}

impl Buffer {
    /// A new buffer whose first byte depends on the inputs, so they are really read.
    pub(crate) fn make(gauge: &Arc<Gauge>, len: usize, inputs: &[&Buffer]) -> Buffer {
        let seed = inputs.iter().fold(1u8, |acc, b| {
            acc.wrapping_add(b.bytes.first().copied().unwrap_or(0))
        });
        // `vec![x; n]` with x != 0 writes every byte: the pages are resident, as the
        // chunks of a real computation are (a zeroed allocation may not touch them).
        let bytes = vec![seed | 1; len];
        let live = gauge.live.fetch_add(1, Ordering::SeqCst) + 1;
        gauge.peak.fetch_max(live, Ordering::SeqCst);
        Buffer {
            bytes,
            gauge: Arc::clone(gauge),
        }
    }
}

impl ResultSize for Buffer {
    fn result_size(&self) -> usize {
        size_of::<Self>() + self.bytes.capacity()
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        self.gauge.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Whether the scheduler is told each result's size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sizes {
    /// Tasks added with `Graph::add_sized`: each result reports its bytes.
    Declared,
    /// Tasks added with plain `Graph::add`, as most users write them: the scheduler
    /// knows nothing of the buffers' sizes.
    Undeclared,
}

impl Sizes {
    /// The name the example's command line and its JSON lines use.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Sizes::Declared => "declared",
            Sizes::Undeclared => "undeclared",
        }
    }
}

/// Builds the typed graph: each task makes a buffer of `len` bytes from its inputs,
/// taken by reference, and reports its size if `sizes` says so. Ids of a loaded
/// graph are topological, so every input's handle exists when a task is added.
pub(crate) fn build(
    file: &LoadedGraph,
    len: usize,
    sizes: Sizes,
    gauge: &Arc<Gauge>,
) -> Result<(Graph, Vec<Handle<Buffer>>), BoxError> {
    let core = &file.graph;
    let mut g = Graph::with_capacity(core.len(), core.edge_count());
    let mut handles: Vec<Handle<Buffer>> = Vec::with_capacity(core.len());
    let mut inputs: Vec<Handle<Buffer>> = Vec::new();
    for id in core.ids() {
        inputs.clear();
        inputs.extend(core.deps(id).iter().map(|d| handles[d.index()]));
        let gauge = Arc::clone(gauge);
        let task = move |xs: &[&Buffer]| Buffer::make(&gauge, len, xs);
        let key = core.key(id).clone();
        handles.push(match sizes {
            Sizes::Declared => g.add_sized(key, &inputs[..], task)?,
            Sizes::Undeclared => g.add(key, &inputs[..], task)?,
        });
    }
    let targets = file.targets.iter().map(|t| handles[t.index()]).collect();
    Ok((g, targets))
}

/// What one computation of a graph held.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Measurement {
    /// The scheduling loop's own figures: results and bytes held at most, the
    /// budget's overruns.
    pub(crate) memory: MemoryStats,
    /// The most buffers alive at once, by the gauge (a cross-check of the loop's
    /// count: it also sees results made by a worker and not yet received by the
    /// loop, and inputs a finished task still holds until the loop drops them).
    pub(crate) gauge_peak: usize,
    /// The kernel's peak RSS during the computation (bytes; 0 without `/proc`).
    pub(crate) peak_rss: u64,
    /// RSS when the computation started (bytes; 0 without `/proc`).
    pub(crate) base_rss: u64,
    /// Building the typed graph and the whole `compute`.
    pub(crate) seconds: f64,
}

/// Keeps the loop's memory figures from `on_finish`. It wants no task events, so
/// the computation runs as it would without a callback (chains still handed to a
/// worker whole).
#[derive(Default)]
struct Figures(Mutex<Option<MemoryStats>>);

impl Callback for Figures {
    fn task_events(&self) -> bool {
        false
    }

    fn on_finish(&self, info: &FinishInfo) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(info.memory);
    }
}

/// A generated graph that shows the byte budget at work: `loads` loads of `len`
/// bytes, a map per load that also reads a shared `param`, and a sum of the maps
/// (maps, param and sum make 1 KiB). The param takes 200 ms, so without a budget
/// the free workers make every load meanwhile; the static order cannot help (each
/// map's result is held until the sum, so its plan holds `loads` results anyway),
/// the bytes can: with a budget the loads wait at the limit until the maps free them.
pub(crate) fn slow_param(
    loads: usize,
    len: usize,
    gauge: &Arc<Gauge>,
) -> Result<(Graph, Vec<Handle<Buffer>>), BoxError> {
    const SMALL: usize = 1024;
    let mut g = Graph::new();
    let p = Arc::clone(gauge);
    let param = g.add_sized("param", (), move || {
        std::thread::sleep(std::time::Duration::from_millis(200));
        Buffer::make(&p, SMALL, &[])
    })?;
    let mut maps = Vec::with_capacity(loads);
    for i in 0..loads {
        let l = Arc::clone(gauge);
        let load = g.add_sized(("load", i), (), move || Buffer::make(&l, len, &[]))?;
        let m = Arc::clone(gauge);
        maps.push(g.add_sized(
            ("map", i),
            (&load, &param),
            move |x: &Buffer, p: &Buffer| Buffer::make(&m, SMALL, &[x, p]),
        )?);
    }
    let s = Arc::clone(gauge);
    let total = g.add_sized("sum", &maps, move |xs: &[&Buffer]| {
        Buffer::make(&s, SMALL, xs)
    })?;
    Ok((g, vec![total]))
}

/// Builds `file` with buffers of `len` bytes (their sizes told to the scheduler or
/// not) and computes its targets on `scheduler` (within `limit` bytes if given),
/// then drops the results.
pub(crate) async fn measure(
    scheduler: &Scheduler,
    file: &LoadedGraph,
    len: usize,
    sizes: Sizes,
    limit: Option<u64>,
) -> Result<Measurement, BoxError> {
    measure_with(scheduler, limit, |gauge| build(file, len, sizes, gauge)).await
}

/// Builds a graph with `make` (its buffers counted by the gauge it is given) and
/// computes its targets on `scheduler` (within `limit` bytes if given), then drops
/// the results.
pub(crate) async fn measure_with(
    scheduler: &Scheduler,
    limit: Option<u64>,
    make: impl FnOnce(&Arc<Gauge>) -> Result<(Graph, Vec<Handle<Buffer>>), BoxError>,
) -> Result<Measurement, BoxError> {
    let gauge = Arc::new(Gauge::default());
    let figures = Arc::new(Figures::default());
    let mut options = ComputeOptions::new().shared_callback(figures.clone());
    if let Some(limit) = limit {
        options = options.memory_limit(limit);
    }
    reset_peak_rss();
    let base_rss = proc_status_bytes("VmRSS").unwrap_or(0);
    gauge.reset();
    let start = Instant::now();
    let (g, targets) = make(&gauge)?;
    let out = scheduler.compute_with(&g, &targets[..], options).await?;
    let seconds = start.elapsed().as_secs_f64();
    let gauge_peak = gauge.peak();
    let peak_rss = proc_status_bytes("VmHWM").unwrap_or(0);
    if out.len() != targets.len() {
        return Err(format!("{} results for {} targets", out.len(), targets.len()).into());
    }
    drop(out);
    drop(g);
    if gauge.live() != 0 {
        return Err(format!("{} buffers still alive after the computation", gauge.live()).into());
    }
    let memory = figures
        .0
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .ok_or("the computation ended without on_finish")?;
    Ok(Measurement {
        memory,
        gauge_peak,
        peak_rss,
        base_rss,
        seconds,
    })
}

/// `VmRSS` or `VmHWM` of this process in bytes, from `/proc/self/status`.
pub(crate) fn proc_status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line
        .trim_start_matches(field)
        .trim_start_matches(':')
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Resets the kernel's peak RSS to the current RSS (Linux 4.0+); false where it cannot.
pub(crate) fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}
