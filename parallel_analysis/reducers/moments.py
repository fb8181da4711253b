"""reducers.moments: variance and standard deviation, merged with Chan et al.'s update. Layer:
core (imports reducers.base, reducers.kinds and reducers.numeric).

Each partial holds the count, mean and M2 (sum of squared deviations) of its chunk, two-pass and
in float64 (longdouble for longdouble input); :func:`~.base.merge_moments` merges them, so the
result stays accurate on data with a large offset. ``finalize`` then divides as the input's
library does:

- numpy (arrays): ``M2 / max(N - ddof, 0)`` with numpy's "Degrees of freedom <= 0" warning, so
  ``ddof >= N`` gives ``inf`` (or ``nan`` when M2 is 0) as ``np.var``; the result has numpy's
  dtype (float16/float32 stay, complex gives its real dtype; M2 is rounded to it before the
  division, as numpy's sum of squares is, so a float16 variance overflows where numpy's M2
  does; numpy's float16 mean, summed in float16, also overflows past 65504 and makes its
  variance inf: this one's mean, in float64, does not);
  datetime64 and timedelta64 raise TypeError, empty or not, as numpy does.
- pandas (Series, DataFrames): ``ddof=1`` by default and the rules of :mod:`.kinds`: ``nan``
  for ``N - ddof <= 0`` or any ±inf in numpy-backed columns, numpy's ``inf`` and ``<NA>`` for
  nullable ones, ``Timedelta`` deviations of datetimes. No warnings (pandas emits none).
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import numpy as np

from .base import Moments, Reducer, check_axis, combine_moments, is_pandas
from .kinds import kind_of, valid_floats, var_result
from .numeric import frame_result, mean_dtype


class VarState(NamedTuple):
    moments: Moments  # float64 count, mean and M2 (per column with axis=0 or for a frame)
    dtype: Any  # numpy result dtype; None for pandas
    imag: Moments | None = None  # complex input: moments of the imaginary parts
    kinds: Any = None  # pandas: the Kind of a Series, or a tuple of them (one per column)
    rows: int = 0  # values per result, NA included (numpy: its warning; pandas: the type of
    # an empty Series' NaN)
    template: Any = None  # pandas frame: its first row (none if empty), for the result dtype


class Var(Reducer):
    """Variance with ``ddof`` (default: 0 for arrays as numpy, 1 for pandas), Chan's update."""

    arrow_as_pandas = True

    _sqrt = False

    def __init__(self, ddof: int | None = None, axis: Any = None):
        if ddof is not None and (isinstance(ddof, bool) or not isinstance(ddof, int | np.integer)):
            raise TypeError(f"ddof must be an integer, got {ddof!r}")
        self.ddof = ddof
        self.axis = check_axis(axis)

    def partial(self, chunk) -> VarState:
        op = "std" if self._sqrt else "var"
        if is_pandas(chunk):
            return _pandas_moments(chunk, op)
        chunk = np.asarray(chunk)
        if chunk.dtype.kind in "mMUSV":  # also when empty, as numpy
            raise TypeError(f"cannot compute the {op} of {chunk.dtype} values (numpy refuses "
                            "it too); convert to numbers first, e.g. x.astype('i8') for "
                            "datetimes, x.astype(float) for numbers written as strings")
        dtype = mean_dtype(chunk.dtype)
        rows = chunk.size if self.axis is None else chunk.shape[0]
        if chunk.dtype == object:  # Decimal, Fraction, ints: in their own arithmetic, as numpy
            return VarState(_object_moments(chunk, self.axis), chunk.dtype, rows=rows)
        if chunk.dtype.kind == "c":  # |z - m|² adds the variances of the real and imaginary parts
            return VarState(_moments(chunk.real, self.axis), dtype,
                            imag=_moments(chunk.imag, self.axis), rows=rows)
        return VarState(_moments(chunk, self.axis), dtype, rows=rows)

    def combine(self, a: VarState, b: VarState) -> VarState:
        if a.dtype == object:
            return a._replace(moments=_combine_objects(a.moments, b.moments), rows=a.rows + b.rows)
        imag = None if a.imag is None else combine_moments(a.imag, b.imag)
        template = a.template if a.template is None or len(a.template) else b.template
        return VarState(combine_moments(a.moments, b.moments), a.dtype, imag, a.kinds,
                        a.rows + b.rows, template)

    def finalize(self, state: VarState):
        if state.dtype is None:
            return self._pandas(state)
        ddof = self.ddof or 0
        if state.dtype == object:
            return _object_result(state, ddof, self._sqrt)
        n, m2 = state.moments.n, state.moments.m2
        if state.imag is not None:
            m2 = m2 + state.imag.m2
        dof = np.maximum(n - ddof, 0)
        if state.rows - ddof <= 0:  # numpy's test, also when there are no columns
            warnings.warn("Degrees of freedom <= 0 for slice", RuntimeWarning, stacklevel=2)
        real = np.dtype(state.dtype).type(0).real.dtype
        with np.errstate(invalid="ignore", divide="ignore"):  # numpy's M2 / 0: inf (nan if 0)
            out = (np.asarray(m2).astype(real) / dof).astype(real)
            out = np.sqrt(out) if self._sqrt else out
        return out[()]

    def _pandas(self, state: VarState) -> Any:
        ddof = 1 if self.ddof is None else self.ddof
        n, m2 = state.moments.n, state.moments.m2
        if state.imag is not None:  # complex columns: E|z - mean|² adds the two parts'
            m2 = m2 + state.imag.m2
        if state.template is None:
            return var_result(state.kinds, float(m2), int(n), ddof, state.rows, self._sqrt)
        values = [var_result(k, float(s), int(c), ddof, state.rows, self._sqrt)
                  for k, s, c in zip(state.kinds, m2, n)]
        return frame_result(values, state.template, "std" if self._sqrt else "var", ddof=ddof)


