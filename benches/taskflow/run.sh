#!/usr/bin/env bash
# Taskflow (the C++ work-stealing task runtime, header-only) on the fine-grain workload
# of taskloom's granularity benchmark: n independent calibrated spin tasks of 1, 10, 100
# and 1000 us plus a tree reduction with fan-in 8, 1 and 2 workers, best of 5,
# efficiency = ideal / measured. tools/benchplot/grain.sh runs it beside taskloom and
# Dask. Needs g++ with C++20 (about 15 s).
#
#   TASKFLOW_INCLUDE=/path/to/taskflow benches/taskflow/run.sh
#
# TASKFLOW_INCLUDE is the folder that holds Taskflow's `taskflow/taskflow.hpp` (a clone
# of github.com/taskflow/taskflow; the figures were made with its commit 83f90a27).
# Taskflow is not part of this repository.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "${TASKFLOW_INCLUDE:-}" ]; then
    echo "benches/taskflow/run.sh: set TASKFLOW_INCLUDE to the folder holding Taskflow's" \
        "taskflow/taskflow.hpp (git clone https://github.com/taskflow/taskflow;" \
        "TASKFLOW_INCLUDE=\$PWD/taskflow)" >&2
    exit 2
fi
if [ ! -f "$TASKFLOW_INCLUDE/taskflow/taskflow.hpp" ]; then
    echo "benches/taskflow/run.sh: $TASKFLOW_INCLUDE/taskflow/taskflow.hpp not found:" \
        "TASKFLOW_INCLUDE must name the folder that holds taskflow/taskflow.hpp" >&2
    exit 2
fi
if ! command -v g++ >/dev/null 2>&1; then
    echo "benches/taskflow/run.sh: g++ (C++20) not found" >&2
    exit 2
fi
out=${TMPDIR:-/tmp}/taskflow-grain
g++ -std=c++20 -O2 -pthread -I"$TASKFLOW_INCLUDE" "$here/grain.cpp" -o "$out"
"$out"
