#!/usr/bin/env python3
"""A corpus of real Dask task graphs, in the shared JSON graph format.

Runs as `scripts/py scripts/dask_corpus.py` (the project's Python environment, with
the pinned Dask the corpus was made with), from the repository root:

    scripts/py scripts/dask_corpus.py [--out corpus] [--seeds 10] [--only NAME...]
    scripts/py scripts/dask_corpus.py --list     # the graphs, one line each

Builds each graph from a real Dask collection (arrays, dataframes, bags, delayed), takes
the graph exactly as `dask.compute` hands it to a scheduler (optimized, culled to the
requested keys), and writes it as `OUT/dask/NAME.json`:
`{"name", "tasks": [{"key", "deps"}], "targets"}`, keys as Python `repr`s of Dask's
keys, dependencies sorted (Dask keeps them in sets). Nothing is computed.

Then it measures `dask.order` on every written file, as scripts/dask_order_pressure.py
does (every task a no-op over its dependencies, `max(dask.order.diagnostics(dsk, o)[1])`),
once per interpreter with PYTHONHASHSEED=0..SEEDS-1 (dask.order iterates sets, so its
order can change with the seed), and writes the manifest `OUT/dask.json`: the Dask,
NumPy, pandas and Python versions, and per graph its file, kind, description, task and
edge counts, the max pressure of each seed, the best (`dask_max_pressure`) and the worst.
taskloom-core's test `dask_corpus` holds taskloom's order to the best seed.

Measuring the stored file (not the in-memory collection) keeps the numbers reproducible:
anyone can re-run dask_order_pressure.py on the same file and get them. Two things are
normalised so that the files are the same from run to run: the random token that
`dask.compute` puts in its finalize keys (`...finalizecompute-<uuid4>`) becomes a hash of
the graph's name, and dependencies are sorted; the graphs are built with
PYTHONHASHSEED=0, since Dask's optimizations name fused tasks in set order; and no
path gets into a key: functions that Dask would pickle by value (file name included)
get a token of their code instead (`stable_function_tokens`), and this file runs as
`scripts/dask_corpus.py` (its code's file name and `__file__`) wherever the checkout
and the Python environment are. Impure
delayed calls and Dask's disk shuffle also name keys at random: the graphs use
`pure=True` and shuffles by tasks. The committed corpus is this script's output with
the defaults (two to three minutes, most of it `dask.order` on the larger graphs
under ten hash seeds).
"""
import argparse
import hashlib
import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
from collections.abc import Mapping

# Outside the project's Python environment, say which one to use rather than fail
# on an import.
_missing = [m for m in ('dask', 'numpy', 'pandas') if importlib.util.find_spec(m) is None]
if _missing:
    sys.exit(f"dask_corpus.py: no module named {', '.join(_missing)}: run it as "
             "`scripts/py scripts/dask_corpus.py ...` (the project's Python environment)")

# This folder. Under main's re-run, `__file__` is STABLE_NAME and the real file is
# `_REAL_FILE` (see main).
HERE = os.path.dirname(os.path.abspath(globals().get("_REAL_FILE", __file__)))

# ---------------------------------------------------------------------------------------
# Capturing the graph a scheduler gets
# ---------------------------------------------------------------------------------------


class _Captured(Exception):
    """Raised by the capturing scheduler to stop `dask.compute` before anything runs."""

    def __init__(self, dsk, keys):
        super().__init__("graph captured")
        self.dsk = dsk
        self.keys = keys


def _capture(dsk, keys, **_kwargs):
    raise _Captured(dsk, keys)


def _flatten(keys):
    if isinstance(keys, list):
        for k in keys:
            yield from _flatten(k)
    else:
        yield keys


_RANDOM_TOKEN = re.compile(r"(finalizecompute-)[0-9a-f]+(-[-0-9a-f]*)?")


