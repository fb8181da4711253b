"""reduction_options: numpy's and pandas' options of a reduction that the reducers leave to the
caller. Layer: API (imports maps, reducers and share).

- pandas' ``skipna=False`` and ``min_count=`` (a sum): the merged reduction skips missing
  values, as pandas does by default; one more pass finds the columns they apply to, and those
  get pandas' own answer for such a column of that dtype (NaN, ``<NA>``, ``NaT``).
- numpy's ``dtype=`` (each chunk cast, as numpy casts the values) and ``keepdims=True``.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from .maps import map_reduce
from .reducers.base import is_pandas
from .share import local_value


def numpy_options(data: Any, axis: Any, reducer: Any, options: dict, method: str,
                  rules: dict) -> Any:
    """numpy's ``dtype=`` (the values taken in that dtype, as numpy takes them: each chunk
    cast) and ``keepdims=True`` (the reduced axes kept, of length one)."""
    value = local_value(data)
    if is_pandas(value) or not hasattr(value, "ndim"):
        raise TypeError(f"{', '.join(rules)}= are numpy's options, for arrays; pandas' "
                        f"{method} has none")
    dtype = None if rules.get("dtype") is None else np.dtype(rules["dtype"])
    if dtype is not None and method in ("min", "max"):
        raise TypeError(f"{method} takes no dtype=, as numpy's does not")
    if dtype is not None and method != "sum" and dtype.kind not in "fc":
        raise TypeError(f"{method}(dtype={dtype}) is not taken: numpy would compute it in "
                        "integers, truncating; give a float dtype")
    func = None if dtype is None else functools.partial(_as_dtype, dtype)
    result = map_reduce(func, data, reducer(axis), **options)
    if dtype is not None and method == "sum":  # numpy's sum is of that dtype (ints wrap in it)
        result = np.asarray(result).astype(dtype)[()]
    if not rules.get("keepdims"):
        return result
    if axis is None:
        return np.asarray(result).reshape((1,) * value.ndim)
    return np.expand_dims(np.asarray(result), axis)


def _as_dtype(dtype: np.dtype, chunk: Any) -> Any:
    return np.asarray(chunk).astype(dtype, copy=False)


def _has_na(chunk: Any) -> Any:
    return chunk.isna().any()


def _count(chunk: Any) -> Any:
    return chunk.count()


def pandas_na(data: Any, reduce: Callable[[Any], Any], method: str, ddof: int | None,
              rules: dict, options: dict) -> Any:
    """``reduce(data)``, with pandas' answer where ``skipna=False`` meets a missing value, or
    a sum has fewer than ``min_count`` values: pandas' own answer for such a column of that
    dtype (one missing value; no value at all), so NaN, ``<NA>`` or ``NaT`` as pandas types
    it. Which columns: one more pass (missing values OR-ed, or counts added). Object columns
    with a missing value are pandas' whole answer, computed by pandas in the caller: what it
    gives there (NaN for a sum, an error for a mean of strings, the missing value itself in a
    frame) depends on the values, not on the dtype."""
    value = local_value(data)
    frame = value.ndim == 2
    none = value.iloc[:0].isna().any() if frame else False  # no row: nothing missing
    missing, few = none, none
    if rules.get("skipna", True) is False and len(value):
        missing = map_reduce(_has_na, data, operator.or_, **options)
    if rules.get("min_count", 0) > 0:
        counts = map_reduce(_count, data, operator.add, **options) if len(value) else \
            (value.iloc[:0].count() if frame else 0)
        few = counts < rules["min_count"]
    kwargs = {"ddof": ddof} if ddof is not None else {}
    objects = [d == np.dtype(object) for d in (value.dtypes if frame else [value.dtype])]
    if np.any(np.atleast_1d(missing) & np.array(objects)):
        return getattr(value, method)(**rules, **kwargs)

    def answer(column: Any, too_few: bool) -> Any:
        if too_few:  # pandas nulls a sum of too few values out in the column's own dtype
            return column.iloc[:0].sum(min_count=1)
        return getattr(column.iloc[:0].reindex(range(1)), method)(skipna=False, **kwargs)

    result = reduce(data)
    if not frame:
        return answer(value, bool(few)) if missing or few else result
    result = result.copy()
    for i in np.flatnonzero(np.asarray(missing) | np.asarray(few)):
        result.iloc[i] = answer(value.iloc[:, i], bool(np.asarray(few)[i]))
    return result
