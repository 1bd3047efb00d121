"""Dask's ``dask/tests/test_multiprocessing.py``, ported to ``taskloom.multiprocessing``.

What changed, and why:

- ``get`` is ``taskloom.multiprocessing.get``; ``scheduler="processes"`` is
  ``scheduler="taskloom-processes"`` (the name importing taskloom gives it).
- Dask's ``_dumps``/``_loads`` are ``taskloom._pickle.dumps``/``loads``: ``pickle``
  first, ``cloudpickle`` for what it cannot take, buffers out of band. The pickling
  tests check the same things of them (what a function's bytes contain, out-of-band
  buffers), and the out-of-band round trip goes through a worker.
- ``test_remote_exception`` tests Dask's own helper, which taskloom reuses
  (``dask.multiprocessing.remote_exception``): not ported; the traceback of a
  worker's exception is checked instead (``test_errors_propagate``).
- ``test_reuse_pool`` passes a ``pool`` of the caller's: taskloom runs its own
  workers and ignores ``pool``; the port checks that taskloom's pool is reused
  across calls (same worker processes).
- ``test_dumps_loads``: ``func_dumps``/``func_loads`` are accepted and ignored.
- The ``multiprocessing.context`` tests check Dask's ``get_context``; taskloom's
  workers are always fresh interpreters (never forked), whatever the setting: the
  port checks that a ``fork`` setting does not make a worker see the parent's
  modules.
- The Windows-only tests are not ported (taskloom's process pool is Unix-only).
"""

from __future__ import annotations

import pickle
import sys
import traceback
from operator import add

import numpy as np
import pytest

import dask
from dask import compute, delayed
from dask.system import CPU_COUNT
from dask.utils_test import inc

import taskloom  # noqa: F401 (names the schedulers)
from taskloom._pickle import dumps
from taskloom.multiprocessing import get, pool


def unrelated_function_global(a):
    return np.array([a])


def my_small_function_global(a, b):
    return a + b


def test_pickle_globals():
    """Unrelated globals should not be included in serialized bytes"""
    b, buffers = dumps(my_small_function_global)
    assert b"my_small_function_global" in b
    assert b"unrelated_function_global" not in b
    assert b"numpy" not in b
    assert buffers == []


def test_pickle_locals():
    """Unrelated locals should not be included in serialized bytes"""

    def unrelated_function_local(a):
        return np.array([a])

    def my_small_function_local(a, b):
        return a + b

    b, _ = dumps(my_small_function_local)
    assert b"my_small_function_global" not in b
    assert b"my_small_function_local" in b
    assert b"unrelated_function_local" not in b


def test_out_of_band_pickling():
    """Large buffers leave the pickle, and a worker's arrays come back whole and
    writable."""
    a = np.arange(5)
    data, buffers = dumps(a)
    assert len(buffers) == 1
    assert memoryview(buffers[0]) == memoryview(a).cast("B")
    assert a.tobytes() not in data

    big = get({"x": (np.arange, 1_000_000)}, "x")
    np.testing.assert_array_equal(big, np.arange(1_000_000))
    big[0] = 7  # the buffer the block gave it is its own


def bad():
    raise ValueError("12345")


def test_errors_propagate():
    dsk = {"x": (bad,)}

    with pytest.raises(ValueError) as e:
        get(dsk, "x")
    assert "12345" in str(e.value)
    # The worker's traceback comes along (tblib), down to the raising function.
    frames = "".join(traceback.format_tb(e.value.__traceback__))
    assert "in bad" in frames


def test_lambda_with_cloudpickle():
    dsk = {"x": 2, "y": (lambda x: x + 1, "x")}
    assert get(dsk, "y") == 3


def lambda_result():
    return lambda x: x + 1


def test_lambda_results_with_cloudpickle():
    dsk = {"x": (lambda_result,)}
    f = get(dsk, "x")
    assert f(2) == 3


class NotUnpickleable:
    def __getstate__(self):
        return ()

    def __setstate__(self, state):
        raise ValueError("Can't unpickle me")


def test_unpicklable_args_generate_errors():
    a = NotUnpickleable()

    dsk = {"x": (bool, a)}

    with pytest.raises(ValueError):
        get(dsk, "x")

    dsk = {"x": (bool, "a"), "a": a}

    with pytest.raises(ValueError):
        get(dsk, "x")


def test_reuse_pool():
    assert get({"x": (inc, 1)}, "x", num_workers=2) == 2
    pids = pool(2).pids()
    assert get({"x": (inc, 1)}, "x", num_workers=2) == 2
    assert pool(2).pids() == pids


def test_dumps_loads():
    with dask.config.set(func_dumps=pickle.dumps, func_loads=pickle.loads):
        assert get({"x": 1, "y": (add, "x", 2)}, "y") == 3


def test_fuse_doesnt_clobber_intermediates():
    d = {"x": 1, "y": (inc, "x"), "z": (add, 10, "y")}
    assert get(d, ["y", "z"]) == (2, 12)


def test_optimize_graph_false():
    from dask.callbacks import Callback

    d = {"x": 1, "y": (inc, "x"), "z": (add, 10, "y")}
    keys = []
    with Callback(pretask=lambda key, *args: keys.append(key)):
        get(d, "z", optimize_graph=False)
    assert len(keys) == 2


