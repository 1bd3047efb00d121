"""Dask's ``pretask`` and ``posttask`` callbacks, and the ``state`` they read.

Dask's callbacks receive the scheduler's ``state`` dict (``ready``, ``running``,
``waiting``, ``finished``, ``cache``... as built by ``dask.local``), and some read it:
``ProgressBar`` counts ``finished`` against the rest. taskloom schedules in Rust and
keeps no such dict, so when callbacks are active, :class:`Run` builds it with Dask's
own ``start_state_from_dask`` and updates it with Dask's own ``finish_task`` as tasks
finish: the callbacks see what they would see under Dask's schedulers. Only the order
differs: tasks start in taskloom-core's order, not by popping ``state["ready"]``.

``taskloom._native`` calls :meth:`Run.pretask` and :meth:`Run.posttask` from the
thread that called ``get``, one at a time, as Dask does. Without callbacks none of
this exists and nothing is paid for it.
"""

from __future__ import annotations

from dask.callbacks import unpack_callbacks
from dask.core import flatten
from dask.local import finish_task, start_state_from_dask


def _unordered(key):
    """Dask's state sorts ready tasks by priority; taskloom-core decides the order."""
    return 0


class Run:
    """The callbacks of one computation, with the ``state`` they are shown."""

    def __init__(self, callbacks, dsk, keys):
        _, self._start_state, self._pretask, self._posttask, _ = unpack_callbacks(
            callbacks
        )
        self.dsk = dsk
        self.results = set(flatten(keys)) if isinstance(keys, list) else {keys}
        # Dask passes ``{}`` to ``finish`` when it failed before making the state.
        self.state = {}

    def start_state(self, cache):
        """Builds the state as ``dask.local.get_async`` does, and calls
        ``start_state(dsk, state)`` callbacks."""
        self.state = start_state_from_dask(
            self.dsk, cache=cache, sortkey=_unordered, keys=self.results
        )
        for start_state in self._start_state:
            start_state(self.dsk, self.state)

    def pretask(self, key):
        """``key`` starts: it leaves ``ready`` for ``running``."""
        state = self.state
        ready = state["ready"]
        if ready and ready[-1] == key:
            ready.pop()
        else:
            try:
                ready.remove(key)
            except ValueError:
                pass  # a key Dask would not have run (one it found in ``cache``)
        state["running"].add(key)
        for pretask in self._pretask:
            pretask(key, self.dsk, state)

    def posttask(self, key, value, worker_id):
        """``key`` finished with ``value`` on worker ``worker_id`` (a thread's index
        in the pool; ``None`` inline)."""
        state = self.state
        state["cache"][key] = value
        finish_task(self.dsk, key, state, self.results, _unordered)
        for posttask in self._posttask:
            posttask(key, value, self.dsk, state, worker_id)
