#!/usr/bin/env bash
# Measures per-task overhead of taskloom and Dask on the chains and crosstalk graphs
# and redraws the figures of the README and the guide. Run from anywhere; writes docs/bench/.
#
#   tools/benchplot/measure.sh              # taskloom and Dask (Dask takes minutes)
#   tools/benchplot/measure.sh --skip-dask  # taskloom only; keeps docs/bench/dask.jsonl
#
# taskloom: `cargo run --release --example overhead` on chains 1k, 10k, 100k
# (benches/graphs) and 1M (generated into a temporary folder, not committed: 37 MB),
# and crosstalk k = 1, 2, 4, 8, 16, with 1 s of runs per graph (at least 3).
# Dask 2026.8.0: scripts/dask_overhead.py in the project's Python environment
# (scripts/py), same graphs without 1M (a minute or more per run), budget 1 s;
# about 10 minutes in all, most of it the process pool.
# Then `taskloom-benchplot plot docs/bench` draws docs/bench/scaling-{tasks,deps}.svg
# and prints the tables, and `taskloom-benchplot tables` regenerates the figures'
# tables from the data.
#
# Environment: TASKLOOM_EXECUTORS (default "current-thread threads processes"),
# DASK_EXECUTORS (default "sync,threads,processes"), BUDGET_S (default 1).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
GRAPHS=$ROOT/benches/graphs
OUT=$ROOT/docs/bench
BUDGET_S=${BUDGET_S:-1}
TASKLOOM_EXECUTORS=${TASKLOOM_EXECUTORS:-"current-thread threads processes"}
DASK_EXECUTORS=${DASK_EXECUTORS:-"sync,threads,processes"}
SKIP_DASK=0
[ "${1:-}" = "--skip-dask" ] && SKIP_DASK=1
mkdir -p "$OUT"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

CHAINS=("$GRAPHS/chains_1k.json" "$GRAPHS/chains_10k.json" "$GRAPHS/chains_100k.json")
CROSSTALK=()
for k in 1 2 4 8 16; do CROSSTALK+=("$GRAPHS/crosstalk_10k_k$k.json"); done

echo "== building (release)" >&2
cargo build --release --quiet --example overhead
cargo build --release --quiet -p taskloom-benchplot
BENCHPLOT=$ROOT/target/release/taskloom-benchplot
OVERHEAD=$ROOT/target/release/examples/overhead
"$BENCHPLOT" gen-chains 10000 100 > "$TMP/chains_1m.json"

echo "== taskloom ($TASKLOOM_EXECUTORS)" >&2
: > "$TMP/taskloom.jsonl"
for ex in $TASKLOOM_EXECUTORS; do
    "$OVERHEAD" --executor "$ex" --budget-s "$BUDGET_S" \
        "${CHAINS[@]}" "$TMP/chains_1m.json" "${CROSSTALK[@]}" | tee -a "$TMP/taskloom.jsonl" >&2
done
mv "$TMP/taskloom.jsonl" "$OUT/taskloom.jsonl"

if [ "$SKIP_DASK" = 0 ]; then
    echo "== dask ($DASK_EXECUTORS)" >&2
    scripts/py scripts/dask_overhead.py --executors "$DASK_EXECUTORS" \
        --budget-s "$BUDGET_S" "${CHAINS[@]}" "${CROSSTALK[@]}" | tee "$TMP/dask.jsonl" >&2
    mv "$TMP/dask.jsonl" "$OUT/dask.jsonl"
fi

"$BENCHPLOT" plot "$OUT"
"$BENCHPLOT" tables