def capture(name, *collections):
    """The graph `dask.compute(*collections)` would run, in the shared JSON format."""
    import dask
    from dask._task_spec import convert_legacy_graph

    try:
        dask.compute(*collections, scheduler=_capture)
    except _Captured as c:
        dsk, keys = c.dsk, c.keys
    else:  # pragma: no cover - the scheduler always raises
        raise RuntimeError(f"{name}: dask.compute did not call the scheduler")
    if not isinstance(dsk, Mapping):
        dsk = dsk.__dask_graph__()
    graph = convert_legacy_graph(dsk)
    targets = list(dict.fromkeys(_flatten(keys)))

    # Cull to what the targets need (dask.compute does already; this makes sure).
    needed, stack = set(), list(targets)
    while stack:
        k = stack.pop()
        if k in needed:
            continue
        needed.add(k)
        stack.extend(graph[k].dependencies)

    # Each collection's finalize token, numbered in the order the targets name them.
    tokens = {}

    def stable(m):
        token = m.group(0)
        if token not in tokens:
            digest = hashlib.sha1(f"{name}/{len(tokens)}".encode()).hexdigest()[:32]
            tokens[token] = m.group(1) + digest
        return tokens[token]

    for k in targets:
        _RANDOM_TOKEN.sub(stable, str(k))

    def text(key):
        return _RANDOM_TOKEN.sub(stable, str(key))

    tasks = []
    seen = set()
    for key in graph:
        if key not in needed:
            continue
        k = text(key)
        if k in seen:
            raise RuntimeError(f"{name}: two keys print as {k}")
        seen.add(k)
        deps = sorted(text(d) for d in graph[key].dependencies)
        tasks.append({"key": k, "deps": deps})
    tasks.sort(key=lambda t: t["key"])
    return {"name": name, "tasks": tasks, "targets": [text(t) for t in targets]}


# ---------------------------------------------------------------------------------------
# The graphs
# ---------------------------------------------------------------------------------------

GRAPHS = {}  # name -> (kind, description, builder returning the collections)


def graph(name, kind, description):
    def register(build):
        GRAPHS[name] = (kind, description, build)
        return build

    return register


def _rand(shape, chunks):
    import dask.array as da

    return da.random.default_rng(0).random(shape, chunks=chunks)


# Arrays --------------------------------------------------------------------------------


@graph("array_sum_split_every", "array", "ones((6000, 6000), chunks 200).sum(split_every=8)")
def _():
    import dask.array as da

    return [da.ones((6000, 6000), chunks=(200, 200)).sum(split_every=8)]


@graph("array_mean_axis0", "array", "random (4000, 4000), chunks 200: mean(axis=0, split_every=4)")
def _():
    return [_rand((4000, 4000), (200, 200)).mean(axis=0, split_every=4)]


@graph("array_var", "array", "random (4000, 4000), chunks 250: var(split_every=4)")
def _():
    return [_rand((4000, 4000), (250, 250)).var(split_every=4)]


@graph("array_anomaly", "array", "((x - x.mean(axis=0)) ** 2).sum(axis=0), x (4000, 4000) chunks 250")
def _():
    x = _rand((4000, 4000), (250, 250))
    return [((x - x.mean(axis=0)) ** 2).sum(axis=0)]


@graph("array_x_plus_xT", "array", "(x + x.T).sum(), x (3000, 3000) chunks 200")
def _():
    x = _rand((3000, 3000), (200, 200))
    return [(x + x.T).sum()]


@graph("array_matmul", "array", "a @ b, (2000, 2000) chunks 200, then .sum()")
def _():
    a = _rand((2000, 2000), (200, 200))
    b = _rand((2000, 2000), (200, 200))
    return [(a @ b).sum()]


@graph("array_matmul_small", "array", "(a @ b).sum(), (1200, 1200) chunks 200: 6 x 6 blocks")
def _():
    return [(_rand((1200, 1200), (200, 200)) @ _rand((1200, 1200), (200, 200))).sum()]


@graph("array_matmul_large", "array", "(a @ b).sum(), (3200, 3200) chunks 200: 16 x 16 blocks")
def _():
    return [(_rand((3200, 3200), (200, 200)) @ _rand((3200, 3200), (200, 200))).sum()]


@graph("array_matmul_narrow", "array", "(a @ b).sum(), a (2000, 2000) and b (2000, 600) chunks 200: 10 x 10 and 10 x 3 blocks")
def _():
    return [(_rand((2000, 2000), (200, 200)) @ _rand((2000, 600), (200, 200))).sum()]


