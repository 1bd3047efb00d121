"""The process scheduler's failures: each is a clear error naming the key, and none
leaves the pool broken or a process behind.

- a task or a result that cannot be pickled: ``pickle.PicklingError`` naming the key;
- a worker killed while running a task: replaced, and the task runs again; killed
  every time: ``taskloom.SchedulerError`` naming the key and how each worker ended;
- Ctrl-C: ``KeyboardInterrupt`` at once; the workers running the computation's tasks
  are killed (and replaced), and a program that exits leaves no worker behind.
"""

import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from dask.utils_test import inc

import taskloom
from taskloom.multiprocessing import get, pool


def test_unpicklable_task_names_its_key():
    lock = threading.Lock()
    with pytest.raises(pickle.PicklingError, match=r"task \('locked', 3\)") as e:
        get({("locked", 3): (id, lock), "y": (inc, 1)}, [("locked", 3), "y"])
    assert "lock" in str(e.value)
    assert get({"y": (inc, 1)}, "y") == 2  # the pool goes on


def make_lock():
    return threading.Lock()


def test_unpicklable_result_names_its_key():
    with pytest.raises(pickle.PicklingError, match="task `lock-maker`") as e:
        get({"lock-maker": (make_lock,)}, "lock-maker")
    assert "cannot pickle" in str(e.value)
    assert get({"y": (inc, 1)}, "y") == 2


def kill_self_once(marker):
    """Kills its worker (SIGKILL) the first time it runs, returns its pid after."""
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return os.getpid()
    os.kill(os.getpid(), signal.SIGKILL)


def kill_self():
    os.kill(os.getpid(), signal.SIGKILL)


def test_killed_worker_is_replaced_and_the_task_retried(tmp_path):
    workers = pool(2)
    assert get({"warm": (inc, 1)}, "warm", num_workers=2) == 2
    before = set(workers.pids())
    pid = get({"k": (kill_self_once, str(tmp_path / "marker")), "y": (inc, "k")}, "k", num_workers=2)
    after = set(workers.pids())
    assert len(after - before) == 1  # one worker was replaced
    assert pid in after


def test_worker_killed_every_time_is_a_clear_error():
    with pytest.raises(taskloom.SchedulerError) as e:
        get({"killer": (kill_self,), "y": (inc, 1)}, ["killer", "y"], num_workers=2)
    message = str(e.value)
    assert "killer" in message
    assert "SIGKILL" in message
    assert get({"y": (inc, 1)}, "y", num_workers=2) == 2


def sleep_and_tell(path, seconds):
    with open(path, "w") as f:
        f.write(str(os.getpid()))
    time.sleep(seconds)
    return seconds


def alive(pid):
    """Whether ``pid`` is a live process (not gone, not a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_ctrl_c_stops_at_once_and_kills_the_running_tasks(tmp_path):
    workers = pool(2)
    dsk = {("sleep", i): (sleep_and_tell, str(tmp_path / f"{i}"), 60) for i in range(2)}
    dsk["all"] = (sum, list(dsk))
    main = threading.get_ident()
    sent = []

    def interrupt_when_running():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if all((tmp_path / f"{i}").exists() for i in range(2)):
                break
            time.sleep(0.02)
        time.sleep(0.1)
        sent.append(time.monotonic())
        signal.pthread_kill(main, signal.SIGINT)

    timer = threading.Thread(target=interrupt_when_running)
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        get(dsk, "all", num_workers=2)
    raised = time.monotonic()
    timer.join()
    assert raised - sent[0] < 1.0
    running = [int((tmp_path / f"{i}").read_text()) for i in range(2)]
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in running) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in running)
    # Replaced, and usable.
    assert get({"y": (inc, 1)}, "y", num_workers=2) == 2
    assert not set(running) & set(workers.pids())


def test_a_program_interrupted_leaves_no_process_behind(tmp_path):
    """Ctrl-C in a program whose tasks sleep: it exits promptly, and neither its
    workers nor what they were running outlive it."""
    script = tmp_path / "prog.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import os, sys, time
            sys.path.insert(0, {os.path.dirname(__file__)!r})
            import taskloom.multiprocessing as tm
            from test_processes_failures import sleep_and_tell
            print(" ".join(str(p) for p in tm.pool(2).pids()), flush=True)
            dsk = {{("s", i): (sleep_and_tell, {str(tmp_path)!r} + f"/{{i}}", 60) for i in range(2)}}
            tm.get(dsk, list(dsk), num_workers=2)
            """
        )
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        workers = [int(p) for p in proc.stdout.readline().split()]
        deadline = time.monotonic() + 60
        while not all((tmp_path / f"{i}").exists() for i in range(2)):
            assert time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.02)
        time.sleep(0.1)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
        took = time.monotonic() - sent
    finally:
        proc.kill()
    assert "KeyboardInterrupt" in err
    assert took < 5, took
    assert len(workers) == 2
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in workers)
