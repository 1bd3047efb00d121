#!/usr/bin/env python3
"""Granularity on Dask's threaded scheduler: the workload of taskloom's `grain` example.

Runs as `scripts/py scripts/dask_grain.py` (the project's Python environment;
tools/benchplot/grain.sh runs it so):

    scripts/py scripts/dask_grain.py [--workers N] [--lengths 1,10,100,1000] [--runs 5]

For each task length (µs), n = min(100000, max(1000, 200000 // length)) independent
tasks of calibrated numpy work, then a tree reduction with fan-in 8 over their
results, computed with `dask.threaded.get` on a pool of 1 to N threads. Same n, same
tree, same statistics as examples/grain.rs and benches/taskflow/grain.cpp.

The work releases the GIL: one `numpy.cos` over m float64 values into a per-thread
buffer (numpy releases the GIL inside a ufunc's loop over more than 500 elements), m
calibrated so that one whole task call, Python overhead included, takes the length.
A Python call costs about a microsecond, so the 1 µs tasks are mostly GIL-held
overhead: `task_us_measured` says what one call really took.

Timed: one whole `get` on the prebuilt graph dict (Dask converts, orders and sets up
its state inside), one untimed warm-up, then --runs timed runs; best and median.
Efficiency = ideal / measured with ideal = n * length / workers; `serial_s` is the n
leaf calls in a plain loop (the calibration's drift), `efficiency_serial_*` divide
that by the workers instead. One JSON line per (length, workers), in the schema of
taskloom's `grain` example.
"""
import argparse
import importlib.util
import json
import os
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

# Outside the project's Python environment, say which one to use rather than fail
# on an import.
_missing = [m for m in ('dask', 'numpy') if importlib.util.find_spec(m) is None]
if _missing:
    sys.exit(f"dask_grain.py: no module named {', '.join(_missing)}: run it as "
             "`scripts/py scripts/dask_grain.py ...` (the project's Python environment)")

import numpy as np  # noqa: E402

SOURCE = np.linspace(0.0, 1.0, 1_000_000)
LOCAL = threading.local()


def spin(i, m):
    """One task's work: cos of m values into this thread's buffer (GIL released)."""
    out = getattr(LOCAL, "out", None)
    if out is None or len(out) < m:
        out = LOCAL.out = np.empty(max(m, 1024))
    np.cos(SOURCE[:m], out=out[:m])
    return float(out[i % m]) + i


def combine(*xs):
    return sum(xs)


def call_time(m, calls):
    """Median time of one call of spin(., m), over `calls` calls, in 7 rounds."""
    rounds = []
    for _ in range(7):
        t0 = time.perf_counter()
        for i in range(calls):
            spin(i, m)
        rounds.append((time.perf_counter() - t0) / calls)
    return statistics.median(rounds)


def calibrate(target_s):
    """The m whose call takes about target_s (at least 1), and the time it takes."""
    calls = max(10, int(0.01 / target_s))
    lo, hi = 1, 1
    while call_time(hi, calls) < target_s and hi < len(SOURCE):
        lo, hi = hi, min(hi * 2, len(SOURCE))
    while hi - lo > max(1, lo // 64):
        mid = (lo + hi) // 2
        if call_time(mid, calls) < target_s:
            lo = mid
        else:
            hi = mid
    return hi, call_time(hi, calls)


def graph(n, m):
    dsk = {("leaf", i): (spin, i, m) for i in range(n)}
    layer = [("leaf", i) for i in range(n)]
    level = 0
    while len(layer) > 1:
        level += 1
        nxt = []
        for j in range(0, len(layer), 8):
            key = ("sum", level, j // 8)
            dsk[key] = (combine, *layer[j:j + 8])
            nxt.append(key)
        layer = nxt
    return dsk, layer[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--lengths", default="1,10,100,1000")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    import dask
    import dask.threaded

    for us in [int(x) for x in args.lengths.split(",")]:
        m, measured = calibrate(us * 1e-6)
        n = min(100_000, max(1000, 200_000 // us))
        dsk, root = graph(n, m)
        for w in range(1, args.workers + 1):
            pool = ThreadPoolExecutor(w)
            get = lambda: dask.threaded.get(dsk, root, pool=pool)
            expected = get()  # warm-up
            t0 = time.perf_counter()
            for i in range(n):
                spin(i, m)
            serial = time.perf_counter() - t0
            times = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                out = get()
                times.append(time.perf_counter() - t0)
                assert out == expected
            pool.shutdown()
            times.sort()
            best, median = times[0], times[len(times) // 2]
            ideal = n * us * 1e-6 / w
            print(json.dumps({
                "system": f"dask {dask.__version__}", "executor": "threads",
                "task_us": us, "task_us_measured": measured * 1e6, "elements": m,
                "tasks": n, "graph_tasks": len(dsk), "workers": w, "runs": len(times),
                "best_s": best, "median_s": median, "ideal_s": ideal, "serial_s": serial,
                "efficiency_best": ideal / best, "efficiency_median": ideal / median,
                "efficiency_serial_best": serial / w / best,
                "efficiency_serial_median": serial / w / median,
            }), flush=True)


if __name__ == "__main__":
    sys.exit(main())
