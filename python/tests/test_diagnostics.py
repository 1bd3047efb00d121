"""Dask's callbacks and diagnostics on taskloom's schedulers.

Ports of Dask's ``dask/diagnostics/tests/test_progress.py`` and ``test_profiler.py``
(with ``taskloom.get`` / ``get_sync`` where those use ``dask.threaded.get``), and the
callback protocol itself: which hooks run, in which order, with which ``state``.
"""

import contextlib
import threading
import time
from operator import add, mul
from timeit import default_timer

import pytest

from dask._task_spec import Task
from dask.callbacks import Callback
from dask.diagnostics import CacheProfiler, Profiler, ProgressBar, ResourceProfiler
from dask.utils_test import inc, slowadd

import taskloom

dsk = {"a": 1, "b": 2, "c": (add, "a", "b"), "d": (mul, "a", "b"), "e": (mul, "c", "d")}
dsk2 = {"a": 1, "b": 2, "c": (slowadd, "a", "b")}


def check_bar_completed(capsys, width=40):
    out, err = capsys.readouterr()
    assert out.count("100% Completed") == 1
    bar, percent, time = (i.strip() for i in out.split("\r")[-1].split("|"))
    assert bar == "[" + "#" * width + "]"
    assert percent == "100% Completed"


# --- ProgressBar (dask/diagnostics/tests/test_progress.py) ---


def test_array_compute(capsys):
    da = pytest.importorskip("dask.array")

    data = da.ones((100, 100), dtype="f4", chunks=(100, 100))
    with ProgressBar():
        out = data.sum().compute(scheduler=taskloom.get)
    assert out == 10000
    check_bar_completed(capsys)


def test_progressbar(capsys, get):
    with ProgressBar():
        out = get(dsk, "e")
    assert out == 6
    check_bar_completed(capsys)
    with ProgressBar(width=20):
        out = get(dsk, "e")
    check_bar_completed(capsys, 20)


def test_progressbar_shows_progress_while_running(capsys):
    """The bar's timer thread reads ``state`` while tasks run: it must see tasks
    finish one by one, not jump from 0 to 100%."""
    step = threading.Event()

    def wait(x):
        step.wait(5)
        return x

    chain = {"x0": 0}
    for i in range(1, 5):
        chain[f"x{i}"] = (wait, f"x{i - 1}")
    seen = []

    def watch():
        for _ in range(4):
            threading.Event().wait(0.15)
            seen.append(len(bar._state["finished"]) if bar._state else 0)
            step.set()
            step.clear()

    with ProgressBar(dt=0.01) as bar:
        watcher = threading.Thread(target=watch)
        watcher.start()
        taskloom.get(chain, "x4")
        watcher.join()
    check_bar_completed(capsys)
    assert seen == sorted(seen) and 0 < len(set(seen))
    out_fractions = [s for s in seen if 0 < s < 4]
    assert out_fractions, f"no intermediate progress seen: {seen}"


def test_minimum_time(capsys):
    with ProgressBar(10.0):
        out = taskloom.get(dsk, "e")
    out, err = capsys.readouterr()
    assert out == "" and err == ""


def test_clean_exit(get):
    dsk = {"a": (lambda: 1 / 0,)}
    with pytest.raises(ZeroDivisionError):
        with ProgressBar() as pbar:
            get(dsk, "a")
    assert not pbar._running
    assert not pbar._timer.is_alive()


def test_register(capsys):
    try:
        assert not Callback.active
        p = ProgressBar()
        p.register()

        assert Callback.active

        taskloom.get(dsk, "e")
        check_bar_completed(capsys)

        p.unregister()

        assert not Callback.active
    finally:
        Callback.active.clear()


def test_no_tasks(capsys):
    with ProgressBar():
        taskloom.get({"x": 1}, "x")
    check_bar_completed(capsys)


def test_with_alias(capsys):
    dsk = {
        "a": 1,
        "b": 2,
        "c": (add, "a", "b"),
        "d": (add, 1, 2),
        "e": "d",
        "f": (mul, "e", "c"),
    }
    with ProgressBar():
        taskloom.get(dsk, "f")
    check_bar_completed(capsys)