@graph("array_matmul_wide", "array", "(a @ b).sum(), a (800, 3200) and b (3200, 1600) chunks 200: 4 x 16 and 16 x 8 blocks")
def _():
    return [(_rand((800, 3200), (200, 200)) @ _rand((3200, 1600), (200, 200))).sum()]


@graph("array_matmul_blocks", "array", "a @ b, (1600, 1600) chunks 200 (the whole product: its blocks, then the finalize)")
def _():
    a = _rand((1600, 1600), (200, 200))
    b = _rand((1600, 1600), (200, 200))
    return [a @ b]


@graph("array_tensordot", "array", "tensordot of (400, 400, 40) and (400, 40, 400), axes ((1, 2), (0, 1))")
def _():
    import dask.array as da

    a = _rand((400, 400, 40), (50, 50, 20))
    b = _rand((400, 40, 400), (50, 20, 50))
    return [da.tensordot(a, b, axes=((1, 2), (0, 1))).sum()]


@graph("array_xTx", "array", "x.T @ x, x tall (20000, 500) chunks (500, 100)")
def _():
    x = _rand((20000, 500), (500, 100))
    return [x.T @ x]


@graph("array_rechunk", "array", "rechunk (4000, 4000) from row strips (100, 4000) to columns (4000, 100), then sum(axis=0)")
def _():
    x = _rand((4000, 4000), (100, 4000)).rechunk((4000, 100))
    return [x.sum(axis=0)]


@graph("array_rechunk_blocks", "array", "rechunk (3000, 3000) from (200, 3000) to (300, 300) blocks, then std()")
def _():
    return [_rand((3000, 3000), (200, 3000)).rechunk((300, 300)).std()]


@graph("array_map_overlap", "array", "map_overlap (depth 1, reflect) of (3000, 3000) chunks 200, then sum()")
def _():
    x = _rand((3000, 3000), (200, 200))
    return [x.map_overlap(lambda b: b * 2, depth=1, boundary="reflect").sum()]


@graph("array_map_overlap_small", "array", "map_overlap (depth 1, none) of (1200, 1200) chunks 200: 6 x 6 blocks, then sum()")
def _():
    x = _rand((1200, 1200), (200, 200))
    return [x.map_overlap(lambda b: b * 2, depth=1, boundary="none").sum()]


@graph("array_map_overlap_none", "array", "map_overlap (depth 1, none) of (2200, 2200) chunks 200: 11 x 11 blocks, then sum()")
def _():
    x = _rand((2200, 2200), (200, 200))
    return [x.map_overlap(lambda b: b * 2, depth=1, boundary="none").sum()]


@graph("array_map_overlap_large", "array", "map_overlap (depth 2, reflect) of (12000, 12000) chunks 500: 24 x 24 blocks, then sum()")
def _():
    x = _rand((12000, 12000), (500, 500))
    return [x.map_overlap(lambda b: b * 2, depth=2, boundary="reflect").sum()]


@graph("array_map_overlap_periodic", "array", "map_overlap (depth 1, periodic) of (1600, 3200) chunks 200: 8 x 16 blocks, then sum()")
def _():
    x = _rand((1600, 3200), (200, 200))
    return [x.map_overlap(lambda b: b * 2, depth=1, boundary="periodic").sum()]


@graph("array_map_overlap_depth", "array", "map_overlap (depth 2, none) of 3-d (200, 200, 200) chunks 50, then mean(axis=0)")
def _():
    x = _rand((200, 200, 200), (50, 50, 50))
    return [x.map_overlap(lambda b: b + 1, depth=2, boundary="none").mean(axis=0)]


@graph("array_cumsum", "array", "cumsum(axis=0) of (4000, 4000) chunks 250, then sum(axis=1)")
def _():
    return [_rand((4000, 4000), (250, 250)).cumsum(axis=0).sum(axis=1)]


@graph("array_cumsum_blelloch", "array", "cumsum(axis=1, method='blelloch') of (2000, 8000) chunks 250, then max()")
def _():
    return [_rand((2000, 8000), (250, 250)).cumsum(axis=1, method="blelloch").max()]


@graph("array_tsqr", "array", "linalg.qr (tsqr) of (100000, 40) chunks (1000, 40): q and r")
def _():
    import dask.array as da

    q, r = da.linalg.qr(_rand((100000, 40), (1000, 40)))
    return [q, r]


