//! The page of a run report: one HTML file with its style, script, data and graph
//! picture inline, so it opens from disk, offline, in any browser, and can be
//! mailed or attached to an issue as it is.
//!
//! The data is a JSON object in a `<script type="application/json">` element (its
//! `<`s escaped, so no key can close the element); the script ([`SCRIPT`], written
//! by hand, no library) reads it and builds the page with DOM calls that take text
//! as text. The graph picture is SVG whose text is escaped as XML. A
//! Content-Security-Policy allows only this page's own script (by a nonce made per
//! file) and no network at all: a key that got past the escaping could still not
//! run.

use std::collections::hash_map::RandomState;
use std::fmt::Write as _;
use std::hash::BuildHasher;

use crate::diagnostics::picture::svg::escape;

/// The page's style sheet.
const STYLE: &str = include_str!("report.css");
/// The page's script.
const SCRIPT: &str = include_str!("report.js");

/// The page, from its title, data (JSON) and graph picture (SVG).
pub(crate) fn page(title: &str, data: &str, graph_svg: Option<&str>) -> String {
    let nonce = nonce();
    let mut out = String::with_capacity(STYLE.len() + SCRIPT.len() + data.len() + 4096);
    out.push_str("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(
        out,
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; script-src 'nonce-{nonce}'; img-src data:\">"
    );
    let _ = writeln!(out, "<meta name=\"generator\" content=\"taskloom\">");
    let _ = writeln!(out, "<title>{}</title>", escape(title, " "));
    let _ = writeln!(out, "<style>\n{STYLE}</style>\n</head>");
    out.push_str("<body data-ready=\"0\">\n");
    out.push_str("<header><h1 id=\"title\"></h1><p id=\"summary\" class=\"muted\"></p></header>\n");
    out.push_str("<section id=\"cards\" aria-label=\"summary\"></section>\n");
    out.push_str("<section><h2>Task stream</h2><div id=\"fn-legend\" class=\"legend\"></div>");
    out.push_str("<div id=\"stream\" class=\"chart\"></div>");
    out.push_str("<p class=\"hint\">One lane per worker, as the executor names it; bars coloured by function. ");
    out.push_str(
        "Hover for details; drag across the stream to zoom in, double-click to zoom out. ",
    );
    out.push_str(
        "A black outline is a task that failed (a red cross at its end), a dashed one a task ",
    );
    out.push_str("run again after its worker was lost (a red dashed line on the lost worker's lane).</p></section>\n");
    out.push_str("<section><h2>Memory and CPU</h2><div id=\"charts\"></div>");
    out.push_str(
        "<p class=\"hint\">Results and their bytes held by the scheduling loop after each task ",
    );
    out.push_str("(bytes as results report them); the whole process's resident memory and CPU, sampled.</p></section>\n");
    out.push_str("<section><h2>Per function</h2><table id=\"functions\"></table></section>\n");
    out.push_str(
        "<section><h2>Failures, retries and lost workers</h2><ul id=\"problems\"></ul></section>\n",
    );
    out.push_str("<section><h2>Graph</h2>");
    match graph_svg {
        Some(svg) => {
            out.push_str(
                "<p class=\"hint\">Coloured by the run time each task took in this run.</p>",
            );
            out.push_str("<div id=\"graph\">");
            out.push_str(svg);
            out.push_str("</div>");
        }
        None => out.push_str("<p class=\"hint\">No graph was given to this report.</p>"),
    }
    out.push_str("</section>\n<div id=\"tip\" hidden></div>\n");
    out.push_str("<script type=\"application/json\" id=\"data\">");
    out.push_str(data);
    out.push_str("</script>\n");
    let _ = write!(
        out,
        "<script nonce=\"{nonce}\">\n{SCRIPT}</script>\n</body>\n</html>\n"
    );
    out
}

/// A number no key can guess: the page's script is the only one the browser runs.
fn nonce() -> String {
    let state = RandomState::new();
    let a = state.hash_one(std::process::id());
    let b = RandomState::new().hash_one(std::time::SystemTime::now());
    format!("{a:016x}{b:016x}")
}
