"""reducers.extremes: minimum and maximum, exact for every dtype. Layer: core (imports
reducers.base; pandas on first use).

Arrays follow numpy (``np.min`` per chunk, ``np.minimum`` to merge: NaN and NaT propagate,
complex values compare lexicographically). A Series chunk gives pandas' own scalar (``str``,
``Timestamp`` with its tz and unit, ``Timedelta``, ``Period``, the Python object of an object
column), merged by comparing those scalars, so nothing is converted; an ordered categorical is
compared by its codes (the category order, not the values' order). A chunk with no value is
skipped, and if no chunk has one the result is pandas' own missing value for the dtype. A
DataFrame's result is built by pandas from a one-row stand-in holding each column's extreme,
so its dtype (object for mixed columns, ``<NA>`` for an all-NA nullable column) is pandas'.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .base import Reducer, check_axis, is_pandas


class Extreme(NamedTuple):
    """A pandas chunk's extreme: ``key`` is what is compared (a category code, or the value)."""

    key: Any
    value: Any


class Skipped(NamedTuple):
    """The extreme of a pandas chunk with no values: skipped when merging, as pandas does."""

    value: Any


class FrameExtremes(NamedTuple):
    """Per-column states of a DataFrame chunk, and its first row (none if empty)."""

    columns: list
    template: Any


class _Extreme(Reducer):
    arrow_as_pandas = True

    _numpy: Any = None
    _method = ""

    def __init__(self, axis: Any = None):
        self.axis = check_axis(axis)

    def partial(self, chunk):
        if not is_pandas(chunk):
            return getattr(np, self._method)(chunk, axis=self.axis)
        if chunk.ndim == 1:
            return self._series(chunk)
        return FrameExtremes([self._series(chunk.iloc[:, i]) for i in range(chunk.shape[1])],
                             chunk.iloc[:1])

    def _series(self, series: Any) -> Extreme | Skipped:
        import pandas as pd

        value = getattr(series, self._method)()
        if is_missing(value):
            return Skipped(value)
        if isinstance(series.dtype, pd.CategoricalDtype):  # ordered: pandas refused otherwise
            codes = series.cat.codes.to_numpy()
            return Extreme(int(getattr(codes[codes >= 0], self._method)()), value)
        return Extreme(value, value)

    def combine(self, a, b):
        if isinstance(a, FrameExtremes):
            columns = [self._merge(x, y) for x, y in zip(a.columns, b.columns)]
            return FrameExtremes(columns, a.template if len(a.template) else b.template)
        if isinstance(a, Extreme | Skipped):
            return self._merge(a, b)
        if not isinstance(a, np.ndarray | np.generic):  # an object array's element: a str, an
            pair = np.empty(2, dtype=object)             # int past int64 ... compared as objects
            pair[:] = [a, b]
            return self._numpy.reduce(pair)
        return self._numpy(a, b)

    def _merge(self, a, b):
        if isinstance(a, Skipped):
            return b
        if isinstance(b, Skipped):
            return a
        later = b.key < a.key if self._method == "min" else b.key > a.key
        return b if later else a  # of equal values the first, as pandas keeps in an object
        # column (1 before 1.0); which zero numpy's SIMD reduction keeps is not copied

    def finalize(self, state):
        if isinstance(state, FrameExtremes):
            return self._frame(state)
        return state.value if isinstance(state, Extreme | Skipped) else state

    def _frame(self, state: FrameExtremes) -> Any:
        import pandas as pd

        template = state.template
        if not len(template):  # no rows at all: pandas' own answer for an empty frame
            return getattr(template, self._method)()
        row = pd.DataFrame({i: pd.Series([s.value], dtype=template.dtypes.iloc[i])
                            for i, s in enumerate(state.columns)})
        row.columns = template.columns
        return getattr(row, self._method)()


def is_missing(x: Any) -> bool:
    """A scalar NaN / NaT / NA (pandas objects and arrays are never 'missing' as a whole)."""
    try:
        import pandas as pd

        return bool(pd.isna(x)) if np.ndim(x) == 0 else False
    except (TypeError, ValueError):
        return False


class Min(_Extreme):
    """Minimum; NaN propagates for arrays (as ``np.min``) and is skipped for pandas."""

    _numpy = staticmethod(np.minimum)
    _method = "min"


class Max(_Extreme):
    """Maximum; NaN propagates for arrays (as ``np.max``) and is skipped for pandas."""

    _numpy = staticmethod(np.maximum)
    _method = "max"
