"""taskloom's Rust task scheduler as a Dask scheduler.

>>> import dask.array as da, taskloom
>>> int(da.ones(1000, chunks=2).sum().compute(scheduler=taskloom.get))
1000

``taskloom.get`` has the signature of Dask's scheduler functions
(``dask.threaded.get``): pass it as ``scheduler=`` to ``compute``/``dask.compute``, or
set it with ``dask.config.set(scheduler=taskloom.get)``. Tasks run on a thread pool
kept for the life of the process (one per worker count). ``taskloom.get_sync`` runs
every task inline on the calling thread, one at a time (``dask.get`` /
``dask.local.get_sync``), for debugging.

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

from taskloom import _native
from taskloom._native import SchedulerError
from taskloom._pictures import report, visualize
from taskloom._scheduler import get, get_sync

__all__ = ["SchedulerError", "get", "get_sync", "report", "visualize"]
__version__ = version("taskloom")

# Pool threads are not Python threads: at exit, wait for the tasks they are running
# (as Python waits for the threads of Dask's pools) before the interpreter finalizes.
atexit.register(_native.at_exit)
