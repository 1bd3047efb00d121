#!/usr/bin/env python3
"""The pipeline of taskloom's `resident` example on Dask's multiprocessing scheduler.

Runs as `scripts/py scripts/dask_resident.py` (the project's Python environment):

    scripts/py scripts/dask_resident.py [--workers N] [--mib M] [--chunks C] [--optimize]

C chunks (default 1,000) of M MiB of float64 (default 1): each made in a worker
(`make`, like taskloom's: the values i*len .. i*len+len-1), mapped twice (+1, then
*2), reduced to its sum, and the sums added up in a tree of fan-in 8: the graph of
`((x + 1) * 2).sum(split_every=8)` with one task per step, as taskloom's example
builds it. Computed with `dask.multiprocessing.get` on a pool of N processes, which
sends every result back to the parent and every input out again, as Dask's local
schedulers do.

By default the graph is run as built (Dask's `optimize_graph=False`, the graph
taskloom runs); `--optimize` lets Dask fuse each chunk's steps into one task first
(its blockwise fusion: then only the sums cross), for comparison.

Timed: one `compute` of the prebuilt collection. Prints one JSON line:
{"executor": "dask-processes", "optimize": ..., "chunks", "mib", "workers",
"bytes_produced", "seconds"} where bytes_produced counts the chunk results (3 per
chunk) as taskloom's example does.
"""
import argparse
import importlib.util
import json
import multiprocessing
import sys
import time

# Outside the project's Python environment, say which one to use rather than fail
# on an import.
_missing = [m for m in ('dask', 'numpy') if importlib.util.find_spec(m) is None]
if _missing:
    sys.exit(f"dask_resident.py: no module named {', '.join(_missing)}: run it as "
             "`scripts/py scripts/dask_resident.py ...` (the project's Python environment)")

import dask  # noqa: E402
import dask.multiprocessing
import numpy as np
from dask.delayed import delayed

FAN_IN = 8


def make(i, n):
    return np.arange(i * n, (i + 1) * n, dtype=np.float64)


def add_one(x):
    return x + 1.0


def double(x):
    return x * 2.0


def partial(x):
    return float(x.sum())


def combine(*xs):
    return float(sum(xs))


def pipeline(chunks, n):
    level = []
    for i in range(chunks):
        x = delayed(make, pure=True)(i, n, dask_key_name=("make", i))
        y = delayed(add_one, pure=True)(x, dask_key_name=("add_one", i))
        z = delayed(double, pure=True)(y, dask_key_name=("double", i))
        level.append(delayed(partial, pure=True)(z, dask_key_name=("partial", i)))
    depth = 0
    while len(level) > 1:
        depth += 1
        level = [
            delayed(combine, pure=True)(*level[j : j + FAN_IN], dask_key_name=("combine", depth, j // FAN_IN))
            for j in range(0, len(level), FAN_IN)
        ]
    total = chunks * n
    return level[0], (total - 1) * total + 2 * total


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--mib", type=float, default=1.0)
    parser.add_argument("--chunks", type=int, default=1000)
    parser.add_argument("--optimize", action="store_true")
    args = parser.parse_args()
    n = max(1, round(args.mib * 1024 * 1024 / 8))
    graph, expected = pipeline(args.chunks, n)
    # A pool of the size asked for, started before the clock (as taskloom's workers are).
    context = multiprocessing.get_context("spawn")
    with context.Pool(args.workers) as pool:
        pool.map(abs, range(args.workers))
        started = time.perf_counter()
        (out,) = dask.compute(
            graph,
            scheduler="processes",
            pool=pool,
            optimize_graph=args.optimize,
        )
        seconds = time.perf_counter() - started
    if abs(out - expected) > abs(expected) * 1e-9:
        raise SystemExit(f"total {out}, expected {expected}")
    print(
        json.dumps(
            {
                "executor": "dask-processes",
                "optimize": args.optimize,
                "chunks": args.chunks,
                "mib": args.mib,
                "workers": args.workers,
                "bytes_produced": 3 * args.chunks * n * 8,
                "seconds": round(seconds, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
