"""``taskloom.multiprocessing.get``: Dask's process scheduler, on taskloom's process
pool.

>>> import dask.bag as db, taskloom.multiprocessing
>>> db.range(10, npartitions=2).map(lambda x: x * x).sum().compute(
...     scheduler=taskloom.multiprocessing.get)
285

The signature of ``dask.multiprocessing.get``. Tasks run in worker processes that are
fresh Python interpreters (``python -m taskloom.worker``, started as the ``spawn``
start method starts them: a threaded parent is never forked), kept for the life of
the process, one pool per worker count (and initializer), and shared by every later
call: the second ``get`` starts no process. Scheduling runs in Rust, in this process,
with the GIL released; workers speak the link protocol of taskloom's Rust process
pool.

- Tasks and values cross pickled (protocol 5, ``cloudpickle`` for what ``pickle``
  cannot take), large buffers such as numpy arrays out of band.
- A result stays in the worker that made it while only other tasks need it; a task
  runs where most of its input bytes are, and only the results asked for cross this
  process. An input held by another worker goes straight from that worker to the
  one that needs it (over a Unix socket in a directory private to the pool, never
  through this process), and stays there too, so it moves to a worker once.
- Linear chains run in one worker as one call.
- A task's exception is raised here as its original type, with the remote traceback
  (as Dask's process scheduler does); a task or a result that cannot be pickled is a
  ``pickle.PicklingError`` naming its key.
- A worker that dies while running a task (killed, segfault, ``os._exit``) is
  replaced and the task runs again, up to three times, then fails with
  ``taskloom.SchedulerError`` naming the key and how each worker ended.
- Ctrl-C stops the computation at once: the workers running its tasks are killed
  and replaced.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import threading

from dask import config
from dask.system import CPU_COUNT

from taskloom import _native
from taskloom._pickle import dumps_inband
from taskloom._scheduler import _compute

__all__ = ["get"]

_pools: dict = {}
_lock = threading.Lock()


def get(
    dsk,
    keys,
    num_workers=None,
    cache=None,
    callbacks=None,
    initializer=None,
    **kwargs,
):
    """Compute ``keys`` of the Dask graph ``dsk`` in taskloom's worker processes.

    Parameters
    ----------
    dsk, keys, cache, callbacks
        As ``taskloom.get``. ``posttask`` callbacks are given ``None`` for a result
        that stayed in a worker process.
    num_workers : int, optional
        Worker processes; default ``dask.config.get("num_workers")``, else one per
        available core. One pool per worker count is started on first use and kept.
    initializer : callable, optional
        Called once in each worker process before it runs a task (default
        ``dask.config.get("multiprocessing.initializer")``); pools with different
        initializers are different pools.
    **kwargs
        Other options of ``dask.multiprocessing.get`` (``optimize_graph``,
        ``func_dumps``, ``func_loads``, ``pool``, ``chunksize``...) are accepted
        and ignored: taskloom culls and fuses as it sees fit, and pickles with
        ``pickle`` or ``cloudpickle``.
    """
    if num_workers is None:
        num_workers = config.get("num_workers", None) or CPU_COUNT
    if initializer is None:
        initializer = config.get("multiprocessing.initializer", None)
    workers = pool(num_workers, initializer)
    return _compute(dsk, keys, None, cache, callbacks, workers=workers)


def pool(num_workers, initializer=None):
    """The process pool of ``num_workers`` workers (started on first use), as a
    ``taskloom._native.Workers``."""
    init = None if initializer is None else dumps_inband(initializer)
    key = (num_workers, init)
    with _lock:
        workers = _pools.get(key)
        if workers is None or workers.closed:
            workers = _pools[key] = _native.Workers.processes(
                num_workers, sys.executable, worker_args(init)
            )
    return workers


def worker_args(initializer=None):
    """The arguments of ``python`` that make a worker: ``-m taskloom.worker``, this
    process's ``sys.path`` and the initializer; ``-u``: what tasks print reaches this
    process's stderr as they print it, not when a buffer fills."""
    # Workers hash as this process does (dask.bag's groupby shuffles by hash), as
    # dask.multiprocessing.get arranges for its own.
    if os.environ.get("PYTHONHASHSEED") in (None, "0"):
        os.environ["PYTHONHASHSEED"] = "6640"
    args = ["-u", "-m", "taskloom.worker", "--path", json.dumps(sys.path)]
    if initializer is not None:
        args += ["--initializer", initializer.hex()]
    return args


@atexit.register
def _close_pools():
    """Stops every pool's workers before the interpreter finalizes."""
    with _lock:
        pools = list(_pools.values())
        _pools.clear()
    for workers in pools:
        workers.close()
