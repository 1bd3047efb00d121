//! Where each node of a picture goes: a layered drawing of a directed graph (the
//! Sugiyama method, as graphviz's `dot` does it, in a small and deterministic form),
//! laid out straight or around a circle.
//!
//! 1. **Layers.** Each node's layer is the longest path to it from a node without
//!    inputs (Kahn's algorithm; a ring of a summarised picture is broken at its
//!    first node in the static order, and its edges are drawn back).
//! 2. **Long edges** that span several layers pass through a point on each layer
//!    they cross, so they take part in the ordering and are drawn around nodes.
//! 3. **Order within a layer.** Nodes start in the static order (the plan's ranks),
//!    then four sweeps down and up sort each layer by the mean position of its
//!    neighbours in the layer before (the barycentre heuristic), which removes most
//!    edge crossings.
//! 4. **Coordinates.** The widest layer is packed; from it outwards, each layer
//!    is placed as close to the mean position of its neighbours in the layer
//!    already placed as it can be without overlap: a least-squares fit under the
//!    order's separation constraints, solved exactly by the pool-adjacent-violators
//!    algorithm. A sum's inputs are centred under it, a fan-out's outputs over its
//!    input.
//!
//! Drawn straight, outputs are above their inputs (Dask's bottom-to-top graphs).
//! A graph much wider than deep (a sum over 500 chunks is 500 nodes wide and 7
//! layers deep) is drawn around a circle instead, the result at the centre and the
//! chunks on the outer ring, so it fits a screen: the same layout, its x turned
//! into an angle and its layer into a radius.
//!
//! Every step is linear or `n log n` in the nodes and edge points per sweep.

/// Most points added for long edges; past it, long edges are drawn straight.
const MAX_POINTS: usize = 200_000;

/// What to lay out.
#[derive(Debug)]
pub(crate) struct Input<'a> {
    /// Nodes' widths and heights.
    pub(crate) sizes: &'a [(f64, f64)],
    /// Edges (from an input to its user).
    pub(crate) edges: &'a [(usize, usize)],
    /// Each node's place in the plan (lower runs first): the first order of each layer.
    pub(crate) hint: &'a [f64],
    /// Horizontal space between two nodes.
    pub(crate) gap: f64,
    /// Vertical distance between two layers.
    pub(crate) layer_gap: f64,
}

/// Where nodes and edges go, in a box from (0, 0) to (`width`, `height`).
#[derive(Debug)]
pub(crate) struct Layout {
    /// Centre of each node.
    pub(crate) nodes: Vec<(f64, f64)>,
    /// The points of each edge, from its input's centre to its user's.
    pub(crate) edges: Vec<Vec<(f64, f64)>>,
    pub(crate) width: f64,
    pub(crate) height: f64,
    /// Whether it was drawn around a circle.
    pub(crate) radial: bool,
}

/// A node of the layered graph: a real node, or a point of a long edge.
#[derive(Clone, Copy, Debug)]
struct Slot {
    layer: usize,
    width: f64,
    hint: f64,
}

