"""Many Python threads computing at once; the GIL while ``get`` waits; memory.

A taskloom scheduler runs any number of computations at once on one pool, each with
its own state; ``get`` holds no GIL while it waits, and a task computing a sub-graph
on the same pool runs it inline instead of waiting for a free worker.
"""

import gc
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor

import pytest

import dask.array as da
from dask.utils_test import add, inc

import taskloom


def chain_graph(start, length):
    dsk = {("c", 0): start}
    for i in range(1, length):
        dsk[("c", i)] = (inc, ("c", i - 1))
    dsk["both"] = (add, ("c", length - 1), ("c", length // 2))
    return dsk


def test_many_threads_compute_at_once():
    def work(seed):
        results = []
        for j in range(10):
            dsk = chain_graph(seed * 1000 + j, 50)
            results.append(taskloom.get(dsk, "both", num_workers=2))
        return results

    with ThreadPoolExecutor(16) as pool:
        got = list(pool.map(work, range(32)))
    for seed, results in enumerate(got):
        assert results == [2 * (seed * 1000 + j) + 49 + 25 for j in range(10)]


def test_threads_with_different_pools_and_collections():
    def work(i):
        x = da.arange(1000, chunks=50) * i
        if i % 3 == 0:
            return x.sum().compute(scheduler=taskloom.get_sync)
        return x.sum().compute(scheduler=taskloom.get, num_workers=1 + i % 4)

    with ThreadPoolExecutor(12) as pool:
        got = list(pool.map(work, range(24)))
    assert got == [sum(range(1000)) * i for i in range(24)]


def test_get_releases_the_gil_while_waiting():
    """A Python thread keeps running while ``get`` waits on tasks that sleep."""
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    t = threading.Thread(target=ticker)
    t.start()
    try:
        start = time.perf_counter()
        sleeps = {("s", i): (time.sleep, 0.1) for i in range(4)}
        taskloom.get(sleeps, list(sleeps), num_workers=2)
        end = time.perf_counter()
    finally:
        stop.set()
        t.join()
    during = [x for x in ticks if start < x < end]
    assert len(during) > 20


@pytest.mark.parametrize("workers", [1, 2])
def test_nested_get_in_a_task_does_not_deadlock(workers):
    def inner(i):
        return taskloom.get(chain_graph(i, 10), "both", num_workers=workers)

    dsk = {("outer", i): (inner, i) for i in range(6)}
    dsk["total"] = (sum, list(dsk))
    assert taskloom.get(dsk, "total", num_workers=workers) == sum(2 * i + 9 + 5 for i in range(6))


class Big:
    """A result that can say whether it is still alive."""


def test_intermediate_results_are_released_during_the_computation(get):
    refs = {}
    alive_when_last_ran = []

    def make(i):
        obj = Big()
        refs[i] = weakref.ref(obj)
        return obj

    def use(obj):
        return 1

    def last(*ones):
        gc.collect()
        alive_when_last_ran.append(sum(r() is not None for r in refs.values()))
        return sum(ones)

    dsk = {("make", i): (make, i) for i in range(20)}
    dsk.update({("use", i): (use, ("make", i)) for i in range(20)})
    dsk["last"] = (last, *[("use", i) for i in range(20)])
    assert get(dsk, "last") == 20
    assert alive_when_last_ran == [0]


def test_results_are_released_after_the_computation(get):
    refs = []

    def make():
        obj = Big()
        refs.append(weakref.ref(obj))
        return obj

    dsk = {("make", i): (make,) for i in range(10)}
    dsk["n"] = (lambda *objs: len(objs), *list(dsk))
    assert get(dsk, "n") == 10
    taskloom.get({"x": 1}, "x")  # any later call lets Python release what Rust dropped
    gc.collect()
    assert all(r() is None for r in refs)


def test_worker_threads_keep_their_python_thread_state():
    """``threading.local`` data set by a task is there for the next task on the same
    worker: the pool's threads are not re-registered with Python for every task."""
    local = threading.local()

    def count():
        local.n = getattr(local, "n", 0) + 1
        return threading.get_ident(), local.n

    dsk = {("c", i): (count,) for i in range(50)}
    results = taskloom.get(dsk, list(dsk), num_workers=1)
    assert len({ident for ident, _ in results}) == 1
    assert max(n for _, n in results) >= 50
