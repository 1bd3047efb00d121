#!/usr/bin/env python3
"""Memory pressure and run time of `dask.order.order` on graphs in the JSON graph format.

Runs as `scripts/py scripts/dask_order_pressure.py` (the project's Python environment):

    scripts/py scripts/dask_order_pressure.py [--runs 5] [--seeds 1] GRAPH.json...
    scripts/py scripts/dask_order_pressure.py --seeds 5 benches/graphs/*.json

Builds each graph as a Dask dict the way scripts/dask_overhead.py does (every
task a no-op over its dependencies, keys as the strings stored in the file), times
`dask.order.order` (median of --runs), then runs `dask.order.diagnostics` with that
order. Prints one JSON line per graph:
  {"system", "graph", "tasks", "edges", "max_pressure", "order_ms", "ms_per_100k"}
`max_pressure` is `max(diagnostics(dsk, o)[1])`: the most results held at once when one
worker runs the tasks in priority order (sinks are not counted, as in Dask). Same
schema as taskloom's `order_pressure` example, so the two outputs can be joined.

dask.order iterates Python sets, so its order (and pressure) can change with the
interpreter's hash seed. With --seeds N the measurement is repeated in N interpreters
with PYTHONHASHSEED=0..N-1; max_pressure is then the lowest seen (Dask at its best),
max_pressure_worst the highest, and order_ms the median over all runs.
"""
import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

# Outside the project's Python environment, say which one to use rather than fail
# on an import.
_missing = [m for m in ('dask',) if importlib.util.find_spec(m) is None]
if _missing:
    sys.exit(f"dask_order_pressure.py: no module named {', '.join(_missing)}: run it as "
             "`scripts/py scripts/dask_order_pressure.py ...` (the project's Python environment)")


def noop(*args):
    return None


def load(path):
    with open(path) as f:
        g = json.load(f)
    dsk = {t["key"]: (noop, *t["deps"]) for t in g["tasks"]}
    edges = sum(len(t["deps"]) for t in g["tasks"])
    return g["name"], dsk, edges


def graph_files(paths):
    """The graph files among `paths` (the folder's index.json is not one)."""
    return [p for p in paths if os.path.basename(p) != "index.json"]


def measure(paths, runs):
    import dask
    from dask.order import diagnostics, order

    for path in graph_files(paths):
        name, dsk, edges = load(path)
        times = []
        o = None
        for _ in range(max(1, runs)):
            t0 = time.perf_counter()
            o = order(dsk)
            times.append(time.perf_counter() - t0)
        _, pressure = diagnostics(dsk, o=o)
        yield {
            "system": f"dask {dask.__version__}", "graph": name, "tasks": len(dsk),
            "edges": edges, "max_pressure": max(pressure, default=0),
            "order_ms": statistics.median(times) * 1e3, "times_ms": [t * 1e3 for t in times],
        }


def summary(rows):
    """One line per graph from the rows of several seeds (one row per seed)."""
    first = rows[0]
    times = [t for r in rows for t in r["times_ms"]]
    med = statistics.median(times)
    out = {k: first[k] for k in ("system", "graph", "tasks", "edges")}
    out["max_pressure"] = min(r["max_pressure"] for r in rows)
    if len(rows) > 1:
        out["max_pressure_worst"] = max(r["max_pressure"] for r in rows)
        out["seeds"] = len(rows)
    out["order_ms"] = med
    out["ms_per_100k"] = med / max(first["tasks"], 1) * 1e5
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("graphs", nargs="+")
    ap.add_argument("--runs", type=int, default=5, help="timed runs of order() per graph")
    ap.add_argument("--seeds", type=int, default=1,
                    help="repeat in this many interpreters with PYTHONHASHSEED=0..N-1")
    ap.add_argument("--raw", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.raw:  # a child of --seeds: one row per graph, times included
        for row in measure(args.graphs, args.runs):
            print(json.dumps(row), flush=True)
        return
    if args.seeds <= 1:
        for row in measure(args.graphs, args.runs):
            print(json.dumps(summary([row])), flush=True)
        return
    by_graph = {}
    for seed in range(args.seeds):
        env = dict(os.environ, PYTHONHASHSEED=str(seed))
        out = subprocess.run(
            [sys.executable, __file__, "--raw", "--runs", str(args.runs), *args.graphs],
            env=env, check=True, capture_output=True, text=True,
        ).stdout
        for line in out.splitlines():
            row = json.loads(line)
            by_graph.setdefault(row["graph"], []).append(row)
    for rows in by_graph.values():
        print(json.dumps(summary(rows)), flush=True)


if __name__ == "__main__":
    main()
