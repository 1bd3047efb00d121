#!/usr/bin/env python3
"""µs per task: taskloom's Dask schedulers against Dask's own, side by side, one run.

Runs as `scripts/py scripts/bench_dask.py` (the project's Python environment, with the
taskloom package built and installed):

    scripts/py scripts/bench_dask.py [--runs 7] [--workers 2] [--json F]
    scripts/py scripts/bench_dask.py --tables F   # medians of the runs in F

For each workload it captures the graph that ``compute`` hands a scheduler (optimized,
as ``compute`` optimizes it), converts it once with Dask's ``convert_legacy_graph``,
and times ``get(dsk, keys)`` for each scheduler on that same dict:

  taskloom.get        taskloom's thread pool (``--workers`` threads)
  taskloom.get_sync   taskloom, every task inline on the calling thread
  dask threads        dask.threaded.get (``--workers`` threads)
  dask sync           dask.local.get_sync
  bare                a Python loop calling every node in a precomputed topological
                      order with a dict of results: the work itself, no scheduler

Runs are interleaved (one run of each scheduler in turn, ``--runs`` rounds), so a
change in the machine's load touches every column alike. µs/task is the median time
divided by the number of tasks;
overhead/task is the same minus bare's: what a scheduler adds to the tasks' own work,
Python call costs (GIL, building each task's ``values`` dict, calling it) included.
A last table times the seed's example end to end, ``x.compute(scheduler=...)``, graph
optimization included, against the one-chunk array (the seed's own method).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import time
from operator import add

# Outside the project's Python environment, say which one to use rather than fail
# on an import.
_missing = [m for m in ('dask', 'numpy', 'pandas', 'taskloom') if importlib.util.find_spec(m) is None]
if _missing:
    sys.exit(f"bench_dask.py: no module named {', '.join(_missing)}: run it as "
             "`scripts/py scripts/bench_dask.py ...` (the project's Python environment)")

import numpy as np  # noqa: E402
import pandas as pd

import dask
import dask.array as da
import dask.bag as db
import dask.dataframe as dd
from dask._task_spec import convert_legacy_graph
from dask.core import toposort
from dask.local import get_sync as dask_sync
from dask.threaded import get as dask_threads

import taskloom


def workloads():
    """(name, collection, compute options): the seed's example and real collections."""
    rng = da.random.default_rng(0)
    a = rng.random((2_000, 2_000), chunks=(100, 100))
    pdf = pd.DataFrame(
        {
            "key": np.random.default_rng(0).integers(0, 100, 1_000_000),
            "x": np.random.default_rng(1).random(1_000_000),
        }
    )
    seed = da.ones(1000, chunks=2).sum()
    return [
        ("seed: da.ones(1000, chunks=2).sum()", seed, {}),
        ("seed, optimize_graph=False", seed, {"optimize_graph": False}),
        ("array: mean(axis=0), 2000² in 100² chunks", a.mean(axis=0), {}),
        ("array: std(), 2000² in 100² chunks", a.std(), {}),
        ("array: (x + x.T).sum(), 50² chunks", (a.rechunk(50) + a.rechunk(50).T).sum(), {}),
        (
            "bag: foldby, 100k items, 100 partitions",
            db.from_sequence(range(100_000), npartitions=100).foldby(
                lambda x: x % 10, add, 0, add, 0
            ),
            {},
        ),
        (
            "dataframe: groupby mean, 1M rows, 100 partitions",
            dd.from_pandas(pdf, npartitions=100).groupby("key").x.mean(),
            {},
        ),
        ("no-op: 100 chains of 100 inc", None, {}),
    ]


def noop_graph():
    from dask.utils_test import inc

    dsk = {}
    for c in range(100):
        dsk[("c", c, 0)] = 0
        for i in range(1, 100):
            dsk[("c", c, i)] = (inc, ("c", c, i - 1))
    return convert_legacy_graph(dsk), [("c", c, 99) for c in range(100)]


def captured(collection, options):
    """The graph and keys ``compute`` hands a scheduler, as a converted dict."""
    seen = {}

    def capture(dsk, keys, **kwargs):
        seen["dsk"], seen["keys"] = dsk, keys
        return dask_sync(dsk, keys, **kwargs)

    dask.compute(collection, scheduler=capture, **options)
    dsk = seen["dsk"]
    if not isinstance(dsk, dict):
        dsk = dsk.__dask_graph__()
    return convert_legacy_graph(dict(dsk)), seen["keys"]


def bare(dsk):
    """A scheduler that is no scheduler: every node called once, in order."""
    order = toposort(dsk)

    def run(_dsk, keys, **kwargs):
        cache = {}
        for key in order:
            node = dsk[key]
            cache[key] = node({d: cache[d] for d in node.dependencies})
        return cache

    return run


def median_times(functions, runs):
    """Median seconds of each function, over ``runs`` interleaved rounds."""
    for f in functions.values():
        f()  # warm up: pools started, caches filled
    times = {name: [] for name in functions}
    for _ in range(runs):
        for name, f in functions.items():
            t0 = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def schedulers(workers):
    return {
        "taskloom.get": lambda d, k: taskloom.get(d, k, num_workers=workers),
        "taskloom.get_sync": lambda d, k: taskloom.get_sync(d, k),
        "dask threads": lambda d, k: dask_threads(d, k, num_workers=workers),
        "dask sync": lambda d, k: dask_sync(d, k),
    }


SCHEDULERS = ["taskloom.get", "taskloom.get_sync", "dask threads", "dask sync"]


