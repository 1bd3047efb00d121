"""The cases of Dask's ``dask/tests/test_local.py`` that test a scheduler's ``get``.

Each runs on ``taskloom.get`` and ``taskloom.get_sync`` (the ``get`` fixture). Not
ported: ``test_start_state*``, ``test_finish_task`` and ``test_sort_key``, which test
``dask.local``'s own helpers, not a ``get``. ``test_complex_ordering`` asserts that
``get_sync`` runs tasks in exactly ``dask.order``'s order; taskloom orders with its
own core, so the port asserts what that order promises instead (see there), and
``test_ordering`` the key order taskloom breaks ties in (lowest first; Dask highest).
"""

import pytest

import dask
from dask._task_spec import Task, TaskRef
from dask.callbacks import Callback
from dask.order import order
from dask.utils_test import add, inc

import taskloom


def test_cache_options(get):
    cache = {}

    def inc2(x):
        assert "y" in cache
        return x + 1

    with dask.config.set(cache=cache):
        assert get({"x": (inc2, "y"), "y": 1}, "x") == 2
    assert cache["x"] == 2


def test_cache_argument_supplies_missing_keys(get):
    cache = {"y": 41}
    assert get({"x": (inc, TaskRef("y"))}, "x", cache=cache) == 42
    assert cache["x"] == 42


def test_callback_kwargs_are_accepted(get):
    """Dask's ``test_callback``: ``start_callback``/``end_callback`` keyword
    arguments are accepted (Dask's ``get_async`` ignores them too)."""
    f = lambda x: x + 1
    dsk = {"a": (f, 1)}

    def start_callback(key, d, state):
        raise AssertionError("not a Dask callback; never called")

    def end_callback(key, value, d, state, worker_id):
        raise AssertionError("not a Dask callback; never called")

    assert get(dsk, "a", start_callback=start_callback, end_callback=end_callback) == 2


def test_exceptions_propagate(get):
    class MyException(Exception):
        def __init__(self, a, b):
            self.a = a
            self.b = b

        def __str__(self):
            return "My Exception!"

    def f():
        raise MyException(1, 2)

    with pytest.raises(MyException) as info:
        get({"x": (f,)}, "x")
    e = info.value
    assert "My Exception!" in str(e)
    assert "a" in dir(e)
    assert e.a == 1
    assert e.b == 2


def test_ordering():
    """Ties between equally big branches go by key. Dask takes the highest key first
    and asserts ``('x', 9)``, ``('x', 8)``, ...; taskloom's order takes the lowest
    first (the direction its rule 3 takes started tasks in, so a grid of chunks is
    swept one way: fewer results held on scans, FFTs and stencils; see the guide's
    ordering chapter). Either way the inline scheduler runs them in key order."""
    L = []

    def append(i):
        L.append(i)

    dsk = {("x", i): (append, i) for i in range(10)}
    x_keys = sorted(dsk)
    dsk["y"] = (lambda *args: None, list(x_keys))

    taskloom.get_sync(dsk, "y")

    assert L == list(range(10))


def max_held(dsk, run_order):
    """Most results held at once when tasks run one at a time in ``run_order``: a
    result is held from its task until its last dependent has run (as dask.order's
    ``diagnostics`` counts them)."""
    deps = {k: set(v.dependencies) for k, v in dsk.items()}
    left = {k: 0 for k in dsk}
    for k in dsk:
        for d in deps[k]:
            left[d] += 1
    held, most = set(), 0
    for k in run_order:
        held.add(k)
        for d in deps[k]:
            left[d] -= 1
            if left[d] == 0:
                held.discard(d)
        most = max(most, len(held))
    return most


def test_complex_ordering():
    """Dask's ``test_complex_ordering`` graph. Its assertion (``pretask`` order equals
    ``dask.order``) is about Dask's orderer; taskloom's promises are that every task
    runs once, after its dependencies, holding no more results at once than Dask's
    order would."""
    da = pytest.importorskip("dask.array")
    from dask._task_spec import convert_legacy_graph

    actual_order = []

    def track_order(key, dask, state):
        actual_order.append(key)

    x = da.random.normal(size=(20, 20), chunks=(-1, -1))
    res = (x.dot(x.T) - x.mean(axis=0)).std()
    dsk = convert_legacy_graph(dict(res.__dask_graph__()))
    exp_order_dict = order(dsk)
    exp_order = sorted(exp_order_dict.keys(), key=exp_order_dict.get)
    with Callback(pretask=track_order):
        taskloom.get_sync(dsk, exp_order[-1])

    assert sorted(actual_order, key=str) == sorted(exp_order, key=str)
    position = {k: i for i, k in enumerate(actual_order)}
    for key in actual_order:
        assert all(position[d] < position[key] for d in dsk[key].dependencies)
    assert max_held(dsk, actual_order) <= max_held(dsk, exp_order)


def test_ensure_calculate_only_whats_needed(get):
    counter = 0

    def only_once():
        nonlocal counter
        if counter > 0:
            raise RuntimeError("Should only be called once")
        counter += 1
        return 1

    def add(x, y):
        return x + y

    tasks = [
        Task("x1", only_once),
        (t1 := Task("x2", only_once)),
        Task("y", add, 1, t1.ref()),
    ]
    dsk = {t.key: t for t in tasks}
    assert get(dsk, "y") == 2


def test_detect_malformed_graph(get):
    dsk = {"y": Task("y", lambda x: x, TaskRef("x"))}
    with pytest.raises(ValueError, match="Missing dependency"):
        get(dsk, "y")
    assert get(dsk, "y", cache={"x": 1}) == 1


def test_cycle_is_a_runtime_error(get):
    dsk = {"a": (inc, "b"), "b": (inc, "a"), "c": (add, "a", 1)}
    with pytest.raises(RuntimeError, match="Cycle detected between the following keys"):
        get(dsk, "c")
