#!/usr/bin/env python3
"""µs per task: taskloom's Dask schedulers against Dask's own, side by side, one run.

Run in the test virtualenv (scripts/test.sh makes it and installs the package):

    target/py-venv/bin/python scripts/bench_dask.py [--runs 7] [--workers 2]

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
import json
import os
import statistics
import sys
import time
from operator import add

import numpy as np
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=7, help="timed runs per cell (median)")
    ap.add_argument("--workers", type=int, default=2, help="threads of both pools")
    ap.add_argument("--json", help="also write one JSON line per cell to this file")
    args = ap.parse_args()

    rows = []
    for name, collection, options in workloads():
        dsk, keys = noop_graph() if collection is None else captured(collection, options)
        n = len(dsk)
        run_bare = bare(dsk)
        functions = {"bare": lambda: run_bare(dsk, keys)}
        for sched, get in schedulers(args.workers).items():
            functions[sched] = lambda get=get: get(dsk, keys)
        rows.append((name, n, median_times(functions, args.runs)))
        print(f"# {name}: {n} tasks done", file=sys.stderr)

    print(f"\nµs per task (median of {args.runs} runs; {args.workers} workers for the pools)\n")
    cols = ["taskloom.get", "taskloom.get_sync", "dask threads", "dask sync", "bare"]
    print("| workload | tasks | " + " | ".join(cols) + " |")
    print("|---|---:|" + "---:|" * len(cols))
    for name, n, t in rows:
        print(f"| {name} | {n} | " + " | ".join(f"{t[c] / n * 1e6:.1f}" for c in cols) + " |")

    print("\noverhead µs per task (minus bare), and Dask threads' overhead / taskloom.get's\n")
    cols = ["taskloom.get", "taskloom.get_sync", "dask threads", "dask sync"]
    print("| workload | " + " | ".join(cols) + " | threads ratio |")
    print("|---|" + "---:|" * (len(cols) + 1))
    for name, n, t in rows:
        over = {c: (t[c] - t["bare"]) / n * 1e6 for c in cols}
        ratio = over["dask threads"] / over["taskloom.get"] if over["taskloom.get"] > 0 else float("inf")
        print(f"| {name} | " + " | ".join(f"{over[c]:.1f}" for c in cols) + f" | {ratio:.0f}× |")

    # The seed's own method: compute() end to end, many chunks against one chunk.
    big, small = da.ones(1000, chunks=2).sum(), da.ones(1000, chunks=1000).sum()
    n = len(big.__dask_graph__())
    print(f"\nThe seed's example end to end: x.compute(scheduler=...), {n} tasks before optimization\n")
    print("| scheduler | chunks=2 ms | chunks=1000 ms | (difference) / tasks, µs |")
    print("|---|---:|---:|---:|")
    functions = {}
    for sched, get in [
        ("taskloom.get", lambda d, k, **kw: taskloom.get(d, k, num_workers=args.workers)),
        ("taskloom.get_sync", taskloom.get_sync),
        ("dask threads", lambda d, k, **kw: dask_threads(d, k, num_workers=args.workers)),
        ("dask sync", dask_sync),
    ]:
        functions[(sched, "big")] = lambda get=get: big.compute(scheduler=get)
        functions[(sched, "small")] = lambda get=get: small.compute(scheduler=get)
    medians = median_times(functions, args.runs)
    end_to_end = {}
    for sched in dict.fromkeys(s for s, _ in functions):
        tb, ts = medians[(sched, "big")], medians[(sched, "small")]
        end_to_end[sched] = (tb, ts)
        print(f"| {sched} | {tb * 1e3:.1f} | {ts * 1e3:.2f} | {(tb - ts) / n * 1e6:.1f} |")

    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(f"\nload average at the end: {load}; dask {dask.__version__}, numpy {np.__version__}, "
          f"pandas {pd.__version__}, Python {sys.version.split()[0]}")
    if args.json:
        with open(args.json, "a") as f:
            for name, n, t in rows:
                f.write(json.dumps({"workload": name, "tasks": n, "seconds": t, "runs": args.runs,
                                    "workers": args.workers, "load": load}) + "\n")
            f.write(json.dumps({"workload": "seed end to end", "tasks": n, "seconds": end_to_end,
                                "runs": args.runs, "workers": args.workers, "load": load}) + "\n")


if __name__ == "__main__":
    main()
