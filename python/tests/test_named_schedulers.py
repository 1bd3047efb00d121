"""Importing taskloom names its schedulers for Dask."""

import dask
import dask.array as da
from dask.base import get_scheduler

import taskloom
import taskloom.multiprocessing


def test_names_are_registered():
    assert get_scheduler(scheduler="taskloom") is taskloom.get
    assert get_scheduler(scheduler="taskloom-sync") is taskloom.get_sync
    assert get_scheduler(scheduler="taskloom-processes") is taskloom.multiprocessing.get


def test_config_by_name():
    x = da.ones(100, chunks=10).sum()
    for name in ["taskloom", "taskloom-sync", "taskloom-processes"]:
        with dask.config.set(scheduler=name):
            assert get_scheduler() is get_scheduler(scheduler=name)
            assert x.compute() == 100
        assert x.compute(scheduler=name) == 100