def test_store_time():
    p = ProgressBar()
    with p:
        taskloom.get({"x": 1}, "x")

    assert isinstance(p.last_duration, float)


# --- Profilers (dask/diagnostics/tests/test_profiler.py) ---

prof = Profiler()


def test_profiler(get):
    with prof:
        in_context_time = default_timer()
        out = get(dsk, "e")
    assert out == 6
    assert prof.start_time < in_context_time < prof.end_time
    prof_data = sorted(prof.results, key=lambda d: d.key)
    keys = [i.key for i in prof_data]
    assert keys == ["c", "d", "e"]
    tasks = [i.task for i in prof_data]
    assert len(tasks) == 3
    assert all(isinstance(t, Task) for t in tasks)
    assert all(d.start_time <= d.end_time for d in prof_data)
    prof.clear()
    assert prof.results == []


def test_profiler_worker_ids():
    """``worker_id`` is the index of the pool thread that ran the task."""
    with prof:
        taskloom.get({("x", i): (slowadd, i, 1, 0.01) for i in range(8)}, [("x", i) for i in range(8)], num_workers=2)
    ids = {d.worker_id for d in prof.results}
    prof.clear()
    assert ids <= {0, 1} and ids


def test_profiler_works_under_error(get):
    div = lambda x, y: x / y
    dsk = {"x": (div, 1, 1), "y": (div, "x", 2), "z": (div, "y", 0)}

    with contextlib.suppress(ZeroDivisionError):
        with prof:
            get(dsk, "z")

    assert all(len(v) == 5 for v in prof.results)
    assert len(prof.results) == 2
    prof.clear()


def test_two_gets():
    with prof:
        taskloom.get(dsk, "e")
    n = len(prof.results)

    dsk2 = {"x": (add, 1, 2), "y": (add, "x", "x")}

    with prof:
        taskloom.get(dsk2, "y")
    m = len(prof.results)

    with prof:
        taskloom.get(dsk, "e")
        taskloom.get(dsk2, "y")
        taskloom.get(dsk, "e")

    assert len(prof.results) == n + m + n
    prof.clear()


def test_resource_profiler():
    with ResourceProfiler(dt=0.01) as rprof:
        in_context_time = default_timer()
        taskloom.get(dsk2, "c")
    results = rprof.results
    assert len(results) > 0
    assert all(isinstance(i, tuple) and len(i) == 3 for i in results)
    assert rprof.start_time < in_context_time < rprof.end_time

    # Tracker stopped on exit
    assert not rprof._is_running()

    rprof.clear()
    assert rprof.results == []

    # Close is idempotent
    rprof.close()
    assert not rprof._is_running()

    # Restarts tracker if already closed
    with rprof:
        taskloom.get(dsk2, "c")
    assert len(rprof.results) > 0
    rprof.close()


def test_resource_profiler_multiple_gets():
    with ResourceProfiler(dt=0.01) as rprof:
        taskloom.get(dsk2, "c")
        assert len(rprof.results) == 0
        taskloom.get(dsk2, "c")
    results = rprof.results
    assert all(isinstance(i, tuple) and len(i) == 3 for i in results)

    rprof.clear()
    rprof.register()
    try:
        taskloom.get(dsk2, "c")
        assert len(rprof.results) > 0
        taskloom.get(dsk2, "c")
    finally:
        rprof.unregister()

    results = rprof.results
    assert all(isinstance(i, tuple) and len(i) == 3 for i in results)

    rprof.close()
    assert not rprof._is_running()


def test_cache_profiler(get):
    """CacheProfiler measures each result in ``posttask``: results reach callbacks."""
    with CacheProfiler() as cprof:
        in_context_time = default_timer()
        get(dsk2, "c")
    results = cprof.results
    assert all(isinstance(i, tuple) and len(i) == 5 for i in results)
    assert cprof.start_time < in_context_time < cprof.end_time

    cprof.clear()
    assert cprof.results == []

    tics = [0]

    def nbytes(res):
        tics[0] += 1
        return tics[0]

    with CacheProfiler(nbytes) as cprof:
        get(dsk2, "c")

    results = cprof.results
    assert tics[-1] == len(results)
    assert tics[-1] == results[-1].metric
    assert cprof._metric_name == "nbytes"