def measure(runs, workers):
    """One run of every cell: a record per workload, plus one for the seed's example
    end to end (seconds are medians over ``runs`` interleaved rounds)."""
    records = []
    for name, collection, options in workloads():
        dsk, keys = noop_graph() if collection is None else captured(collection, options)
        run_bare = bare(dsk)
        functions = {"bare": lambda: run_bare(dsk, keys)}
        for sched, get in schedulers(workers).items():
            functions[sched] = lambda get=get: get(dsk, keys)
        records.append({"workload": name, "tasks": len(dsk), "seconds": median_times(functions, runs)})
        print(f"# {name}: {len(dsk)} tasks done", file=sys.stderr)

    # The seed's own method: compute() end to end, many chunks against one chunk.
    big, small = da.ones(1000, chunks=2).sum(), da.ones(1000, chunks=1000).sum()
    functions = {}
    for sched, get in [
        ("taskloom.get", lambda d, k, **kw: taskloom.get(d, k, num_workers=workers)),
        ("taskloom.get_sync", taskloom.get_sync),
        ("dask threads", lambda d, k, **kw: dask_threads(d, k, num_workers=workers)),
        ("dask sync", dask_sync),
    ]:
        functions[f"{sched} chunks=2"] = lambda get=get: big.compute(scheduler=get)
        functions[f"{sched} chunks=1000"] = lambda get=get: small.compute(scheduler=get)
    records.append({"workload": END_TO_END, "tasks": len(big.__dask_graph__()),
                    "seconds": median_times(functions, runs)})
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    versions = {"dask": dask.__version__, "numpy": np.__version__, "pandas": pd.__version__,
                "python": sys.version.split()[0]}
    for r in records:
        r.update(runs=runs, workers=workers, load=load, versions=versions)
    return records


END_TO_END = "seed end to end"


def tables(records):
    """Markdown tables of the medians, across records of the same cell, of their
    seconds (one record per cell and run of this script)."""
    cells = {}
    for r in records:
        cells.setdefault(r["workload"], []).append(r)

    def med(rs, col):
        return statistics.median(r["seconds"][col] for r in rs)

    n_runs = max(len(rs) for rs in cells.values())
    rounds = sorted({r["runs"] for r in records})
    loads = [r["load"][0] for r in records if r.get("load")]
    runs_text = f"{n_runs} run{'s' if n_runs > 1 else ''}"
    load_text = f"; load average {min(loads):.1f}–{max(loads):.1f}" if loads else ""
    out = [f"µs per task: medians of {runs_text} of this script, each the median of "
           f"{'/'.join(map(str, rounds))} interleaved rounds; {records[0]['workers']} workers "
           f"for the pools{load_text}.", ""]
    cols = SCHEDULERS + ["bare"]
    out.append("| workload | tasks | " + " | ".join(cols) + " |")
    out.append("|---|---:|" + "---:|" * len(cols))
    work = {k: v for k, v in cells.items() if k != END_TO_END}
    for name, rs in work.items():
        n = rs[0]["tasks"]
        out.append(f"| {name} | {n} | " + " | ".join(f"{med(rs, c) / n * 1e6:.1f}" for c in cols) + " |")

    out += ["", "Overhead µs per task (the scheduler's time minus bare's), and Dask threads' "
            "overhead over taskloom.get's:", ""]
    out.append("| workload | " + " | ".join(SCHEDULERS) + " | dask threads / taskloom.get |")
    out.append("|---|" + "---:|" * (len(SCHEDULERS) + 1))
    for name, rs in work.items():
        n = rs[0]["tasks"]
        over = {c: (med(rs, c) - med(rs, "bare")) / n * 1e6 for c in SCHEDULERS}
        ratio = (f"{over['dask threads'] / over['taskloom.get']:.0f}×"
                 if over["taskloom.get"] > 0 else "(taskloom.get ≤ bare)")
        out.append(f"| {name} | " + " | ".join(f"{over[c]:.1f}" for c in SCHEDULERS) + f" | {ratio} |")

    if END_TO_END in cells:
        rs = cells[END_TO_END]
        n = rs[0]["tasks"]
        out += ["", f"The seed's example end to end, x.compute(scheduler=...) ({n} tasks before "
                "Dask optimizes the graph), the seed's method:", ""]
        out.append("| scheduler | chunks=2 ms | chunks=1000 ms | difference / tasks, µs |")
        out.append("|---|---:|---:|---:|")
        for sched in SCHEDULERS:
            big, small = med(rs, f"{sched} chunks=2"), med(rs, f"{sched} chunks=1000")
            out.append(f"| {sched} | {big * 1e3:.1f} | {small * 1e3:.2f} | {(big - small) / n * 1e6:.1f} |")
    v = records[0]["versions"]
    out += ["", f"dask {v['dask']}, numpy {v['numpy']}, pandas {v['pandas']}, Python {v['python']}"]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=7, help="interleaved rounds per cell (median)")
    ap.add_argument("--workers", type=int, default=2, help="threads of both pools")
    ap.add_argument("--json", help="append the records (one JSON line per cell) to this file")
    ap.add_argument("--tables", metavar="FILE",
                    help="measure nothing: print the tables of the records in FILE "
                         "(medians across the runs recorded there)")
    args = ap.parse_args()
    if args.tables:
        with open(args.tables) as f:
            print(tables([json.loads(line) for line in f if line.strip()]))
        return
    records = measure(args.runs, args.workers)
    if args.json:
        with open(args.json, "a") as f:
            f.writelines(json.dumps(r) + "\n" for r in records)
    print(tables(records))


if __name__ == "__main__":
    main()