def _moments(values: np.ndarray, axis: Any) -> Moments:
    """Count, mean and M2 of real values (all, or per column with ``axis=0``), two-pass. The
    mean's rounding error, the mean of the deviations, is kept as its low part: on data with a
    large offset (1e12 + noise) it is most of the difference between two chunks' means."""
    count = values.size if axis is None else values.shape[0]
    shape = () if axis is None else values.shape[1:]
    if count == 0:
        zero = np.zeros(shape)
        return Moments(zero, zero, zero)
    mean = np.mean(values, axis=axis, dtype=np.result_type(values.dtype, np.float64))
    dev = values - mean
    lo = np.where(np.isfinite(mean), np.mean(dev, axis=axis), 0)  # inf mean: M2 inf, as numpy
    m2 = np.maximum(np.sum(dev * dev, axis=axis) - count * lo * lo, 0)  # about mean + lo
    return Moments(np.full(shape, float(count)), mean, m2, lo)


def _object_moments(values: np.ndarray, axis: Any) -> Moments:
    """Count, mean and M2 of Python objects, in their own arithmetic (a Decimal stays one, a
    Fraction exact), as numpy's var of an object array computes them."""
    count = values.size if axis is None else values.shape[0]
    if count == 0:
        return Moments(0, None, None)
    mean = np.sum(values, axis=axis) / count
    dev = values - mean
    return Moments(count, mean, np.sum(_squared(dev), axis=axis))


def _squared(dev: Any) -> Any:
    """``|dev|²`` of objects as numpy's var takes it: ``(dev * conj(dev)).real``, with the
    ``.real`` of an object array, which numpy 2.4 leaves complex and numpy 2.5 makes real."""
    real = np.asarray(dev * np.conjugate(dev), dtype=object).real
    return real[()] if isinstance(real, np.ndarray) and real.ndim == 0 else real


def _combine_objects(a: Moments, b: Moments) -> Moments:
    """Chan et al.'s pairwise update in the objects' arithmetic (counts are Python ints)."""
    if not a.n or not b.n:
        return a if a.n else b
    n = a.n + b.n
    delta = b.mean - a.mean
    spread = _squared(delta) * (a.n * b.n) / n
    return Moments(n, a.mean + delta * b.n / n, a.m2 + b.m2 + spread)


def _object_result(state: VarState, ddof: int, sqrt: bool) -> Any:
    """numpy's last steps of ``np.var`` / ``np.std`` of an object array, on the merged M2."""
    op = np.std if sqrt else np.var
    if not state.moments.n:  # no values: numpy's own answer (and warnings) for none
        return op(np.empty(0, dtype=object), ddof=ddof)
    dof = np.intp(max(state.moments.n - ddof, 0))
    if state.moments.n - ddof <= 0:
        warnings.warn("Degrees of freedom <= 0 for slice", RuntimeWarning, stacklevel=3)
    m2 = state.moments.m2
    if isinstance(m2, np.ndarray):
        out = np.true_divide(m2, dof)
        return np.sqrt(out) if sqrt else out
    if hasattr(m2, "dtype"):  # a numpy scalar among the objects: numpy keeps its type
        out = m2.dtype.type(m2 / dof)
        return m2.dtype.type(np.sqrt(out)) if sqrt else out
    out = m2 / dof
    return np.sqrt(out) if sqrt else out


def _pandas_moments(chunk: Any, op: str) -> VarState:
    """Moments of the valid values of a Series, or per column of a frame; ±inf gives a NaN M2
    (pandas' two-pass variance), computed without warnings."""
    with np.errstate(invalid="ignore", over="ignore"):
        if chunk.ndim == 1:
            kind = kind_of(chunk.dtype)
            values = valid_floats(chunk, kind, op)
            imag = _moments(values.imag, None) if values.dtype.kind == "c" else None
            return VarState(_moments(values.real, None), None, imag, kind, len(chunk))
        kinds = tuple(kind_of(t) for t in chunk.dtypes)
        columns = [valid_floats(chunk.iloc[:, i], k, op) for i, k in enumerate(kinds)]
        parts = [_moments(v.real, None) for v in columns]
    return VarState(_stacked(parts), None, _imag_moments(columns), kinds, len(chunk),
                    chunk.iloc[:1])


def _stacked(parts: list) -> Moments:
    return Moments(*(np.array([p[i] for p in parts], dtype=np.float64) for i in range(4)))


def _imag_moments(columns: list) -> Moments | None:
    """Per column, the moments of the imaginary parts when a column is complex (zeros for the
    others), else None."""
    if not any(v.dtype.kind == "c" for v in columns):
        return None
    return _stacked([_moments(v.imag if v.dtype.kind == "c" else np.zeros_like(v), None)
                     for v in columns])


class Std(Var):
    """Standard deviation: the square root of :class:`Var` (same ``ddof`` conventions)."""

    _sqrt = True
