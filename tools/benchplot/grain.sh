#!/usr/bin/env bash
# The granularity benchmark, three systems side by side in one run, and its table and
# figure. Writes docs/bench/grain/{grain.jsonl,grain.svg,load.txt}.
#
#   TASKFLOW_INCLUDE=DIR tools/benchplot/grain.sh               # Taskflow, taskloom, Dask (about 5 minutes)
#   TASKFLOW_INCLUDE=DIR tools/benchplot/grain.sh --skip-dask   # Taskflow and taskloom only (about 40 s)
#
# Taskflow: benches/taskflow/run.sh (grain.cpp, C++, work stealing; TASKFLOW_INCLUDE is
# the folder holding Taskflow's taskflow/taskflow.hpp), its text turned into JSON lines
# here. taskloom: `cargo run --release --example grain`.
# Dask 2026.8.0: scripts/dask_grain.py in the project's Python environment (scripts/py).
# All three: 1 and 2 workers, 1, 10, 100 and 1000 µs tasks, best of 5 (and median).
# ROUNDS (default 1) repeats Taskflow and taskloom alternately; the figure keeps each
# system's best run. The 1-minute load average before and after goes to load.txt:
# take figures only from a quiet machine (load below about 1.2). Then
# `taskloom-benchplot tables` regenerates the figures' tables from the data.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
if [ -z "${TASKFLOW_INCLUDE:-}" ]; then
    echo "grain.sh: set TASKFLOW_INCLUDE (see benches/taskflow/run.sh)" >&2
    exit 2
fi
OUT=$ROOT/docs/bench/grain
ROUNDS=${ROUNDS:-1}
SKIP_DASK=0
[ "${1:-}" = "--skip-dask" ] && SKIP_DASK=1
mkdir -p "$OUT"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

echo "== building (release)" >&2
cargo build --release --quiet --example grain
cargo build --release --quiet -p taskloom-benchplot

load() { cut -d' ' -f1 /proc/loadavg; }
echo "load before: $(load)" > "$TMP/load.txt"

# "task     1 us x 100000:  w=1: 111.1 ms (ideal 100.0, eff 90%)  w=2: ..." -> JSON lines
taskflow_json() {
    scripts/py -c '
import json, re, sys
for line in sys.stdin:
    m = re.match(r"task\s+(\d+) us x\s+(\d+):", line)
    if not m:
        continue
    us, n = int(m.group(1)), int(m.group(2))
    for w, best, ideal in re.findall(r"w=(\d+): ([\d.]+) ms \(ideal ([\d.]+)", line):
        best_s, ideal_s = float(best) / 1e3, float(ideal) / 1e3
        print(json.dumps({"system": "taskflow", "executor": "work-stealing", "task_us": us,
                          "tasks": n, "workers": int(w), "runs": 5, "best_s": best_s,
                          "ideal_s": ideal_s, "efficiency_best": ideal_s / best_s}))
'
}

: > "$TMP/grain.jsonl"
for round in $(seq "$ROUNDS"); do
    echo "== Taskflow (round $round)" >&2
    benches/taskflow/run.sh > "$TMP/taskflow.txt"
    cat "$TMP/taskflow.txt" >&2
    taskflow_json < "$TMP/taskflow.txt" >> "$TMP/grain.jsonl"
    echo "== taskloom (round $round)" >&2
    "$ROOT/target/release/examples/grain" --workers 2 > "$TMP/taskloom.jsonl"
    cat "$TMP/taskloom.jsonl" >&2
    cat "$TMP/taskloom.jsonl" >> "$TMP/grain.jsonl"
done

if [ "$SKIP_DASK" = 0 ]; then
    echo "== Dask" >&2
    scripts/py scripts/dask_grain.py --workers 2 > "$TMP/dask.jsonl"
    cat "$TMP/dask.jsonl" >&2
    cat "$TMP/dask.jsonl" >> "$TMP/grain.jsonl"
fi

echo "load after: $(load)" >> "$TMP/load.txt"
cat "$TMP/load.txt" >&2
mv "$TMP/grain.jsonl" "$OUT/grain.jsonl"
mv "$TMP/load.txt" "$OUT/load.txt"
"$ROOT/target/release/taskloom-benchplot" grain "$OUT"
"$ROOT/target/release/taskloom-benchplot" tables
