//! The number a picture colours each task by: its rank in the static order, the
//! results held after it in that plan, the longest path through it, or the time it
//! ran (measured by a [`Profiler`](crate::diagnostics::Profiler)).
//!
//! The plan is taskloom-core's: the graph is culled to everything its sinks need and
//! ordered by [`taskloom_core::order`], and the memory profile is
//! [`taskloom_core::order::diagnostics`]' simulation of one worker running it: what
//! [`Scheduler::compute`](crate::Scheduler::compute) follows, seen before it runs.

use std::collections::HashMap;
use std::time::Duration;

use taskloom_core::{Graph, Key, TaskId, cull, order};

use super::Color;

/// How a legend writes the numbers of a metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unit {
    /// Whole numbers (ranks, results, tasks).
    Count,
    /// Seconds, written with a unit (µs, ms, s).
    Seconds,
}

impl Unit {
    pub(crate) fn format(self, v: f64) -> String {
        match self {
            Unit::Count => format!("{}", v.round() as i64),
            Unit::Seconds => format_seconds(v),
        }
    }
}

/// `v` seconds with three significant digits and a unit.
pub(crate) fn format_seconds(v: f64) -> String {
    let (value, unit) = if v >= 1.0 {
        (v, "s")
    } else if v >= 1e-3 {
        (v * 1e3, "ms")
    } else {
        (v * 1e6, "µs")
    };
    if value >= 100.0 {
        format!("{value:.0} {unit}")
    } else if value >= 10.0 {
        format!("{value:.1} {unit}")
    } else {
        format!("{value:.2} {unit}")
    }
}

/// The values of one metric, per task.
#[derive(Debug)]
pub(crate) struct Metric {
    /// The value of each task; `None` where there is none (a task the profiler did
    /// not see run).
    pub(crate) values: Vec<Option<f64>>,
    /// Each task's rank in the static order (the picture lays tasks out in it).
    pub(crate) rank: Vec<f64>,
    /// Tasks on a longest path (for [`Color::CriticalPath`] only; else empty).
    pub(crate) critical: Vec<bool>,
    /// What the legend says the colour means.
    pub(crate) title: &'static str,
    pub(crate) unit: Unit,
    /// What the legend calls tasks without a value.
    pub(crate) missing: &'static str,
    /// The most results held at once in the plan.
    pub(crate) max_pressure: u32,
}

/// Computes `color`'s metric for every task of `graph`; `run_times` are the measured
/// run times by key.
pub(crate) fn compute<T>(
    graph: &Graph<T>,
    color: Color,
    run_times: &HashMap<Key, Duration>,
) -> Metric {
    let n = graph.len();
    let mut has_dependents = vec![false; n];
    for id in graph.ids() {
        for dep in graph.deps(id) {
            has_dependents[dep.index()] = true;
        }
    }
    let sinks: Vec<TaskId> = graph
        .ids()
        .filter(|id| !has_dependents[id.index()])
        .collect();
    // Every task is needed by some sink, so culling keeps them all and cannot fail on
    // ids of this graph; if it did, the picture goes without the plan.
    let plan = cull(graph, &sinks).ok().map(|culled| {
        let priorities = order(graph, &culled);
        (culled, priorities)
    });
    let rank: Vec<f64> = match &plan {
        Some((_, p)) => p
            .ranks()
            .iter()
            .enumerate()
            .map(|(i, &r)| {
                if r == u32::MAX {
                    i as f64
                } else {
                    f64::from(r)
                }
            })
            .collect(),
        None => (0..n).map(|i| i as f64).collect(),
    };
    let max_pressure = plan.as_ref().map_or(0, |(_, p)| p.max_pressure());
    let mut metric = Metric {
        values: Vec::new(),
        rank,
        critical: Vec::new(),
        title: "",
        unit: Unit::Count,
        missing: "",
        max_pressure,
    };
    match color {
        Color::Order => {
            metric.title = "static order: rank in the plan (first runs first)";
            metric.values = metric.rank.iter().map(|&r| Some(r)).collect();
        }
        Color::Pressure => {
            metric.title = "memory pressure: results held after the task, in the plan";
            metric.values = match &plan {
                Some((culled, p)) => {
                    let d = taskloom_core::order::diagnostics(graph, culled, p);
                    graph
                        .ids()
                        .map(|id| {
                            d.info(id).map(|info| {
                                let sink = culled.dependents(id).is_empty();
                                f64::from(
                                    (info.num_data_when_run + u32::from(!sink))
                                        .saturating_sub(info.num_dependencies_freed),
                                )
                            })
                        })
                        .collect()
                }
                None => vec![None; n],
            };
            metric.missing = "not in the plan";
        }
        Color::CriticalPath => {
            metric.title = "critical path: tasks on the longest path through the task";
            let (through, critical) = longest_paths(graph);
            metric.values = through.into_iter().map(|t| Some(f64::from(t))).collect();
            metric.critical = critical;
        }
        Color::RunTime => {
            metric.title = "run time, as the profiler measured it";
            metric.unit = Unit::Seconds;
            metric.missing = "not run";
            metric.values = graph
                .keys()
                .iter()
                .map(|k| run_times.get(k).map(Duration::as_secs_f64))
                .collect();
        }
    }
    metric
}

