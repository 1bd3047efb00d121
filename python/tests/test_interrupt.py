"""Ctrl-C stops a computation promptly and leaves the pool usable.

While ``get`` waits it holds no GIL; it takes the GIL back every few milliseconds to
let Python run signal handlers, so SIGINT (Ctrl-C) raises ``KeyboardInterrupt`` from
``get`` even while every worker is busy in code that ignores signals. Tasks already
running finish in the background (threads cannot be stopped); none starts afterwards.
"""

import signal
import threading
import time

import pytest

from dask.callbacks import Callback
from dask.utils_test import inc

import taskloom


def sigint_after(seconds):
    """Sends SIGINT to this (the main) thread after ``seconds``; returns the time it
    was sent (a list filled in later)."""
    main = threading.get_ident()
    sent = []

    def fire():
        sent.append(time.perf_counter())
        signal.pthread_kill(main, signal.SIGINT)

    timer = threading.Timer(seconds, fire)
    timer.start()
    return timer, sent


def blocking_graph(n, release, started):
    def task(i):
        started.append(i)
        release.wait(30)  # blocks without looking at signals
        return i

    dsk = {("t", i): (task, i) for i in range(n)}
    dsk["all"] = (sum, list(dsk))
    return dsk


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_sigint_stops_promptly_and_pool_stays_usable(workers):
    release, started = threading.Event(), []
    dsk = blocking_graph(50, release, started)
    timer, sent = sigint_after(0.3)
    try:
        with pytest.raises(KeyboardInterrupt):
            taskloom.get(dsk, "all", num_workers=workers)
        raised = time.perf_counter()
    finally:
        release.set()
        timer.cancel()
    assert raised - sent[0] < 0.5
    assert len(started) <= workers  # the running ones; nothing else started
    time.sleep(0.05)
    assert len(started) <= workers, "tasks started after the interrupt"
    assert taskloom.get({"x": 1, "y": (inc, "x")}, "y", num_workers=workers) == 2


def test_sigint_during_get_sync():
    """Inline tasks run on the main thread: Python raises in the task itself."""

    def nap():
        time.sleep(30)

    timer, sent = sigint_after(0.2)
    t0 = time.perf_counter()
    try:
        with pytest.raises(KeyboardInterrupt):
            taskloom.get_sync({"x": (nap,), "y": (inc, "x")}, "y")
    finally:
        timer.cancel()
    assert time.perf_counter() - t0 < 5
    assert taskloom.get_sync({"x": (inc, 1)}, "x") == 2


def test_keyboard_interrupt_raised_by_a_task(get):
    def interrupt():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        get({"x": (interrupt,), "y": (inc, "x")}, "y")
    assert get({"x": (inc, 1)}, "x") == 2


def test_sigint_tells_callbacks_it_failed():
    release, started = threading.Event(), []
    dsk = blocking_graph(10, release, started)
    finished = []
    timer, _ = sigint_after(0.2)
    try:
        with Callback(finish=lambda dsk, state, errored: finished.append(errored)):
            with pytest.raises(KeyboardInterrupt):
                taskloom.get(dsk, "all", num_workers=2)
    finally:
        release.set()
        timer.cancel()
    assert finished == [True]


def test_interrupt_from_another_thread_reaches_main():
    """A process-wide SIGINT (what a terminal's Ctrl-C sends) handled while the
    workers hold the GIL in pure Python."""
    stop = threading.Event()

    def spin():
        n = 0
        while not stop.is_set():
            n += 1
        return n

    dsk = {("spin", i): (spin,) for i in range(4)}
    t0 = time.perf_counter()
    timer = threading.Timer(0.3, lambda: signal.raise_signal(signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            taskloom.get(dsk, list(dsk), num_workers=2)
    finally:
        stop.set()
        timer.cancel()
    assert time.perf_counter() - t0 < 2
