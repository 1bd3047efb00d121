"""Pictures: ``visualize`` draws a graph before it runs, ``report`` a run after it.

``visualize(x, filename="graph.svg", color="order")`` draws the graph of any Dask
collection (or several, or a graph dict and its keys) as taskloom will run it: one
node per task labelled with its key, coloured by taskloom's static order (the
default), by memory pressure (results held after each task in that plan) or by
critical path, with a colour-blind-safe map and its legend. Graphs of more than
``max_tasks`` tasks are drawn as groups of keys. No graphviz needed.

``with taskloom.report("run.html"): x.compute(scheduler=taskloom.get)`` writes one
self-contained HTML file of every computation in the block: the task stream per
worker thread, results held and the process's memory and CPU over time, a table per
function, failures, and the graph coloured by run time. It opens from disk with no
network. ``get(..., report="run.html")`` does the same for one call.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Mapping

from dask._task_spec import convert_legacy_graph

from taskloom import _native

# The report of the innermost ``with taskloom.report(...)`` block of this context.
_active = contextvars.ContextVar("taskloom_report", default=None)

_FORMATS = {".svg": "svg", ".dot": "dot", ".gv": "dot"}


def visualize(
    *args,
    filename="graph.svg",
    color="order",
    colormap="viridis",
    max_tasks=2000,
    engine="builtin",
    title=None,
    keys=None,
):
    """Draws the graph of Dask collections as taskloom runs it; returns the text.

    Parameters
    ----------
    *args : Dask collections, or one graph (a Mapping) with ``keys=``
    filename : str or None
        ``.svg`` (the default, ``graph.svg``) or ``.dot``/``.gv``; ``None`` writes no
        file and returns the SVG.
    color : {"order", "pressure", "critical-path"}
        What the colour of a task shows: its rank in taskloom's static order, the
        results held after it in that plan, or the longest path through it.
    colormap : {"viridis", "cividis"}
    max_tasks : int
        Past this many tasks, one node per group of keys (Dask's ``key_split``).
    engine : {"builtin", "graphviz"}
        Who lays the SVG out: taskloom itself (no program needed), or graphviz's
        ``dot`` if installed.
    title : str, optional
    keys : key or list of keys, for a graph given as a Mapping
    """
    dsk, wanted = _graph_and_keys(args, keys)
    fmt = "svg"
    if filename is not None:
        fmt = _FORMATS.get(os.path.splitext(os.fspath(filename))[1].lower())
        if fmt is None:
            raise ValueError(f"filename {filename!r}: use a .svg, .dot or .gv file")
    text = _native.picture(
        dsk,
        wanted,
        color=color,
        format=fmt,
        colormap=colormap,
        max_tasks=max_tasks,
        engine=engine,
        title=title,
    )
    if filename is not None:
        with open(filename, "w", encoding="utf-8") as f:
            f.write(text)
    return text


def _graph_and_keys(args, keys):
    """One graph dict of task-spec nodes, and the list of keys to draw."""
    if len(args) == 1 and isinstance(args[0], Mapping):
        if keys is None:
            keys = list(args[0])
        return convert_legacy_graph(dict(args[0])), _as_list(keys)
    if not args:
        raise TypeError("visualize() needs a Dask collection or a graph")
    graphs, wanted = {}, []
    for x in args:
        if not hasattr(x, "__dask_graph__"):
            raise TypeError(f"visualize() takes Dask collections, not {type(x).__name__}")
        graphs.update(x.__dask_graph__())
        wanted.extend(_flat(x.__dask_keys__()))
    return convert_legacy_graph(graphs), wanted


def _as_list(keys):
    return keys if isinstance(keys, list) else [keys]


def _flat(keys):
    if isinstance(keys, list):
        for k in keys:
            yield from _flat(k)
    else:
        yield keys


@contextlib.contextmanager
def report(filename="report.html", title=None):
    """Records every taskloom computation of the block into one HTML report.

    The file is written when the block ends, also when a computation in it failed
    (the report then shows the failure). Yields the native report object.
    """
    native = _native.Report(title)
    token = _active.set(native)
    try:
        yield native
    finally:
        _active.reset(token)
        native.save(os.fspath(filename))


def active_report():
    """The report of the innermost ``report`` block, if any."""
    return _active.get()
