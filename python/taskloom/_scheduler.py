"""``get`` and ``get_sync``: Dask's scheduler signature, taskloom's scheduler.

What stays in Python is what must stay Dask's, done the way ``dask.local.get_async``
does it: asking a collection or expression for its graph, ``convert_legacy_graph``,
the ``cache`` option, and the ``start`` / ``start_state`` / ``finish`` callbacks
around the computation. Everything else (culling, ordering, running, releasing
results) happens in ``taskloom._native``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from dask import config
from dask._task_spec import DataNode, convert_legacy_graph
from dask.callbacks import local_callbacks
from dask.system import CPU_COUNT

from taskloom import _native
from taskloom._callbacks import Run
from taskloom._pictures import active_report


def get(dsk, keys, num_workers=None, cache=None, callbacks=None, report=None, **kwargs):
    """Compute ``keys`` of the Dask graph ``dsk`` on taskloom's thread pool.

    Parameters
    ----------
    dsk : Mapping or object with ``__dask_graph__``
        A Dask graph: what ``compute`` hands a scheduler (an expression or a
        ``HighLevelGraph``), or a plain dict of legacy tuple tasks, literals, aliases
        and ``dask._task_spec`` nodes.
    keys : key or (nested) list of keys
        Lists come back as tuples, as Dask returns them.
    num_workers : int, optional
        Worker threads; default ``dask.config.get("num_workers")``, else one per
        available core (``dask.system.CPU_COUNT``). One pool per worker count is made
        on first use and shared by every later call, from any thread.
    cache : MutableMapping, str or os.PathLike, optional
        Default ``dask.config.get("cache")``. A mapping, as Dask's schedulers take
        it: keys the graph lacks are read from it; the graph's literal values are put
        in it before tasks run, and the results of ``keys`` after. A directory (a
        ``str`` or a path): taskloom's result cache on disk, which survives the
        process. Every task is cached there by its Dask key (a collection's keys are
        tokens of its contents), its result pickled; a rerun loads what is there and
        runs only what is missing, so a computation that crashed or was killed
        resumes. The directory is created private to its user; one that other users
        can write to is refused (``PermissionError``): a pickle runs code when loaded.
    callbacks : tuple or list of tuples, optional
        Dask callbacks for this call only; by default those of
        ``dask.callbacks.Callback.active``.
    report : str or path, optional
        Writes an HTML report of this computation there (see ``taskloom.report``,
        which records every computation of a ``with`` block).
    **kwargs
        Other options of Dask's schedulers (``pool``, ``chunksize``,
        ``rerun_exceptions_locally``...) are accepted and ignored.
    """
    if num_workers is None:
        num_workers = config.get("num_workers", None) or CPU_COUNT
    return _compute(
        dsk, keys, threads=num_workers, cache=cache, callbacks=callbacks, report=report
    )


def get_sync(dsk, keys, cache=None, callbacks=None, report=None, **kwargs):
    """Compute ``keys`` of ``dsk`` with every task inline on the calling thread.

    One task at a time, in taskloom's static order: the debugging scheduler, like
    ``dask.local.get_sync``. Arguments as :func:`get`; ``num_workers`` is ignored.
    """
    kwargs.pop("num_workers", None)
    return _compute(
        dsk, keys, threads=None, cache=cache, callbacks=callbacks, report=report
    )


def _compute(dsk, keys, threads, cache, callbacks, report=None, workers=None):
    """The body of every ``get``, in the steps of ``dask.local.get_async``: on
    ``threads`` threads (``None``: inline), or in the processes of ``workers`` (a
    ``taskloom._native.Workers``)."""
    if report is not None and not isinstance(report, _native.Report):
        # A file name: one report for this call, written whatever happens.
        native = _native.Report(None)
        try:
            return _compute(dsk, keys, threads, cache, callbacks, native, workers)
        finally:
            native.save(os.fspath(report))
    native = active_report() if report is None else report
    if not isinstance(dsk, Mapping):
        dsk = dsk.__dask_graph__()
    dsk = convert_legacy_graph(dsk)
    if cache is None:
        cache = config.get("cache", None)
    disk_cache = None
    if isinstance(cache, (str, os.PathLike)):
        disk_cache, cache = os.fspath(cache), None
    if cache is not None:
        _put_literals(dsk, cache)
    with local_callbacks(callbacks) as active:
        if active:
            result = _compute_with_callbacks(
                dsk, keys, threads, cache, active, disk_cache, native, workers
            )
        else:
            result = _native.compute(
                dsk,
                keys,
                threads=threads,
                cache=cache,
                disk_cache=disk_cache,
                report=native,
                workers=workers,
            )
    if cache is not None:
        _put_results(keys, result, cache)
    return result


def _compute_with_callbacks(
    dsk, keys, threads, cache, callbacks, disk_cache, report, workers
):
    """Computes with Dask's callbacks, called as ``get_async`` calls them.

    ``start`` for each callback in turn; if one raises, only those started hear
    ``finish``. ``finish(dsk, state, errored)`` runs whatever happens, Ctrl-C included.
    """
    run = Run(callbacks, dsk, keys)
    started = []
    succeeded = False
    try:
        for callback in callbacks:
            start = callback[0]
            if start:
                start(dsk)
            started.append(callback)
        run.start_state(cache)
        result = _native.compute(
            dsk,
            keys,
            threads=threads,
            cache=cache,
            callbacks=run,
            disk_cache=disk_cache,
            report=report,
            workers=workers,
        )
        succeeded = True
    finally:
        for callback in started:
            finish = callback[4]
            if finish:
                finish(dsk, run.state, not succeeded)
    return result


def _put_literals(dsk, cache):
    """Dask keeps the graph's literal values in ``cache`` while tasks run."""
    for key, node in dsk.items():
        if isinstance(node, DataNode):
            cache[key] = node()


def _put_results(keys, result, cache):
    """Dask leaves the requested results in ``cache``."""
    if isinstance(keys, list):
        for key, value in zip(keys, result):
            _put_results(key, value, cache)
    else:
        cache[keys] = result
