"""reducers.numeric: sums, counts, means and concatenation. Layer: core (imports reducers.base
and reducers.kinds).

Conventions follow the input: numpy's for arrays (NaN propagates), pandas' for Series and
DataFrames (NaN skipped, nullable dtypes respected, see :mod:`.kinds`). Integer sums and counts
are exact; variances and extremes are in :mod:`.moments` and :mod:`.extremes`.

Where numpy is not consistent with itself, these follow its common case and say so:

- float16 sums accumulate in float32 and round once, as ``np.sum`` does for a contiguous axis;
  over axis 0 of an ``(N, M > 1)`` array numpy adds row by row in float16 instead (less exact),
  which ``Sum`` does not copy. Per-chunk float32 sums are rounded once more than numpy's own
  pairwise float32 sum, so a result may differ from numpy's by one float16 ulp on a tie.
- float16 and float32 means accumulate in float64 (numpy: float32), so they do not overflow
  where numpy's do; the result has the input's dtype as numpy's.

>>> import numpy as np
>>> r = Mean()
>>> r.finalize(r.combine(r.partial(np.array([1, 2])), r.partial(np.array([3, 6]))))
np.float64(3.0)
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import numpy as np

from .base import Reducer, check_axis, is_pandas
from .kinds import kind_of, mean_result, valid_floats


class HalfSum(NamedTuple):
    """A float16 sum carried in float32 (numpy's accumulator), rounded once at the end."""

    total: Any


class MaskedFloatSum(NamedTuple):
    """The sum of a nullable float Series (Float64, Float32): pandas answers ``<NA>`` where the
    valid values' sum is NaN (``inf + -inf``), so partials that add up to NaN must too."""

    total: Any


class WrappedSum(NamedTuple):
    """The sum of an Arrow integer Series (pandas gives a Python int), wrapped as pyarrow's
    sum wraps it (in 64 bits, signed or not, whatever the column's width), however the chunks
    add up."""

    total: int
    bits: int
    signed: bool

    def plus(self, other: WrappedSum) -> WrappedSum:
        total = (self.total + other.total) % (1 << self.bits)
        if self.signed and total >= 1 << (self.bits - 1):
            total -= 1 << self.bits
        return self._replace(total=total)


def _arrow_integer_bits(dtype: Any) -> tuple[int, bool] | None:
    """(bits of pyarrow's sum, signed) for an Arrow integer dtype (``int8[pyarrow]``: 64, a
    sum in int64), else None."""
    arrow = getattr(dtype, "pyarrow_dtype", None)
    if arrow is None:
        return None
    import pyarrow as pa

    return (64, pa.types.is_signed_integer(arrow)) if pa.types.is_integer(arrow) else None


class ColumnSums(NamedTuple):
    """A DataFrame's column sums, each in its own column's type (int64, uint64, float, str...),
    and the dtype pandas gives the row of them: ``chunk.sum()`` of a frame that mixes integer
    and float columns would turn the integer sums into floats in each chunk (inexact beyond
    2**53, and a wrapped uint64 sum would not wrap), where pandas converts the exact sums once.
    """

    columns: Any
    totals: list
    dtype: Any


def _mixes_integers(frame: Any) -> bool:
    """A frame with integer (or bool) columns beside columns of other dtypes."""
    return len(set(map(str, frame.dtypes))) > 1 and any(
        getattr(d, "kind", "O") in "iub" for d in frame.dtypes)


class Sum(Reducer):
    """Sum of all elements (``axis=None``) or per column (``axis=0``); exact for integers.

    Integer sums wrap silently and float sums that overflow warn, as ``np.sum``'s do.
    """

    arrow_as_pandas = True

    def __init__(self, axis: Any = None):
        self.axis = check_axis(axis)

    def partial(self, chunk):
        if is_pandas(chunk):
            if chunk.ndim == 2 and _mixes_integers(chunk):
                return ColumnSums(chunk.columns,
                                  [chunk.iloc[:, j].sum() for j in range(chunk.shape[1])],
                                  chunk.iloc[:0].sum().dtype)
            if chunk.ndim == 1 and kind_of(chunk.dtype).family == "masked" \
                    and chunk.dtype.kind == "f":
                return MaskedFloatSum(chunk.sum())
            width = _arrow_integer_bits(chunk.dtype) if chunk.ndim == 1 else None
            if width is not None:
                return WrappedSum(int(chunk.sum()), *width)
            return chunk.sum()
        if np.asarray(chunk).dtype == np.float16:
            return HalfSum(np.sum(chunk, axis=self.axis, dtype=np.float32))
        return np.sum(chunk, axis=self.axis)

    def combine(self, a, b):
        if isinstance(a, HalfSum):
            return HalfSum(a.total + b.total)
        if isinstance(a, WrappedSum):
            return a.plus(b)
        if isinstance(a, MaskedFloatSum):
            with np.errstate(invalid="ignore"):  # inf + -inf: <NA>, silently as pandas'
                return MaskedFloatSum(a.total + b.total)
        if isinstance(a, ColumnSums):
            with np.errstate(over="ignore"):  # integers wrap silently, as pandas' sums do
                return a._replace(totals=[x + y for x, y in zip(a.totals, b.totals)])
        if np.asarray(a).dtype.kind in "iub":
            with np.errstate(over="ignore"):  # integers wrap silently, as np.sum's do
                return a + b
        return a + b  # floats that overflow warn, as np.sum's do

    def finalize(self, state):
        if isinstance(state, HalfSum):
            return np.asarray(state.total).astype(np.float16)[()]
        if isinstance(state, WrappedSum):
            return state.total
        if isinstance(state, MaskedFloatSum):
            import pandas as pd

            return pd.NA if pd.isna(state.total) else state.total
        if isinstance(state, ColumnSums):
            import pandas as pd

            return pd.Series(state.totals, index=state.columns, dtype=state.dtype)
        return state


class Count(Reducer):
    """Number of elements (arrays: ``x.size``, or rows with ``axis=0``); non-NA values in pandas."""

    arrow_as_pandas = True

    def __init__(self, axis: Any = None):
        self.axis = check_axis(axis)

    def partial(self, chunk):
        if is_pandas(chunk):
            return chunk.count()
        chunk = np.asarray(chunk)
        return int(chunk.size if self.axis is None else chunk.shape[0])

    def combine(self, a, b):
        return a + b


class MeanState(NamedTuple):
    count: Any  # values summed (one per column with axis=0 or for a frame)
    total: Any  # their sum: float64 (complex128), or timedelta64 in the input's unit
    dtype: Any  # numpy: the result dtype; None for pandas
    kinds: Any = None  # pandas: the Kind of a Series, or a tuple of them (one per column)
    template: Any = None  # pandas frame: its first row (none if empty), for the result dtype


def mean_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype of numpy's mean (and variance) of ``dtype`` values."""
    if dtype.kind in "fcm":
        return dtype.newbyteorder("=")  # numpy answers in native byte order
    return np.dtype(np.float64)


def _acc_dtype(dtype: np.dtype) -> np.dtype | None:
    """The accumulator of the mean: float64, complex128 for complex input (longdouble and
    clongdouble keep theirs, as numpy's), the input's own timedelta64 (NaT propagates, as in
    numpy)."""
    if dtype.kind == "m":
        return None
    if dtype.kind in "fc":
        return np.result_type(dtype, np.complex128 if dtype.kind == "c" else np.float64)
    return np.dtype(np.float64)


class Mean(Reducer):
    """Arithmetic mean, accumulated in float64 (complex128 for complex input; longdouble in
    longdouble).

    numpy: ``np.mean``'s dtype (timedelta64 means are timedelta64, NaT for no values, with
    numpy's "Mean of empty slice" warning). pandas: ``Series.mean`` / ``DataFrame.mean``, NA
    skipped, integers summed in float64 (no overflow), ``<NA>`` for nullable columns with no
    value, ``Timestamp``/``Timedelta`` for datetimes, no warning (see :mod:`.kinds`).
    """

    arrow_as_pandas = True

    def __init__(self, axis: Any = None):
        self.axis = check_axis(axis)

    def partial(self, chunk) -> MeanState:
        if is_pandas(chunk):
            return _pandas_sums(chunk)
        chunk = np.asarray(chunk)
        count = chunk.size if self.axis is None else chunk.shape[0]
        if chunk.dtype == object:  # numpy adds Python objects as they are (Decimal stays one)
            return MeanState(count, np.sum(chunk, axis=self.axis), chunk.dtype)
        total = np.sum(chunk, axis=self.axis, dtype=_acc_dtype(chunk.dtype))
        return MeanState(count, total, mean_dtype(chunk.dtype))

    def combine(self, a: MeanState, b: MeanState) -> MeanState:
        template = a.template if a.template is None or len(a.template) else b.template
        return MeanState(a.count + b.count, a.total + b.total, a.dtype, a.kinds, template)

    def finalize(self, state: MeanState):
        if state.dtype is None:
            return _pandas_mean(state)
        if np.all(np.asarray(state.count) == 0):
            warnings.warn("Mean of empty slice.", RuntimeWarning, stacklevel=2)
        if state.dtype == object:  # as numpy divides an object sum: by its count, an intp
            return state.total / np.intp(state.count)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.true_divide(state.total, state.count)
        return np.asarray(out).astype(state.dtype, copy=False)[()]


def _pandas_sums(chunk: Any) -> MeanState:
    """Count and float64 sum of the valid values of a Series, or per column of a frame."""
    if chunk.ndim == 1:
        kind = kind_of(chunk.dtype)
        values = valid_floats(chunk, kind, "mean")
        return MeanState(values.size, np.sum(values), None, kind)
    kinds = tuple(kind_of(t) for t in chunk.dtypes)
    columns = [valid_floats(chunk.iloc[:, i], k, "mean") for i, k in enumerate(kinds)]
    total = np.complex128 if any(k.family == "complex" for k in kinds) else np.float64
    return MeanState(np.array([v.size for v in columns], dtype=np.int64),
                     np.array([np.sum(v) for v in columns], dtype=total), None, kinds,
                     chunk.iloc[:1])


def _pandas_mean(state: MeanState) -> Any:
    if state.template is None:
        return mean_result(state.kinds, state.total, state.count)
    values = [mean_result(k, t, c) for k, t, c in zip(state.kinds, state.total, state.count)]
    return frame_result(values, state.template, "mean")


def frame_result(values: list, template: Any, op: str, **kw: Any) -> Any:
    """Per-column results as pandas' ``DataFrame.<op>()`` Series, built as pandas builds it.

    pandas reduces each column to an array of its result dtype, joins them (their common
    dtype), then casts the result to object if the frame has an object column (whose numbers
    it reduced as float64). The dtype is asked of ``template``, the frame's first row or none,
    since it depends on whether the frame has rows (float32 columns give float32, or float64 if
    the frame is empty), with object columns as float64.
    """
    import pandas as pd

    objects = [i for i, t in enumerate(template.dtypes) if t == np.dtype(object)]
    if objects:
        template = template.copy()
        for i in objects:
            template.isetitem(i, template.iloc[:, i].astype(np.float64))
    dtype = getattr(template, op)(**kw).dtype
    if dtype == np.dtype(object):  # each column keeps its own scalar type, NaN included
        values = [_own_nan(v, template.iloc[:, [i]], op, kw) for i, v in enumerate(values)]
    out = pd.Series(values, index=template.columns, dtype=dtype)
    return out.astype(object) if objects else out


def _own_nan(value: Any, column: Any, op: str, kw: dict) -> Any:
    """A Python-float NaN (what a Series' reduction gives) as the NaN of the column's own
    result dtype (what pandas' frame reduction gives: ``np.float32(nan)`` for float32,
    ``nan+0j`` for complex)."""
    if type(value) is float and np.isnan(value):
        own = getattr(column, op)(**kw).dtype
        if own.kind in "fc":
            return own.type(value)
    return value


class Concat(Reducer):
    """Concatenate chunk results in chunk order (``np.concatenate`` or ``pd.concat``)."""

    def partial(self, chunk):
        return [chunk]

    def combine(self, a, b):
        return a + b

    def finalize(self, state):
        if state and is_pandas(state[0]):
            import pandas as pd

            return pd.concat(state)
        if state and hasattr(state[0], "num_rows"):
            import pyarrow as pa

            return pa.concat_tables(state)
        return np.concatenate([np.atleast_1d(s) for s in state]) if state else np.empty(0)
