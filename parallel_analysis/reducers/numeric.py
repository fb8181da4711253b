"""reducers.numeric: sums, counts, means, variances, extremes and concatenation. Layer: core
(imports reducers.base).

Conventions follow the input: numpy's for arrays (NaN propagates, ``ddof=0``), pandas' for Series
and DataFrames (NaN skipped, ``ddof=1``, nullable dtypes respected). Integer sums, counts, min and
max are exact; variance merges through :func:`~.base.merge_moments` (Chan et al.), so it stays
accurate on data with a large offset.

>>> import numpy as np
>>> r = Mean()
>>> r.finalize(r.combine(r.partial(np.array([1, 2])), r.partial(np.array([3, 6]))))
3.0
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import numpy as np

from .base import Moments, Reducer, check_axis, combine_moments, is_pandas


def pick(cond: Any, x: Any, y: Any) -> Any:
    """Elementwise ``x if cond else y`` for scalars, arrays and pandas objects."""
    if is_pandas(x) or is_pandas(y):
        import pandas as pd

        if isinstance(cond, bool | np.bool_):
            return x if cond else y
        if isinstance(x, pd.Series | pd.DataFrame):
            return x.where(cond, y)
        return y.where(~cond, x)
    out = np.where(cond, x, y)
    return out[()] if out.ndim == 0 else out


class Sum(Reducer):
    """Sum of all elements (``axis=None``) or per column (``axis=0``); exact for integers."""

    def __init__(self, axis: Any = None):
        self.axis = check_axis(axis)

    def partial(self, chunk):
        if is_pandas(chunk):
            return chunk.sum()
        return np.sum(chunk, axis=self.axis)

    def combine(self, a, b):
        if np.asarray(a).dtype.kind in "iub":
            with np.errstate(over="ignore"):  # integers wrap silently, as np.sum's do
                return a + b
        return a + b  # floats that overflow warn, as np.sum's do


class Count(Reducer):
    """Number of elements (arrays: ``x.size``, or rows with ``axis=0``); non-NA values in pandas."""

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
    count: Any
    total: Any
    dtype: Any  # the dtype numpy would return; None for pandas


def mean_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype of numpy's mean (and variance) of ``dtype`` values."""
    if dtype.kind in "fc":
        return dtype
    return np.dtype(np.float64)


def _acc_dtype(dtype: np.dtype) -> np.dtype:
    """The accumulator of numpy's mean: float64, or complex128 for complex input."""
    return np.dtype(np.complex128) if dtype.kind == "c" else np.dtype(np.float64)


class Mean(Reducer):
    """Arithmetic mean, accumulated in float64 (complex128 for complex input)."""

    def __init__(self, axis: Any = None):
        self.axis = check_axis(axis)

    def partial(self, chunk) -> MeanState:
        if is_pandas(chunk):
            return MeanState(chunk.count(), chunk.sum(), None)
        chunk = np.asarray(chunk)
        count = chunk.size if self.axis is None else chunk.shape[0]
        total = np.sum(chunk, axis=self.axis, dtype=_acc_dtype(chunk.dtype))
        return MeanState(count, total, mean_dtype(chunk.dtype))

    def combine(self, a: MeanState, b: MeanState) -> MeanState:
        return MeanState(a.count + b.count, a.total + b.total, a.dtype)

    def finalize(self, state: MeanState):
        if state.dtype is None:
            return state.total / state.count
        if np.all(np.asarray(state.count) == 0):
            warnings.warn("Mean of empty slice.", RuntimeWarning, stacklevel=2)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.true_divide(state.total, state.count)
        return np.asarray(out).astype(state.dtype, copy=False)[()]


class VarState(NamedTuple):
    moments: Moments  # float64 count, mean and M2 (per column with axis=0 or for a frame)
    dtype: Any  # numpy result dtype; None for pandas
    template: Any = None  # pandas: the input's var() of no rows (labels, dtype, NA value)
    imag: Moments | None = None  # complex input: moments of the imaginary parts


def _pandas_moments(chunk: Any) -> tuple[Moments, Any]:
    """Moments of a Series or per column of a DataFrame, NA skipped (pandas' own arithmetic,
    so pandas' own errors for columns it cannot average), as float64 arrays."""
    count, mean = chunk.count(), chunk.mean()
    m2 = ((chunk - mean) ** 2).sum()
    values = [np.asarray(_floats(x), dtype=np.float64) for x in (count, mean, m2)]
    return Moments(*values), chunk.iloc[:0].var()


def _floats(x: Any) -> Any:
    if is_pandas(x):
        return x.to_numpy(dtype=np.float64, na_value=np.nan)
    import pandas as pd

    return np.nan if x is pd.NA else x


