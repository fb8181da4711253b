"""Mergeable reducers: ``partial`` runs in the worker, ``combine`` and ``finalize`` in the caller.

Each reducer has three parts, as dask's reductions do (chunk → combine → aggregate), with small
typed state::

    partial(chunk) -> state        one chunk, in the worker, next to the data
    combine(a, b) -> state         two neighbouring states, in the caller, in a fixed tree
    finalize(state) -> result      once, at the end

Conventions follow the input: numpy's for arrays (NaN propagates, ``ddof=0``), pandas' for Series
and DataFrames (NaN skipped, ``ddof=1``, nullable dtypes respected). Integer sums, counts, min and
max are exact; variance uses Chan et al.'s parallel update, so it stays accurate on data with a
large offset.

>>> import numpy as np
>>> r = Mean()
>>> r.finalize(r.combine(r.partial(np.array([1, 2])), r.partial(np.array([3, 6]))))
3.0
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import numpy as np

__all__ = [  # noqa: F822 - GroupBy and ValueCounts come lazily from .frames (pandas)
    "Concat", "Count", "GroupBy", "Histogram", "Max", "Mean", "Min", "Quantile", "Reducer",
    "Std", "Sum", "ValueCounts", "Var",
]


def is_pandas(x: Any) -> bool:
    """A pandas Series or DataFrame (checked without importing pandas)."""
    return type(x).__module__.startswith("pandas")


def _check_axis(axis: Any) -> Any:
    if axis not in (None, 0):
        raise ValueError(
            f"axis must be None (all elements) or 0 (per column, across rows), got {axis!r}; "
            "for row-wise results use par.map_array"
        )
    return axis


def _pick(cond: Any, x: Any, y: Any) -> Any:
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


class Reducer:
    """Base of mergeable reducers; subclasses define ``partial``, ``combine`` and ``finalize``."""

    def partial(self, chunk: Any) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def combine(self, a: Any, b: Any) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def finalize(self, state: Any) -> Any:
        return state

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"


class Fold(Reducer):
    """A binary callable used as a reducer: workers return ``func(chunk)``, the caller folds."""

    def __init__(self, function):
        if not callable(function):
            raise TypeError(f"reducer must be a Reducer or a binary callable, got {function!r}")
        self.function = function

    def partial(self, chunk):
        return chunk

    def combine(self, a, b):
        return self.function(a, b)


class Sum(Reducer):
    """Sum of all elements (``axis=None``) or per column (``axis=0``); exact for integers."""

    def __init__(self, axis: Any = None):
        self.axis = _check_axis(axis)

    def partial(self, chunk):
        if is_pandas(chunk):
            return chunk.sum()
        return np.sum(chunk, axis=self.axis)

    def combine(self, a, b):
        with np.errstate(over="ignore"):  # integers wrap silently, as np.sum's do
            return a + b


class Count(Reducer):
    """Number of elements (arrays: ``x.size``, or rows with ``axis=0``); non-NA values in pandas."""

    def __init__(self, axis: Any = None):
        self.axis = _check_axis(axis)

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


def _mean_dtype(dtype: np.dtype) -> np.dtype:
    if dtype.kind in "fc":
        return dtype
    return np.dtype(np.float64)


def _acc_dtype(dtype: np.dtype) -> np.dtype:
    return np.dtype(np.complex128) if dtype.kind == "c" else np.dtype(np.float64)


class Mean(Reducer):
    """Arithmetic mean, accumulated in float64 (complex128 for complex input)."""

    def __init__(self, axis: Any = None):
        self.axis = _check_axis(axis)

    def partial(self, chunk) -> MeanState:
        if is_pandas(chunk):
            return MeanState(chunk.count(), chunk.sum(), None)
        chunk = np.asarray(chunk)
        count = chunk.size if self.axis is None else chunk.shape[0]
        total = np.sum(chunk, axis=self.axis, dtype=_acc_dtype(chunk.dtype))
        return MeanState(count, total, _mean_dtype(chunk.dtype))

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
    count: Any
    mean: Any
    m2: Any  # sum of squared deviations from ``mean``
    dtype: Any  # numpy result dtype; None for pandas


class Var(Reducer):
    """Variance with ``ddof`` (default: 0 for arrays as numpy, 1 for pandas), Chan's update."""

    def __init__(self, ddof: int | None = None, axis: Any = None):
        if ddof is not None and (isinstance(ddof, bool) or not isinstance(ddof, int | np.integer)):
            raise TypeError(f"ddof must be an integer, got {ddof!r}")
        self.ddof = ddof
        self.axis = _check_axis(axis)

    def partial(self, chunk) -> VarState:
        if is_pandas(chunk):
            count = chunk.count()
            mean = chunk.mean()
            m2 = ((chunk - mean) ** 2).sum()
            return VarState(count, mean, m2, None)
        chunk = np.asarray(chunk)
        acc = _acc_dtype(chunk.dtype)
        count = chunk.size if self.axis is None else chunk.shape[0]
        if count == 0:
            zero = np.zeros(() if self.axis is None else chunk.shape[1:], acc)
            return VarState(0, zero, zero.real.copy(), _mean_dtype(chunk.dtype))
        mean = np.mean(chunk, axis=self.axis, dtype=acc)
        dev = chunk - mean
        m2 = np.sum((dev * dev.conj()).real if acc.kind == "c" else dev * dev, axis=self.axis)
        return VarState(count, mean, m2, _mean_dtype(chunk.dtype))

    def combine(self, a: VarState, b: VarState) -> VarState:
        n = a.count + b.count
        with np.errstate(invalid="ignore", divide="ignore"):
            delta = b.mean - a.mean
            safe_n = _pick(n == 0, 1, n)
            mean = a.mean + delta * (b.count / safe_n)
            m2 = a.m2 + b.m2 + (abs(delta) ** 2) * (a.count * b.count / safe_n)
        # A side with no values must not pull in its NaN mean.
        mean = _pick(a.count == 0, b.mean, _pick(b.count == 0, a.mean, mean))
        m2 = _pick(a.count == 0, b.m2, _pick(b.count == 0, a.m2, m2))
        return VarState(n, mean, m2, a.dtype if a.dtype is not None else b.dtype)

    def finalize(self, state: VarState):
        pandas = state.dtype is None
        ddof = self.ddof if self.ddof is not None else (1 if pandas else 0)
        dof = state.count - ddof
        if pandas:
            dof = _pick(dof > 0, dof, np.nan)
            return state.m2 / dof
        if np.any(np.asarray(dof) <= 0):
            warnings.warn("Degrees of freedom <= 0 for slice", RuntimeWarning, stacklevel=2)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.true_divide(state.m2, np.where(np.asarray(dof) > 0, dof, np.nan))
        real = np.dtype(state.dtype).type(0).real.dtype
        return np.asarray(out).astype(real, copy=False)[()]


class Std(Var):
    """Standard deviation: the square root of :class:`Var` (same ``ddof`` conventions)."""

    def finalize(self, state: VarState):
        var = super().finalize(state)
        return var**0.5 if is_pandas(var) else np.sqrt(var)


class _Extreme(Reducer):
    _numpy: Any = None
    _method = ""

    def __init__(self, axis: Any = None):
        self.axis = _check_axis(axis)

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

    def __init__(self, bins: Any = 10, range: tuple | None = None):  # noqa: A002 - numpy's name
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


def __getattr__(name: str):
    # DataFrame reducers live with the DataFrame code, loaded (with pandas) on first use.
    if name in ("GroupBy", "ValueCounts"):
        from . import frames

        return getattr(frames, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def as_reducer(reducer: Any) -> Reducer:
    """A :class:`Reducer` as it is; a binary callable wrapped in :class:`Fold`."""
    if isinstance(reducer, Reducer):
        return reducer
    if isinstance(reducer, type) and issubclass(reducer, Reducer):
        return reducer()
    if all(hasattr(reducer, m) for m in ("partial", "combine", "finalize")):
        return reducer  # duck-typed reducer
    return Fold(reducer)