/// Lays `input` out; `radial` when wider than `radial_ratio` times its depth
/// (`f64::INFINITY`: never).
pub(crate) fn layout(input: &Input<'_>, radial_ratio: f64) -> Layout {
    let n = input.sizes.len();
    if n == 0 {
        return Layout {
            nodes: Vec::new(),
            edges: Vec::new(),
            width: 0.0,
            height: 0.0,
            radial: false,
        };
    }
    let layer = layers(n, input.edges, input.hint);
    let mut slots: Vec<Slot> = (0..n)
        .map(|i| Slot {
            layer: layer[i],
            width: input.sizes[i].0,
            hint: input.hint[i],
        })
        .collect();
    // Each edge as a chain of slots, with points on the layers it crosses.
    let mut chains: Vec<Vec<usize>> = Vec::with_capacity(input.edges.len());
    let mut points = 0;
    for &(from, to) in input.edges {
        let (lf, lt) = (layer[from], layer[to]);
        let mut chain = vec![from];
        if lt > lf + 1 && points + (lt - lf - 1) <= MAX_POINTS {
            for l in lf + 1..lt {
                chain.push(slots.len());
                slots.push(Slot {
                    layer: l,
                    width: 0.0,
                    hint: input.hint[from],
                });
                points += 1;
            }
        }
        chain.push(to);
        chains.push(chain);
    }
    let layers_count = slots.iter().map(|s| s.layer).max().unwrap_or(0) + 1;
    // Neighbours of each slot in the layer below (up) and above (down), along
    // chains that go one layer at a time.
    let mut below: Vec<Vec<usize>> = vec![Vec::new(); slots.len()];
    let mut above: Vec<Vec<usize>> = vec![Vec::new(); slots.len()];
    for chain in &chains {
        for pair in chain.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if slots[b].layer == slots[a].layer + 1 {
                below[b].push(a);
                above[a].push(b);
            }
        }
    }
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); layers_count];
    for (i, s) in slots.iter().enumerate() {
        rows[s.layer].push(i);
    }
    for row in &mut rows {
        row.sort_by(|&a, &b| slots[a].hint.total_cmp(&slots[b].hint).then(a.cmp(&b)));
    }
    order_rows(&mut rows, &below, &above, slots.len());
    let x = place(&rows, &slots, &below, &above, input.gap);

    // Straight: layer 0 (inputs) at the bottom.
    let height_of = |l: usize| {
        rows[l]
            .iter()
            .filter(|&&s| s < n)
            .map(|&s| input.sizes[s].1)
            .fold(0.0, f64::max)
    };
    let max_h = (0..layers_count).map(height_of).fold(0.0, f64::max);
    let (min_x, max_x) = (0..slots.len()).fold((f64::MAX, f64::MIN), |(lo, hi), s| {
        let w = slots[s].width / 2.0;
        (lo.min(x[s] - w), hi.max(x[s] + w))
    });
    let width = max_x - min_x;
    let depth = (layers_count - 1) as f64 * input.layer_gap + max_h;
    let mut pos: Vec<(f64, f64)> = Vec::with_capacity(slots.len());
    let radial = layers_count > 1 && width > radial_ratio * depth;
    let (total_w, total_h) = if radial {
        let radius = radii(&rows, &slots, &x, min_x, width, input);
        let outer = radius.iter().copied().fold(0.0, f64::max);
        let margin = max_h.max(input.gap);
        let c = outer + margin;
        let span = width + input.gap;
        for (s, slot) in slots.iter().enumerate() {
            let angle = std::f64::consts::TAU * (x[s] - min_x + input.gap / 2.0) / span
                - std::f64::consts::FRAC_PI_2;
            let r = radius[slot.layer];
            pos.push((c + r * angle.cos(), c + r * angle.sin()));
        }
        (2.0 * c, 2.0 * c)
    } else {
        let top = max_h / 2.0;
        for slot in &slots {
            let y = top + (layers_count - 1 - slot.layer) as f64 * input.layer_gap;
            pos.push((0.0, y));
        }
        for (s, p) in pos.iter_mut().enumerate() {
            p.0 = x[s] - min_x;
        }
        (width, depth)
    };
    let edges = chains
        .iter()
        .map(|chain| chain.iter().map(|&s| pos[s]).collect())
        .collect();
    pos.truncate(n);
    Layout {
        nodes: pos,
        edges,
        width: total_w,
        height: total_h,
        radial,
    }
}

/// The layer of each node: the longest path to it from a node without inputs.
/// Nodes on a ring (a summarised picture can have them) are taken in hint order
/// once nothing else can be, ignoring the edges of the ring still to come.
fn layers(n: usize, edges: &[(usize, usize)], hint: &[f64]) -> Vec<usize> {
    let mut indegree = vec![0_usize; n];
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(a, b) in edges {
        if a != b {
            indegree[b] += 1;
            out[a].push(b);
        }
    }
    let mut layer = vec![0_usize; n];
    let mut done = vec![false; n];
    let mut ready: Vec<usize> = (0..n).filter(|&i| indegree[i] == 0).collect();
    let mut by_hint: Vec<usize> = (0..n).collect();
    by_hint.sort_by(|&a, &b| hint[a].total_cmp(&hint[b]));
    let mut next_forced = 0;
    let mut placed = 0;
    while placed < n {
        let v = match ready.pop() {
            Some(v) => v,
            None => {
                // A ring: take its first node in the plan.
                while done[by_hint[next_forced]] {
                    next_forced += 1;
                }
                by_hint[next_forced]
            }
        };
        if done[v] {
            continue;
        }
        done[v] = true;
        placed += 1;
        for &w in &out[v] {
            if done[w] {
                continue; // an edge back along a ring
            }
            layer[w] = layer[w].max(layer[v] + 1);
            indegree[w] -= 1;
            if indegree[w] == 0 {
                ready.push(w);
            }
        }
    }
    layer
}