/// For each task, the number of tasks on the longest path through it, and whether
/// it is on a longest path of the whole graph. Task ids are in dependency order (a
/// task's dependencies come before it), so one pass each way does.
fn longest_paths<T>(graph: &Graph<T>) -> (Vec<u32>, Vec<bool>) {
    let n = graph.len();
    // up[i]: tasks on the longest path ending at i; down[i]: starting at i.
    let mut up = vec![1_u32; n];
    let mut down = vec![1_u32; n];
    for id in graph.ids() {
        let i = id.index();
        up[i] = 1 + graph
            .deps(id)
            .iter()
            .map(|d| up[d.index()])
            .max()
            .unwrap_or(0);
    }
    for id in graph.ids().rev() {
        let here = down[id.index()];
        for d in graph.deps(id) {
            let below = &mut down[d.index()];
            *below = (*below).max(here + 1);
        }
    }
    let through: Vec<u32> = (0..n).map(|i| up[i] + down[i] - 1).collect();
    let longest = through.iter().copied().max().unwrap_or(0);
    let critical = through.iter().map(|&t| t == longest).collect();
    (through, critical)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diamond_and_tail() -> Graph<()> {
        // a -> b -> d, a -> c -> d, e alone.
        let mut g = Graph::new();
        let a = g.push("a", &[], ()).unwrap();
        let b = g.push("b", &[a], ()).unwrap();
        let c = g.push("c", &[a], ()).unwrap();
        g.push("d", &[b, c], ()).unwrap();
        g.push("e", &[], ()).unwrap();
        g
    }

    #[test]
    fn longest_path_through_each_task() {
        let (through, critical) = longest_paths(&diamond_and_tail());
        assert_eq!(through, [3, 3, 3, 3, 1]);
        assert_eq!(critical, [true, true, true, true, false]);
    }

    #[test]
    fn order_ranks_every_task_once() {
        let m = compute(&diamond_and_tail(), Color::Order, &HashMap::new());
        let mut ranks: Vec<i64> = m.values.iter().map(|v| v.unwrap() as i64).collect();
        ranks.sort_unstable();
        assert_eq!(ranks, [0, 1, 2, 3, 4]);
    }

    #[test]
    fn pressure_counts_results_held_after_each_task() {
        let m = compute(&diamond_and_tail(), Color::Pressure, &HashMap::new());
        // After a: a held (1). After b and c: two of {a, b, c} (a released by the
        // second). d and e are sinks, which hold nothing (Dask's model).
        let v: Vec<f64> = m.values.iter().map(|v| v.unwrap()).collect();
        assert_eq!(v[0], 1.0);
        assert_eq!(v[3], 0.0);
        assert_eq!(v[4], 0.0);
        assert!(v[1].max(v[2]) == 2.0 && m.max_pressure == 2);
    }

    #[test]
    fn run_time_is_missing_for_tasks_that_did_not_run() {
        let times = HashMap::from([(Key::from("a"), Duration::from_millis(3))]);
        let m = compute(&diamond_and_tail(), Color::RunTime, &times);
        assert_eq!(m.values[0], Some(0.003));
        assert_eq!(m.values[1], None);
    }

    #[test]
    fn seconds_read_with_units() {
        assert_eq!(format_seconds(0.000_012_34), "12.3 µs");
        assert_eq!(format_seconds(0.25), "250 ms");
        assert_eq!(format_seconds(2.0), "2.00 s");
    }
}
