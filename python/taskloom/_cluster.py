"""``taskloom.Cluster``: Python tasks on taskloom's cluster, past one machine.

>>> import dask.bag as db, taskloom
>>> with taskloom.Cluster(launcher="local", workers=2) as cluster:
...     db.range(10, npartitions=2).sum().compute(scheduler=cluster.get)
45

The Rust cluster (``taskloom::cluster::Cluster``) with Python workers: the launcher
starts ``python -m taskloom.worker`` (this interpreter) on the nodes, each worker
connects back over TCP and passes the same mutual authentication as a Rust worker
(the per-cluster secret in a 0600 file, HMAC challenge both ways, the build check),
then runs tasks as the process scheduler's workers do: pickled tasks and values,
results kept where they were made, a lost worker's task retried elsewhere then a
clear error naming the key, the node and the job.
"""

from __future__ import annotations

import sys

from taskloom import _native
from taskloom._scheduler import _compute
from taskloom.multiprocessing import worker_args

__all__ = ["Cluster"]


class Cluster:
    """A taskloom cluster of Python workers; its :meth:`get` is a Dask scheduler.

    Parameters
    ----------
    launcher : {"local", "slurm"}
        Who starts the workers: processes on this machine, or one Slurm job each
        (``sbatch``).
    workers : int
        How many workers to start; the constructor waits until all are connected
        (at most ``timeout`` seconds).
    partition, cpus_per_worker, walltime, slurm_args
        Slurm only: the partition, CPUs per job, the job's time limit in seconds,
        and more ``sbatch`` arguments.
    listen : str, optional
        The address the scheduler listens on (default ``127.0.0.1:0``: this
        machine only). Workers on other machines need one they can reach
        (``0.0.0.0:0``) and, if its name is not the host's, ``advertise``.
    advertise : str, optional
        The ``host:port`` workers are told to connect to.
    retries : int, optional
        Runs of a task whose worker was lost while running it (default 3).
    resident : bool
        Whether results stay in the workers that made them (default ``True``).
    timeout : float
        Seconds to wait for the workers to connect.
    """

    def __init__(
        self,
        launcher="local",
        workers=1,
        *,
        partition=None,
        cpus_per_worker=None,
        walltime=None,
        slurm_args=(),
        listen=None,
        advertise=None,
        retries=None,
        resident=True,
        timeout=120.0,
    ):
        self.launcher = launcher
        self.workers = workers
        self._workers = _native.Workers.cluster(
            launcher,
            workers,
            sys.executable,
            worker_args(),
            partition=partition,
            cpus_per_worker=cpus_per_worker,
            walltime=walltime,
            slurm_args=list(slurm_args),
            listen=listen,
            advertise=advertise,
            retries=retries,
            resident=resident,
            timeout=timeout,
        )

    def get(self, dsk, keys, cache=None, callbacks=None, **kwargs):
        """Compute ``keys`` of ``dsk`` on the cluster's workers: Dask's scheduler
        signature (``x.compute(scheduler=cluster.get)``); arguments as
        ``taskloom.get``, other options accepted and ignored."""
        return _compute(dsk, keys, None, cache, callbacks, workers=self._workers)

    def close(self):
        """Stops the workers (their jobs cancelled) and the scheduler's listener."""
        self._workers.close()

    @property
    def closed(self):
        return self._workers.closed

    def pids(self):
        """The process ids of the connected workers."""
        return self._workers.pids()

    def nodes(self):
        """The nodes of the connected workers."""
        return self._workers.nodes()

    def held_bytes(self):
        """``[(worker, bytes)]``: results each worker holds for computations."""
        return self._workers.held_bytes()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        state = "closed" if self.closed else f"{len(self.pids())} connected"
        return f"<taskloom.Cluster launcher={self.launcher!r} workers={self.workers} {state}>"
