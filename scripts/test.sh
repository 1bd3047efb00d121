#!/usr/bin/env bash
# Every test of taskloom, Rust and Python, in one command (the README's test command;
# .ci/run calls it):
#
#   1. cargo test --workspace (the cluster's Slurm tests are left to step 3)
#   2. the Python package as users get it: its wheel (`maturin build --release`, abi3,
#      built once per run by scripts/py, which installs it into the project's Python
#      environment too) installed into a fresh virtualenv (target/py-test-venv, made
#      anew every run) with the pinned packages of scripts/requirements.txt (from
#      PyPI, through pip's cache): the tests run against the installed wheel, never
#      against the source tree
#   3. with the two-node dev cluster up (scripts/slurm-dev-cluster.sh, started here
#      when Slurm is installed and this is root, and stopped at exit if it was
#      started here): the Rust cluster's Slurm tests, then pytest python/tests in the
#      fresh virtualenv (the Python cluster's Slurm tests among them). Without Slurm
#      the Slurm tests say why they skip; with TASKLOOM_REQUIRE_SLURM=1 (CI) they
#      fail instead.
#
# Environment: PYTHON, the interpreter that makes the virtualenvs (default python3);
# TASKLOOM_VENV, where the project's environment lives (default target/py-venv).
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo test --workspace"
cargo test --workspace -- --skip=slurm::

echo "== the taskloom wheel (maturin build --release), installed in a fresh virtualenv"
# scripts/py builds the wheel (rebuilt every run: the version number does not change
# with the code) into target/wheels and installs it into the project's environment.
TASKLOOM_PY_REINSTALL=1 scripts/py -c 'import taskloom'
wheel=$(ls target/wheels/taskloom-*.whl)
fresh=target/py-test-venv
rm -rf "$fresh"
"${PYTHON:-python3}" -m venv "$fresh"
"$fresh/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r scripts/requirements.txt "$wheel"
# The package the tests import is the wheel's, not ./python.
(cd "$fresh" && bin/python -c 'import taskloom, sys; assert "site-packages" in taskloom.__file__, taskloom.__file__; print("taskloom", taskloom.__version__, "from", taskloom.__file__)')

echo "== with the dev Slurm cluster up (scripts/slurm-dev-cluster.sh: nodes n1 and n2 on this host)"
slurm_started_here=0
if command -v slurmctld >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ] && ! sinfo -h >/dev/null 2>&1; then
    # Started here, so stopped here: after the tests, or at exit if they fail.
    trap 'scripts/slurm-dev-cluster.sh stop >/dev/null 2>&1 || true' EXIT
    scripts/slurm-dev-cluster.sh start
    slurm_started_here=1
fi
echo "-- the Rust cluster's Slurm tests"
cargo test -p taskloom-runtime --test cluster -- slurm::
echo "-- pytest python/tests, against the installed wheel"
# Run from python/tests with -p no:cacheprovider, so nothing is written to the tree
# and ./python is not on sys.path.
(cd python/tests && "../../$fresh/bin/python" -m pytest -p no:cacheprovider -q . "$@")
if [ "$slurm_started_here" = 1 ]; then
    scripts/slurm-dev-cluster.sh stop
    trap - EXIT
fi
