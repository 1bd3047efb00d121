"""``taskloom.visualize`` and ``taskloom.report``: pictures of a graph before it runs
and of a run after it."""

import json
import re

import pytest

import taskloom

da = pytest.importorskip("dask.array")


def seed_sum():
    """The seed's example, ``da.ones(1000, chunks=2).sum()``: 1,168 tasks."""
    return da.ones(1000, chunks=2).sum()


def report_data(path):
    html = path.read_text(encoding="utf-8")
    found = re.search(r'<script type="application/json" id="data">(.*?)</script>', html, re.S)
    return html, json.loads(found.group(1))


def test_visualize_writes_an_svg_coloured_by_order(tmp_path):
    path = tmp_path / "graph.svg"
    svg = taskloom.visualize(seed_sum(), filename=str(path), color="order")
    assert path.read_text(encoding="utf-8") == svg
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert svg.count('<g class="node">') == 1168
    assert "static order: rank in the plan" in svg
    assert "#440154" in svg and "#fde725" in svg  # viridis, first and last


def test_visualize_writes_dot_and_other_colourings(tmp_path):
    x = da.ones(8, chunks=2).sum()
    dot = taskloom.visualize(x, filename=str(tmp_path / "g.dot"), color="pressure")
    assert dot.startswith('digraph "taskloom"')
    assert "memory pressure" in dot
    assert " -> " in dot
    critical = taskloom.visualize(x, filename=None, color="critical-path", colormap="cividis")
    assert "critical path" in critical and "#00224e" in critical
    with pytest.raises(ValueError, match="rainbow"):
        taskloom.visualize(x, filename=None, color="rainbow")
    with pytest.raises(ValueError, match=".png"):
        taskloom.visualize(x, filename=str(tmp_path / "g.png"))


def test_visualize_summarises_big_graphs():
    x = (da.ones(6000, chunks=2) + 1).sum()
    svg = taskloom.visualize(x, filename=None)
    groups = svg.count('<g class="node">')
    assert 3 <= groups <= 10, groups
    assert "groups of keys" in svg


def test_visualize_takes_a_graph_and_keys():
    from operator import add

    dsk = {"a": 1, "<b>": (add, "a", 1), "c": (add, "<b>", "a")}
    dot = taskloom.visualize(dsk, keys="c", filename=None)
    assert "&lt;b&gt;" in dot  # the key as text in the SVG
    assert "<b>" not in dot


def test_report_records_every_task_of_the_block(tmp_path):
    path = tmp_path / "run.html"
    with taskloom.report(str(path), title="the seed's sum") as r:
        assert int(seed_sum().compute(scheduler=taskloom.get)) == 1000
        assert int(da.ones(10, chunks=5).sum().compute(scheduler=taskloom.get_sync)) == 10
    html, data = report_data(path)
    assert html.startswith("<!doctype html>")
    assert "<title>the seed&#39;s sum</title>" in html
    assert len(data["computations"]) == 2
    # Every task that ran is a bar.
    assert data["tasks"] == len(r) == len(data["bars"]["key"])
    # compute() hands the scheduler Dask's optimised graph: chunks and their sums fused.
    assert data["tasks"] >= 500
    assert any(lane.startswith("thread-") for lane in data["lanes"])
    assert "inline" in data["lanes"]
    functions = {row["fn"] for row in data["table"]}
    assert any(f.startswith("sum") for f in functions), functions
    assert '<div id="graph"><svg' in html


def test_report_of_one_call_and_of_a_failure(tmp_path):
    from operator import add

    def boom(x):
        raise ZeroDivisionError("<no>")

    dsk = {"a": 1, "b": (add, "a", 1), "c": (boom, "b")}
    path = tmp_path / "one.html"
    assert taskloom.get(dsk, "b", report=str(path)) == 2
    _, data = report_data(path)
    assert sorted(data["bars"]["key"]) == ["a", "b"]  # the literal is a task of the graph

    failed = tmp_path / "failed.html"
    with pytest.raises(ZeroDivisionError):
        with taskloom.report(str(failed)):
            taskloom.get(dsk, "c")
    html, data = report_data(failed)
    assert data["failedCount"] == 1
    assert data["failures"][0]["key"] == "c"
    assert "<no>" in data["failures"][0]["error"]
    assert "<no>" not in html
