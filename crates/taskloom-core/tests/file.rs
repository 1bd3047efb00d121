//! Loading the shared JSON graph format.

#![allow(clippy::unwrap_used)] // tests panic on unexpected errors by design

use taskloom_core::file::{FileError, load_json};
use taskloom_core::{GraphError, Key};

#[test]
fn loads_tuple_keys_and_targets() {
    let g = load_json(
        r#"{"name": "sum", "tasks": [
            {"key": "total", "deps": ["('x', 0)", "('x', 1)"]},
            {"key": "('x', 1)", "deps": []},
            {"key": "('x', 0)", "deps": []}],
           "targets": ["total"]}"#,
    )
    .unwrap();
    assert_eq!(g.name, "sum");
    assert_eq!(g.graph.len(), 3);
    let x0 = g.graph.id(&Key::tuple("x", [0])).unwrap();
    let total = g.graph.id(&Key::from("total")).unwrap();
    assert_eq!(g.targets, [total]);
    assert_eq!(g.graph.deps(total)[0], x0);
}

#[test]
fn malformed_json_is_an_error() {
    let err = load_json(r#"{"name": "x", "tasks": [{"key": 3}]}"#).unwrap_err();
    assert!(matches!(err, FileError::Json(_)), "{err}");
    assert!(err.to_string().starts_with("malformed graph file"));
}

#[test]
fn graph_errors_name_keys() {
    let missing = r#"{"name": "x", "tasks": [{"key": "a", "deps": ["b"]}], "targets": ["a"]}"#;
    assert!(matches!(
        load_json(missing),
        Err(FileError::Graph(GraphError::MissingDependency { .. }))
    ));
    let unknown = r#"{"name": "x", "tasks": [{"key": "a", "deps": []}], "targets": ["zz"]}"#;
    let err = load_json(unknown).unwrap_err();
    assert_eq!(err.to_string(), "requested key `zz` is not in the graph");
    let dup = r#"{"name": "x", "tasks": [{"key": "a", "deps": []}, {"key": "a", "deps": []}],
                  "targets": ["a"]}"#;
    assert!(matches!(
        load_json(dup),
        Err(FileError::Graph(GraphError::DuplicateKey { .. }))
    ));
}
