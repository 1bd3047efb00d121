//! The run report's data: every task on its worker's lane, functions and their
//! table, failures marked, keys kept as data, and large runs aggregated into what a
//! screen shows. (The browser test loads the pages themselves.)

use std::sync::Arc;

use serde_json::Value as Json;
use taskloom::diagnostics::{HtmlReport, Profiler, Report, report::DETAIL_LIMIT};
use taskloom::{ComputeOptions, Graph, Scheduler};

use crate::support::tree;

/// The JSON object a report page draws from.
pub(crate) fn data_of(html: &str) -> Json {
    let tag = r#"<script type="application/json" id="data">"#;
    let start = html.find(tag).unwrap() + tag.len();
    let end = start + html[start..].find("</script>").unwrap();
    serde_json::from_str(&html[start..end]).unwrap()
}

fn strings(v: &Json) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_task_is_a_bar_on_its_workers_lane() {
    let (g, root) = tree("rep", 60);
    let report = Arc::new(Report::new());
    report.graph(&g);
    report.title("a tree");
    let options = ComputeOptions::new().shared_callback(report.clone());
    Scheduler::threads(2)
        .unwrap()
        .compute_with(&g, &root, options)
        .await
        .unwrap();

    let html = report.to_html();
    assert!(html.starts_with("<!doctype html>"));
    assert!(html.contains("<title>a tree</title>"));
    // Nothing is fetched: no URL but the SVG namespace, and a policy that allows none.
    assert!(!html.contains("https://") && !html.contains("src=\"http"));
    assert!(html.contains("default-src 'none'"));
    assert!(html.contains("<div id=\"graph\"><svg"));

    let data = data_of(&html);
    let records = report.profiler().records();
    assert_eq!(data["tasks"], records.len());
    assert_eq!(data["detail"], true);
    let lanes = strings(&data["lanes"]);
    assert!(lanes.iter().all(|l| l.starts_with("thread-")), "{lanes:?}");
    let bars = &data["bars"];
    assert_eq!(bars["key"].as_array().unwrap().len(), records.len());
    let mut keys = strings(&bars["key"]);
    keys.sort();
    let mut want: Vec<String> = records.iter().map(|r| r.key.to_string()).collect();
    want.sort();
    assert_eq!(keys, want);
    // Each bar on the lane of its worker.
    for (i, key) in strings(&bars["key"]).iter().enumerate() {
        let record = records.iter().find(|r| r.key.to_string() == *key).unwrap();
        let lane = bars["lane"][i].as_u64().unwrap() as usize;
        assert!(lanes[lane].starts_with(&record.worker.to_string()), "{key}");
    }
    // One row per function, their counts adding up.
    let counted: u64 = data["table"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["count"].as_u64().unwrap())
        .sum();
    assert_eq!(counted as usize, records.len());
    assert_eq!(data["held"]["t"].as_array().unwrap().len(), records.len());
    assert_eq!(data["computations"][0]["outcome"], "done");
}

#[tokio::test]
async fn failures_are_marked_and_messages_stay_data() {
    let mut g = Graph::new();
    let a = g.add("fine", (), || 1_u8).unwrap();
    let boom = g
        .try_add("boom</script>", &a, |_: &u8| -> Result<u8, String> {
            Err("<b>not bold</b>".into())
        })
        .unwrap();
    let profiler = Arc::new(Profiler::new());
    let options = ComputeOptions::new().shared_callback(profiler.clone());
    let result = Scheduler::current_thread()
        .compute_with(&g, &boom, options)
        .await;
    assert!(result.is_err());

    let html = HtmlReport::new().tasks(&profiler).graph(&g).to_html();
    assert!(!html.contains("<b>not bold</b>") && !html.contains("boom</script>"));
    let data = data_of(&html);
    assert_eq!(data["failedCount"], 1);
    assert_eq!(data["failures"][0]["key"], "boom</script>");
    assert!(
        data["failures"][0]["error"]
            .as_str()
            .unwrap()
            .contains("<b>not bold</b>")
    );
    let flags: Vec<u64> = data["bars"]["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_u64().unwrap())
        .collect();
    assert_eq!(flags.iter().filter(|&&f| f & 1 == 1).count(), 1);
    assert!(
        data["computations"][0]["outcome"]
            .as_str()
            .unwrap()
            .starts_with("failed: ")
    );
}

/// A run of `n` leaves summed 100 at a time, then in one task.
pub(crate) fn wide(n: usize) -> (Graph, taskloom::Handle<usize>) {
    let mut g = Graph::with_capacity(n + n / 100 + 1, n + n / 100);
    let leaves: Vec<_> = (0..n)
        .map(|i| g.add(("leaf", i), (), || 1_usize).unwrap())
        .collect();
    let sums: Vec<_> = leaves
        .chunks(100)
        .enumerate()
        .map(|(i, c)| {
            g.add(("part", i), c, |xs: &[&usize]| {
                xs.iter().copied().sum::<usize>()
            })
            .unwrap()
        })
        .collect();
    let total = g
        .add("total", &sums[..], |xs: &[&usize]| {
            xs.iter().copied().sum::<usize>()
        })
        .unwrap();
    (g, total)
}

#[tokio::test]
async fn past_a_screen_of_bars_tasks_are_binned() {
    let n = DETAIL_LIMIT + 5_000;
    let (g, total) = wide(n);
    let report = Arc::new(Report::new());
    report.graph(&g);
    let options = ComputeOptions::new().shared_callback(report.clone());
    let sum = Scheduler::threads(2)
        .unwrap()
        .compute_with(&g, &total, options)
        .await
        .unwrap();
    assert_eq!(sum, n);

    let html = report.to_html();
    let data = data_of(&html);
    assert_eq!(data["detail"], false);
    assert!(data.get("bars").is_none());
    let bins = &data["bins"];
    let count: u64 = bins["count"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert_eq!(
        count as usize,
        g.len(),
        "every task counted in the bin it started in"
    );
    assert!(bins["lane"].as_array().unwrap().len() <= 20_000);
    assert!(data["held"]["t"].as_array().unwrap().len() <= 2_000);
    // The graph is summarised: leaf, part, total.
    assert_eq!(html.matches("<g class=\"node\">").count(), 3);
    // No key is written past the detail limit: the page stays small.
    assert!(!html.contains("('leaf', 17)"));
    assert!(html.len() < 2_000_000, "{} bytes", html.len());
}
