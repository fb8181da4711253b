"""shortcuts: one-call reductions, ``par.sum(x)`` is ``par.map_reduce(None, x, Sum())``. Layer:
API (imports pool and reducers).

Each takes the data, the reducer's own options, and the common map options (``n``, ``size``,
``nbytes``, ``backend``, ``workers``, ``progress``, ``timeout``).
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import numpy as np

from . import reducers as r
from .errors import PickleFallbackWarning
from .maps import map_reduce
from .reducers import histogram as h
from .reducers.base import is_pandas
from .reduction_options import numpy_options, pandas_na
from .share import is_arrow_table, local_value, pandas_stand_in


class _DefaultAxis:
    """The axis a shortcut reduces when none is given: numpy's for arrays (None: every
    element), pandas' for Series and DataFrames (0: per column). An explicit ``axis=None``
    reduces a DataFrame's every value to one, as pandas does."""

    def __repr__(self) -> str:
        return "<numpy's or pandas' default>"


DEFAULT_AXIS: Any = _DefaultAxis()

#: pandas' options of a reduction, which read a frame as a whole.
PANDAS_RULES = ("skipna", "min_count", "numeric_only")


def sum(data: Any, axis: Any = DEFAULT_AXIS, **options: Any) -> Any:  # numpy's name
    """Sum of all elements (or per column with ``axis=0``), like ``np.sum`` / ``DataFrame.sum``."""
    return _reduce(data, axis, r.Sum, options, "sum")


def mean(data: Any, axis: Any = DEFAULT_AXIS, **options: Any) -> Any:
    """Arithmetic mean, like ``np.mean`` / ``DataFrame.mean``."""
    return _reduce(data, axis, r.Mean, options, "mean")


def var(data: Any, ddof: int | None = None, axis: Any = DEFAULT_AXIS, **options: Any) -> Any:
    """Variance (``ddof`` defaults to numpy's 0 for arrays, pandas' 1 for frames)."""
    return _reduce(data, axis, functools.partial(r.Var, ddof), options, "var", ddof)


def std(data: Any, ddof: int | None = None, axis: Any = DEFAULT_AXIS, **options: Any) -> Any:
    """Standard deviation (``ddof`` as :func:`var`)."""
    return _reduce(data, axis, functools.partial(r.Std, ddof), options, "std", ddof)


def min(data: Any, axis: Any = DEFAULT_AXIS, **options: Any) -> Any:
    """Minimum, like ``np.min`` (NaN propagates) / ``DataFrame.min`` (NaN skipped)."""
    return _reduce(data, axis, r.Min, options, "min")


def max(data: Any, axis: Any = DEFAULT_AXIS, **options: Any) -> Any:
    """Maximum, like ``np.max`` / ``DataFrame.max``."""
    return _reduce(data, axis, r.Max, options, "max")


def _reduce(data: Any, axis: Any, reducer: Any, options: dict, method: str,
            ddof: int | None = None) -> Any:
    """``map_reduce(None, data, reducer(axis))``, the axis read as numpy or pandas read it, a
    DataFrame's ``numeric_only=True`` as pandas reads it (numbers and booleans), and pandas'
    ``skipna=False`` and ``min_count``, and numpy's ``dtype`` and ``keepdims`` (see
    :mod:`.reduction_options`)."""
    value = local_value(data)
    pandas_rules = [k for k in PANDAS_RULES if k in options]
    if is_arrow_table(value) and (axis is None or pandas_rules):
        # every value, or pandas' options: of the table's conversion, made here (a copy, as
        # a DataFrame's every value is one); without them each chunk converts in its worker
        data = value = pandas_stand_in(value, "all")
    if hasattr(value, "empty_frame"):  # a lazy source (par.from_parquet)
        if pandas_rules:
            raise TypeError(
                f"{', '.join(k + '=' for k in pandas_rules)} cannot be given for a lazy source: "
                "its chunks skip missing values as pandas does by default; choose the columns "
                "with from_parquet(path, columns=[...]), or reduce pd.read_parquet(path)")
        flat = every_value(value.empty_frame()).dtype if axis is None else None
        if axis is None and isinstance(flat, np.dtype) and flat.kind in "biufcmM":
            # numbers and times: their reduction does not depend on their order beyond rounding
            return _every_value_of_source(data, reducer, options, method, flat)
        if axis is None:  # objects combine in pandas' order, column by column: read it whole
            data = value = pandas_stand_in(value, "all")
    na_rules = {k: options.pop(k) for k in ("skipna", "min_count") if k in options}
    if na_rules and not is_pandas(value):
        raise TypeError(f"{', '.join(na_rules)}= are pandas' options; numpy's reductions "
                        "propagate NaN already (np.nansum & co. skip it)")
    shape_rules = {k: options.pop(k) for k in ("dtype", "keepdims") if k in options}
    if shape_rules:
        return numpy_options(data, _axis(data, axis), reducer, options, method, shape_rules)
    if "min_count" in na_rules and method != "sum":
        raise TypeError(f"min_count= is an option of sum, not of {method}")
    frame = _is_frame(value)
    if is_pandas(value) and not frame and options.pop("numeric_only", False):
        # pandas' Series ignores it, but refuses it for object dtype: its own error
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            getattr(value.iloc[:0], method)(numeric_only=True)
    if frame and options.pop("numeric_only", False):
        data = value = _numeric_columns(value)
    if axis is None and frame:
        data, axis = every_value(value), DEFAULT_AXIS
        if isinstance(data.dtype, np.dtype) and data.dtype.kind in "mM":
            # pandas reduces such a frame's values as numpy does: numpy's scalar, not pandas'
            return _numpy_scalar(_reduce(data, axis, reducer, dict(options, **na_rules),
                                         method, ddof), data.dtype, method)

    def reduce(values: Any) -> Any:
        return map_reduce(None, with_accessor(values), reducer(_axis(values, axis)), **options)

    if na_rules.get("skipna", True) is False or na_rules.get("min_count", 0) > 0:
        return pandas_na(data, reduce, method, ddof, na_rules, options)
    return reduce(data)


