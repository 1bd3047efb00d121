"""Fixtures shared by the tests of the ``taskloom`` package."""

import pytest

import taskloom
from dask.callbacks import Callback


@pytest.fixture(params=[taskloom.get, taskloom.get_sync], ids=["get", "get_sync"])
def get(request):
    """Each test taking ``get`` runs once on the thread pool and once inline."""
    return request.param


@pytest.fixture(autouse=True)
def no_leftover_callbacks():
    """A test that leaves a callback registered would change every later test."""
    yield
    assert not Callback.active, f"callbacks left registered: {Callback.active}"
