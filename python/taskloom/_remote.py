"""A Dask node in a worker process, and its exception back in the parent.

``taskloom._native`` calls :func:`call` in a worker interpreter for each task it is
sent, and :func:`exception` in the parent for a task that raised. Exceptions cross
as Dask's process scheduler sends them (``dask.multiprocessing.pack_exception``: the
exception and its traceback, pickled, with ``tblib`` when it is installed) and are
raised as it raises them: the original type, with the remote traceback.
"""

from __future__ import annotations

import pickle

from dask.multiprocessing import pack_exception, remote_exception

from taskloom._pickle import dumps_inband, loads


def call(task, inputs, pickled):
    """Runs one task: ``task`` is the block of ``(node, dependency keys)``,
    ``inputs`` the dependencies' values in that order, those marked in
    ``pickled`` still blocks. Returns ``(True, result)`` or ``(False, (message,
    packed exception))``."""
    try:
        node, keys = loads(task)
        values = {
            key: loads(value) if is_pickled else value
            for key, value, is_pickled in zip(keys, inputs, pickled)
        }
        return True, node(values)
    except BaseException as e:  # noqa: BLE001 (everything goes back to the parent)
        return False, (f"{type(e).__name__}: {e}", pack_exception(e, dumps_inband))


def exception(packed):
    """The exception to raise for a task's packed exception."""
    exc, tb = pickle.loads(packed)
    if isinstance(tb, str):  # no tblib: the traceback as text
        return remote_exception(exc, tb)
    return exc.with_traceback(tb)
