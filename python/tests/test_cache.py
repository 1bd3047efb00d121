"""``get(..., cache="dir")``: taskloom's result cache on disk, by Dask key.

A rerun loads what is there and runs nothing else; a run killed with SIGKILL halfway
resumes with only what is missing; a damaged entry is recomputed; a directory other
users can write to is refused (a pickle runs code when loaded).
"""

import os
import signal
import subprocess
import sys
import textwrap
import time
from operator import add

import dask
import pytest

import taskloom

CALLS = []


def inc(x):
    CALLS.append(("inc", x))
    return x + 1


def entries(path):
    """The entry files under a cache directory."""
    found = []
    for shard in path.iterdir() if path.exists() else []:
        if shard.is_dir():
            found += [f for f in shard.iterdir() if not f.name.startswith(".")]
    return found


def test_a_rerun_loads_the_result_and_runs_nothing(get, tmp_path):
    cache = tmp_path / "cache"
    dsk = {"x": 1, "y": (inc, "x"), "z": (add, "y", 10)}
    CALLS.clear()
    assert get(dsk, "z", cache=str(cache)) == 12
    assert CALLS == [("inc", 1)]
    assert get(dsk, ["z", "y"], cache=cache) == (12, 2)
    assert CALLS == [("inc", 1)], "nothing runs: every result is loaded"
    # A changed literal changes the keys of what depends on it.
    assert get({**dsk, "x": 5}, "z", cache=cache) == 16
    assert CALLS == [("inc", 1), ("inc", 5)]


def test_collections_are_cached_by_their_tokens(tmp_path):
    import dask.array as da

    cache = tmp_path / "cache"
    x = da.arange(1000, chunks=100)
    calls = []

    @dask.delayed(pure=True)
    def total(a):
        calls.append(1)
        return int(a.sum())

    t = total(x)
    assert dask.compute(t, scheduler=lambda d, k, **kw: taskloom.get(d, k, cache=cache, **kw)) == (499500,)
    assert dask.compute(t, scheduler=lambda d, k, **kw: taskloom.get(d, k, cache=cache, **kw)) == (499500,)
    assert calls == [1]


def test_a_damaged_entry_is_recomputed_never_returned(tmp_path):
    cache = tmp_path / "cache"
    dsk = {"y": (inc, 41), "z": (add, "y", 0)}
    CALLS.clear()
    assert taskloom.get(dsk, "y", cache=cache) == 42
    [entry] = entries(cache)
    data = bytearray(entry.read_bytes())
    data[-3] ^= 0x01
    entry.write_bytes(bytes(data))
    assert taskloom.get(dsk, "z", cache=cache) == 42
    assert CALLS == [("inc", 41), ("inc", 41)], "the damaged entry's task ran again"


def test_a_directory_others_can_write_is_refused(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    cache.chmod(0o777)
    with pytest.raises(PermissionError, match="chmod 700"):
        taskloom.get({"x": 1}, "x", cache=cache)
    cache.chmod(0o700)
    assert taskloom.get({"x": 1}, "x", cache=cache) == 1


CHILD = textwrap.dedent(
    """
    import sys, time, taskloom

    def slow(i):
        time.sleep(0.05)
        print(i, flush=True)
        return i * i

    dsk = {("part", i): (slow, i) for i in range(20)}
    dsk["total"] = (sum, [("part", i) for i in range(20)])
    if __name__ == "__main__":
        print(taskloom.get(dsk, "total", cache=sys.argv[1], num_workers=2))
    """
)


def test_a_run_killed_halfway_resumes_with_only_what_is_missing(tmp_path):
    cache = tmp_path / "cache"
    script = tmp_path / "graph.py"
    script.write_text(CHILD)
    child = subprocess.Popen([sys.executable, str(script), str(cache)], stdout=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(entries(cache)) < 10:
        assert time.monotonic() < deadline, "the child stored no 10 parts"
        assert child.poll() is None, "the child ended early"
        time.sleep(0.005)
    child.send_signal(signal.SIGKILL)
    child.wait()
    stored = len(entries(cache))
    assert stored < 20

    sys.path.insert(0, str(tmp_path))
    try:
        import graph
    finally:
        sys.path.pop(0)
    ran = []
    slow = graph.slow

    def counted(i):
        ran.append(i)
        return slow(i)

    graph.slow = counted
    dsk = {k: (counted, *v[1:]) if k != "total" else v for k, v in graph.dsk.items()}
    assert taskloom.get(dsk, "total", cache=cache) == sum(i * i for i in range(20))
    assert len(ran) == 20 - stored, (ran, stored)
