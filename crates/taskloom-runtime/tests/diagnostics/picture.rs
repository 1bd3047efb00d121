//! Pictures of graphs: the DOT text (a node per task with its key, an edge per
//! dependency, colours from the plan, the legend), the SVG, summaries of big graphs,
//! and keys that look like markup.

use std::sync::Arc;
use std::time::Duration;

use taskloom::diagnostics::Profiler;
use taskloom::diagnostics::picture::{Color, ColorMap, DotOptions, Engine, PictureError};
use taskloom::{ComputeOptions, Graph, Handle, Scheduler};

/// `a` feeds `b` and `c`, which feed `d`.
fn diamond() -> (Graph, Handle<i64>) {
    let mut g = Graph::new();
    let a = g.add("a", (), || 1_i64).unwrap();
    let b = g.add("b", &a, |x: &i64| x + 1).unwrap();
    let c = g.add("c", &a, |x: &i64| x + 2).unwrap();
    let d = g.add("d", (&b, &c), |x: &i64, y: &i64| x + y).unwrap();
    (g, d)
}

/// The node lines of a DOT text (outside the legend), as (identifier, attributes).
fn nodes(dot: &str) -> Vec<(String, String)> {
    body(dot)
        .filter(|l| !l.contains(" -> ") && l.contains(" [label="))
        .map(|l| {
            let (id, attrs) = l.split_once(" [").unwrap();
            (id.trim().to_owned(), attrs.to_owned())
        })
        .collect()
}

/// The edge lines of a DOT text (outside the legend), as (from, to).
fn edges(dot: &str) -> Vec<(String, String)> {
    body(dot)
        .filter(|l| l.contains(" -> "))
        .map(|l| {
            let (from, rest) = l.split_once(" -> ").unwrap();
            let to = rest.split([';', '[']).next().unwrap();
            (from.trim().to_owned(), to.trim().to_owned())
        })
        .collect()
}

fn body(dot: &str) -> impl Iterator<Item = &str> {
    dot.lines()
        .take_while(|l| !l.contains("cluster_legend"))
        .filter(|l| l.starts_with("  \""))
}

fn attr<'a>(attrs: &'a str, name: &str) -> &'a str {
    let start = attrs.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
    let end = attrs[start..].find('"').unwrap();
    &attrs[start..start + end]
}

