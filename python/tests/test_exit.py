"""The interpreter exits cleanly while taskloom's threads are busy.

Pool threads are not Python threads; were one to reach for the GIL while Python
finalizes, Python would end it on the spot and the process would crash. At exit the
package waits for the tasks being called (as Python waits for Dask's pool threads) and
starts no more. Each case runs a fresh interpreter.
"""

import signal
import subprocess
import sys
import textwrap


def run(code):
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_exit_after_ctrl_c_with_tasks_still_running():
    done = run(
        """
        import signal, threading, time, taskloom

        def spin(i):  # pure Python: holds the GIL for a second
            t = time.perf_counter()
            while time.perf_counter() - t < 1.0:
                pass
            return i

        main = threading.get_ident()
        threading.Timer(0.2, lambda: signal.pthread_kill(main, signal.SIGINT)).start()
        taskloom.get({("t", j): (spin, j) for j in range(10)}, [("t", j) for j in range(10)], num_workers=2)
        """
    )
    assert done.returncode == -signal.SIGINT, done.stderr  # KeyboardInterrupt, no crash
    assert "KeyboardInterrupt" in done.stderr


def test_exit_while_a_daemon_thread_computes():
    done = run(
        """
        import threading, time, taskloom

        def spin(i):
            t = time.perf_counter()
            while time.perf_counter() - t < 0.3:
                pass
            return i

        def background():
            try:
                taskloom.get({("t", j): (spin, j) for j in range(20)}, [("t", j) for j in range(20)], num_workers=2)
            except taskloom.SchedulerError as e:
                print("background:", e, flush=True)

        threading.Thread(target=background, daemon=True).start()
        time.sleep(0.1)
        print("main exits", flush=True)
        """
    )
    assert done.returncode == 0, done.stderr
    assert "main exits" in done.stdout
    assert "background: the Python interpreter is exiting" in done.stdout