def _is_frame(value: Any) -> bool:
    return getattr(value, "ndim", 0) == 2 and hasattr(value, "columns")


def _numeric_columns(frame: Any) -> Any:
    """A frame's columns that pandas' ``numeric_only=True`` keeps: numbers and booleans."""
    return frame.select_dtypes(include=["number", "bool"], exclude=["timedelta"])


def every_value(chunk: Any) -> Any:
    """A DataFrame chunk's every value as one Series (pandas' common dtype), column by column:
    what ``axis=None`` reduces."""
    import pandas as pd

    return pd.concat([chunk.iloc[:, i] for i in range(chunk.shape[1])], ignore_index=True)


def _every_value_of_source(source: Any, reducer: Any, options: dict, method: str,
                           dtype: np.dtype) -> Any:
    """``axis=None`` of a lazy source whose values flatten to ``dtype``: each chunk's values
    flattened in its worker."""
    result = map_reduce(every_value, with_accessor(source), reducer(None), **options)
    if dtype.kind in "mM":
        return _numpy_scalar(result, dtype, method)
    return result


def _numpy_scalar(value: Any, dtype: np.dtype, method: str) -> Any:
    """A pandas Timestamp / Timedelta / NaT as numpy's datetime64 / timedelta64 in ``dtype``'s
    unit (a deviation of datetimes is a timedelta)."""
    import pandas as pd

    unit = np.datetime_data(dtype)[0]
    kind = "m" if dtype.kind == "m" or method in ("std", "var") else "M"
    target = np.dtype(f"{kind}8[{unit}]")
    if value is pd.NaT:
        return np.array("NaT", target)[()]
    if isinstance(value, (pd.Timestamp, pd.Timedelta)):
        return value.to_numpy().astype(target)
    return value


def with_accessor(data: Any) -> Any:
    """``data``; a pandas object also registers ``df.par`` / ``s.par``, as any DataFrame
    function does (pandas is loaded already: the data is its)."""
    if is_pandas(local_value(data)):
        from . import pandas as _accessor  # noqa: F401  (registers the accessor)
    return data


def _axis(data: Any, axis: Any) -> Any:
    """The reducers' axis (None: all elements, 0: per column) for numpy's and pandas' other
    spellings of it: a negative axis or a tuple of axes of an array (``-1`` of a 1-d array,
    ``(0, 1)`` of a 2-d one), ``"index"`` or ``"rows"`` of a Series or DataFrame. Others pass
    through, to the reducer's own error."""
    value = local_value(data)
    if axis is DEFAULT_AXIS:
        return None
    if hasattr(value, "iloc"):
        return 0 if axis in ("index", "rows") else axis
    ndim = getattr(value, "ndim", None)
    if ndim is None or isinstance(axis, (str, bool)) or axis is None:
        return axis
    axes = axis if isinstance(axis, tuple) else (axis,)
    if not all(isinstance(a, (int, np.integer)) and -ndim <= a < ndim for a in axes):
        return axis
    resolved = sorted(int(a) % ndim for a in axes)
    if len(set(resolved)) < len(resolved):
        raise ValueError(f"duplicate value in 'axis': {axis!r}")
    if resolved == list(range(ndim)):
        return None
    return 0 if resolved == [0] else axis