@graph("array_svd", "array", "linalg.svd (tsqr) of (64000, 30) chunks (500, 30): u, s, v")
def _():
    import dask.array as da

    return list(da.linalg.svd(_rand((64000, 30), (500, 30))))


@graph("array_svd_compressed", "array", "linalg.svd_compressed(k=10) of (4000, 4000) chunks 500")
def _():
    import dask.array as da

    return list(da.linalg.svd_compressed(_rand((4000, 4000), (500, 500)), k=10, seed=0))


@graph("array_cholesky", "array", "linalg.cholesky of an SPD (2400, 2400) in chunks of 300")
def _():
    import dask.array as da

    x = _rand((2400, 2400), (300, 300))
    spd = x @ x.T + da.eye(2400, chunks=300) * 2400
    return [da.linalg.cholesky(spd)]


@graph("array_fft", "array", "fft along axis 1 after rechunk to whole rows, abs().sum(axis=0); (4000, 4000)")
def _():
    import dask.array as da

    x = _rand((4000, 4000), (250, 250)).rechunk((100, 4000))
    return [abs(da.fft.fft(x, axis=1)).sum(axis=0)]


@graph("array_fft2", "array", "fft2 of (128, 256, 256) chunks (1, 256, 256), then ifft2, real part, mean(axis=0)")
def _():
    import dask.array as da

    x = _rand((128, 256, 256), (1, 256, 256))
    return [da.fft.ifft2(da.fft.fft2(x) * 0.5).real.mean(axis=0)]


@graph("array_slicing", "array", "x[::2, 100:-100].T[5:] of (4000, 4000) chunks 200, then sum(axis=1)")
def _():
    x = _rand((4000, 4000), (200, 200))
    return [x[::2, 100:-100].T[5:].sum(axis=1)]


@graph("array_fancy_indexing", "array", "x[idx] with a permutation of rows, (4000, 400) chunks (100, 400), then mean(axis=1)")
def _():
    import numpy as np

    x = _rand((4000, 400), (100, 400))
    idx = np.random.default_rng(1).permutation(4000)[:2000]
    return [x[idx].mean(axis=1)]


@graph("array_concatenate", "array", "concatenate three (2000, 2000) arrays on axis 0, sum(axis=1)")
def _():
    import dask.array as da

    parts = [_rand((2000, 2000), (250, 250)) * (i + 1) for i in range(3)]
    return [da.concatenate(parts, axis=0).sum(axis=1)]


@graph("array_stack_mean", "array", "stack of 8 (1500, 1500) arrays, mean(axis=0), then std(axis=0)")
def _():
    import dask.array as da

    parts = [_rand((1500, 1500), (250, 250)) + i for i in range(8)]
    return [da.stack(parts).mean(axis=0).std(axis=0)]


@graph("array_histogram", "array", "histogram(bins=20) of (4000, 4000) chunks 200")
def _():
    import dask.array as da

    h, _ = da.histogram(_rand((4000, 4000), (200, 200)), bins=20, range=(0, 1))
    return [h]


@graph("array_argmin", "array", "argmin(axis=1, split_every=4) of (3000, 6000) chunks 250")
def _():
    return [_rand((3000, 6000), (250, 250)).argmin(axis=1, split_every=4)]


# DataFrames ----------------------------------------------------------------------------


def _ts(days=60, seed=1):
    import dask

    return dask.datasets.timeseries(
        start="2000-01-01", end=f"2000-{1 + days // 30:02d}-{1 + days % 30:02d}",
        freq="10min", partition_freq="1D", seed=seed,
    )


@graph("df_groupby_agg", "dataframe", "timeseries (60 partitions): groupby('name').agg(x sum, y max), split_every=4")
def _():
    return [_ts().groupby("name").agg({"x": "sum", "y": "max"}, split_every=4)]


@graph("df_groupby_split_out", "dataframe", "timeseries (60 partitions): groupby('id').x.mean(split_out=6)")
def _():
    return [_ts().groupby("id").x.mean(split_out=6)]


@graph("df_shuffle", "dataframe", "timeseries (60 partitions): shuffle('id') by tasks, the whole frame")
def _():
    import dask

    with dask.config.set({"dataframe.shuffle.method": "tasks"}):
        return [_ts().shuffle("id")]


