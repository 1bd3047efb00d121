"""``taskloom.Cluster``: Python workers over TCP, started locally or by Slurm.

The local tests run everywhere. The Slurm tests need the project's two-node dev
cluster (``scripts/slurm-dev-cluster.sh start``: nodes n1 and n2, partition ``ci``);
without it they skip saying why, and with ``TASKLOOM_REQUIRE_SLURM=1`` (CI) they
fail instead, as the Rust cluster's Slurm tests do.
"""

import os
import shutil
import subprocess

import numpy as np
import pytest

import dask
import dask.array as da
import dask.bag as db
from dask.utils_test import inc

import taskloom

PARTITION = "ci"


def whoami():
    return os.getpid()


def failing(x):
    raise KeyError(f"no {x}")


def test_local_cluster_computes_collections():
    with taskloom.Cluster(launcher="local", workers=2) as cluster:
        assert len(cluster.pids()) == 2
        b = db.from_sequence(range(100), npartitions=8).map(lambda x: x * x).sum()
        assert b.compute(scheduler=cluster.get) == sum(x * x for x in range(100))
        x = da.random.RandomState(1).random_sample((400, 400), chunks=100)
        np.testing.assert_allclose(
            (x @ x.T).sum().compute(scheduler=cluster.get), (x @ x.T).sum().compute(scheduler="sync")
        )
        pids = cluster.get({("p", i): (whoami,) for i in range(8)}, [("p", i) for i in range(8)])
        assert set(pids) <= set(cluster.pids())
        with dask.config.set(scheduler=cluster.get):
            assert db.from_sequence([1, 2, 3]).map(inc).compute() == [2, 3, 4]
        with pytest.raises(KeyError, match="no 5"):
            cluster.get({"f": (failing, 5)}, "f")
        assert sum(b for _, b in cluster.held_bytes()) == 0
    assert cluster.closed
    with pytest.raises(taskloom.SchedulerError, match="closed"):
        cluster.get({"x": (inc, 1)}, "x")


def test_bad_launcher_is_refused():
    with pytest.raises(ValueError, match="launcher"):
        taskloom.Cluster(launcher="kubernetes", workers=1)


def slurm_up():
    """Whether the dev cluster's partition answers; why not, if it does not."""
    if shutil.which("sinfo") is None:
        return "Slurm is not installed (sinfo not found)"
    try:
        out = subprocess.run(
            ["sinfo", "-h", "-p", PARTITION, "-o", "%a %D %t"],
            capture_output=True, text=True, timeout=20,
        )
    except subprocess.TimeoutExpired:
        return "sinfo did not answer"
    if out.returncode != 0 or not out.stdout.strip():
        return f"partition {PARTITION} is not up (sinfo: {out.stderr.strip() or out.stdout.strip()})"
    return None


@pytest.fixture
def slurm():
    why = slurm_up()
    if why:
        if os.environ.get("TASKLOOM_REQUIRE_SLURM") == "1":
            pytest.fail(f"TASKLOOM_REQUIRE_SLURM=1 but {why}")
        pytest.skip(f"{why}: start it with scripts/slurm-dev-cluster.sh start")


def node_name():
    return os.environ.get("SLURMD_NODENAME", "")


def test_slurm_cluster_runs_python_workers_on_both_nodes(slurm):
    with taskloom.Cluster(
        launcher="slurm", workers=2, partition=PARTITION, cpus_per_worker=1, timeout=120
    ) as cluster:
        assert sorted(cluster.nodes()) == ["n1", "n2"]
        nodes = cluster.get({("n", i): (node_name,) for i in range(16)}, [("n", i) for i in range(16)])
        assert set(nodes) <= {"n1", "n2"} and nodes[0]
        b = db.from_sequence(range(200), npartitions=10)
        assert b.map(lambda x: x + 1).sum().compute(scheduler=cluster.get) == sum(range(1, 201))
        x = da.ones((200, 200), chunks=50)
        assert (x @ x).sum().compute(scheduler=cluster.get) == 200 * 200 * 200
        with pytest.raises(KeyError, match="no 7"):
            cluster.get({"f": (failing, 7)}, "f")
