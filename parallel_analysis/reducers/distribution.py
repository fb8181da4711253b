"""reducers.distribution: histograms and quantiles, as numpy computes them. Layer: core
(imports reducers.base).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .base import Reducer, is_pandas


def _values(chunk) -> np.ndarray:
    """The values of a chunk as a flat numpy array (pandas: NA dropped, as pandas skips it)."""
    if is_pandas(chunk):
        return chunk.dropna().to_numpy().ravel()
    return np.asarray(chunk).ravel()


class Histogram(Reducer):
    """Counts in bins, as ``np.histogram(x, bins, range)``: returns ``(counts, edges)``.

    ``range`` (or explicit bin edges) is needed so every chunk uses the same bins;
    :func:`parallel_analysis.histogram` finds it for you in a first pass when you omit it.
    """

    def __init__(self, bins: Any = 10, range: tuple | None = None):
        if range is None and np.ndim(bins) == 0:
            raise ValueError(
                "Histogram needs range=(low, high) or explicit bin edges so that every chunk uses "
                "the same bins; par.histogram(x, bins) computes the range for you"
            )
        self.bins = bins
        self.range = range
        self.edges = np.histogram_bin_edges(np.empty(0), bins, range)

    def partial(self, chunk):
        counts, _ = np.histogram(_values(chunk), self.edges)
        return counts.astype(np.int64, copy=False)

    def combine(self, a, b):
        return a + b

    def finalize(self, state):
        return state, self.edges.copy()


class QuantileState(NamedTuple):
    points: np.ndarray  # sample values, unsorted across chunks
    weights: np.ndarray  # how many values each point stands for
    count: int
    has_nan: bool


class Quantile(Reducer):
    """Quantile(s) ``q`` in [0, 1]; approximate by default, exact with ``exact=True``.

    Approximate mode keeps, per chunk, at most ``sketch_size`` (K) evenly ranked values of the
    sorted chunk, each weighted by the number of values it stands for. Merging is concatenation.
    **Bound:** for N values in total, the returned value's rank differs from the requested rank
    ``q * (N - 1)`` by at most ``N / K + 1``, however the data is chunked. A chunk with at most K
    values is kept whole, so small data is exact up to interpolation. State is K points per
    chunk. ``exact=True`` keeps all values and returns ``np.quantile``'s answer (linear method).
    NaN: arrays give NaN (as numpy), pandas skips it.
    """

    def __init__(self, q: Any = 0.5, exact: bool = False, sketch_size: int = 4096):
        q_arr = np.asarray(q, dtype=float)
        if np.any((q_arr < 0) | (q_arr > 1)) or np.any(np.isnan(q_arr)):
            raise ValueError(f"quantiles must be in the range [0, 1], got {q!r}")
        if int(sketch_size) < 2:
            raise ValueError(f"sketch_size must be at least 2, got {sketch_size}")
        self.q = q
        self.exact = bool(exact)
        self.sketch_size = int(sketch_size)

    def partial(self, chunk) -> QuantileState:
        pandas = is_pandas(chunk)
        values = _values(chunk)
        has_nan = bool(not pandas and values.dtype.kind in "fc" and np.isnan(values).any())
        if self.exact or values.size <= self.sketch_size:
            return QuantileState(values.copy(), np.ones(values.size), values.size, has_nan)
        ordered = np.sort(values)
        k, n = self.sketch_size, values.size
        ranks = ((np.arange(k) + 0.5) * (n / k)).astype(np.int64)
        return QuantileState(ordered[ranks], np.full(k, n / k), n, has_nan)

    def combine(self, a: QuantileState, b: QuantileState) -> QuantileState:
        return QuantileState(
            np.concatenate([a.points, b.points]),
            np.concatenate([a.weights, b.weights]),
            a.count + b.count,
            a.has_nan or b.has_nan,
        )

    def finalize(self, state: QuantileState):
        q = np.asarray(self.q, dtype=float)
        if state.has_nan:
            return np.full(q.shape, np.nan)[()]
        if state.count == 0:
            raise ValueError("cannot compute a quantile of empty data")
        if self.exact:
            return np.quantile(state.points, q)
        order = np.argsort(state.points, kind="stable")
        points, cum = state.points[order], np.cumsum(state.weights[order])
        rank = q * (state.count - 1)
        low = np.clip(np.searchsorted(cum, np.floor(rank), side="right"), 0, points.size - 1)
        high = np.clip(np.searchsorted(cum, np.ceil(rank), side="right"), 0, points.size - 1)
        frac = rank - np.floor(rank)
        out = points[low] + (points[high] - points[low]) * frac
        return out[()] if np.ndim(out) == 0 else out
