#!/usr/bin/env bash
# Every test of taskloom, Rust and Python, in one command (the README's test command;
# .ci/run calls it):
#
#   1. cargo test --workspace (the cluster's Slurm tests are left to step 2)
#   2. the cluster's Slurm tests, on the two-node dev cluster
#      (scripts/slurm-dev-cluster.sh), started here when Slurm is installed and this
#      is root, and stopped at exit if it was started here. Without Slurm the tests
#      say why they skip; with TASKLOOM_REQUIRE_SLURM=1 (CI) they fail instead.
#   3. pytest python/tests in the project's Python environment (scripts/py: a
#      virtualenv made once and reused, target/py-venv, with the pinned packages of
#      scripts/requirements.txt from PyPI: Dask with its array, bag and dataframe
#      extras, numpy, pandas, pytest, maturin...), the `taskloom` package (./python)
#      rebuilt and reinstalled first, every run, with the pinned maturin
#
# Environment: PYTHON, the interpreter that makes the virtualenv (default python3);
# TASKLOOM_VENV, where it lives (default target/py-venv). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo test --workspace"
cargo test --workspace -- --skip=slurm::

echo "== the cluster's Slurm tests (scripts/slurm-dev-cluster.sh: nodes n1 and n2 on this host)"
slurm_started_here=0
if command -v slurmctld >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ] && ! sinfo -h >/dev/null 2>&1; then
    # Started here, so stopped here: after the tests, or at exit if they fail.
    trap 'scripts/slurm-dev-cluster.sh stop >/dev/null 2>&1 || true' EXIT
    scripts/slurm-dev-cluster.sh start
    slurm_started_here=1
fi
cargo test -p taskloom-runtime --test cluster -- slurm::
if [ "$slurm_started_here" = 1 ]; then
    scripts/slurm-dev-cluster.sh stop
    trap - EXIT
fi

echo "== pytest python/tests (scripts/py, the taskloom package rebuilt)"
# Rebuilt every run: the version number does not change with the code.
TASKLOOM_PY_REINSTALL=1 scripts/py -m pytest -p no:cacheprovider python/tests "$@"