#[test]
fn dot_has_a_node_per_task_and_an_edge_per_dependency() {
    let (g, _) = diamond();
    let dot = g.to_dot(&DotOptions::new());
    assert!(dot.starts_with("digraph \"taskloom\" {\n") && dot.ends_with("}\n"));
    let ids: Vec<String> = nodes(&dot).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, [r#""a""#, r#""b""#, r#""c""#, r#""d""#]);
    let mut e = edges(&dot);
    e.sort();
    let want: Vec<(String, String)> = [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]
        .iter()
        .map(|(f, t)| (format!("\"{f}\""), format!("\"{t}\"")))
        .collect();
    assert_eq!(e, want);
}

#[test]
fn colours_follow_the_static_order_and_the_legend_says_so() {
    let (g, _) = diamond();
    let dot = g.to_dot(&DotOptions::new());
    let fills: Vec<(String, String)> = nodes(&dot)
        .into_iter()
        .map(|(id, attrs)| (id, attr(&attrs, "fillcolor").to_owned()))
        .collect();
    // a runs first and d last, whatever the order of b and c.
    assert_eq!(fills[0].1, "#440154");
    assert_eq!(fills[3].1, "#fde725");
    let middle: Vec<&str> = fills[1..3].iter().map(|(_, f)| f.as_str()).collect();
    assert!(
        middle.contains(&"#30688e") && middle.contains(&"#35b779"),
        "{middle:?}"
    );
    // Text stays readable: white on dark, black on light.
    let (_, a) = &nodes(&dot)[0];
    assert_eq!(attr(a, "fontcolor"), "#ffffff");

    let legend = &dot[dot.find("cluster_legend").unwrap()..];
    assert!(legend.contains("static order: rank in the plan (first runs first) (viridis)"));
    for (tick, fill) in [("0", "#440154"), ("3", "#fde725")] {
        assert!(
            legend.contains(&format!(r#"[label="{tick}", tooltip="#))
                && legend.contains(&format!(r#"fillcolor="{fill}""#)),
            "{legend}"
        );
    }

    let cividis = g.to_dot(&DotOptions::new().color_map(ColorMap::Cividis));
    assert_eq!(attr(&nodes(&cividis)[0].1, "fillcolor"), "#00224e");
    assert!(cividis.contains("(cividis)"));
}

#[test]
fn pressure_and_critical_path_colourings() {
    // A long chain beside a short one: the chain is the critical path.
    let mut g = Graph::new();
    let mut last = g.add("chain-0", (), || 0_u8).unwrap();
    for i in 1..5 {
        last = g.add(("chain", i), &last, |x: &u8| *x).unwrap();
    }
    let short = g.add("short", (), || 0_u8).unwrap();
    g.add("end", (&last, &short), |_: &u8, _: &u8| 0_u8)
        .unwrap();

    let dot = g.to_dot(&DotOptions::new().color(Color::CriticalPath));
    let emphasized: Vec<String> = nodes(&dot)
        .into_iter()
        .filter(|(_, a)| a.contains("penwidth=2.5"))
        .map(|(id, _)| id)
        .collect();
    assert_eq!(emphasized.len(), 6, "{emphasized:?}");
    assert!(!emphasized.contains(&"\"short\"".to_owned()));
    assert!(dot.contains("outlined: on a longest path (the critical path)"));

    let dot = g.to_dot(&DotOptions::new().color(Color::Pressure));
    assert!(dot.contains("memory pressure: results held after the task, in the plan"));
    assert!(dot.contains("plan holds at most 2 results"));
}

#[tokio::test]
async fn run_time_colours_come_from_the_profiler() {
    let mut g = Graph::new();
    let slow = g
        .add("slow", (), || std::thread::sleep(Duration::from_millis(30)))
        .unwrap();
    let quick = g.add("quick", &slow, |_: &()| ()).unwrap();
    g.add("never", (), || ()).unwrap(); // not needed by the target below
    let profiler = Arc::new(Profiler::new());
    let options = ComputeOptions::new().shared_callback(profiler.clone());
    Scheduler::threads(1)
        .unwrap()
        .compute_with(&g, &quick, options)
        .await
        .unwrap();

    let dot = g.to_dot(&DotOptions::new().color(Color::RunTime).run_times(&profiler));
    let fill = |key: &str| {
        let (_, attrs) = nodes(&dot)
            .into_iter()
            .find(|(id, _)| id == &format!("\"{key}\""))
            .unwrap();
        attr(&attrs, "fillcolor").to_owned()
    };
    assert_eq!(fill("slow"), "#fde725");
    assert_eq!(fill("quick"), "#440154");
    assert_eq!(fill("never"), "#d9d9d9");
    assert!(dot.contains(r#"[label="not run""#));
    assert!(dot.contains("run time, as the profiler measured it"));
}

#[test]
fn big_graphs_are_summarised_by_key_name() {
    let mut g = Graph::new();
    let mut sums = Vec::new();
    for i in 0..1500 {
        let load = g
            .add(("load-8f14e45fceea167a5a36dedd4bea2543", i), (), || 1_u32)
            .unwrap();
        sums.push(g.add(("clean", i), &load, |x: &u32| *x).unwrap());
    }
    g.add("total", &sums[..], |xs: &[&u32]| xs.len()).unwrap();
    assert!(g.len() > 2000);

    let dot = g.to_dot(&DotOptions::new());
    let ids: Vec<String> = nodes(&dot).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, [r#""load""#, r#""clean""#, r#""total""#]);
    let labels: Vec<String> = nodes(&dot)
        .into_iter()
        .map(|(_, a)| attr(&a, "label").to_owned())
        .collect();
    assert_eq!(labels, ["load ×1500", "clean ×1500", "total ×1"]);
    assert!(dot.contains(r#""load" -> "clean" [label="1500""#), "{dot}");
    assert!(dot.contains("shown as 3 groups of keys"));
    assert!(dot.contains("(first of each group)"));

    // Asked for, a small graph is summarised too; a big one can be drawn whole.
    let (small, _) = diamond();
    assert_eq!(
        nodes(&small.to_dot(&DotOptions::new().max_tasks(0))).len(),
        4
    );
    assert_eq!(
        nodes(&g.to_dot(&DotOptions::new().max_tasks(5000))).len(),
        3001
    );

    let svg = g.to_svg(&DotOptions::new()).unwrap();
    assert_eq!(svg.matches("<g class=\"node\">").count(), 3);
}

/// Keys as users and web clients may send them.
pub(crate) const HOSTILE_KEYS: [&str; 6] = [
    "<script>document.body.setAttribute('data-pwned','key')</script>",
    "</svg><img src=x onerror=\"document.body.setAttribute('data-pwned','img')\">",
    "say \"hi\" & 'bye' \\ back",
    "two\nlines\r\tand a bell \u{7}",
    "日本語のキー ✓ é",
    "]]><!-- --></title></style>",
];

#[test]
fn keys_are_text_in_dot_and_svg() {
    let mut g = Graph::new();
    let mut inputs = Vec::new();
    for key in HOSTILE_KEYS {
        inputs.push(g.add(key, (), || 1_u8).unwrap());
    }
    g.add("sum", &inputs[..], |xs: &[&u8]| xs.len()).unwrap();

    let dot = g.to_dot(&DotOptions::new());
    let ids: Vec<String> = nodes(&dot).into_iter().map(|(id, _)| id).collect();
    assert_eq!(
        ids[..6],
        [
            r#""<script>document.body.setAttribute('data-pwned','key')</script>""#,
            r#""</svg><img src=x onerror=\"document.body.setAttribute('data-pwned','img')\">""#,
            r#""say \"hi\" & 'bye' \\ back""#,
            r#""two\nlines\\r\\x09and a bell \\x07""#,
            r#""日本語のキー ✓ é""#,
            r#""]]><!-- --></title></style>""#,
        ]
    );
    // Every line of the DOT is whole: a key cannot add lines or statements.
    assert_eq!(dot.lines().filter(|l| l.contains(" -> \"sum\"")).count(), 6);

    let svg = g.to_svg(&DotOptions::new()).unwrap();
    assert_eq!(svg.matches("<svg").count(), 1);
    assert_eq!(svg.matches("</svg>").count(), 1);
    assert!(!svg.contains("<script") && !svg.contains("<img"));
    assert!(svg.contains("<title>&lt;script&gt;document.body.setAttribute(&#39;data-pwned&#39;,&#39;key&#39;)&lt;/script&gt;</title>"));
    assert!(svg.contains("<title>two\nlines\\x0d\tand a bell \\x07</title>"));
    assert!(svg.contains("日本語のキー ✓ é"));
}

#[test]
fn graphviz_draws_the_dot_when_installed() {
    let (g, _) = diamond();
    let options = DotOptions::new().engine(Engine::Graphviz);
    match g.to_svg(&options) {
        Ok(svg) => {
            assert!(
                svg.contains("<svg") && svg.contains("<title>a</title>"),
                "{svg}"
            );
        }
        Err(PictureError::Graphviz(message)) => {
            assert!(
                std::env::var_os("TASKLOOM_REQUIRE_GRAPHVIZ").is_none(),
                "graphviz is required here: {message}"
            );
            assert!(message.contains("is graphviz installed?"), "{message}");
        }
        Err(other) => panic!("{other}"),
    }
}

#[test]
fn colourings_have_names() {
    for (name, color) in [
        ("order", Color::Order),
        ("memory", Color::Pressure),
        ("critical-path", Color::CriticalPath),
        ("run_time", Color::RunTime),
    ] {
        assert_eq!(name.parse::<Color>().unwrap(), color);
    }
    let err = "rainbow".parse::<Color>().unwrap_err();
    assert!(err.to_string().contains("\"rainbow\""));
}

#[test]
fn graphviz_reads_hostile_keys_as_text() {
    let mut g = Graph::new();
    for key in HOSTILE_KEYS {
        g.add(key, (), || 1_u8).unwrap();
    }
    match g.to_svg(&DotOptions::new().engine(Engine::Graphviz)) {
        Ok(svg) => {
            assert!(svg.contains("&lt;script&gt;"), "{svg}");
            assert!(!svg.contains("<script") && !svg.contains("<img"), "{svg}");
            assert!(svg.contains("日本語のキー ✓ é"));
        }
        Err(PictureError::Graphviz(message)) => {
            assert!(
                std::env::var_os("TASKLOOM_REQUIRE_GRAPHVIZ").is_none(),
                "graphviz is required here: {message}"
            );
        }
        Err(other) => panic!("{other}"),
    }
}
