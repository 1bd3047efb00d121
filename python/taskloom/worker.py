"""``python -m taskloom.worker``: a worker interpreter of taskloom's process pool or
cluster.

The process scheduler (``taskloom.multiprocessing.get``) and ``taskloom.Cluster``
start this module as their workers' program, the way Python's ``spawn`` start method
starts a fresh interpreter: nothing is forked. It takes the parent's ``sys.path``
(so that functions pickled by reference import here as they did there) and an
optional initializer, then enters taskloom's worker loop, which speaks the same link
protocol as the workers of a Rust program and never returns.

Arguments: ``--path JSON`` (a list of directories for ``sys.path``),
``--initializer HEX`` (a pickled function to call first).
"""

from __future__ import annotations

import json
import sys


def main(argv):
    initializer = None
    args = iter(argv)
    for arg in args:
        if arg == "--path":
            sys.path[:] = json.loads(next(args))
        elif arg == "--initializer":
            initializer = bytes.fromhex(next(args))
        else:
            raise SystemExit(f"taskloom.worker: unknown argument {arg!r}")
    from taskloom import _native

    if initializer is not None:
        import pickle

        pickle.loads(initializer)()
    _native.serve()
    raise SystemExit(
        "taskloom.worker: this interpreter was not started by a taskloom process pool "
        "or cluster (it serves tasks only as their worker)"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
