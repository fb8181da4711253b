"""reducers.frames: ``value_counts`` and ``describe`` as mergeable reducers. Layer: core
(imports reducers.base and the reducers of one column; pandas at import, so
``reducers/__init__`` loads it on first use).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from pandas.core.dtypes.dtypes import BaseMaskedDtype
from pandas.io.formats.format import format_percentiles

from .base import Reducer
from .extremes import Max, Min
from .moments import Std
from .numeric import Count, Mean
from .quantile import Quantile


class ValueCounts(Reducer):
    """``Series.value_counts()`` (or ``DataFrame.value_counts()``) merged across chunks.

    Partials merge on their index values as they are (``Index.append`` and ``factorize``: an
    object index stays object, ``1`` stays ``1``, and None, NaN and pd.NA stay apart as pandas
    keeps them), in order of first appearance; the final sort by count is stable, with pandas'
    order for ties, which is not the same for every dtype: a missing value comes last among
    equal counts for nullable and categorical dtypes (pandas puts it after the others before
    sorting) and at its first appearance for the rest. A frame's partials count every row
    seen, missing keys too; the merged counts are grouped again as pandas groups the rows
    (``observed=False``: zero counts for unseen combinations of a categorical's categories).
    """

    arrow_as_pandas = True

    def __init__(self, dropna: bool = True, normalize: bool = False):
        self.dropna = dropna
        self.normalize = normalize

    def partial(self, chunk):
        if isinstance(chunk, pd.DataFrame):
            # every row, missing keys too: pandas' zero counts (below) take their other values
            counts = chunk.groupby(list(chunk.columns), sort=False, dropna=False,
                                   observed=True).size()
            if not isinstance(counts.index, pd.MultiIndex):  # one column: pandas' own MultiIndex
                counts.index = pd.MultiIndex.from_arrays([counts.index],
                                                         names=[counts.index.name])
            return counts.astype(np.int64).rename("count")
        if not isinstance(chunk, pd.Series):
            chunk = pd.Series(np.asarray(chunk))
        return chunk.value_counts(sort=False, dropna=self.dropna)

    def combine(self, a, b):
        index = _append(a.index, b.index)
        codes = _first_appearance_codes(index)
        _, first = np.unique(codes, return_index=True)
        counts = np.bincount(codes, np.concatenate([a.to_numpy(np.int64), b.to_numpy(np.int64)]),
                             minlength=first.size).astype(np.int64)
        return pd.Series(pd.array(counts, dtype=a.dtype), index=index.take(first), name=a.name)

    def finalize(self, state):
        index = state.index
        if isinstance(index, pd.MultiIndex):
            state = _frame_counts(state, self.dropna)
        elif isinstance(index.dtype, (pd.CategoricalDtype, BaseMaskedDtype)):
            missing = index.isna()
            state = pd.concat([state[~missing], state[missing]])
        out = state.sort_values(ascending=False, kind="stable")
        if self.normalize:
            return (out / out.sum()).rename("proportion")
        return out.rename("count")


def _append(a: pd.Index, b: pd.Index) -> pd.Index:
    """``a.append(b)``, except that object stays object (pandas 3 infers ``str`` from object
    strings and ``float64`` from 1 and 3.5)."""
    if a.dtype == object and b.dtype == object and not isinstance(a, pd.MultiIndex):
        values = np.concatenate([a.to_numpy(), b.to_numpy()])
        return pd.Index(values, dtype=object, name=a.name)
    return a.append(b)


def _first_appearance_codes(index: pd.Index) -> np.ndarray:
    """Each value's number in order of first appearance, equal values equal, as pandas'
    hashtable keys them (an object index's missing values apart by kind: None, NaN, pd.NA)."""
    if index.dtype != object or isinstance(index, pd.MultiIndex):
        return index.factorize(use_na_sentinel=False)[0]
    missing = np.asarray(index.isna())
    if missing.sum() < 2:
        return index.factorize(use_na_sentinel=False)[0]
    values = index.to_numpy()
    kinds = np.array(["nan" if isinstance(v, float) else type(v).__name__
                      for v in values[missing]], dtype=object)  # the missing values only
    provisional = np.empty(len(values), np.int64)
    present = pd.factorize(values[~missing])[0]
    provisional[~missing] = present
    provisional[missing] = pd.factorize(kinds)[0] + (present.max() + 1 if present.size else 0)
    _, first, inverse = np.unique(provisional, return_index=True, return_inverse=True)
    rank = np.empty(first.size, np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(first.size)
    return rank[inverse]


def _frame_counts(state: pd.Series, dropna: bool) -> pd.Series:
    """A frame's counts of every row seen as pandas' ``value_counts`` gives them before its
    sort: ``groupby(columns, sort=False, dropna=, observed=False).size()``, here a sum of the
    counts grouped the same way (missing keys dropped; zero counts for the combinations of a
    categorical column's categories with the values seen, those of dropped rows included)."""
    index = state.index
    keys = [f"key{i}" for i in range(index.nlevels)]  # our own labels: the names may repeat
    combos = index.to_frame(index=False, allow_duplicates=True)  # levels by position, not
    combos.columns = keys                                        # by name (ints are names)
    combos["count"] = state.to_numpy()
    counts = combos.groupby(keys, sort=False, dropna=dropna, observed=False)["count"].sum()
    names = list(index.names)
    if not isinstance(counts.index, pd.MultiIndex):
        counts.index = pd.MultiIndex.from_arrays([counts.index])
    counts.index = counts.index.set_names(names)
    return counts.astype(np.int64).rename(state.name)


#: pandas' describe functions by the kind of column, with the reductions each reports.
LAYOUT = {"numeric": ("count", "mean", "std", "min", "quantiles", "max"),
          "timestamp": ("count", "mean", "min", "quantiles", "max"),
          "categorical": ("count", "counts")}


class ColumnState(NamedTuple):
    how: str  # a key of LAYOUT
    name: Any
    dtype: Any
    parts: tuple  # one state per reduction of LAYOUT[how]


class DescribeState(NamedTuple):
    columns: list  # a ColumnState per described column
    series: bool  # the input is a Series (described as a Series)
    labels: Any = None  # the described columns' Index, as pandas gives it (a RangeIndex stays)


def _refined(percentiles: Any) -> np.ndarray:
    """``percentiles`` checked as pandas' describe checks them (in [0, 1], no duplicates;
    None: the quartiles), sorted."""
    if percentiles is None:
        return np.array([0.25, 0.5, 0.75])
    values = np.asarray(percentiles, dtype=float)
    if values.ndim != 1:
        raise TypeError(f"percentiles must be a list of numbers in [0, 1], not {percentiles!r}")
    if np.any((values < 0) | (values > 1)) or np.isnan(values).any():
        raise ValueError("percentiles should all be in the interval [0, 1]")
    unique = np.unique(values)
    if len(unique) < len(values):
        raise ValueError("percentiles cannot contain duplicates")
    return unique


class Describe(Reducer):
    """``DataFrame.describe()`` / ``Series.describe()``, built as pandas builds it.

    pandas describes each column from its count, mean, std, min, quantiles and max (datetimes
    without std; non-numeric columns by count, unique, top and freq), choosing the columns and
    the kind of each by dtype; this reducer keeps one state of each of those reducers per
    column (:class:`~.numeric.Mean`, :class:`~.moments.Std`, :class:`~.quantile.Quantile`,
    :class:`ValueCounts` ...), so every value has pandas' type, and assembles the result with
    pandas' rules (row union in column order, Float64 for nullable columns, object for
    timedeltas). Percentiles are exact with ``exact=True``, or approximate within
    :class:`~.quantile.Quantile`'s rank bound (exact for chunks of at most ``sketch_size``).
    """

    arrow_as_pandas = True

    def __init__(self, percentiles: Any = (0.25, 0.5, 0.75), exact: bool = False,
                 sketch_size: int = 4096):
        percentiles = _refined(percentiles)  # sorted, unique
        self.percentiles = tuple(percentiles)
        self.exact = exact
        self.sketch_size = sketch_size
        self._reducers = {"count": Count(), "mean": Mean(), "std": Std(), "min": Min(),
                          "max": Max(), "counts": ValueCounts(),
                          "quantiles": Quantile(percentiles,
                                                exact=exact, sketch_size=sketch_size)}

    def partial(self, chunk) -> DescribeState:
        if isinstance(chunk, np.ndarray) and chunk.ndim in (1, 2):  # as describe() takes one
            chunk = pd.Series(chunk, copy=False) if chunk.ndim == 1 else \
                pd.DataFrame(chunk, copy=False)
        if isinstance(chunk, pd.Series):
            return DescribeState([self._column(chunk, _how(chunk.dtype))], True)
        if chunk.shape[1] == 0:
            raise ValueError("Cannot describe a DataFrame without columns")
        data = chunk.select_dtypes(include=[np.number, "datetime"])  # pandas' choice
        if not data.shape[1]:
            data = chunk
        return DescribeState([self._column(data.iloc[:, i], _how(t))
                              for i, t in enumerate(data.dtypes)], False, data.columns)

    def _column(self, series: pd.Series, how: str) -> ColumnState:
        parts = tuple(self._reducers[r].partial(series) for r in LAYOUT[how])
        return ColumnState(how, series.name, series.dtype, parts)

    def combine(self, a: DescribeState, b: DescribeState) -> DescribeState:
        return a._replace(columns=[
            x._replace(parts=tuple(self._reducers[r].combine(p, q) for r, p, q in
                                   zip(LAYOUT[x.how], x.parts, y.parts)))
            for x, y in zip(a.columns, b.columns)])

    def finalize(self, state: DescribeState) -> Any:
        ldesc = [self._describe(column) for column in state.columns]
        if state.series:
            return ldesc[0]
        names: list = []
        for index in sorted((d.index for d in ldesc), key=len):  # pandas' reorder_columns
            names += [name for name in index if name not in names]
        out = pd.concat(ldesc, axis=1, ignore_index=True, sort=False).reindex(names)
        out.columns = state.labels.copy()
        return out

    def _describe(self, column: ColumnState) -> pd.Series:
        """pandas' describe_numeric_1d / describe_timestamp_1d / describe_categorical_1d."""
        values = dict(zip(LAYOUT[column.how], (self._reducers[r].finalize(p) for r, p in
                                               zip(LAYOUT[column.how], column.parts))))
        if column.how == "categorical":
            counts = values["counts"]
            unique = len(counts[counts != 0])
            top, freq = (counts.index[0], counts.iloc[0]) if unique else (np.nan, np.nan)
            return pd.Series([values["count"], unique, top, freq], name=column.name,
                             index=["count", "unique", "top", "freq"],
                             dtype=None if unique else "object")
        labels = format_percentiles(np.asarray(self.percentiles))
        index = [r for r in LAYOUT[column.how] if r != "quantiles"]
        at = index.index("min") + 1
        index[at:at] = labels
        d = [values[r] for r in LAYOUT[column.how] if r != "quantiles"]
        d[at:at] = values["quantiles"].tolist()
        dtype = None
        if column.how == "numeric" and isinstance(column.dtype, pd.ArrowDtype):
            if column.dtype.kind != "m":  # pandas' describe_numeric_1d: Arrow's double
                import pyarrow as pa

                dtype = pd.ArrowDtype(pa.float64())
        elif column.how == "numeric" and isinstance(column.dtype,
                                                     pd.api.extensions.ExtensionDtype):
            dtype = pd.Float64Dtype()
        elif column.how == "numeric" and column.dtype.kind in "iufb":
            dtype = np.dtype("float")
        return pd.Series(d, index=index, name=column.name, dtype=dtype)


def _how(dtype: Any) -> str:
    """Which of pandas' describe functions takes a column of ``dtype``."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    if is_bool_dtype(dtype):
        return "categorical"
    if is_numeric_dtype(dtype) or getattr(dtype, "kind", "") == "m":
        return "numeric"
    if getattr(dtype, "kind", "") == "M" or isinstance(dtype, pd.DatetimeTZDtype):
        return "timestamp"
    return "categorical"
