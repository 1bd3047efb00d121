#!/usr/bin/env python3
"""Side-by-side per-task overhead: taskloom vs Dask, same graphs, same machine, one run.

Runs as `scripts/py scripts/compare.py` (the project's Python environment, which has
Dask and dask.distributed pinned), from anywhere:

  scripts/py scripts/compare.py [--executors current-thread,threads,processes,cluster]
                                [--budget-s 10] [--corpus] [--out FILE.jsonl] [GRAPH.json ...]

Default graphs: every graph of benches/graphs except chains_100k (Dask takes minutes
on it) and seed_sum_chunks10; --corpus adds the 46 real Dask graphs of corpus/dask.

It builds taskloom's `overhead` example in release mode, then for each graph and
executor runs the two systems in turn and prints a table: µs per task for each and
the ratio dask/taskloom. Each pair is also printed as a JSON line on stderr as it is
measured, and with --out written to FILE (one line per graph and executor:
{"graph", "executor", "tasks", "edges", "taskloom_us_per_task", "dask_us_per_task", "ratio",
"taskloom", "dask", "workers", "budget_s", "load_before", "load_after"}, the last two
the 1-minute load average when the run started and when the pair was done; `taskloom-benchplot tables` makes the
figures' tables from docs/bench/compare.jsonl, written so).

The taskloom side is `cargo run --release --example overhead -- --executor E
--budget-s S GRAPH.json`, which prints one JSON line per (graph, executor) in the
schema that scripts/dask_overhead.py prints for Dask. `cluster` is taskloom's local
cluster (workers over TCP on loopback) against dask.distributed's LocalCluster.
"""
import argparse
import glob
import importlib.util
import json
import os
import subprocess
import sys

# Outside the project's Python environment, say which one to use rather than fail
# on an import.
_missing = [m for m in ('dask', 'distributed') if importlib.util.find_spec(m) is None]
if _missing:
    sys.exit(f"compare.py: no module named {', '.join(_missing)}: run it as "
             "`scripts/py scripts/compare.py ...` (the project's Python environment)")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GRAPHS = os.path.join(ROOT, "benches", "graphs")
CORPUS = os.path.join(ROOT, "corpus", "dask")
# Left out of the default set: Dask takes minutes on chains_100k; seed_sum_chunks10
# is the ~200-task graph of one measurement of the thread pool alone.
NOT_DEFAULT = ("index.json", "chains_100k.json", "seed_sum_chunks10.json")
DASK = {"current-thread": "sync", "threads": "threads", "processes": "processes",
        "cluster": "distributed"}  # taskloom remote workers vs dask.distributed LocalCluster


def lines(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    return [json.loads(l) for l in out.splitlines() if l.startswith("{")]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("graphs", nargs="*")
    ap.add_argument("--executors", default="current-thread,threads,processes")
    ap.add_argument("--budget-s", type=float, default=10.0)
    ap.add_argument("--corpus", action="store_true",
                    help="also every graph of corpus/dask (the real Dask graphs)")
    ap.add_argument("--out", help="also write the pairs as JSON lines to this file")
    args = ap.parse_args()
    graphs = [os.path.abspath(g) for g in args.graphs] or sorted(
        g for g in glob.glob(os.path.join(GRAPHS, "*.json"))
        if os.path.basename(g) not in NOT_DEFAULT)
    if args.corpus:
        graphs += sorted(glob.glob(os.path.join(CORPUS, "*.json")))
    if not graphs:
        sys.exit(f"compare.py: no graphs in {GRAPHS}")
    for g in graphs:
        if not os.path.isfile(g):
            sys.exit(f"compare.py: {g}: no such graph file")
    executors = args.executors.split(",")
    unknown = [e for e in executors if e not in DASK]
    if unknown:
        sys.exit(f"compare.py: unknown executor {', '.join(unknown)} (one of {', '.join(DASK)})")

    subprocess.run(["cargo", "build", "--release", "--quiet", "--example", "overhead"],
                   check=True, cwd=ROOT)
    dask_overhead = os.path.join(ROOT, "scripts", "dask_overhead.py")
    out = open(args.out, "w") if args.out else None
    load_before = os.getloadavg()[0]
    rows = []
    for g in graphs:
        for ex in executors:
            t = lines(["cargo", "run", "--release", "--quiet", "--example", "overhead", "--",
                       "--executor", ex, "--budget-s", str(args.budget_s), g])
            d = lines([sys.executable, dask_overhead, "--executors", DASK[ex],
                       "--budget-s", str(args.budget_s), g])
            if not (t and d):
                continue
            t, d = t[0], d[0]
            pair = {"graph": t["graph"], "executor": ex, "tasks": t["tasks"],
                    "edges": t.get("edges"),
                    "taskloom_us_per_task": t["us_per_task"],
                    "dask_us_per_task": d["us_per_task"],
                    "ratio": d["us_per_task"] / t["us_per_task"],
                    "taskloom": t["system"], "dask": d["system"], "workers": t["workers"],
                    "budget_s": args.budget_s, "load_before": load_before, "load_after": os.getloadavg()[0]}
            rows.append(pair)
            print(json.dumps(pair), file=sys.stderr, flush=True)
            if out:
                print(json.dumps(pair), file=out, flush=True)
    if out:
        out.close()
    print(f"{'graph':<22}{'executor':<16}{'tasks':>8}{'taskloom µs/task':>18}{'dask µs/task':>14}{'dask/taskloom':>15}")
    for r in rows:
        print(f"{r['graph']:<22}{r['executor']:<16}{r['tasks']:>8}"
              f"{r['taskloom_us_per_task']:>18.3f}{r['dask_us_per_task']:>14.2f}{r['ratio']:>15.1f}")


if __name__ == "__main__":
    sys.exit(main())
