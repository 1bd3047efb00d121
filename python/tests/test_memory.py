"""Memory: how many results ``taskloom.get`` holds at once, counted as a user would.

Rust cannot see a Python object's size; each task measures its result with
``dask.sizeof`` where it is made, so the scheduler knows large results from small ones
and keeps a run with large ones to the static order's count of results.
"""

import threading
import weakref

import numpy as np

from taskloom import get


class Live:
    """Arrays alive now and at most, counted from their making to their collection."""

    def __init__(self):
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def made(self, array):
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        weakref.finalize(array, self.gone)
        return array

    def gone(self):
        with self.lock:
            self.now -= 1


def tree_of_sums(live, leaves, elements):
    """``leaves`` arrays of ``elements`` float64, summed pairwise down to one."""
    dsk = {("x", 0, i): (lambda i: live.made(np.full(elements, float(i))), i)
           for i in range(leaves)}
    level, width = 0, leaves
    while width > 1:
        for j in range(width // 2):
            dsk[("x", level + 1, j)] = (lambda a, b: live.made(a + b),
                                        ("x", level, 2 * j), ("x", level, 2 * j + 1))
        level, width = level + 1, width // 2
    return dsk, ("x", level, 0)


def test_two_workers_hold_numpy_results_to_the_plan():
    # 64 arrays of 1 MiB summed pairwise: the static order runs the tree depth
    # first and holds one partial sum per level (6), plus the result being made;
    # two workers may hold one more each, and the requested result. Batches that ran
    # the leaves ahead of the sums held most of the 64.
    live = Live()
    dsk, root = tree_of_sums(live, 64, 2**17)
    out = get(dsk, root, num_workers=2)
    assert out[0] == sum(range(64))
    del out
    assert live.now == 0
    plan = 6 + 1
    assert live.peak <= plan + 2 + 1, f"{live.peak} arrays alive at once"
