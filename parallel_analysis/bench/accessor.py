"""The ``df.par`` workloads: ``rowapply``, ``seriesmap`` and ``groupapply``, against pandas' own
calls. Layer: faces (bench.accessor; imports the package and its own modules).

Each times the pandas method a user already calls, with a pure-Python function (it holds the
GIL, so only processes can speed it up), and ``df.par`` / ``s.par`` on our pools:

==============  ======================================  ======================================
workload        pandas (the baseline)                   ours
==============  ======================================  ======================================
rowapply        ``df.apply(row_score, axis=1)``,        ``df.par.apply(row_score, axis=1)``
                400,000 rows × 3 columns
seriesmap       ``s.map(bucket)``, 400,000 floats       ``s.par.map(bucket)``
groupapply      ``df.groupby("k").apply(spread)``,      ``df.par.groupby("k").apply(spread)``
                10,000 groups of 20 rows
==============  ======================================  ======================================

Peers get the row chunks our pools would cut (whole groups for groupapply), pickled, and run the
pandas call on each chunk, results concatenated: what a user writes without ``df.par``.
"""

from __future__ import annotations

import math

import numpy as np

import parallel_analysis as par

from .workloads import Case, Data, Workload, chunk_slices

#: Groups of the groupapply frame (its rows: GROUP_ROWS per group on average).
N_GROUPS = 10_000
GROUP_ROWS = 20


def row_score(row):
    """A row function of the kind people hand to ``df.apply(axis=1)``."""
    return row["a"] * 2.0 + row["b"] if row["c"] > 0 else row["a"] - row["b"]


def bucket(x):
    """An element function of the kind people hand to ``s.map``."""
    if x < 0.25:
        return 0.0
    if x < 0.5:
        return x * 2.0
    return math.sqrt(x)


def spread(group):
    """A group function of the kind people hand to ``groupby().apply``."""
    values = group["v"]
    return values.max() - values.min()


def _par(obj, pool):
    """``obj.par`` on ``pool`` (the accessor module loads pandas: imported on first use)."""
    import parallel_analysis.pandas  # noqa: F401  registers .par

    return obj.par(pool=pool)


def _rows_of(chunk):
    return chunk.apply(row_score, axis=1)


def _map_of(chunk):
    return chunk.map(bucket)


def _groups_of(chunk):
    return chunk.groupby("k").apply(spread)


class _PandasWorkload(Workload):
    """Base: the pandas call is the baseline; results must equal it exactly."""

    baseline = "plain"
    plain_label = "pandas"
    peer_rounds = {"full": 2}

    def check(self, result, expected):
        import pandas as pd

        pd.testing.assert_series_equal(result, expected, check_exact=True)

    def _peer_chunks(self, value) -> list:
        return [value.iloc[s] for s in chunk_slices(len(value))]


class RowApply(_PandasWorkload):
    name = "rowapply"
    title = "df.apply(f, axis=1): a pure-Python row function on 3 columns"
    sizes = {"smoke": 2_000, "quick": 100_000, "full": 400_000}
    rounds = {"smoke": 1, "quick": 5, "full": 5}

    def make_data(self, size: int) -> Data:
        import pandas as pd

        rng = np.random.default_rng(7)
        frame = pd.DataFrame({"a": rng.random(size), "b": rng.integers(0, 100, size),
                              "c": rng.standard_normal(size)})
        return Data(frame, int(frame.memory_usage().sum()))

    def run_plain(self, data, case):
        return data.value.apply(row_score, axis=1)

    def run_ours(self, pool, data, case: Case):
        return _par(data.value, pool).apply(row_score, axis=1)

    def run_peer(self, peer, data, case):
        import pandas as pd

        return pd.concat(peer.map(_rows_of, self._peer_chunks(data.value)))


class SeriesMap(_PandasWorkload):
    name = "seriesmap"
    title = "s.map(g): a pure-Python function of each float"
    sizes = {"smoke": 20_000, "quick": 400_000, "full": 400_000}
    rounds = {"smoke": 1, "quick": 5, "full": 9}

    def make_data(self, size: int) -> Data:
        import pandas as pd

        series = pd.Series(np.random.default_rng(8).random(size), name="x")
        return Data(series, int(series.memory_usage()))

    def run_plain(self, data, case):
        return data.value.map(bucket)

    def run_ours(self, pool, data, case: Case):
        return _par(data.value, pool).map(bucket)

    def run_peer(self, peer, data, case):
        import pandas as pd

        return pd.concat(peer.map(_map_of, self._peer_chunks(data.value)))


class GroupApply(_PandasWorkload):
    name = "groupapply"
    title = f"df.groupby(k).apply(f): a pure-Python function of each of {N_GROUPS:,} groups"
    sizes = {"smoke": 2_000, "quick": N_GROUPS * GROUP_ROWS, "full": N_GROUPS * GROUP_ROWS}
    rounds = {"smoke": 1, "quick": 7, "full": 7}

    def make_data(self, size: int) -> Data:
        import pandas as pd

        rng = np.random.default_rng(9)
        groups = max(1, min(N_GROUPS, size // GROUP_ROWS))
        frame = pd.DataFrame({"k": rng.integers(0, groups, size), "v": rng.random(size)})
        return Data(frame, int(frame.memory_usage().sum()))

    def run_plain(self, data, case):
        return data.value.groupby("k").apply(spread)

    def run_ours(self, pool, data, case: Case):
        return _par(data.value, pool).groupby("k").apply(spread)

    def run_peer(self, peer, data, case):
        import pandas as pd

        chunks = par.split(data.value, by="k")
        return pd.concat(peer.map(_groups_of, chunks)).sort_index()
