"""Graph and key shapes Dask's ``get`` accepts, answered as Dask answers them.

Every case is computed by Dask's ``get_sync`` (the reference) and by ``taskloom.get``
and ``taskloom.get_sync`` (the ``get`` fixture).
"""

import numpy as np
import pytest

from dask._task_spec import Alias, DataNode, Task, TaskRef
from dask.highlevelgraph import HighLevelGraph
from dask.local import get_sync as dask_get
from dask.utils_test import add, inc

CASES = {
    "no keys": ({"x": 1}, []),
    "repeated and nested keys": ({"x": 1, "y": (inc, "x")}, ["y", "y", ["y"]]),
    "tuple keys": ({("a", 1): 1, ("a", 2): (inc, ("a", 1))}, ("a", 2)),
    "1-tuple and 3-tuple keys": ({("a",): 1, ("b", 0, 1): (inc, ("a",))}, [("b", 0, 1)]),
    "int and float keys": ({1: 10, 2: (inc, 1), 3.5: (add, 1, 2)}, [3.5, 2]),
    "tuple keys of other parts": ({("x", "y"): 1, ("x", 1.5): (inc, ("x", "y"))}, ("x", 1.5)),
    "keys inside lists": ({"a": 1, "b": (sum, ["a", "a", (inc, "a")])}, "b"),
    "alias chains": ({"a": 1, "b": "a", "c": "b", "d": (inc, "c")}, ["d", "c"]),
    "empty lists": ({"x": (inc, 1)}, [[], ["x"], [[]]]),
    "strings that are not keys": ({"x": (str.upper, "not a key")}, "x"),
    "dicts in tasks": ({"a": 1, "b": (lambda d: d["k"], {"k": "a", "j": (inc, 1)})}, "b"),
    "task-spec nodes": (
        {
            "d": DataNode("d", 5),
            "t": Task("t", add, TaskRef("d"), 1),
            "al": Alias("al", "t"),
            "n": Task("n", lambda x, y: (x, y), TaskRef("al"), Task(None, inc, TaskRef("d"))),
        },
        ["n", "al"],
    ),
    "numpy values": ({"a": np.arange(5), "b": (np.sum, "a")}, ["b", "a"]),
    "wide fan-in": (
        {**{("x", i): (inc, i) for i in range(300)}, "s": (sum, [("x", i) for i in range(300)])},
        "s",
    ),
}


def same(a, b):
    if isinstance(a, tuple):
        return isinstance(b, tuple) and len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_same_answer_as_dask(get, case):
    dsk, keys = CASES[case]
    assert same(get(dsk, keys), dask_get(dsk, keys))


def test_high_level_graph(get):
    layers = {"a": {"x": 1, "y": (inc, "x")}, "b": {"z": (add, (inc, "x"), "y")}}
    graph = HighLevelGraph(layers, {"a": set(), "b": {"a"}})
    assert get(graph, ["z", "y"]) == (4, 2)


def test_only_what_is_needed_runs(get):
    ran = []

    def note(name):
        ran.append(name)
        return name

    dsk = {"a": (note, 1), "b": (note, 2), "c": (inc, "a")}
    assert get(dsk, "c") == 2
    assert ran == [1]


def test_dict_values_are_not_copied(get):
    big = object()
    assert get({"x": big, "y": (lambda o: o, "x")}, ["x", "y"]) == (big, big)
    assert get({"x": big, "y": (lambda o: o, "x")}, "y") is big