class Var(Reducer):
    """Variance with ``ddof`` (default: 0 for arrays as numpy, 1 for pandas), Chan's update."""

    def __init__(self, ddof: int | None = None, axis: Any = None):
        if ddof is not None and (isinstance(ddof, bool) or not isinstance(ddof, int | np.integer)):
            raise TypeError(f"ddof must be an integer, got {ddof!r}")
        self.ddof = ddof
        self.axis = check_axis(axis)

    def partial(self, chunk) -> VarState:
        if is_pandas(chunk):
            moments, template = _pandas_moments(chunk)
            return VarState(moments, None, template)
        chunk = np.asarray(chunk)
        dtype = mean_dtype(chunk.dtype)
        if chunk.dtype.kind == "c":  # |z - m|² adds the variances of the real and imaginary parts
            return VarState(_moments(chunk.real, self.axis), dtype,
                            imag=_moments(chunk.imag, self.axis))
        return VarState(_moments(chunk, self.axis), dtype)

    def combine(self, a: VarState, b: VarState) -> VarState:
        imag = None if a.imag is None else combine_moments(a.imag, b.imag)
        return VarState(combine_moments(a.moments, b.moments),
                        a.dtype if a.dtype is not None else b.dtype,
                        a.template if a.template is not None else b.template, imag)

    def finalize(self, state: VarState):
        pandas = state.dtype is None
        ddof = self.ddof if self.ddof is not None else (1 if pandas else 0)
        n, m2 = state.moments.n, state.moments.m2
        if state.imag is not None:
            m2 = m2 + state.imag.m2
        dof = n - ddof
        if pandas:
            return _pandas_result(np.where(dof > 0, m2 / np.where(dof > 0, dof, 1), np.nan),
                                  state.template)
        if np.any(dof <= 0):
            warnings.warn("Degrees of freedom <= 0 for slice", RuntimeWarning, stacklevel=2)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.true_divide(m2, np.where(dof > 0, dof, np.nan))
        real = np.dtype(state.dtype).type(0).real.dtype
        return np.asarray(out).astype(real, copy=False)[()]


def _moments(values: np.ndarray, axis: Any) -> Moments:
    """Count, mean and M2 of real values (all, or per column with ``axis=0``), two-pass."""
    count = values.size if axis is None else values.shape[0]
    shape = () if axis is None else values.shape[1:]
    if count == 0:
        zero = np.zeros(shape)
        return Moments(zero, zero, zero)
    mean = np.mean(values, axis=axis, dtype=np.float64)
    dev = values - mean
    return Moments(np.full(shape, float(count)), mean, np.sum(dev * dev, axis=axis))


def _pandas_result(values: np.ndarray, template: Any) -> Any:
    """A pandas reduction's result shaped like ``template`` (its labels, dtype and NA value)."""
    if hasattr(template, "index"):  # a Series of one value per column
        import pandas as pd

        return pd.Series(values, index=template.index, dtype=template.dtype)
    value = values[()] if np.ndim(values) == 0 else values
    return template if np.isnan(value) else np.float64(value)


class Std(Var):
    """Standard deviation: the square root of :class:`Var` (same ``ddof`` conventions)."""

    def finalize(self, state: VarState):
        var = super().finalize(state)
        return var**0.5 if is_pandas(var) else np.sqrt(var)


class _Extreme(Reducer):
    _numpy: Any = None
    _method = ""

    def __init__(self, axis: Any = None):
        self.axis = check_axis(axis)

    def partial(self, chunk):
        if is_pandas(chunk):
            value = getattr(chunk, self._method)()
            # A Series chunk with no values gives NaN (a numpy float) or NA: pandas skips it
            # when merging, so mark it rather than let np.minimum propagate it.
            return _Skipped(value) if _is_missing(value) else value
        return getattr(np, self._method)(chunk, axis=self.axis)

    def combine(self, a, b):
        if isinstance(a, _Skipped):
            return b
        if isinstance(b, _Skipped):
            return a
        if is_pandas(a) or is_pandas(b):
            import pandas as pd

            return getattr(pd.concat([a, b], axis=1), self._method)(axis=1)
        return self._numpy(a, b)

    def finalize(self, state):
        return state.value if isinstance(state, _Skipped) else state


class _Skipped(NamedTuple):
    """The min/max of a pandas chunk with no values: skipped when merging, as pandas does."""

    value: Any


def _is_missing(x: Any) -> bool:
    """A scalar NaN / NaT / NA (pandas objects and arrays are never 'missing' as a whole)."""
    if is_pandas(x) and hasattr(x, "__len__"):
        return False
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
