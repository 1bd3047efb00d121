"""Dask collections computed by taskloom's process scheduler give what Dask's process
scheduler gives.

Each computation runs under ``scheduler="processes"`` (Dask's reference: a pool of
spawned interpreters per call) and under ``taskloom.multiprocessing.get``. Few and
small: Dask's process scheduler starts a pool each time.
"""

import numpy as np
import pandas as pd

import dask
import dask.array as da
import dask.bag as db
import dask.dataframe as dd

import taskloom.multiprocessing


def both(*collections):
    """The results under Dask's process scheduler and under taskloom's."""
    expected = dask.compute(*collections, scheduler="processes")
    got = dask.compute(*collections, scheduler=taskloom.multiprocessing.get)
    return expected, got


def test_arrays():
    x = da.random.RandomState(0).random_sample((600, 600), chunks=150)
    seed = da.ones(1000, chunks=2).sum()
    expected, got = both((x @ x.T).sum(), x.mean(axis=0), seed, x[::7, 3:200].std())
    for e, g in zip(expected, got):
        np.testing.assert_allclose(g, e)
    assert got[2] == 1000


def test_bags():
    b = db.from_sequence(range(1000), npartitions=12)
    words = db.from_sequence(["apple", "pear", "fig", "apple", "kiwi", "fig"] * 50, npartitions=5)
    expected, got = both(
        b.map(lambda x: x * x).filter(lambda x: x % 3).sum(),
        b.foldby(lambda x: x % 7, lambda acc, x: acc + x, 0),
        words.frequencies(),
        b.groupby(lambda x: x % 5).map(lambda kv: (kv[0], sum(kv[1]))),
    )
    assert got[0] == expected[0]
    assert sorted(got[1]) == sorted(expected[1])
    assert sorted(got[2]) == sorted(expected[2])
    assert sorted(got[3]) == sorted(expected[3])


def test_dataframes():
    pdf = pd.DataFrame(
        {"k": np.arange(2000) % 13, "x": np.arange(2000, dtype=float), "s": ["a", "b"] * 1000}
    )
    df = dd.from_pandas(pdf, npartitions=8)
    expected, got = both(
        df.groupby("k").x.sum(),
        df[df.x > 100].s.value_counts(),
        df.assign(y=df.x * 2).y.cumsum(),
    )
    for e, g in zip(expected, got):
        pd.testing.assert_series_equal(g.sort_index(), e.sort_index())
