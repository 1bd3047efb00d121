"""taskloom's Rust task scheduler as Dask's schedulers: threads, sync, processes, and a
cluster.

>>> import dask.array as da, taskloom
>>> int(da.ones(1000, chunks=2).sum().compute(scheduler=taskloom.get))
1000

``taskloom.get`` has the signature of Dask's scheduler functions
(``dask.threaded.get``): pass it as ``scheduler=`` to ``compute``/``dask.compute``, or
set it with ``dask.config.set(scheduler=taskloom.get)``. Tasks run on a thread pool
kept for the life of the process (one per worker count). ``taskloom.get_sync`` runs
every task inline on the calling thread, one at a time (``dask.get`` /
``dask.local.get_sync``), for debugging.

``taskloom.multiprocessing.get`` runs tasks in worker processes (Dask's process
scheduler), and ``taskloom.Cluster(...).get`` on workers past one machine (started
locally or by Slurm). Importing taskloom names them for Dask:
``dask.config.set(scheduler="taskloom")`` (threads), ``"taskloom-sync"`` and
``"taskloom-processes"``.

Scheduling runs in Rust, with the GIL released; a worker thread takes the GIL only
to call a task. Dask's own graph conversion and task objects are used as Dask uses
them, and Dask's behaviour holds: a task's exception is raised as it was, Dask
callbacks (``ProgressBar``, ``Profiler``, ``ResourceProfiler``...) work, Ctrl-C stops
a computation, and any number of threads may compute at once.

``taskloom.visualize(x, filename="graph.svg", color="order")`` draws a collection's
graph as taskloom will run it (no graphviz needed), and ``with
taskloom.report("run.html"): ...`` writes an offline HTML report of the runs in the
block.
"""

import atexit
from importlib.metadata import version

from dask import base as _dask_base

from taskloom import _native, multiprocessing
from taskloom._cluster import Cluster
from taskloom._native import SchedulerError
from taskloom._pictures import report, visualize
from taskloom._scheduler import get, get_sync

__all__ = [
    "Cluster",
    "SchedulerError",
    "get",
    "get_sync",
    "multiprocessing",
    "report",
    "visualize",
]
__version__ = version("taskloom")

# Dask's names for schedulers: `dask.config.set(scheduler="taskloom-processes")`.
_dask_base.named_schedulers.update(
    {
        "taskloom": get,
        "taskloom-sync": get_sync,
        "taskloom-processes": multiprocessing.get,
    }
)

# Pool threads are not Python threads: at exit, wait for the tasks they are running
# (as Python waits for the threads of Dask's pools) before the interpreter finalizes.
atexit.register(_native.at_exit)
