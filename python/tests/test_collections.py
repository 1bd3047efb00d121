"""Real Dask collections computed by taskloom give what Dask's threads give.

Each computation runs under ``scheduler='threads'`` (Dask's reference) and under
``taskloom.get`` and ``taskloom.get_sync`` (the ``get`` fixture), on the objects
``compute`` hands a scheduler (expressions, high-level graphs), optimized and not.
"""

import numpy as np
import pandas as pd
import pytest

import dask
import dask.array as da
import dask.bag as db
import dask.dataframe as dd


def same(a, b):
    if isinstance(a, pd.DataFrame | pd.Series):
        pd.testing.assert_frame_equal(pd.DataFrame(a), pd.DataFrame(b))
    elif isinstance(a, np.ndarray | np.generic):
        np.testing.assert_allclose(a, b)
    else:
        assert a == b


def check(collection, get, **kwargs):
    expected = collection.compute(scheduler="threads", **kwargs)
    same(collection.compute(scheduler=get, **kwargs), expected)
    return expected


@pytest.mark.parametrize("optimize_graph", [True, False])
def test_seed_example(get, optimize_graph):
    """The seed's example: ``da.ones(1000, chunks=2).sum()``, 1,168 tasks unoptimized."""
    x = da.ones(1000, chunks=2).sum()
    assert check(x, get, optimize_graph=optimize_graph) == 1000


def test_array_reductions(get):
    rng = da.random.default_rng(42)
    x = rng.random((400, 300), chunks=(50, 40))
    check(x.sum(), get)
    check(x.mean(axis=0), get)
    check(x.std(axis=1), get)
    check((x.T @ x)[:5, :5], get)
    check(x.argmax(axis=0), get)


def test_array_slicing(get):
    x = da.arange(10_000, chunks=333)
    check(x[::7].cumsum(axis=0), get)
    check(da.concatenate([x, x[::-1]]).reshape(100, 200).sum(axis=0), get)


def test_bag(get):
    b = db.from_sequence(range(2_000), npartitions=40)
    check(b.map(lambda x: x * 2).filter(lambda x: x % 3 == 0).sum(), get)
    folded = b.foldby(lambda x: x % 7, lambda acc, x: acc + x, 0, lambda a, b: a + b, 0)
    assert sorted(folded.compute(scheduler=get)) == sorted(folded.compute(scheduler="threads"))
    check(b.frequencies(sort=True).topk(3, key=1), get)


def test_bag_text(get):
    words = db.from_sequence(["a b c", "b c d", "c d e"] * 50, npartitions=9)
    counts = words.str.split().flatten().frequencies()
    assert dict(counts.compute(scheduler=get)) == dict(counts.compute(scheduler="threads"))


def frame():
    rng = np.random.default_rng(7)
    pdf = pd.DataFrame(
        {
            "key": rng.integers(0, 20, 5_000),
            "x": rng.random(5_000),
            "y": rng.integers(0, 100, 5_000),
        }
    )
    return dd.from_pandas(pdf, npartitions=17)


def test_dataframe_groupby(get):
    df = frame()
    check(df.groupby("key").x.mean(), get)
    check(df.groupby("key").agg({"x": "sum", "y": "max"}), get)


def test_dataframe_ops(get):
    df = frame()
    check(df[df.y > 50].x.sum(), get)
    check((df.x * df.y).cumsum(), get)
    check(df.sort_values(["y", "x"]), get)


def test_dask_compute_of_several_collections(get):
    x = da.arange(100, chunks=10)
    b = db.from_sequence(range(100), npartitions=4)
    got = dask.compute(x.sum(), b.count(), {"total": x.max()}, scheduler=get)
    assert got == dask.compute(x.sum(), b.count(), {"total": x.max()}, scheduler="threads")


def test_config_scheduler(get):
    with dask.config.set(scheduler=get):
        assert da.ones(100, chunks=10).sum().compute() == 100


def test_persist(get):
    x = da.arange(1_000, chunks=100) + 1
    (y,) = dask.persist(x, scheduler=get)
    assert (y.sum().compute(scheduler=get)) == sum(range(1, 1_001))


def test_delayed(get):
    from dask import delayed

    @delayed
    def inc(x):
        return x + 1

    @delayed
    def total(xs):
        return sum(xs)

    parts = [inc(i) for i in range(20)]
    assert total(parts).compute(scheduler=get) == sum(range(1, 21))
    assert dask.compute(*parts[:3], scheduler=get) == (1, 2, 3)