def test_works_with_highlevel_graph():
    """Previously `dask.multiprocessing.get` would accidentally forward
    `HighLevelGraph` graphs through the dask optimization/scheduling routines,
    resulting in odd errors. One way to trigger this was to have a
    non-indexable object in a task. This is just a smoketest to ensure that
    things work properly even if `HighLevelGraph` objects get passed to
    `dask.multiprocessing.get`. See https://github.com/dask/dask/issues/7190.
    """

    class NoIndex:
        def __init__(self, x):
            self.x = x

        def __getitem__(self, key):
            raise Exception("Oh no!")

    x = delayed(lambda x: x)(NoIndex(1))
    (res,) = get(x.dask, x.__dask_keys__())
    assert isinstance(res, NoIndex)
    assert res.x == 1


@pytest.mark.parametrize("random", ["numpy", "random"])
def test_random_seeds(random):
    if random == "numpy":
        random = np.random
    else:
        import random

    @delayed(pure=False)
    def f():
        return tuple(random.randint(0, 10000) for i in range(5))

    N = 10
    with dask.config.set(scheduler="taskloom-processes"):
        (results,) = compute([f() for _ in range(N)])

    assert len(set(results)) == N


class global_:
    value = 0


def proc_init():
    global_.value = 1


@pytest.mark.parametrize(
    "scheduler, initializer, expected_results",
    [
        ("taskloom", None, [1] * 10),
        ("taskloom-processes", None, [0] * 10),
        ("taskloom-processes", proc_init, [1] * 10),
    ],
)
def test_process_initializer(scheduler, initializer, expected_results):
    @delayed(pure=False)
    def f():
        return global_.value

    global_.value = 1

    with dask.config.set(
        {"scheduler": scheduler, "multiprocessing.initializer": initializer}
    ):
        (results,) = compute([f() for _ in range(10)])
    assert results == expected_results

    (results2,) = compute(
        [f() for _ in range(10)],
        scheduler=scheduler,
        initializer=initializer,
    )
    assert results2 == expected_results


def check_for_pytest():
    """Whether this process has a module only the parent process has."""
    return "FAKE_MODULE_FOR_TEST" in sys.modules


def test_workers_are_never_forked():
    """A ``fork`` context setting does not make taskloom fork: its workers are
    fresh interpreters, and never see the parent's modules."""
    sys.modules["FAKE_MODULE_FOR_TEST"] = 1
    try:
        with dask.config.set({"multiprocessing.context": "fork"}):
            result = get({"x": (check_for_pytest,)}, "x")
        assert not result
    finally:
        del sys.modules["FAKE_MODULE_FOR_TEST"]


def test_num_workers_default():
    assert get({"x": (inc, 1)}, "x") == 2
    assert len(pool(CPU_COUNT).pids()) == CPU_COUNT


def test_values_round_trip():
    """Arrays and other objects mixed cross to a worker and back equal (the block
    layout ``taskloom._native`` writes and ``taskloom._pickle.loads`` reads)."""
    values = {"a": np.arange(10.0), "b": [1, "two", b"three" * 1000], "c": np.ones((3, 7))}
    out = get({"x": (lambda v: v, values)}, "x")
    np.testing.assert_array_equal(out["a"], values["a"])
    assert out["b"] == values["b"]
    np.testing.assert_array_equal(out["c"], values["c"])


def grow(b):
    return b + b"x" * 4096


def test_chains_run_fused_and_results_stay_in_workers():
    """A linear chain of tasks runs in one worker as one call: its intermediate
    results never leave the worker, not even to be kept there (taskloom's
    fusion, which Dask's ``optimize_graph`` fuse does in Python). Results only other
    tasks need stay in the worker that made them: only the target crosses."""
    dsk = {("g", 0): b""}
    for i in range(1, 50):
        dsk[("g", i)] = (grow, ("g", i - 1))
    out = get(dsk, ("g", 49), num_workers=2)
    assert len(out) == 49 * 4096
    traffic = pool(2).traffic()
    # Every link's result was made (counted in produced), none was kept or sent back
    # but the last.
    assert traffic["produced"] >= 49 * 4096 * 49 // 2
    assert traffic["kept"] == 0
    assert traffic["to_parent"] < 2 * 49 * 4096
    assert traffic["moved"] == 0
    assert traffic["worker_to_worker"] == 0


def test_arrays_move_between_workers_not_through_the_parent():
    """A matrix product on two workers needs blocks made by the other worker: they
    go from worker to worker directly (each once: the worker keeps what it got), and
    next to nothing crosses this process; the answer is numpy's."""
    import dask.array as da

    x = da.random.RandomState(1).random_sample((800, 800), chunks=200)
    y = (x @ x.T).sum()
    got = y.compute(scheduler=get, num_workers=2)
    expected = (x.compute() @ x.compute().T).sum()
    np.testing.assert_allclose(got, expected)
    traffic = pool(2).traffic()
    through = traffic["to_parent"] + traffic["from_parent"]
    assert traffic["worker_to_worker"] > 0, traffic
    assert traffic["moved"] == 0, traffic
    assert through * 100 <= 5 * traffic["produced"], traffic
    # Each 200² block of x and of x.T (a task of its own: 32 values of 320 kB) moves
    # at most once to the other worker; the products stay where they were made.
    assert traffic["worker_to_worker"] <= 32 * 200 * 200 * 8 * 1.1, traffic
