//! What a picture shows, whatever its format: nodes (a task, or a group of tasks in
//! a summary) with their label, tooltip and colour, arrows, and the legend.

use std::collections::HashMap;

use taskloom_core::Graph;

use super::colormap::{ColorMap, Rgb};
use super::metrics::{self, Metric, Unit};
use super::names;
use super::{Color, DotOptions};

/// Longest label drawn inside a node.
pub(crate) const LABEL_CHARS: usize = 24;

/// Fill of a node without a value.
pub(crate) const MISSING: Rgb = Rgb(0xd9, 0xd9, 0xd9);

/// One node: a task, or a group of tasks.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// The full key (or group name): the DOT identifier and the tooltip's first line.
    pub(crate) key: String,
    /// What is written in the node.
    pub(crate) label: String,
    /// The tooltip (the full key, and for a group how many tasks it has).
    pub(crate) tooltip: String,
    pub(crate) fill: Rgb,
    /// Outlined (on the critical path).
    pub(crate) emphasis: bool,
    /// The node's place in the plan (its rank; a group's first rank).
    pub(crate) rank: f64,
    /// Tasks it stands for (1 for a task).
    pub(crate) tasks: usize,
}

/// One arrow, from an input to its user.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Edge {
    pub(crate) from: usize,
    pub(crate) to: usize,
    /// Dependencies it stands for (1 between tasks).
    pub(crate) count: usize,
    pub(crate) emphasis: bool,
}

/// The legend: what the colours mean.
#[derive(Debug, Clone)]
pub(crate) struct Legend {
    pub(crate) title: String,
    pub(crate) map: ColorMap,
    /// Positions in `0..=1` along the colour bar and their labels.
    pub(crate) ticks: Vec<(f64, String)>,
    /// The grey of nodes without a value, if any: what it means.
    pub(crate) missing: Option<String>,
    /// What an outline means, if any node has one.
    pub(crate) emphasis: Option<String>,
}

/// A picture, ready to be written in a format.
#[derive(Debug, Clone)]
pub(crate) struct Scene {
    pub(crate) nodes: Vec<Node>,
    pub(crate) edges: Vec<Edge>,
    pub(crate) legend: Legend,
    /// One line under the title: tasks, edges, what the colour is, summarised or not.
    pub(crate) caption: String,
    pub(crate) title: Option<String>,
}

impl Scene {
    /// The picture of `graph` as `options` ask.
    pub(crate) fn of_graph<T>(graph: &Graph<T>, options: &DotOptions) -> Scene {
        let metric = metrics::compute(graph, options.color, &options.run_times);
        let summarize = graph.len() > options.max_tasks;
        let (nodes, edges, values) = if summarize {
            groups(graph, &metric, options.color)
        } else {
            tasks(graph, &metric)
        };
        let (lo, hi) = values
            .iter()
            .flatten()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        let scale = |v: f64| if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
        let mut nodes = nodes;
        for (node, value) in nodes.iter_mut().zip(&values) {
            node.fill = value.map_or(MISSING, |v| options.map.at(scale(v)));
        }
        let ticks = if lo.is_finite() {
            ticks(lo, hi, metric.unit)
        } else {
            Vec::new()
        };
        let mut title = metric.title.to_owned();
        if summarize {
            title.push_str(match options.color {
                Color::Order => " (first of each group)",
                Color::RunTime => " (total of each group)",
                _ => " (most of each group)",
            });
        }
        let legend = Legend {
            title,
            map: options.map,
            ticks,
            missing: values
                .iter()
                .any(Option::is_none)
                .then(|| metric.missing.to_owned()),
            emphasis: nodes
                .iter()
                .any(|n| n.emphasis)
                .then(|| "outlined: on a longest path (the critical path)".to_owned()),
        };
        let caption = format!(
            "{} task{}, {} dependenc{}{}; plan holds at most {} result{}; coloured by {}{}",
            graph.len(),
            if graph.len() == 1 { "" } else { "s" },
            graph.edge_count(),
            if graph.edge_count() == 1 { "y" } else { "ies" },
            if summarize {
                format!(" (shown as {} groups of keys)", nodes.len())
            } else {
                String::new()
            },
            metric.max_pressure,
            if metric.max_pressure == 1 { "" } else { "s" },
            options.color,
            if options.map == ColorMap::Viridis {
                String::new()
            } else {
                format!(" ({})", options.map.name())
            },
        );
        Scene {
            nodes,
            edges,
            legend,
            caption,
            title: options.title.clone(),
        }
    }
}

