"""reducers.frames: ``value_counts`` and ``describe`` as mergeable reducers. Layer: core
(imports reducers.base and reducers.distribution; pandas at import, so ``reducers/__init__``
loads it on first use).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from .base import Moments, Reducer, combine_moments
from .quantile import Quantile


class ValueCounts(Reducer):
    """``Series.value_counts()`` (or ``DataFrame.value_counts()``) merged across chunks."""

    def __init__(self, dropna: bool = True, normalize: bool = False):
        self.dropna = dropna
        self.normalize = normalize

    def partial(self, chunk):
        if not isinstance(chunk, (pd.Series, pd.DataFrame)):
            chunk = pd.Series(np.asarray(chunk))
        return chunk.value_counts(sort=False, dropna=self.dropna)

    def combine(self, a, b):
        both = pd.concat([a, b])
        levels = list(range(both.index.nlevels))
        return both.groupby(level=levels, sort=False, dropna=False, observed=True).sum()

    def finalize(self, state):
        out = state.sort_values(ascending=False, kind="stable")
        if self.normalize:
            return (out / out.sum()).rename("proportion")
        return out.rename("count")


class DescribeState(NamedTuple):
    columns: list  # labels of the numeric columns
    dtypes: list  # their dtypes (a nullable one gives a Float64 result column)
    moments: Moments  # count, mean, M2 per column
    low: np.ndarray
    high: np.ndarray
    quantiles: list  # one Quantile state per column


def _floats(series: pd.Series) -> np.ndarray:
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


class Describe(Reducer):
    """``DataFrame.describe()`` of the numeric columns: count, mean, std, min, percentiles, max.

    count, mean, std (Chan's update), min and max match pandas; percentiles come from
    :class:`~.distribution.Quantile` and are approximate within its stated rank bound unless
    ``exact=True`` (which keeps every value).
    """

    def __init__(self, percentiles: tuple = (0.25, 0.5, 0.75), exact: bool = False,
                 sketch_size: int = 4096):
        self.percentiles = tuple(percentiles)
        self.exact = exact
        self.sketch_size = sketch_size

    def _quantile(self) -> Quantile:
        return Quantile(list(self.percentiles), exact=self.exact, sketch_size=self.sketch_size)

    def partial(self, chunk) -> DescribeState:
        frame = chunk.to_frame() if isinstance(chunk, pd.Series) else chunk
        numeric = frame.select_dtypes(include="number")
        cols = [numeric.iloc[:, i] for i in range(numeric.shape[1])]
        values = [_floats(c) for c in cols]
        values = [v[~np.isnan(v)] for v in values]
        count = np.array([v.size for v in values], dtype=np.float64)
        with np.errstate(invalid="ignore"):
            mean = np.array([v.mean() if v.size else np.nan for v in values])
            m2 = np.array([((v - v.mean()) ** 2).sum() if v.size else 0.0 for v in values])
        low = np.array([v.min() if v.size else np.nan for v in values])
        high = np.array([v.max() if v.size else np.nan for v in values])
        quant = [self._quantile().partial(pd.Series(v)) for v in values]
        return DescribeState(list(numeric.columns), [c.dtype for c in cols],
                             Moments(count, mean, m2), low, high, quant)

    def combine(self, a: DescribeState, b: DescribeState) -> DescribeState:
        q = self._quantile()
        return a._replace(moments=combine_moments(a.moments, b.moments),
                          low=np.fmin(a.low, b.low), high=np.fmax(a.high, b.high),
                          quantiles=[q.combine(s, t) for s, t in zip(a.quantiles, b.quantiles)])

    def finalize(self, state: DescribeState) -> pd.DataFrame:
        q = self._quantile()
        n, m2 = state.moments.n, state.moments.m2
        with np.errstate(invalid="ignore", divide="ignore"):
            std = np.sqrt(np.where(n > 1, m2 / (n - 1), np.nan))
        rows = {"count": n, "mean": state.moments.mean + state.moments.lo, "std": std,
                "min": state.low}
        pct = [q.finalize(st) if st.count else np.full(len(self.percentiles), np.nan)
               for st in state.quantiles]
        for i, p in enumerate(self.percentiles):
            rows[_pct_label(p)] = np.array([np.atleast_1d(v)[i] for v in pct], dtype=np.float64)
        rows["max"] = state.high
        out = pd.DataFrame(rows, index=pd.Index(state.columns)).T
        for col, dtype in zip(state.columns, state.dtypes):
            if not isinstance(dtype, np.dtype):
                out[col] = pd.array(out[col].to_numpy(np.float64), dtype="Float64")
        return out


def _pct_label(p: float) -> str:
    from pandas.io.formats.format import format_percentiles

    return format_percentiles([p])[0]
