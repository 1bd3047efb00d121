//! The DOT text of a [`Scene`]: what graphviz (`dot -Tsvg`) and many other tools
//! read.
//!
//! Every identifier and attribute value is a quoted DOT string ([`quote`]): quotes
//! and backslashes are escaped, a newline becomes `\n` (a line break in a label),
//! and other control characters are written as `\xHH` text; nothing in a key can end
//! the string or start an HTML label. Nodes are named by their keys; two keys that
//! print alike (a string key spelled like a tuple key) get a ` #n` suffix to stay
//! two nodes.

use std::collections::HashSet;
use std::fmt::Write as _;

use super::scene::Scene;

/// The DOT text of `scene`.
pub(crate) fn write(scene: &Scene) -> String {
    let mut out = String::with_capacity(128 + scene.nodes.len() * 120 + scene.edges.len() * 40);
    let mut ids = Ids::default();
    let node_ids: Vec<String> = scene.nodes.iter().map(|n| ids.fresh(&n.key)).collect();
    let label = match &scene.title {
        Some(title) => format!("{title}\n{}", scene.caption),
        None => scene.caption.clone(),
    };
    out.push_str("digraph \"taskloom\" {\n");
    let _ = writeln!(
        out,
        "  graph [rankdir=BT, charset=\"UTF-8\", fontname=\"Helvetica\", labelloc=t, label={}];",
        quote(&label)
    );
    out.push_str(
        "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10, penwidth=0.5];\n",
    );
    out.push_str("  edge [color=\"#00000066\", arrowsize=0.5];\n");
    for (node, id) in scene.nodes.iter().zip(&node_ids) {
        let _ = write!(
            out,
            "  {} [label={}, tooltip={}, fillcolor=\"{}\", fontcolor=\"{}\"",
            quote(id),
            quote(&node.label),
            quote(&node.tooltip),
            node.fill,
            node.fill.text_color(),
        );
        if node.emphasis {
            out.push_str(", penwidth=2.5");
        }
        out.push_str("];\n");
    }
    for edge in &scene.edges {
        let _ = write!(
            out,
            "  {} -> {}",
            quote(&node_ids[edge.from]),
            quote(&node_ids[edge.to])
        );
        let mut attrs: Vec<String> = Vec::new();
        if edge.count > 1 {
            attrs.push(format!("label=\"{}\"", edge.count));
            let width = (1.0 + (edge.count as f64).log2() / 2.0).min(6.0);
            attrs.push(format!("penwidth={width:.1}"));
        }
        if edge.emphasis {
            attrs.push("color=\"#000000\"".to_owned());
            attrs.push("penwidth=2.5".to_owned());
        }
        if !attrs.is_empty() {
            let _ = write!(out, " [{}]", attrs.join(", "));
        }
        out.push_str(";\n");
    }
    legend(&mut out, scene, &mut ids);
    out.push_str("}\n");
    out
}

/// The legend: a cluster of swatches, one per tick, and one for tasks without a
/// value.
fn legend(out: &mut String, scene: &Scene, ids: &mut Ids) {
    let legend = &scene.legend;
    out.push_str("  subgraph \"cluster_legend\" {\n");
    let _ = writeln!(
        out,
        "    graph [label={}, style=\"rounded\", color=\"#999999\", fontsize=10];",
        quote(&format!("{} ({})", legend.title, legend.map.name()))
    );
    out.push_str("    node [shape=box, style=filled, fontsize=9, width=0.4, height=0.25];\n");
    let mut previous: Option<String> = None;
    let mut swatch =
        |out: &mut String, label: &str, fill: super::Rgb, previous: &mut Option<String>| {
            let id = ids.fresh(&format!("legend: {label}"));
            let _ = writeln!(
                out,
                "    {} [label={}, tooltip={}, fillcolor=\"{fill}\", fontcolor=\"{}\"];",
                quote(&id),
                quote(label),
                quote(&legend.title),
                fill.text_color()
            );
            if let Some(p) = previous.replace(id.clone()) {
                // Invisible edges keep the swatches in one column, low to high.
                let _ = writeln!(out, "    {} -> {} [style=invis];", quote(&p), quote(&id));
            }
        };
    for (t, label) in &legend.ticks {
        swatch(out, label, legend.map.at(*t), &mut previous);
    }
    if let Some(missing) = &legend.missing {
        swatch(out, missing, super::scene::MISSING, &mut previous);
    }
    if let Some(emphasis) = &legend.emphasis {
        let id = ids.fresh("legend: outline");
        let _ = writeln!(
            out,
            "    {} [label={}, style=\"filled\", fillcolor=\"#ffffff\", penwidth=2.5];",
            quote(&id),
            quote(emphasis)
        );
    }
    out.push_str("  }\n");
}

/// Unique node identifiers.
#[derive(Default)]
struct Ids {
    taken: HashSet<String>,
}

impl Ids {
    fn fresh(&mut self, wanted: &str) -> String {
        if self.taken.insert(wanted.to_owned()) {
            return wanted.to_owned();
        }
        (2..)
            .map(|n| format!("{wanted} #{n}"))
            .find(|id| self.taken.insert(id.clone()))
            .unwrap_or_default()
    }
}

/// `text` as a quoted DOT string (see the module's documentation).
pub(crate) fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_keys_inside_the_string() {
        assert_eq!(quote("a"), r#""a""#);
        assert_eq!(quote(r#"say "hi""#), r#""say \"hi\"""#);
        assert_eq!(quote(r"back\slash"), r#""back\\slash""#);
        assert_eq!(quote("two\nlines"), r#""two\nlines""#);
        assert_eq!(quote("bell\u{7}"), r#""bell\\x07""#);
        assert_eq!(quote("<script>é</script>"), "\"<script>é</script>\"");
    }

    #[test]
    fn ids_stay_unique() {
        let mut ids = Ids::default();
        assert_eq!(ids.fresh("('x', 3)"), "('x', 3)");
        assert_eq!(ids.fresh("('x', 3)"), "('x', 3) #2");
        assert_eq!(ids.fresh("('x', 3)"), "('x', 3) #3");
    }
}