type Parts = (Vec<Node>, Vec<Edge>, Vec<Option<f64>>);

/// One node per task.
fn tasks<T>(graph: &Graph<T>, metric: &Metric) -> Parts {
    let critical = |i: usize| metric.critical.get(i).copied().unwrap_or(false);
    let nodes = graph
        .ids()
        .map(|id| {
            let key = graph.key(id);
            let text = key.to_string();
            Node {
                label: names::short_label(key, LABEL_CHARS),
                tooltip: text.clone(),
                key: text,
                fill: MISSING,
                emphasis: critical(id.index()),
                rank: metric.rank[id.index()],
                tasks: 1,
            }
        })
        .collect();
    let mut edges = Vec::with_capacity(graph.edge_count());
    for id in graph.ids() {
        for dep in graph.deps(id) {
            edges.push(Edge {
                from: dep.index(),
                to: id.index(),
                count: 1,
                emphasis: critical(dep.index())
                    && critical(id.index())
                    && metric.values[id.index()] == metric.values[dep.index()],
            });
        }
    }
    (nodes, edges, metric.values.clone())
}

/// One node per group of keys ([`names::group`]), in the order of their first task.
fn groups<T>(graph: &Graph<T>, metric: &Metric, color: Color) -> Parts {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut of_task = Vec::with_capacity(graph.len());
    let mut nodes: Vec<Node> = Vec::new();
    let mut values: Vec<Option<f64>> = Vec::new();
    for id in graph.ids() {
        let i = id.index();
        let name = names::group(graph.key(id));
        let g = *index.entry(name.clone()).or_insert_with(|| {
            nodes.push(Node {
                label: String::new(),
                tooltip: format!("{} (e.g. {})", name, graph.key(id)),
                key: name,
                fill: MISSING,
                emphasis: false,
                rank: f64::INFINITY,
                tasks: 0,
            });
            values.push(None);
            nodes.len() - 1
        });
        of_task.push(g);
        let node = &mut nodes[g];
        node.tasks += 1;
        node.rank = node.rank.min(metric.rank[i]);
        node.emphasis |= metric.critical.get(i).copied().unwrap_or(false);
        if let Some(v) = metric.values[i] {
            let slot = &mut values[g];
            *slot = Some(match (color, *slot) {
                (_, None) => v,
                (Color::Order, Some(old)) => old.min(v),
                (Color::RunTime, Some(old)) => old + v,
                (_, Some(old)) => old.max(v),
            });
        }
    }
    for node in &mut nodes {
        let tasks = node.tasks;
        node.label = format!(
            "{} ×{}",
            names::cut(&node.key, LABEL_CHARS.saturating_sub(2 + digits(tasks))),
            tasks
        );
        node.tooltip = format!(
            "{tasks} task{}: {}",
            if tasks == 1 { "" } else { "s" },
            node.tooltip
        );
    }
    let mut pairs: HashMap<(usize, usize), (usize, bool)> = HashMap::new();
    let critical = |i: usize| metric.critical.get(i).copied().unwrap_or(false);
    for id in graph.ids() {
        let to = of_task[id.index()];
        for dep in graph.deps(id) {
            let from = of_task[dep.index()];
            if from != to {
                let e = pairs.entry((from, to)).or_insert((0, false));
                e.0 += 1;
                e.1 |= critical(dep.index()) && critical(id.index());
            }
        }
    }
    let mut edges: Vec<Edge> = pairs
        .into_iter()
        .map(|((from, to), (count, emphasis))| Edge {
            from,
            to,
            count,
            emphasis,
        })
        .collect();
    edges.sort_by_key(|e| (e.from, e.to));
    (nodes, edges, values)
}

fn digits(n: usize) -> usize {
    n.to_string().len()
}

/// Five ticks from `lo` to `hi` (one when they are equal).
fn ticks(lo: f64, hi: f64, unit: Unit) -> Vec<(f64, String)> {
    if hi <= lo {
        return vec![(0.5, unit.format(lo))];
    }
    let mut out: Vec<(f64, String)> = Vec::new();
    for i in 0..=4 {
        let t = f64::from(i) / 4.0;
        let label = unit.format(lo + (hi - lo) * t);
        if out.last().is_some_and(|(_, l)| *l == label) {
            continue; // integers closer than the ticks
        }
        out.push((t, label));
    }
    out
}
