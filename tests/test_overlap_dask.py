"""map_overlap and rolling on a real dask LocalCluster (worker processes): the extended chunks
are scattered like any chunk, and the trimmed rows come back with each chunk's outcome."""

from __future__ import annotations

import dask
import distributed
import numpy as np
import pandas as pd
import pytest

import parallel_analysis as par


@pytest.fixture(scope="module")
def dpool():
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=":0")
    client = distributed.Client(cluster, set_as_default=False)
    pool = par.Pool(backend="dask", client=client)
    yield pool
    pool.close()
    client.close()
    cluster.close()


def test_map_overlap_on_dask(dpool):
    x = np.random.default_rng(1).integers(-9, 9, (3000, 2)).astype(float)
    def trailing_sum(c):  # rows 0..7 wrap around within the chunk: halo rows, trimmed
        return sum(np.roll(c, k, axis=0) for k in range(9))

    for boundary, mode in (("reflect", "symmetric"), ("periodic", "wrap"), (0.0, "constant")):
        got = dpool.map_overlap(trailing_sum, x, (8, 0), boundary=boundary, n=7)
        np.testing.assert_array_equal(got, trailing_sum(np.pad(x, [(8, 0), (0, 0)], mode))[8:])
    # a depth of several chunks
    got = dpool.map_overlap(trailing_sum, x[:200], 25, boundary="nearest", n=20)  # 10 rows each
    np.testing.assert_array_equal(got, trailing_sum(np.pad(x[:200], [(25, 25), (0, 0)],
                                                           "edge"))[25:-25])
    df = pd.DataFrame(x, columns=["a", "b"], index=pd.date_range("2024", periods=3000,
                                                                 freq="min"))
    pd.testing.assert_frame_equal(dpool.map_overlap(lambda c: c.diff(3), df, (3, 0), n=5),
                                  df.diff(3))


def test_rolling_on_dask(dpool):
    rng = np.random.default_rng(2)
    index = pd.Timestamp("2024") + pd.to_timedelta(np.cumsum(rng.integers(0, 5, 5000)), "s")
    s = pd.Series(rng.standard_normal(5000), index=index)
    pd.testing.assert_series_equal(par.rolling(s, 50, n=6, pool=dpool).max(),
                                   s.rolling(50).max(), check_exact=True)
    pd.testing.assert_series_equal(par.rolling(s, "90s", center=True, n=6, pool=dpool)
                                   .median(), s.rolling("90s", center=True).median(),
                                   check_exact=True)
    pd.testing.assert_series_equal(par.rolling(s, 50, n=6, pool=dpool).std(),
                                   s.rolling(50).std(), rtol=1e-10, atol=1e-12)
