#!/usr/bin/env python3
"""Per-task overhead of Dask's local schedulers on graphs in the JSON graph format.

Runs as `scripts/py scripts/dask_overhead.py` (the project's Python environment, with
Dask and dask.distributed pinned):

  scripts/py scripts/dask_overhead.py [--executors sync,threads,processes,distributed] \
      [--budget-s 20] GRAPH.json...       # e.g. benches/graphs/chains_10k.json

`distributed` is dask.distributed's LocalCluster (worker processes over TCP on loopback,
one thread each): the analogue of taskloom's remote workers.

Every task is a no-op taking its dependencies' results, so the time is scheduler
overhead. Timed: one whole `get` call on a graph dict that is already built (Dask
converts, orders and sets up its state inside `get`). Prints one JSON line per
(graph, executor):
  {"system", "graph", "executor", "workers", "tasks", "edges", "runs",
   "median_s", "min_s", "us_per_task"}
us_per_task = median_s / tasks * 1e6. Same schema as taskloom's overhead example.
"""
import argparse
import importlib.util
import json
import os
import statistics
import sys
import time

# Outside the project's Python environment, say which one to use rather than fail
# on an import.
_missing = [m for m in ('dask',) if importlib.util.find_spec(m) is None]
if _missing:
    sys.exit(f"dask_overhead.py: no module named {', '.join(_missing)}: run it as "
             "`scripts/py scripts/dask_overhead.py ...` (the project's Python environment)")


def noop(*args):
    return None


def load(path):
    with open(path) as f:
        g = json.load(f)
    dsk = {t["key"]: (noop, *t["deps"]) for t in g["tasks"]}
    edges = sum(len(t["deps"]) for t in g["tasks"])
    return g["name"], dsk, list(g["targets"]), edges


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("graphs", nargs="+")
    ap.add_argument("--executors", default="sync,threads,processes")
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--budget-s", type=float, default=20.0,
                    help="time budget per (graph, executor); at least 3 runs")
    args = ap.parse_args()

    try:
        import dask
        import dask.local
        import dask.threaded
        import dask.multiprocessing
    except ModuleNotFoundError as e:
        sys.exit(f"dask_overhead.py: {e}: run it as `scripts/py scripts/dask_overhead.py ...`")
    from concurrent.futures import ThreadPoolExecutor, ProcessPoolExecutor
    import multiprocessing as mp

    threads = ThreadPoolExecutor(args.workers)
    procs = None
    getters = {
        "sync": lambda dsk, keys: dask.local.get_sync(dsk, keys),
        "threads": lambda dsk, keys: dask.threaded.get(dsk, keys, pool=threads),
    }
    if "processes" in args.executors:
        procs = ProcessPoolExecutor(args.workers, mp_context=mp.get_context("spawn"))
        getters["processes"] = lambda dsk, keys: dask.multiprocessing.get(
            dsk, keys, pool=procs, optimize_graph=False)

    cluster = client = None
    if "distributed" in args.executors:
        try:
            from distributed import Client, LocalCluster
        except ModuleNotFoundError as e:
            sys.exit(f"dask_overhead.py: {e}: run it as `scripts/py scripts/dask_overhead.py ...`")
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None)
        client = Client(cluster)
        getters["distributed"] = lambda dsk, keys: client.get(dsk, keys)

    for path in args.graphs:
        try:
            name, dsk, targets, edges = load(path)
        except OSError as e:
            sys.exit(f"dask_overhead.py: {path}: {e.strerror}")
        for ex in args.executors.split(","):
            get = getters[ex]
            get(dsk, targets)  # warm-up
            times = []
            deadline = time.perf_counter() + args.budget_s
            while len(times) < 3 or (time.perf_counter() < deadline and len(times) < 50):
                t0 = time.perf_counter()
                get(dsk, targets)
                times.append(time.perf_counter() - t0)
            med = statistics.median(times)
            print(json.dumps({
                "system": f"dask {dask.__version__}", "graph": name, "executor": ex,
                "workers": 1 if ex == "sync" else args.workers,
                "tasks": len(dsk), "edges": edges, "runs": len(times),
                "median_s": med, "min_s": min(times),
                "us_per_task": med / len(dsk) * 1e6,
            }), flush=True)
    threads.shutdown()
    if procs:
        procs.shutdown()
    if client:
        client.close()
        cluster.close()


if __name__ == "__main__":
    sys.exit(main())