def histogram(data: Any, bins: Any = 10, range: tuple | None = None, density: bool = False,
              **options: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(counts, edges)`` as ``np.histogram``; without ``range``, a first pass finds it.

    ``bins`` may name one of numpy's estimators ("auto", "fd", "sturges", ...): the bin count
    then comes from statistics of the whole data, merged in a few passes (see
    :mod:`~.reducers.histogram`). ``density=True``: the counts divided as numpy divides them.
    """
    with_accessor(data)
    if isinstance(bins, str):
        bins, range = _estimated_bins(data, bins, range, options)
    elif range is None and np.ndim(bins) == 0:
        range = h.outer_edges(_prelude(None, data, h.Extent(), options), None)
    counts, edges = map_reduce(None, data, r.Histogram(bins, range), **options)
    if density:  # numpy's own arithmetic: n / db / n.sum()
        return counts / np.asarray(np.diff(edges), float) / counts.sum(), edges
    return counts, edges


def _prelude(func: Any, data: Any, reducer: Any, options: dict) -> Any:
    """A pass that prepares the histogram (its range, statistics for the bin count): without a
    bar or a pickle warning of its own, so that the call shows one bar and warns once, as every
    map does (its last pass shows both)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PickleFallbackWarning)
        return map_reduce(func, data, reducer, **{**options, "progress": False})


def _estimated_bins(data: Any, name: str, range: tuple | None, options: dict) -> tuple:
    """numpy's bin count for estimator ``name`` and the outer edges, from merged statistics
    of the values within ``range`` (all of them without one)."""
    if name not in h.ESTIMATORS:
        raise ValueError(f"{name!r} is not a valid estimator for `bins`; use one of "
                         f"{', '.join(h.ESTIMATORS)}, a number of bins or the edges")
    extent = _prelude(None, data, h.Extent(), options)
    edges = h.outer_edges(extent, range)
    trim = None if range is None else edges
    if trim is not None:
        extent = _prelude(None, data, h.Extent(trim), options)
    sample = h.Sample(extent.count, extent.low, extent.high)
    if not sample.size:
        return 1, edges
    values = functools.partial(h.in_range, range=trim)
    half = np.asarray(extent.low).dtype == np.float16
    if name in ("scott", "doane"):
        sample = sample._replace(std=_numpy_std(data, trim, sample.size, half, options))
    if name == "doane" and sample.size > 2 and sample.std > 0:
        mean = _numpy_mean(values, data, sample.size, half, options)
        cubes = functools.partial(h.cubed_deviations, range=trim, mean=mean, sigma=sample.std)
        sample = sample._replace(skew=_numpy_mean(cubes, data, sample.size, half, options))
    if name in ("fd", "auto"):
        q75, q25 = _prelude(values, data, r.Quantile([0.75, 0.25], exact=True), options)
        sample = sample._replace(iqr=np.subtract(q75, q25))
    if name == "stone":
        counts = _prelude(None, data, h.StoneCounts(h.stone_bins(sample), edges), options)
        sample = sample._replace(stone=counts)
    return h.bin_count(name, sample, edges), edges


def _numpy_std(data: Any, trim: tuple | None, count: int, half: bool, options: dict) -> Any:
    """``np.std`` of the values within ``trim``, for numpy's estimators. float16 data the way
    numpy takes it, in float16 (a float16 mean, squares that may fall to subnormals), since the
    bin count follows numpy's value, not the more exact one of :class:`~.reducers.Std`."""
    values = functools.partial(h.in_range, range=trim)
    if not half:
        return _prelude(values, data, r.Std(ddof=0), options)
    mean = _prelude(values, data, r.Sum(), options) / count
    squares = functools.partial(h.squared_deviations, range=trim, mean=mean)
    return np.sqrt(_prelude(squares, data, r.Sum(), options) / count)


def _numpy_mean(values: Any, data: Any, count: int, half: bool, options: dict) -> Any:
    """``np.mean`` of ``values(chunk)`` over the data; float16 as numpy: summed in float32."""
    if not half:
        return _prelude(values, data, r.Mean(), options)
    as_float32 = functools.partial(_then_float32, values)
    return np.float16(_prelude(as_float32, data, r.Sum(), options) / count)


def _then_float32(values: Any, chunk: Any) -> np.ndarray:
    return np.asarray(values(chunk), dtype=np.float32)


def quantile(data: Any, q: Any = 0.5, exact: bool = False, sketch_size: int = 4096,
             method: str | None = None, interpolation: str | None = None,
             **options: Any) -> Any:
    """Quantile(s) ``q``: approximate within the bound of :class:`~.reducers.Quantile`, or exact,
    by numpy's ``method`` (pandas' ``interpolation``: either spelling; ``exact=True`` for any
    but ``"linear"``)."""
    if method is not None and interpolation is not None:
        raise TypeError("give method= (numpy's name) or interpolation= (pandas'), not both")
    frame = local_value(data)
    if _is_frame(frame) and options.pop("numeric_only", False):  # DataFrame.quantile's
        data = frame = _numeric_columns(frame)
    blocks = getattr(getattr(frame, "_mgr", None), "blocks", None)  # pandas' dtypes follow them
    reducer = r.Quantile(q, exact=exact, sketch_size=sketch_size,
                         method=method or interpolation or "linear",
                         blocks=[list(b.mgr_locs.as_array) for b in blocks]
                         if getattr(frame, "ndim", 0) == 2 and blocks is not None else None)
    return map_reduce(None, with_accessor(data), reducer, **options)


__all__ = ["histogram", "max", "mean", "min", "quantile", "std", "sum", "var"]
