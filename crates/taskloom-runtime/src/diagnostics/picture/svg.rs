//! The SVG of a [`Scene`], laid out by `layout`: a standalone picture that browsers,
//! image viewers and GitHub show, and that the run report embeds.
//!
//! Small graphs get labelled boxes with arrows, outputs above inputs; graphs of more
//! than [`DOTS_ABOVE`] nodes get small discs (the key in the tooltip, as for every
//! node), and those much wider than deep are drawn around a circle. A header holds
//! the title, a caption and the legend (a colour bar with ticks).
//!
//! Every key goes through [`escape`]: `&`, `<`, `>`, quotes become entities, and
//! characters XML forbids (control characters) are written as `\xHH` text.

use std::fmt::Write as _;

use super::layout::{self, Input};
use super::scene::{MISSING, Scene};

/// Past this many nodes, nodes are discs without a label.
pub(crate) const DOTS_ABOVE: usize = 250;

/// Width of one character of the 11 px sans-serif font, roughly.
const CHAR_W: f64 = 6.6;
const BOX_H: f64 = 22.0;
const DOT_D: f64 = 12.0;
const PAD: f64 = 16.0;

/// The SVG of `scene`.
pub(crate) fn write(scene: &Scene) -> String {
    let dots = scene.nodes.len() > DOTS_ABOVE;
    let sizes: Vec<(f64, f64)> = scene
        .nodes
        .iter()
        .map(|n| {
            if dots {
                (DOT_D, DOT_D)
            } else {
                (n.label.chars().count() as f64 * CHAR_W + 14.0, BOX_H)
            }
        })
        .collect();
    let edges: Vec<(usize, usize)> = scene.edges.iter().map(|e| (e.from, e.to)).collect();
    let hint: Vec<f64> = scene.nodes.iter().map(|n| n.rank).collect();
    let (gap, layer_gap) = if dots { (6.0, 36.0) } else { (12.0, 56.0) };
    // Around a circle only as discs: labelled boxes of different widths would meet
    // near the centre.
    let radial_ratio = if dots { 3.0 } else { f64::INFINITY };
    let layout = layout::layout(
        &Input {
            sizes: &sizes,
            edges: &edges,
            hint: &hint,
            gap,
            layer_gap,
        },
        radial_ratio,
    );

    let mut header = Header::new(scene);
    // A big drawing is shown scaled down: its header grows with it, to stay legible.
    let k = (layout.width / 1000.0).max(1.0);
    let width = (layout.width + 2.0 * PAD).max((header.width + 2.0 * PAD) * k);
    let height = layout.height + 2.0 * PAD + header.height * k;
    let dx = (width - layout.width) / 2.0;
    let dy = header.height * k + PAD;

    let mut out = String::with_capacity(1024 + scene.nodes.len() * 140 + scene.edges.len() * 70);
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.0} {h:.0}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="11">"##,
        w = width,
        h = height
    );
    let _ = write!(out, "<title>{}</title>", escape(&scene.caption, "\n"));
    let map = scene.legend.map.name();
    let _ = write!(
        out,
        r##"<defs><linearGradient id="taskloom-{map}" x1="0" x2="1" y1="0" y2="0">"##
    );
    for i in 0..=16 {
        let t = f64::from(i) / 16.0;
        let _ = write!(
            out,
            r#"<stop offset="{t:.4}" stop-color="{}"/>"#,
            scene.legend.map.at(t)
        );
    }
    out.push_str(r##"</linearGradient><marker id="taskloom-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerUnits="userSpaceOnUse" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#555555"/></marker></defs>"##);
    out.push_str(r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    header.write(&mut out, scene, k);

    let _ = write!(out, r#"<g transform="translate({dx:.1},{dy:.1})">"#);
    // Arrows first (under the nodes), those on the critical path last (on top).
    let mut order: Vec<usize> = (0..scene.edges.len()).collect();
    order.sort_by_key(|&i| scene.edges[i].emphasis);
    out.push_str(r##"<g fill="none" stroke="#555555" stroke-opacity="0.45">"##);
    for i in order {
        let edge = &scene.edges[i];
        let points = &layout.edges[i];
        let mut d = String::new();
        path(
            &mut d,
            points,
            layout.radial || dots,
            sizes[edge.from].1 / 2.0,
            sizes[edge.to].1 / 2.0,
        );
        let mut attrs = String::new();
        if edge.emphasis {
            attrs.push_str(r##" stroke="#000000" stroke-opacity="0.9" stroke-width="2.5""##);
        } else if edge.count > 1 {
            let w = (1.0 + (edge.count as f64).log2() / 2.0).min(6.0);
            let _ = write!(attrs, r#" stroke-width="{w:.1}""#);
        }
        if !dots && !layout.radial {
            attrs.push_str(r#" marker-end="url(#taskloom-arrow)""#);
        }
        let _ = write!(out, r#"<path d="{d}"{attrs}>"#);
        if edge.count > 1 {
            let _ = write!(out, "<title>{} dependencies</title>", edge.count);
        }
        out.push_str("</path>");
    }
    out.push_str("</g><g>");
    for (i, node) in scene.nodes.iter().enumerate() {
        let (x, y) = layout.nodes[i];
        let (w, h) = sizes[i];
        let stroke = if node.emphasis {
            r##" stroke="#000000" stroke-width="2.5""##
        } else {
            r##" stroke="#333333" stroke-width="0.5""##
        };
        let _ = write!(
            out,
            r#"<g class="node"><title>{}</title>"#,
            escape(&node.tooltip, "\n")
        );
        if dots {
            let _ = write!(
                out,
                r#"<circle cx="{x:.1}" cy="{y:.1}" r="{:.1}" fill="{}"{stroke}/>"#,
                w / 2.0,
                node.fill
            );
        } else {
            let _ = write!(
                out,
                r#"<rect x="{:.1}" y="{:.1}" width="{w:.1}" height="{h:.1}" rx="5" fill="{}"{stroke}/>"#,
                x - w / 2.0,
                y - h / 2.0,
                node.fill
            );
            let _ = write!(
                out,
                r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="{}">{}</text>"#,
                y + 4.0,
                node.fill.text_color(),
                escape(&node.label, "\\n")
            );
        }
        out.push_str("</g>");
    }
    out.push_str("</g></g></svg>\n");
    out
}

/// An edge's path through `points`: straight segments for discs and circles,
/// vertical curves between boxes (leaving the input's top, reaching the user's
/// bottom).
fn path(d: &mut String, points: &[(f64, f64)], straight: bool, from_h: f64, to_h: f64) {
    let Some((&first, rest)) = points.split_first() else {
        return;
    };
    if straight {
        let _ = write!(d, "M{:.1},{:.1}", first.0, first.1);
        for p in rest {
            let _ = write!(d, "L{:.1},{:.1}", p.0, p.1);
        }
        return;
    }
    let mut pts: Vec<(f64, f64)> = points.to_vec();
    let last = pts.len() - 1;
    let up = pts[last].1 < pts[0].1;
    let sign = if up { 1.0 } else { -1.0 };
    pts[0].1 -= sign * from_h;
    pts[last].1 += sign * to_h;
    let _ = write!(d, "M{:.1},{:.1}", pts[0].0, pts[0].1);
    for w in pts.windows(2) {
        let (a, b) = (w[0], w[1]);
        let my = (a.1 + b.1) / 2.0;
        let _ = write!(
            d,
            "C{:.1},{my:.1} {:.1},{my:.1} {:.1},{:.1}",
            a.0, b.0, b.0, b.1
        );
    }
}

/// Title, caption and legend above the drawing.
struct Header {
    width: f64,
    height: f64,
}

const BAR_W: f64 = 240.0;

impl Header {
    fn new(scene: &Scene) -> Header {
        let title_w = scene
            .title
            .as_ref()
            .map_or(0.0, |t| t.chars().count() as f64 * CHAR_W * 1.3);
        let caption_w = scene.caption.chars().count() as f64 * CHAR_W;
        let legend_w = scene.legend.title.chars().count() as f64 * CHAR_W;
        let extra_w = scene
            .legend
            .missing
            .as_ref()
            .map_or(0.0, |m| 40.0 + m.chars().count() as f64 * CHAR_W)
            + scene
                .legend
                .emphasis
                .as_ref()
                .map_or(0.0, |m| 40.0 + m.chars().count() as f64 * CHAR_W);
        let width = title_w
            .max(caption_w)
            .max(legend_w)
            .max(BAR_W + 40.0 + extra_w);
        let height = if scene.title.is_some() { 100.0 } else { 78.0 };
        Header { width, height }
    }

    fn write(&mut self, out: &mut String, scene: &Scene, scale: f64) {
        let mut y = PAD;
        let _ = write!(out, r#"<g class="legend" transform="scale({scale:.3})">"#);
        if let Some(title) = &scene.title {
            y += 14.0;
            let _ = write!(
                out,
                r#"<text x="{PAD}" y="{y}" font-size="15" font-weight="bold">{}</text>"#,
                escape(title, "\\n")
            );
            y += 8.0;
        }
        y += 12.0;
        let _ = write!(
            out,
            r##"<text x="{PAD}" y="{y}" fill="#333333">{}</text>"##,
            escape(&scene.caption, "\\n")
        );
        y += 18.0;
        let legend = &scene.legend;
        let _ = write!(
            out,
            r#"<text x="{PAD}" y="{y}">{}</text>"#,
            escape(&legend.title, "\\n")
        );
        y += 6.0;
        let _ = write!(
            out,
            r##"<rect x="{PAD}" y="{y}" width="{BAR_W}" height="10" fill="url(#taskloom-{})" stroke="#333333" stroke-width="0.5"/>"##,
            legend.map.name()
        );
        for (t, label) in &legend.ticks {
            let x = PAD + t * BAR_W;
            let anchor = if *t <= 0.0 {
                "start"
            } else if *t >= 1.0 {
                "end"
            } else {
                "middle"
            };
            let _ = write!(
                out,
                r##"<line x1="{x:.1}" x2="{x:.1}" y1="{:.1}" y2="{:.1}" stroke="#333333"/><text x="{x:.1}" y="{:.1}" text-anchor="{anchor}" font-size="10">{}</text>"##,
                y + 10.0,
                y + 13.0,
                y + 23.0,
                escape(label, "\\n")
            );
        }
        let mut x = PAD + BAR_W + 24.0;
        if let Some(missing) = &legend.missing {
            let _ = write!(
                out,
                r##"<rect x="{x:.1}" y="{y:.1}" width="14" height="10" fill="{MISSING}" stroke="#333333" stroke-width="0.5"/><text x="{:.1}" y="{:.1}">{}</text>"##,
                x + 18.0,
                y + 9.0,
                escape(missing, "\\n")
            );
            x += 40.0 + missing.chars().count() as f64 * CHAR_W;
        }
        if let Some(emphasis) = &legend.emphasis {
            let _ = write!(
                out,
                r##"<rect x="{x:.1}" y="{y:.1}" width="14" height="10" fill="#ffffff" stroke="#000000" stroke-width="2.5"/><text x="{:.1}" y="{:.1}">{}</text>"##,
                x + 18.0,
                y + 9.0,
                escape(emphasis, "\\n")
            );
        }
        out.push_str("</g>");
    }
}

/// `text` as XML text or attribute value: `&`, `<`, `>`, `"`, `'` as entities, a
/// newline as `newline`, tabs kept, and every other control character (which XML
/// forbids) as `\xHH` text.
pub(crate) fn escape(text: &str, newline: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' => out.push_str(newline),
            '\t' => out.push('\t'),
            c if c.is_control() || matches!(c, '\u{fffe}' | '\u{ffff}') => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_makes_markup_text() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\"", "\n"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(escape("a\nb", "\\n"), "a\\nb");
        assert_eq!(escape("nul\u{0}", "\n"), "nul\\x00");
        assert_eq!(escape("日本", "\n"), "日本");
    }
}