@graph("df_merge", "dataframe", "merge of two timeseries (60 and 30 partitions) on 'id', tasks shuffle, then x_l.sum()")
def _():
    import dask

    with dask.config.set({"dataframe.shuffle.method": "tasks"}):
        left, right = _ts(60, 1), _ts(30, 2)
        m = left.merge(right, on="id", suffixes=("_l", "_r"), shuffle_method="tasks")
        return [m.x_l.sum()]


@graph("df_set_index", "dataframe", "timeseries (60 partitions): set_index('x') with 30 given divisions, tasks shuffle")
def _():
    import dask
    import numpy as np

    with dask.config.set({"dataframe.shuffle.method": "tasks"}):
        divisions = list(np.linspace(-1, 1, 31))
        return [_ts().set_index("x", divisions=divisions, shuffle_method="tasks")]


@graph("df_rolling", "dataframe", "timeseries (60 partitions): x.rolling('6h').mean(), the whole series")
def _():
    return [_ts().x.rolling("6h").mean()]


@graph("df_rolling_count", "dataframe", "timeseries (60 partitions): rolling(30).sum() of x and y, then max()")
def _():
    return [_ts()[["x", "y"]].rolling(30).sum().max()]


@graph("df_value_counts", "dataframe", "timeseries (60 partitions): name.value_counts(split_every=4)")
def _():
    return [_ts().name.value_counts(split_every=4)]


@graph("df_drop_duplicates", "dataframe", "timeseries (60 partitions): [name, id].drop_duplicates(split_out=4)")
def _():
    return [_ts()[["name", "id"]].drop_duplicates(split_out=4)]


@graph("df_resample", "dataframe", "timeseries (60 partitions): resample('1h').mean()")
def _():
    return [_ts().resample("1h").agg({"x": "mean", "y": "max", "id": "count"})]


@graph("df_describe", "dataframe", "timeseries (30 partitions): describe() of x, y, id")
def _():
    return [_ts(30)[["x", "y", "id"]].describe()]


# Bags ----------------------------------------------------------------------------------


def _bag(n=20000, npartitions=200):
    import dask.bag as db

    return db.from_sequence(range(n), npartitions=npartitions)


def _key(x):
    return x % 13


def _add(acc, x):
    return acc + x


@graph("bag_foldby", "bag", "from_sequence (200 partitions): foldby(x % 13, +, 0, combine=+, split_every=4)")
def _():
    return [_bag().foldby(_key, _add, 0, _add, 0, split_every=4)]


@graph("bag_groupby", "bag", "from_sequence (64 partitions): groupby(x % 13, shuffle='tasks', max_branch=8)")
def _():
    return [_bag(npartitions=64).groupby(_key, shuffle="tasks", max_branch=8)]


@graph("bag_frequencies", "bag", "from_sequence (200 partitions): map(x % 100).frequencies(split_every=4).topk(5)")
def _():
    return [_bag().map(lambda x: x % 100).frequencies(split_every=4).topk(5, key=lambda kv: kv[1])]


@graph("bag_distinct_mean", "bag", "from_sequence (200 partitions): distinct() and mean() of one filtered map, together")
def _():
    b = _bag().map(lambda x: x * 3 % 1000).filter(lambda x: x % 2 == 0)
    return [b.distinct(), b.mean()]


@graph("bag_join_pluck", "bag", "records bag (100 partitions) of dicts: pluck, map_partitions, reduction with split_every=5")
def _():
    b = _bag(10000, 100).map(lambda x: {"k": x % 7, "v": x})
    return [b.pluck("v").map_partitions(sorted).reduction(sum, sum, split_every=5)]


# Delayed -------------------------------------------------------------------------------


@graph("delayed_etl", "delayed", "load 100 files, clean and featurize each, pairwise tree of merges, report")
def _():
    from dask import delayed

    @delayed(pure=True)
    def load(i):
        return i

    @delayed(pure=True)
    def clean(x):
        return x

    @delayed(pure=True)
    def featurize(x, y):
        return x

    @delayed(pure=True)
    def merge(a, b):
        return a

    @delayed(pure=True)
    def report(x, stats):
        return x

    stats = [clean(load(i)) for i in range(100)]
    level = [featurize(s, stats[(i + 1) % len(stats)]) for i, s in enumerate(stats)]
    while len(level) > 1:
        level = [merge(*level[i:i + 2]) if i + 1 < len(level) else level[i]
                 for i in range(0, len(level), 2)]
    return [report(level[0], stats[0])]


