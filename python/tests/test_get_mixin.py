"""Dask's own specification of a ``get`` function, run against taskloom's.

``dask.utils_test.GetFunctionTestMixin`` is what Dask offers "to test foreign
implementations of the `get` function specification"; its tests run here unchanged,
on the threads, inline, and on the process scheduler.
"""

from dask.utils_test import GetFunctionTestMixin, inc

import taskloom
import taskloom.multiprocessing


class TestGet(GetFunctionTestMixin):
    get = staticmethod(taskloom.get)

    def test_get_num_workers(self):
        assert self.get({"x": (inc, "y"), "y": 1}, "x", num_workers=1) == 2
        assert self.get({"x": (inc, "y"), "y": 1}, "x", num_workers=3) == 2


class TestGetSync(GetFunctionTestMixin):
    get = staticmethod(taskloom.get_sync)

    def test_get_sync_num_workers(self):
        """From dask/tests/test_local.py: ``num_workers`` is accepted and ignored."""
        assert self.get({"x": (inc, "y"), "y": 1}, "x", num_workers=2) == 2


class TestProcessGet(GetFunctionTestMixin):
    """The process scheduler: every task pickled to a worker process and back."""

    get = staticmethod(taskloom.multiprocessing.get)

    def test_process_get_num_workers(self):
        assert self.get({"x": (inc, "y"), "y": 1}, "x", num_workers=1) == 2
        assert self.get({"x": (inc, "y"), "y": 1}, "x", num_workers=2) == 2
