"""A task's exception comes out of ``get`` as the task raised it.

Dask re-raises the task's exception object itself, with its traceback; so does
taskloom, from whichever thread ran the task.
"""

import threading
import time
import traceback

import pytest

import dask.array as da
from dask.utils_test import inc

import taskloom


class Custom(Exception):
    def __init__(self, code):
        super().__init__(f"custom failure {code}")
        self.code = code


def fail_with(code):
    raise Custom(code)


def test_same_exception_object_type_and_message(get):
    raised = []

    def fail(x):
        raised.append(Custom(x))
        raise raised[-1]

    with pytest.raises(Custom, match="custom failure 2") as info:
        get({"x": 1, "y": (inc, "x"), "z": (fail, "y")}, "z")
    assert info.value is raised[0]
    assert info.value.code == 2


def test_traceback_reaches_the_task(get):
    with pytest.raises(Custom) as info:
        get({"x": (fail_with, 7)}, "x")
    frames = [f.name for f in traceback.extract_tb(info.value.__traceback__)]
    assert frames[-1] == "fail_with"
    assert "test_traceback_reaches_the_task" in frames  # and the caller's frames


def test_exception_not_wrapped_in_collections(get):
    def boom(block):
        raise ZeroDivisionError("in a block")

    x = da.ones(100, chunks=10).map_blocks(boom, dtype=float)
    with pytest.raises(ZeroDivisionError, match="in a block"):
        x.compute(scheduler=get)


def test_base_exceptions_pass_through(get):
    def leave():
        raise SystemExit(3)

    with pytest.raises(SystemExit) as info:
        get({"x": (leave,)}, "x")
    assert info.value.code == 3


def test_no_task_starts_after_a_failure():
    started = []

    def work(i):
        started.append(i)
        time.sleep(0.002)
        if len(started) == 10:
            raise Custom(i)
        return i

    dsk = {("w", i): (work, i) for i in range(500)}
    dsk["all"] = (sum, list(dsk))
    with pytest.raises(Custom):
        taskloom.get(dsk, "all", num_workers=1)
    count = len(started)
    time.sleep(0.1)
    assert len(started) == count, "tasks kept starting after get raised"
    assert count < 100


def test_failure_is_raised_without_waiting_for_running_tasks():
    release = threading.Event()

    def slow():
        release.wait(10)
        return 1

    def fail():
        time.sleep(0.05)
        raise Custom(0)

    t0 = time.perf_counter()
    try:
        with pytest.raises(Custom):
            taskloom.get({"slow": (slow,), "fail": (fail,)}, ["slow", "fail"], num_workers=2)
        assert time.perf_counter() - t0 < 5
    finally:
        release.set()


def test_pool_works_after_failures(get):
    for i in range(5):
        with pytest.raises(Custom):
            get({("x", i): (fail_with, i)}, ("x", i))
        assert get({"y": (inc, i)}, "y") == i + 1


def test_errors_of_the_graph(get):
    with pytest.raises(KeyError):
        get({"x": 1}, ["x", ["missing"]])
    with pytest.raises(ValueError, match="Missing dependency"):
        get({"x": (inc, dask_ref("nowhere"))}, "x")


def dask_ref(key):
    from dask._task_spec import TaskRef

    return TaskRef(key)