@graph("delayed_stencil", "delayed", "30 time steps of a 40-cell 1-d stencil (each cell reads 3 neighbours), then a sum")
def _():
    from dask import delayed

    @delayed(pure=True)
    def init(i):
        return i

    @delayed(pure=True)
    def step(left, mid, right, t):
        return mid

    cells = [init(i) for i in range(40)]
    for t in range(30):
        cells = [step(cells[i - 1] if i else cells[i], cells[i],
                      cells[i + 1] if i + 1 < len(cells) else cells[i], t)
                 for i in range(len(cells))]
    return [delayed(sum, pure=True)(cells)]


@graph("delayed_model_scoring", "delayed", "fit 4 models on 4 samples, score each of 150 chunks with every model, best per chunk, mean")
def _():
    from dask import delayed

    @delayed(pure=True)
    def chunk(i):
        return i

    @delayed(pure=True)
    def fit(sample, m):
        return m

    @delayed(pure=True)
    def score(model, c):
        return c

    @delayed(pure=True)
    def best(*scores):
        return max(scores)

    chunks = [chunk(i) for i in range(150)]
    models = [fit(chunks[m * 37], m) for m in range(4)]
    bests = [best(*[score(m, c) for m in models]) for c in chunks]
    return [delayed(sum, pure=True)(bests)]


# ---------------------------------------------------------------------------------------
# Writing the corpus and measuring dask.order
# ---------------------------------------------------------------------------------------


def write_graphs(out_dir, only):
    import dask

    # Shuffles by tasks, as the local schedulers run them (the default without a
    # distributed cluster, "disk", funnels everything through one partd barrier task
    # with a random name).
    dask.config.set({"dataframe.shuffle.method": "tasks"})
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for name, (kind, description, build) in GRAPHS.items():
        if only and name not in only:
            continue
        g = capture(name, *build())
        path = os.path.join(out_dir, f"{name}.json")
        with open(path, "w") as f:
            # One task a line: readable diffs, no pretty-printing overhead.
            f.write('{"name": ' + json.dumps(g["name"]) + ', "targets": '
                    + json.dumps(g["targets"]) + ', "tasks": [\n')
            f.write(",\n".join(json.dumps(t, separators=(",", ":")) for t in g["tasks"]))
            f.write("\n]}\n")
        edges = sum(len(t["deps"]) for t in g["tasks"])
        print(f"{name}: {len(g['tasks'])} tasks, {edges} edges, "
              f"{len(g['targets'])} targets", file=sys.stderr)
        written.append((name, kind, description, path, len(g["tasks"]), edges,
                        len(g["targets"])))
    return written


def dask_pressure(paths, seeds):
    """Max pressure of dask.order per file, one entry per PYTHONHASHSEED."""
    by_graph = {}
    for seed in range(seeds):
        env = dict(os.environ, PYTHONHASHSEED=str(seed))
        out = subprocess.run(
            [sys.executable, os.path.join(HERE, "dask_order_pressure.py"), "--raw",
             "--runs", "1", *paths],
            env=env, check=True, capture_output=True, text=True,
        ).stdout
        for line in out.splitlines():
            row = json.loads(line)
            by_graph.setdefault(row["graph"], []).append(row["max_pressure"])
    return by_graph


def versions():
    import dask
    import numpy
    import pandas

    return {"dask": dask.__version__, "numpy": numpy.__version__,
            "pandas": pandas.__version__, "python": platform.python_version()}


