#!/usr/bin/env python3
"""Memory under real data on Dask's local schedulers: the Dask half of taskloom's
`cargo run --release --example memory`.

Runs as `scripts/py scripts/dask_memory.py` (the project's Python environment):

    scripts/py scripts/dask_memory.py [--executor sync|threads] [--workers N] \
        [--mib M] GRAPH.json...

Every task of a graph in the shared JSON format becomes a call that reads one element
of each input and returns a new NumPy array of M MiB (default 1) filled with ones, so
that its pages are resident. A `weakref.finalize` on each array counts the arrays
alive: one more when a task makes one, one fewer when the last reference to it goes
(Dask's `release_data` dropped it from the cache, a worker finished with its inputs,
or the output was dropped). The peak of that count is the most results held at once,
inputs of running tasks and requested results included: what the taskloom example's
gauge counts. (A `posttask` callback sees the cache, `len(state["cache"])`, but not
the arrays a running task still holds, nor a release's timing; the finalizers see
both.)

One JSON line per graph, the schema of the taskloom example:
`{"graph", "executor", "workers", "tasks", "peak_held", "peak_held_bytes",
"peak_rss_bytes", "seconds"}`, plus `mib`, `base_rss_bytes` and `peak_cache` (the most
results in Dask's cache after a task, from a posttask callback). Peak RSS is the
kernel's high-water mark (VmHWM), reset before each graph through
/proc/self/clear_refs. `seconds` is the `get` call alone (the graph dict is built
before).
"""
import argparse
import importlib.util
import json
import os
import re
import sys
import threading
import time
import weakref

# Outside the project's Python environment, say which one to use rather than fail
# on an import.
_missing = [m for m in ('dask', 'numpy') if importlib.util.find_spec(m) is None]
if _missing:
    sys.exit(f"dask_memory.py: no module named {', '.join(_missing)}: run it as "
             "`scripts/py scripts/dask_memory.py ...` (the project's Python environment)")


def proc_status_bytes(field):
    with open("/proc/self/status") as f:
        m = re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.M)
    return int(m.group(1)) * 1024 if m else 0


def reset_peak_rss():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class Gauge:
    """Arrays alive now and the most alive at once (thread-safe: tasks run on workers)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.live = 0
        self.peak = 0

    def reset(self):
        with self.lock:
            self.peak = self.live

    def made(self, array):
        with self.lock:
            self.live += 1
            self.peak = max(self.peak, self.live)
        weakref.finalize(array, self.dropped)

    def dropped(self):
        with self.lock:
            self.live -= 1


def graph_files(paths):
    return [p for p in paths if os.path.basename(p) != "index.json"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("graphs", nargs="+")
    ap.add_argument("--executor", default="threads", choices=["sync", "threads"])
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--mib", type=float, default=1.0)
    args = ap.parse_args()
    if args.mib <= 0:
        sys.exit("--mib must be positive")

    import dask
    import numpy as np
    from dask.callbacks import Callback
    from dask.local import get_sync
    from dask.threaded import get as get_threads

    gauge = Gauge()
    n = max(1, int(args.mib * 1024 * 1024) // 8)

    def make(*inputs):
        seed = 1.0
        for x in inputs:
            seed += float(x[0])
        out = np.full(n, seed)  # writes every element: the pages are resident
        gauge.made(out)
        return out

    workers = 1 if args.executor == "sync" else args.workers
    for path in graph_files(args.graphs):
        with open(path) as f:
            g = json.load(f)
        dsk = {t["key"]: (make, *t["deps"]) for t in g["tasks"]}
        targets = list(g["targets"])
        cache_peak = [0]

        def posttask(key, result, dsk, state, worker_id, cache_peak=cache_peak):
            cache_peak[0] = max(cache_peak[0], len(state["cache"]))

        reset_peak_rss()
        base_rss = proc_status_bytes("VmRSS")
        gauge.reset()
        start = time.perf_counter()
        with Callback(posttask=posttask):
            if args.executor == "sync":
                out = get_sync(dsk, targets)
            else:
                out = get_threads(dsk, targets, num_workers=workers)
        seconds = time.perf_counter() - start
        peak_held = gauge.peak
        peak_rss = proc_status_bytes("VmHWM")
        if len(out) != len(targets):
            sys.exit(f"{path}: {len(out)} results for {len(targets)} targets")
        del out, dsk
        print(json.dumps({
            "system": f"dask {dask.__version__}", "graph": g["name"],
            "executor": args.executor, "workers": workers, "tasks": len(g["tasks"]),
            "mib": args.mib, "peak_held": peak_held,
            "peak_held_bytes": peak_held * n * 8, "peak_rss_bytes": peak_rss,
            "base_rss_bytes": base_rss, "peak_cache": cache_peak[0], "seconds": seconds,
        }), flush=True)


if __name__ == "__main__":
    main()