/// Sorts each row by the barycentre of its neighbours, sweeping down then up.
fn order_rows(rows: &mut [Vec<usize>], below: &[Vec<usize>], above: &[Vec<usize>], m: usize) {
    let mut position = vec![0.0_f64; m];
    let refresh = |rows: &[Vec<usize>], position: &mut [f64]| {
        for row in rows {
            let len = row.len().max(1) as f64;
            for (i, &s) in row.iter().enumerate() {
                position[s] = (i as f64 + 0.5) / len;
            }
        }
    };
    refresh(rows, &mut position);
    for _ in 0..4 {
        for l in 1..rows.len() {
            sort_by_barycentre(&mut rows[l], below, &position);
            refresh(&rows[l..=l], &mut position);
        }
        for l in (0..rows.len().saturating_sub(1)).rev() {
            sort_by_barycentre(&mut rows[l], above, &position);
            refresh(&rows[l..=l], &mut position);
        }
    }
}

fn sort_by_barycentre(row: &mut [usize], neighbours: &[Vec<usize>], position: &[f64]) {
    let key = |s: usize| {
        let ns = &neighbours[s];
        if ns.is_empty() {
            position[s]
        } else {
            ns.iter().map(|&t| position[t]).sum::<f64>() / ns.len() as f64
        }
    };
    let mut keyed: Vec<(f64, usize)> = row.iter().map(|&s| (key(s), s)).collect();
    // Stable: ties keep their current order.
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (slot, (_, s)) in row.iter_mut().zip(keyed) {
        *slot = s;
    }
}

/// The x of every slot: packed first, then pulled towards its neighbours.
fn place(
    rows: &[Vec<usize>],
    slots: &[Slot],
    below: &[Vec<usize>],
    above: &[Vec<usize>],
    gap: f64,
) -> Vec<f64> {
    let mut x = vec![0.0_f64; slots.len()];
    let separation = |a: usize, b: usize| {
        let g = if slots[a].width == 0.0 || slots[b].width == 0.0 {
            gap / 2.0
        } else {
            gap
        };
        (slots[a].width + slots[b].width) / 2.0 + g
    };
    let widest = rows
        .iter()
        .map(|row| row.windows(2).map(|w| separation(w[0], w[1])).sum::<f64>())
        .fold(0.0, f64::max);
    for row in rows {
        let span: f64 = row.windows(2).map(|w| separation(w[0], w[1])).sum();
        let mut at = (widest - span) / 2.0;
        for (i, &s) in row.iter().enumerate() {
            if i > 0 {
                at += separation(row[i - 1], s);
            }
            x[s] = at;
        }
    }
    // Outward from the widest row, which stays packed: each row above it is pulled
    // towards its inputs, each row below towards its users (alternating sweeps both
    // ways would squeeze every row towards the narrowest).
    let widest_row = (0..rows.len())
        .max_by(|&a, &b| {
            let span = |l: usize| {
                rows[l]
                    .windows(2)
                    .map(|w| separation(w[0], w[1]))
                    .sum::<f64>()
            };
            span(a).total_cmp(&span(b)).then(b.cmp(&a))
        })
        .unwrap_or(0);
    let mut wanted = Vec::new();
    let sweeps = (widest_row + 1..rows.len())
        .map(|l| (l, below))
        .chain((0..widest_row).rev().map(|l| (l, above)));
    for (l, neighbours) in sweeps {
        let row = &rows[l];
        wanted.clear();
        wanted.extend(row.iter().map(|&s| {
            let ns = &neighbours[s];
            if ns.is_empty() {
                x[s]
            } else {
                ns.iter().map(|&t| x[t]).sum::<f64>() / ns.len() as f64
            }
        }));
        let seps: Vec<f64> = row.windows(2).map(|w| separation(w[0], w[1])).collect();
        let fitted = fit(&wanted, &seps);
        for (&s, v) in row.iter().zip(fitted) {
            x[s] = v;
        }
    }
    x
}

/// The `x` closest to `wanted` (least squares) with `x[i + 1] - x[i] >= seps[i]`:
/// with `c[i]` the sum of the separations before `i`, `y = x - c` must not
/// decrease, which is isotonic regression of `wanted - c` (pool adjacent violators).
fn fit(wanted: &[f64], seps: &[f64]) -> Vec<f64> {
    let mut offset = Vec::with_capacity(wanted.len());
    let mut c = 0.0;
    for i in 0..wanted.len() {
        if i > 0 {
            c += seps[i - 1];
        }
        offset.push(c);
    }
    // Blocks of (sum, count), each at its mean.
    let mut blocks: Vec<(f64, usize)> = Vec::new();
    for (w, o) in wanted.iter().zip(&offset) {
        blocks.push((w - o, 1));
        while blocks.len() > 1 {
            let (s1, n1) = blocks[blocks.len() - 1];
            let (s0, n0) = blocks[blocks.len() - 2];
            if s0 / n0 as f64 <= s1 / n1 as f64 {
                break;
            }
            blocks.pop();
            let last = blocks.len() - 1;
            blocks[last] = (s0 + s1, n0 + n1);
        }
    }
    let mut x = Vec::with_capacity(wanted.len());
    for (sum, count) in blocks {
        let mean = sum / count as f64;
        for _ in 0..count {
            let i = x.len();
            x.push(mean + offset[i]);
        }
    }
    x
}