@pytest.mark.parametrize(
    "profiler", [Profiler, lambda: ResourceProfiler(dt=0.01), CacheProfiler]
)
def test_register_profiler(profiler):
    prof = profiler()
    try:
        prof.register()
        taskloom.get(dsk2, "c")
        n = len(prof.results)
        assert n > 0
        taskloom.get(dsk2, "c")
        assert len(prof.results) > n
    finally:
        prof.unregister()
        if isinstance(prof, ResourceProfiler):
            prof.close()


# --- The callback protocol ---


class Recorder(Callback):
    """Records every hook with what Dask would show it."""

    def __init__(self):
        self.events = []

    def _start(self, dsk):
        self.events.append(("start", sorted(dsk, key=str)))

    def _start_state(self, dsk, state):
        self.events.append(("start_state", sorted(state["ready"]), sorted(state["waiting"])))

    def _pretask(self, key, dsk, state):
        assert key in state["running"] and key not in state["ready"]
        self.events.append(("pretask", key))

    def _posttask(self, key, result, dsk, state, worker_id):
        assert key in state["finished"] and key not in state["running"]
        assert state["cache"][key] is result
        self.events.append(("posttask", key, result))

    def _finish(self, dsk, state, errored):
        self.events.append(("finish", errored, sorted(state["finished"])))


def test_callback_order_and_state(get):
    with Recorder() as rec:
        assert get(dsk, "e") == 6
    events = rec.events
    assert events[0] == ("start", ["a", "b", "c", "d", "e"])
    assert events[1] == ("start_state", ["c", "d"], ["e"])
    assert events[-1] == ("finish", False, ["c", "d", "e"])
    middle = events[2:-1]
    assert sorted(e[1] for e in middle if e[0] == "pretask") == ["c", "d", "e"]
    results = {e[1]: e[2] for e in middle if e[0] == "posttask"}
    assert results == {"c": 3, "d": 2, "e": 6}
    for key in "cde":
        assert middle.index(("pretask", key)) < middle.index(("posttask", key, results[key]))
    assert middle.index(("posttask", "c", 3)) < middle.index(("pretask", "e"))
    assert middle.index(("posttask", "d", 2)) < middle.index(("pretask", "e"))


def test_callbacks_run_on_the_calling_thread(get):
    threads = set()
    record = lambda *args: threads.add(threading.get_ident())
    with Callback(start=record, pretask=record, posttask=record, finish=record):
        get({("x", i): (inc, i) for i in range(20)}, [("x", i) for i in range(20)])
    assert threads == {threading.get_ident()}


def test_callbacks_argument_replaces_active_callbacks(get):
    seen = []
    local = (None, None, lambda key, dsk, state: seen.append(key), None, None)
    with Callback(pretask=lambda *a: pytest.fail("global callback called")):
        assert get({"x": (inc, 1)}, "x", callbacks=[local]) == 2
    assert seen == ["x"]


def test_nested_get_uses_callbacks_once(get):
    """Only the outermost computation hears the active callbacks (Dask's
    ``local_callbacks``)."""
    seen = []

    def inner(x):
        return get({"y": (inc, x)}, "y")

    with Callback(pretask=lambda key, dsk, state: seen.append(key)):
        assert get({"x": (inner, 1)}, "x") == 2
    assert seen == ["x"]


@pytest.mark.parametrize("hook", ["pretask", "posttask"])
def test_raising_callback_stops_the_computation(get, hook):
    ran = []

    def work(i):
        # Long enough that batches are a task or two: a callback's error stops the
        # tasks not yet handed out, not those of a batch already running.
        time.sleep(0.001)
        ran.append(i)
        return i

    def broken(*args):
        raise KeyError("from the callback")

    finished = []
    dsk = {("x", i): (work, i) for i in range(50)}
    dsk["total"] = (sum, list(dsk))
    with Callback(**{hook: broken}, finish=lambda dsk, state, errored: finished.append(errored)):
        with pytest.raises(KeyError, match="from the callback"):
            get(dsk, "total", num_workers=1)
    assert finished == [True]
    assert len(ran) < 50
