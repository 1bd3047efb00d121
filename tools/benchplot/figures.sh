#!/usr/bin/env bash
# Measures the figures the guide and the README show and regenerates their tables: each
# step writes its data file in docs/bench (the measuring program's own JSON lines), then
# `taskloom-benchplot tables` makes every table from the data. Take figures from a
# quiet machine only (the 1-minute load average is printed before each step).
#
#   tools/benchplot/figures.sh all            # everything below, in turn (about an hour)
#   tools/benchplot/figures.sh STEP...        # some steps
#
# Steps and what they write:
#   compare     scripts/compare.py, every graph, current-thread/threads/processes
#               -> compare.jsonl (about 15 minutes, most of it Dask)
#   cluster     compare.py on processes,cluster -> cluster-compare.jsonl; five
#               alternating overhead runs of each -> cluster-overhead.jsonl
#   slurm       the cluster example on the two-node Slurm dev cluster, three runs
#               -> cluster-slurm.jsonl (root; Slurm from Debian's packages)
#   order       order_pressure and dask_order_pressure.py on benches/graphs and the
#               million-task graphs -> order-pressure-{taskloom,dask}.jsonl; the
#               pressure on the corpus -> corpus-order.jsonl
#   memory      memory_compare.py on the corpus, default and trimmed allocator
#               -> memory.jsonl, memory-trim.jsonl (about 25 minutes)
#   slow-param  the memory example on gen:slow_param, three runs with and without a
#               32 MiB budget -> slow-param.jsonl
#   resident    the resident example (processes, cluster; fused or not) and
#               dask_resident.py -> resident.jsonl
#   python      bench_dask.py, six runs of 9 rounds -> python-dask.jsonl
#   scaling     tools/benchplot/measure.sh -> taskloom.jsonl, dask.jsonl, the SVGs
#   grain       tools/benchplot/grain.sh (TASKFLOW_INCLUDE: Taskflow's headers)
#               -> grain/grain.jsonl, grain.svg
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=$ROOT/docs/bench
BENCH=$ROOT/benches/graphs
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

