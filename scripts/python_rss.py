#!/usr/bin/env python3
"""Peak memory of Dask array work under taskloom.get and Dask's threaded scheduler.

Runs as `scripts/py scripts/python_rss.py` (the project's Python environment, with the
taskloom wheel installed):

    scripts/py scripts/python_rss.py [--runs 2] [--workers 2] [--size 12000] [--json F]

Each case runs in a fresh Python process (so its peak RSS is its own, read from
`getrusage`), alternating the schedulers run by run; one JSON line per run:
{"case", "scheduler", "workers", "peak_rss_mb", "seconds", "result"}, then a Markdown
table of the medians. The cases, on `x = da.random.RandomState(0).random_sample((N, N),
chunks=500)` (seeded: both schedulers must give the same answers):

- `map_overlap`: `x.map_overlap(lambda b: b * 2, depth=2, boundary="reflect").sum()`;
- `x_plus_xT_mean`: `(x + x.T).mean(axis=0)`;
- `sum`: `(x + 1).sum()`.

taskloom measures each result with `dask.sizeof` where it is made, so the scheduler
knows 2 MB chunks from small values and runs the static order's plan.
"""
import argparse
import json
import statistics
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import dask, dask.array as da
case, scheduler, workers, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if scheduler == "taskloom":
    import taskloom
    get = taskloom.get
else:
    get = "threads"
x = da.random.RandomState(0).random_sample((size, size), chunks=(500, 500))
if case == "map_overlap":
    y = x.map_overlap(lambda b: b * 2, depth=2, boundary="reflect").sum()
elif case == "x_plus_xT_mean":
    y = (x + x.T).mean(axis=0).sum()
else:
    y = (x + 1).sum()
start = time.perf_counter()
result = float(y.compute(scheduler=get, num_workers=workers))
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"case": case, "scheduler": scheduler, "workers": workers,
                  "peak_rss_mb": round(peak, 1), "seconds": round(seconds, 3),
                  "result": result}))
"""

CASES = ("map_overlap", "x_plus_xT_mean", "sum")
SCHEDULERS = ("taskloom", "dask-threads")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--size", type=int, default=12000)
    ap.add_argument("--json", help="append every run here (JSON lines)")
    args = ap.parse_args()
    rows = []
    for case in CASES:
        for _ in range(args.runs):
            for scheduler in SCHEDULERS:
                out = subprocess.run(
                    [sys.executable, "-c", CHILD, case, scheduler, str(args.workers),
                     str(args.size)],
                    check=True, capture_output=True, text=True)
                row = json.loads(out.stdout.strip().splitlines()[-1])
                print(json.dumps(row), file=sys.stderr)
                rows.append(row)
    if args.json:
        with open(args.json, "a") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
    print(f"| case | scheduler | peak RSS MB (median of {args.runs}) | seconds |")
    print("|---|---|---:|---:|")
    for case in CASES:
        for scheduler in SCHEDULERS:
            runs = [r for r in rows if r["case"] == case and r["scheduler"] == scheduler]
            rss = statistics.median(r["peak_rss_mb"] for r in runs)
            secs = statistics.median(r["seconds"] for r in runs)
            print(f"| {case} | {scheduler} | {rss:.0f} | {secs:.2f} |")
    # The two schedulers must agree on every case's answer.
    for case in CASES:
        answers = {r["scheduler"]: r["result"] for r in rows if r["case"] == case}
        a, b = answers["taskloom"], answers["dask-threads"]
        if abs(a - b) > 1e-6 * max(1.0, abs(b)):
            sys.exit(f"{case}: taskloom {a} != dask {b}")


if __name__ == "__main__":
    main()