def stable_function_tokens():
    """Makes Dask's tokens of Python functions independent of where files are.

    Dask names a collection's keys with a hash of what built it, functions included.
    A function it cannot pickle by reference (a closure inside Dask, like the
    wrappers of `da.ones`; anything defined in a script) it pickles by value with
    cloudpickle, which records the absolute path of its source file: the keys then
    depend on where the checkout and the Python environment are. This registers a
    token for such functions made of what they compute instead: module, qualified
    name, bytecode, constants, names, defaults and closure, no file name.
    """
    import pickle
    import types

    from dask.tokenize import normalize_token

    def code_token(code):
        return ("code", code.co_name, code.co_code, code.co_names, code.co_varnames,
                code.co_freevars, code.co_cellvars,
                tuple(code_token(c) if isinstance(c, types.CodeType) else normalize_token(c)
                      for c in code.co_consts))

    @normalize_token.register(types.FunctionType)
    def normalize_function(f):
        try:
            out = pickle.dumps(f, protocol=5)
            if b"__main__" not in out:
                return ("function", out)  # by reference: module and name
        except Exception:
            pass
        closure = tuple(normalize_token(c.cell_contents) for c in f.__closure__ or ())
        return ("function", f.__module__, f.__qualname__, code_token(f.__code__),
                normalize_token(f.__defaults__), normalize_token(f.__kwdefaults__), closure)


# The name this file's code is compiled under when it builds the graphs (see main).
STABLE_NAME = "scripts/dask_corpus.py"

# Runs this file as __main__ under STABLE_NAME, both its code's file name and its
# `__file__`: `path`, the real file, is `_REAL_FILE`.
_BOOT = ("import sys; path = sys.argv[1]; sys.argv = [path, *sys.argv[2:]]; "
         "code = compile(open(path).read(), %r, 'exec'); "
         "exec(code, {'__name__': '__main__', '__file__': %r, '_REAL_FILE': path})"
         ) % (STABLE_NAME, STABLE_NAME)


def main():
    if os.environ.get("PYTHONHASHSEED") != "0" or __file__ != STABLE_NAME:
        # Build the graphs in an interpreter with a fixed hash seed (Dask's graph
        # optimizations iterate sets: which fused task gets which name), and with this
        # file's code compiled under a name, and its `__file__` set to one, that do not
        # depend on where the checkout is: Dask tokenizes the functions defined here by
        # value (cloudpickle), with their code's file name and their module's
        # `__file__`, and the tokens are in the keys.
        env = dict(os.environ, PYTHONHASHSEED="0")
        sys.exit(subprocess.run([sys.executable, "-c", _BOOT, os.path.abspath(__file__),
                                 *sys.argv[1:]], env=env).returncode)
    stable_function_tokens()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="corpus", help="folder for dask.json and dask/*.json")
    ap.add_argument("--seeds", type=int, default=10, help="PYTHONHASHSEED values 0..N-1")
    ap.add_argument("--only", nargs="*", default=[], help="build only these graphs")
    ap.add_argument("--list", action="store_true", help="list the graphs and exit")
    args = ap.parse_args()
    if args.list:
        for name, (kind, description, _) in GRAPHS.items():
            print(f"{name:28} {kind:10} {description}")
        return
    unknown = set(args.only) - set(GRAPHS)
    if unknown:
        sys.exit(f"unknown graphs: {', '.join(sorted(unknown))} (see --list)")

    written = write_graphs(os.path.join(args.out, "dask"), set(args.only))
    pressure = dask_pressure([w[3] for w in written], args.seeds)
    manifest_path = os.path.join(args.out, "dask.json")
    entries = {}
    if args.only and os.path.exists(manifest_path):  # keep the graphs not rebuilt
        with open(manifest_path) as f:
            entries = {g["name"]: g for g in json.load(f)["graphs"]}
    for name, kind, description, path, tasks, edges, targets in written:
        seeds = pressure[name]
        entries[name] = {
            "name": name, "file": os.path.relpath(path, args.out), "kind": kind,
            "description": description, "tasks": tasks, "edges": edges,
            "targets": targets, "dask_max_pressure": min(seeds),
            "dask_max_pressure_worst": max(seeds), "dask_max_pressure_by_seed": seeds,
        }
    manifest = {
        "about": "Real Dask graphs (scripts/dask_corpus.py) and dask.order's max pressure "
                 "on each file, per PYTHONHASHSEED 0..seeds-1 "
                 "(max(dask.order.diagnostics(dsk, o)[1]), sinks not counted).",
        "versions": versions(), "seeds": args.seeds,
        "graphs": [entries[n] for n in GRAPHS if n in entries],
    }
    with open(manifest_path, "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print(f"{len(written)} graphs written; manifest {manifest_path}", file=sys.stderr)


if __name__ == "__main__":
    main()
