"""shortcuts: one-call reductions, ``par.sum(x)`` is ``par.map_reduce(None, x, Sum())``. Layer:
API (imports pool and reducers).

Each takes the data, the reducer's own options, and the common map options (``n``, ``size``,
``nbytes``, ``backend``, ``workers``, ``progress``, ``timeout``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import reducers as r
from .maps import map_reduce


def sum(data: Any, axis: Any = None, **options: Any) -> Any:  # numpy's name
    """Sum of all elements (or per column with ``axis=0``), like ``np.sum`` / ``DataFrame.sum``."""
    return map_reduce(None, data, r.Sum(axis), **options)


def mean(data: Any, axis: Any = None, **options: Any) -> Any:
    """Arithmetic mean, like ``np.mean`` / ``DataFrame.mean``."""
    return map_reduce(None, data, r.Mean(axis), **options)


def var(data: Any, ddof: int | None = None, axis: Any = None, **options: Any) -> Any:
    """Variance (``ddof`` defaults to numpy's 0 for arrays, pandas' 1 for frames)."""
    return map_reduce(None, data, r.Var(ddof, axis), **options)


def std(data: Any, ddof: int | None = None, axis: Any = None, **options: Any) -> Any:
    """Standard deviation (``ddof`` as :func:`var`)."""
    return map_reduce(None, data, r.Std(ddof, axis), **options)


def min(data: Any, axis: Any = None, **options: Any) -> Any:
    """Minimum, like ``np.min`` (NaN propagates) / ``DataFrame.min`` (NaN skipped)."""
    return map_reduce(None, data, r.Min(axis), **options)


def max(data: Any, axis: Any = None, **options: Any) -> Any:
    """Maximum, like ``np.max`` / ``DataFrame.max``."""
    return map_reduce(None, data, r.Max(axis), **options)


def histogram(data: Any, bins: Any = 10, range: tuple | None = None,
              **options: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(counts, edges)`` as ``np.histogram``; without ``range``, a first pass finds it."""
    if range is None and np.ndim(bins) == 0:
        low = map_reduce(None, data, r.Min(), **options)
        high = map_reduce(None, data, r.Max(), **options)
        low, high = float(low), float(high)
        if not (np.isfinite(low) and np.isfinite(high)):
            raise ValueError(f"autodetected range of [{low}, {high}] is not finite")
        if low == high:
            low, high = low - 0.5, high + 0.5
        range = (low, high)
    return map_reduce(None, data, r.Histogram(bins, range), **options)


def quantile(data: Any, q: Any = 0.5, exact: bool = False, sketch_size: int = 4096,
             **options: Any) -> Any:
    """Quantile(s) ``q``: approximate within the bound of :class:`~.reducers.Quantile`, or exact."""
    return map_reduce(None, data, r.Quantile(q, exact=exact, sketch_size=sketch_size), **options)


__all__ = ["histogram", "max", "mean", "min", "quantile", "std", "sum", "var"]