/// Radius of each layer when drawn around a circle: the last layer (the results)
/// at the centre, each ring out far enough from the one inside it and for its own
/// nodes not to overlap.
fn radii(
    rows: &[Vec<usize>],
    slots: &[Slot],
    x: &[f64],
    min_x: f64,
    width: f64,
    input: &Input<'_>,
) -> Vec<f64> {
    let span = width + input.gap;
    let node = input.sizes.iter().map(|s| s.0.max(s.1)).fold(0.0, f64::max);
    let mut radius = vec![0.0_f64; rows.len()];
    let mut inner = 0.0;
    for l in (0..rows.len()).rev() {
        let reals: Vec<f64> = rows[l]
            .iter()
            .filter(|&&s| slots[s].width > 0.0)
            .map(|&s| x[s] - min_x)
            .collect();
        let closest = reals
            .windows(2)
            .map(|w| w[1] - w[0])
            .fold(f64::INFINITY, f64::min);
        // Arc between two nodes at radius r: r * TAU * dx / span >= node + gap / 2.
        let needed = if closest.is_finite() && closest > 0.0 {
            (node + input.gap / 2.0) * span / (std::f64::consts::TAU * closest)
        } else {
            0.0
        };
        let r = if l == rows.len() - 1 && reals.len() <= 1 {
            needed
        } else {
            needed.max(inner + input.layer_gap)
        };
        radius[l] = r;
        inner = r;
    }
    radius
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(n: usize, edges: &[(usize, usize)], ratio: f64) -> Layout {
        let sizes = vec![(40.0, 20.0); n];
        let hint: Vec<f64> = (0..n).map(|i| i as f64).collect();
        layout(
            &Input {
                sizes: &sizes,
                edges,
                hint: &hint,
                gap: 10.0,
                layer_gap: 60.0,
            },
            ratio,
        )
    }

    #[test]
    fn outputs_are_above_inputs_and_nodes_do_not_overlap() {
        // Two leaves into a sum, and a long edge from leaf 0 to a final task.
        let l = run(4, &[(0, 2), (1, 2), (2, 3), (0, 3)], f64::INFINITY);
        assert!(!l.radial);
        let y: Vec<f64> = l.nodes.iter().map(|p| p.1).collect();
        assert!(y[2] < y[0] && y[3] < y[2] && y[0] == y[1]);
        assert!((l.nodes[0].0 - l.nodes[1].0).abs() >= 50.0);
        // The long edge passes through a point on the layer it crosses.
        assert_eq!(l.edges[3].len(), 3);
        // The sum sits between its inputs.
        let mid = (l.nodes[0].0 + l.nodes[1].0) / 2.0;
        assert!((l.nodes[2].0 - mid).abs() < 1e-6, "{:?}", l.nodes);
    }

    #[test]
    fn wide_shallow_graphs_go_around_a_circle() {
        // 40 leaves into one sum.
        let edges: Vec<(usize, usize)> = (0..40).map(|i| (i, 40)).collect();
        let l = run(41, &edges, 3.0);
        assert!(l.radial);
        let centre = (l.width / 2.0, l.height / 2.0);
        let r = |p: (f64, f64)| ((p.0 - centre.0).powi(2) + (p.1 - centre.1).powi(2)).sqrt();
        assert!(r(l.nodes[40]) < 1e-6);
        let r0 = r(l.nodes[0]);
        assert!(l.nodes[..40].iter().all(|&p| (r(p) - r0).abs() < 1e-6));
        // Neighbours on the ring are at least a node apart.
        for w in l.nodes[..40].windows(2) {
            let d = ((w[0].0 - w[1].0).powi(2) + (w[0].1 - w[1].1).powi(2)).sqrt();
            assert!(d >= 40.0, "{d}");
        }
    }

    #[test]
    fn rings_of_a_summary_are_broken() {
        let l = run(3, &[(0, 1), (1, 2), (2, 0)], f64::INFINITY);
        assert_eq!(l.nodes.len(), 3);
        assert_eq!(l.edges.len(), 3);
    }

    #[test]
    fn fit_keeps_order_and_separation() {
        let x = fit(&[5.0, 5.0, 5.0], &[2.0, 2.0]);
        assert_eq!(x, [3.0, 5.0, 7.0]);
        let x = fit(&[0.0, 10.0], &[2.0]);
        assert_eq!(x, [0.0, 10.0]);
    }
}
