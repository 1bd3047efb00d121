#!/usr/bin/env bash
# Every test of taskloom, Rust and Python, in one command (the README's test command;
# .ci/run calls it):
#
#   1. cargo test --workspace
#   2. a virtualenv (made once, reused: target/py-venv), with the pinned test
#      requirements from PyPI (python/requirements-test.txt: Dask with its array,
#      bag and dataframe extras, numpy, pandas, pytest, maturin...)
#   3. pip install ./python: the `taskloom` package, built by the pinned maturin
#   4. pytest python/tests
#
# Environment: PYTHON, the interpreter that makes the virtualenv (default python3);
# TASKLOOM_VENV, where it lives (default target/py-venv). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo test --workspace"
cargo test --workspace

venv="${TASKLOOM_VENV:-target/py-venv}"
if [ ! -x "$venv/bin/python" ]; then
    echo "== virtualenv $venv"
    "${PYTHON:-python3}" -m venv "$venv"
fi
venv="$(cd "$venv" && pwd)"
py="$venv/bin/python"
# The build backend runs the `maturin` program: the virtualenv's, pinned.
export PATH="$venv/bin:$PATH"

echo "== test requirements (python/requirements-test.txt)"
"$py" -m pip install --quiet --disable-pip-version-check -r python/requirements-test.txt

echo "== pip install ./python"
# Rebuilt every run (the version number does not change with the code); built with
# the pinned maturin from the requirements rather than whatever PyPI has today.
"$py" -m pip install --quiet --disable-pip-version-check \
    --force-reinstall --no-deps --no-build-isolation ./python

echo "== pytest python/tests"
"$venv/bin/pytest" -p no:cacheprovider python/tests "$@"
