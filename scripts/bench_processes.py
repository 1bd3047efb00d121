#!/usr/bin/env python3
"""taskloom's process scheduler against Dask's, and against taskloom's threads.

Runs as `scripts/py scripts/bench_processes.py` (the project's Python environment,
with the taskloom wheel installed):

    scripts/py scripts/bench_processes.py [--runs 3] [--workers 2] [--json F] [--small]
                                          [--only seed,matmul,bag]
    scripts/py scripts/bench_processes.py --tables F   # medians of the runs in F

Three workloads, each a record (one JSON line):

- ``bag``: pure-Python CPU work, the GIL held throughout: a dask.bag of 400 items in
  40 partitions, each item a 200,000-step Python loop; ``x.compute(scheduler=...)``
  under taskloom's processes, Dask's processes, taskloom's threads and Dask's
  threads.
- ``seed``: overhead per task on the seed's example, ``da.ones(1000, chunks=2)
  .sum()``, measured as ``scripts/bench_dask.py`` measures it: the graph ``compute``
  hands a scheduler, converted once, ``get(dsk, keys)`` timed against ``bare`` (a
  Python loop calling every node in order); Dask's process scheduler both as users
  call it (a pool started per call) and with its pool kept (``pool=``).
- ``matmul``: numpy work on processes, ``(x @ x.T).sum()`` with ``x =
  da.random.random((4000, 4000), chunks=500)``: seconds, and the bytes taskloom's
  tasks produced against the bytes that crossed the parent (its ``traffic``).

Rounds are interleaved (one run of each scheduler in turn), so a change in the
machine's load touches every column alike. ``--small`` shrinks every workload (a
quick check that the script runs; its figures mean nothing).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor

_missing = [m for m in ("dask", "numpy", "taskloom") if importlib.util.find_spec(m) is None]
if _missing:
    sys.exit(f"bench_processes.py: no module named {', '.join(_missing)}: run it as "
             "`scripts/py scripts/bench_processes.py ...` (the project's Python environment)")

import multiprocessing  # noqa: E402

import dask  # noqa: E402
import dask.array as da  # noqa: E402
import dask.bag as db  # noqa: E402
import numpy as np  # noqa: E402
from dask._task_spec import convert_legacy_graph  # noqa: E402
from dask.core import toposort  # noqa: E402
from dask.local import get_sync as dask_sync  # noqa: E402
from dask.multiprocessing import get as dask_processes  # noqa: E402
from dask.threaded import get as dask_threads  # noqa: E402

import taskloom  # noqa: E402
import taskloom.multiprocessing  # noqa: E402


def spin(x, steps):
    """Pure-Python CPU work: the GIL is held throughout."""
    total = 0
    for i in range(steps):
        total += (x * i) % 7
    return total


def median_times(functions, runs):
    """Median seconds of each function over ``runs`` interleaved rounds, after one
    warm-up call each (pools started)."""
    for f in functions.values():
        f()
    times = {name: [] for name in functions}
    for _ in range(runs):
        for name, f in functions.items():
            t0 = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def captured(collection):
    """The graph and keys ``compute`` hands a scheduler, as a converted dict."""
    seen = {}

    def capture(dsk, keys, **kwargs):
        seen["dsk"], seen["keys"] = dsk, keys
        return dask_sync(dsk, keys, **kwargs)

    dask.compute(collection, scheduler=capture)
    dsk = seen["dsk"]
    if not isinstance(dsk, dict):
        dsk = dsk.__dask_graph__()
    return convert_legacy_graph(dict(dsk)), seen["keys"]


def bare(dsk):
    order = toposort(dsk)

    def run(keys):
        cache = {}
        for key in order:
            node = dsk[key]
            cache[key] = node({d: cache[d] for d in node.dependencies})
        return cache

    return run


def bag(runs, workers, small):
    items, steps, parts = (40, 20_000, 8) if small else (400, 200_000, 40)
    b = db.from_sequence(range(items), npartitions=parts).map(spin, steps=steps).sum()
    expected = b.compute(scheduler="sync")
    schedulers = {
        "taskloom processes": taskloom.multiprocessing.get,
        "dask processes": dask_processes,
        "taskloom.get": taskloom.get,
        "dask threads": dask_threads,
    }

    def run(get):
        def f():
            assert b.compute(scheduler=get, num_workers=workers) == expected
        return f

    seconds = median_times({n: run(g) for n, g in schedulers.items()}, runs)
    return {"workload": "bag", "items": items, "steps": steps, "partitions": parts,
            "seconds": seconds}


def seed(runs, workers, small):
    x = da.ones(200 if small else 1000, chunks=2).sum()
    dsk, keys = captured(x)
    run_bare = bare(dsk)
    spawn = multiprocessing.get_context("spawn")
    kept = ProcessPoolExecutor(workers, mp_context=spawn)
    try:
        functions = {
            "bare": lambda: run_bare(keys),
            "taskloom processes": lambda: taskloom.multiprocessing.get(
                dsk, keys, num_workers=workers),
            "dask processes": lambda: dask_processes(dsk, keys, num_workers=workers),
            "dask processes, pool kept": lambda: dask_processes(dsk, keys, pool=kept),
        }
        seconds = median_times(functions, runs)
    finally:
        kept.shutdown()
    return {"workload": "seed", "tasks": len(dsk), "seconds": seconds}


def matmul(runs, workers, small):
    n, chunk = (1000, 250) if small else (4000, 500)
    x = da.random.random((n, n), chunks=chunk)
    y = (x @ x.T).sum()
    pool = taskloom.multiprocessing.pool(workers)
    functions = {
        "taskloom processes": lambda: y.compute(
            scheduler=taskloom.multiprocessing.get, num_workers=workers),
        "dask processes": lambda: y.compute(scheduler=dask_processes, num_workers=workers),
    }
    seconds = median_times(functions, runs)
    traffic = pool.traffic()
    return {"workload": "matmul", "n": n, "chunks": chunk, "seconds": seconds,
            "traffic": traffic}


WORKLOADS = {"seed": seed, "matmul": matmul, "bag": bag}


def measure(runs, workers, small, only, out):
    """Runs each workload of ``only``, printing its figures and appending its record
    to ``out`` (a path, or ``None``) as soon as it ends."""
    versions = {"dask": dask.__version__, "numpy": np.__version__,
                "python": ".".join(map(str, sys.version_info[:3]))}
    for name in only:
        load = list(os.getloadavg())
        record = WORKLOADS[name](runs, workers, small)
        record.update({"runs": runs, "workers": workers, "load": load, "versions": versions})
        print(tables([record]), flush=True)
        if out:
            with open(out, "a") as f:
                f.write(json.dumps(record) + "\n")


def tables(records):
    """The figures of ``records`` (medians across records of a workload), as text."""
    out = []
    by = {}
    for r in records:
        by.setdefault(r["workload"], []).append(r)

    def med(rs, col):
        return statistics.median(r["seconds"][col] for r in rs)

    if "seed" in by:
        rs = by["seed"]
        n = rs[0]["tasks"]
        bare_s = med(rs, "bare")
        out.append(f"seed ({n} tasks): overhead µs per task over bare")
        tl = (med(rs, "taskloom processes") - bare_s) / n * 1e6
        for col in ["taskloom processes", "dask processes", "dask processes, pool kept"]:
            over = (med(rs, col) - bare_s) / n * 1e6
            ratio = "" if col == "taskloom processes" else f"  ({over / tl:.0f}× taskloom's)"
            out.append(f"  {col:28} {over:10.1f}{ratio}")
    if "matmul" in by:
        rs = by["matmul"]
        t = rs[-1].get("traffic") or {}
        through = t.get("to_parent", 0) + t.get("from_parent", 0)
        produced = t.get("produced", 0)
        share = f"{100 * through / produced:.2f} %" if produced else "n/a"
        out.append(f"matmul {rs[0]['n']}² in {rs[0]['chunks']}² chunks: seconds "
                   f"taskloom {med(rs, 'taskloom processes'):.2f}, dask {med(rs, 'dask processes'):.2f}; "
                   f"through the parent {through:,} of {produced:,} bytes produced ({share})")
    if "bag" in by:
        rs = by["bag"]
        cols = ["taskloom processes", "dask processes", "taskloom.get", "dask threads"]
        out.append("bag: seconds " + ", ".join(f"{c} {med(rs, c):.2f}" for c in cols)
                   + f"; taskloom.get / taskloom processes "
                   f"{med(rs, 'taskloom.get') / med(rs, 'taskloom processes'):.2f}×")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", help="append the records (one JSON line each) to this file")
    ap.add_argument("--small", action="store_true", help="tiny workloads: checks the script")
    ap.add_argument("--only", default=",".join(WORKLOADS),
                    help="comma-separated workloads to run (default: all)")
    ap.add_argument("--tables", metavar="F", help="print the tables of the records in F")
    args = ap.parse_args()
    if args.tables:
        with open(args.tables) as f:
            print(tables([json.loads(line) for line in f if line.strip()]))
        return
    only = [w for w in args.only.split(",") if w]
    unknown = [w for w in only if w not in WORKLOADS]
    if unknown:
        ap.error(f"unknown workload(s) {', '.join(unknown)}; known: {', '.join(WORKLOADS)}")
    measure(args.runs, args.workers, args.small, only, args.json)


if __name__ == "__main__":
    main()