load() { echo "== $1 (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2; }

step_compare() {
    load compare
    scripts/py scripts/compare.py --executors current-thread,threads,processes --budget-s 5 \
        --out "$TMP/compare.jsonl"
    mv "$TMP/compare.jsonl" "$OUT/compare.jsonl"
}

step_cluster() {
    load cluster
    scripts/py scripts/compare.py --executors processes,cluster --budget-s 3 \
        --out "$TMP/cluster-compare.jsonl" "$BENCH/seed_sum.json" "$BENCH/chains_10k.json"
    mv "$TMP/cluster-compare.jsonl" "$OUT/cluster-compare.jsonl"
    cargo build --release --quiet --example overhead
    : > "$TMP/cluster-overhead.jsonl"
    for _ in 1 2 3 4 5; do
        for e in processes cluster; do
            target/release/examples/overhead --executor "$e" --workers 2 --budget-s 2 \
                "$BENCH/seed_sum.json" "$BENCH/chains_10k.json" "$BENCH/tree_16384.json" \
                | tee -a "$TMP/cluster-overhead.jsonl" >&2
        done
    done
    mv "$TMP/cluster-overhead.jsonl" "$OUT/cluster-overhead.jsonl"
}

step_slurm() {
    load slurm
    cargo build --release --quiet --example cluster
    started=0
    if ! sinfo -h >/dev/null 2>&1; then
        scripts/slurm-dev-cluster.sh start
        started=1
    fi
    : > "$TMP/cluster-slurm.jsonl"
    for _ in 1 2 3; do
        target/release/examples/cluster --slurm --workers 2 | tail -n 1 \
            | tee -a "$TMP/cluster-slurm.jsonl" >&2
    done
    if [ "$started" = 1 ]; then
        scripts/slurm-dev-cluster.sh stop
    fi
    mv "$TMP/cluster-slurm.jsonl" "$OUT/cluster-slurm.jsonl"
}

step_order() {
    load order
    cargo build --release --quiet -p taskloom-core --features serde --example order_pressure
    local op=target/release/examples/order_pressure
    "$op" "$BENCH"/*.json gen:chain_1m gen:wide_1m > "$TMP/order-taskloom.jsonl"
    # Dask's order on the same million-task graphs, written as files (one run, one seed:
    # each takes tens of seconds).
    scripts/py - "$TMP" <<'EOF'
import json, os, sys
out = sys.argv[1]
n = 1_000_000
tasks = [{"key": f"chain-{i}", "deps": [f"chain-{i - 1}"] if i else []} for i in range(n)]
with open(os.path.join(out, "chain_1m.json"), "w") as f:
    json.dump({"name": "chain_1m", "tasks": tasks, "targets": [f"chain-{n - 1}"]}, f)
tasks, targets = [], []
for g in range(1000):
    leaves = [f"leaf-{g}-{l}" for l in range(999)]
    tasks += [{"key": k, "deps": []} for k in leaves]
    tasks.append({"key": f"sum-{g}", "deps": leaves})
    targets.append(f"sum-{g}")
with open(os.path.join(out, "wide_1m.json"), "w") as f:
    json.dump({"name": "wide_1m", "tasks": tasks, "targets": targets}, f)
EOF
    scripts/py scripts/dask_order_pressure.py --runs 3 --seeds 5 "$BENCH"/*.json \
        > "$TMP/order-dask.jsonl"
    scripts/py scripts/dask_order_pressure.py --runs 1 "$TMP/chain_1m.json" "$TMP/wide_1m.json" \
        >> "$TMP/order-dask.jsonl"
    "$op" --no-timing corpus/dask/*.json > "$TMP/corpus-order.jsonl"
    mv "$TMP/order-taskloom.jsonl" "$OUT/order-pressure-taskloom.jsonl"
    mv "$TMP/order-dask.jsonl" "$OUT/order-pressure-dask.jsonl"
    mv "$TMP/corpus-order.jsonl" "$OUT/corpus-order.jsonl"
}

step_memory() {
    load memory
    scripts/py scripts/memory_compare.py --repeat 3 --configs sync,threads:1,threads:2 \
        --budget-mib 64 --out "$TMP/memory.jsonl" >&2
    scripts/py scripts/memory_compare.py --repeat 3 --configs sync,threads:1,threads:2 \
        --malloc-trim --out "$TMP/memory-trim.jsonl" >&2
    mv "$TMP/memory.jsonl" "$OUT/memory.jsonl"
    mv "$TMP/memory-trim.jsonl" "$OUT/memory-trim.jsonl"
}

step_slow_param() {
    load slow-param
    cargo build --release --quiet --example memory
    : > "$TMP/slow-param.jsonl"
    for _ in 1 2 3; do
        target/release/examples/memory --executor threads --workers 2 gen:slow_param \
            | tee -a "$TMP/slow-param.jsonl" >&2
        target/release/examples/memory --executor threads --workers 2 --memory-limit-mib 32 \
            gen:slow_param | tee -a "$TMP/slow-param.jsonl" >&2
    done
    mv "$TMP/slow-param.jsonl" "$OUT/slow-param.jsonl"
}

step_resident() {
    load resident
    cargo build --release --quiet --example resident
    : > "$TMP/resident.jsonl"
    for fuse in "" --fuse; do
        for e in processes cluster; do
            # shellcheck disable=SC2086 # $fuse is empty or one flag
            target/release/examples/resident --executor "$e" --workers 2 $fuse \
                | tee -a "$TMP/resident.jsonl" >&2
        done
    done
    scripts/py scripts/dask_resident.py --workers 2 | tee -a "$TMP/resident.jsonl" >&2
    scripts/py scripts/dask_resident.py --workers 2 --optimize | tee -a "$TMP/resident.jsonl" >&2
    mv "$TMP/resident.jsonl" "$OUT/resident.jsonl"
}

step_python() {
    load python
    for _ in 1 2 3 4 5 6; do
        scripts/py scripts/bench_dask.py --runs 9 --json "$TMP/python-dask.jsonl" >&2
    done
    mv "$TMP/python-dask.jsonl" "$OUT/python-dask.jsonl"
}

step_scaling() {
    load scaling
    tools/benchplot/measure.sh
}

step_grain() {
    load grain
    tools/benchplot/grain.sh
}

steps=("$@")
if [ "${#steps[@]}" = 0 ]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
if [ "${steps[0]}" = all ]; then
    steps=(compare cluster slurm order memory slow-param resident python scaling grain)
fi
for s in "${steps[@]}"; do
    case "$s" in
        compare | cluster | slurm | order | memory | resident | python | scaling | grain) "step_$s" ;;
        slow-param) step_slow_param ;;
        *) echo "figures.sh: unknown step $s" >&2; exit 2 ;;
    esac
done
cargo run --release --quiet -p taskloom-benchplot -- tables
