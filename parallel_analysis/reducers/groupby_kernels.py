"""reducers.groupby_kernels: per-chunk numeric kernels of the GroupBy reducer. Layer: core
(imports reducers.base, reducers.groupby_nogil and reducers.groupby_plan; pandas at import).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from . import groupby_nogil
from .base import two_sum
from .groupby_nogil import Labels
from .groupby_plan import MOMENTS, AggPlan

#: An integer key whose values span fewer than this (or 4x the chunk's rows) is its own group
#: number; a wider one goes through pandas' hash table.
DIRECT_SPAN = 2**16


def _floats(series: pd.Series) -> np.ndarray:
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def group_codes(g: Any, groups: int) -> Labels:
    """Each row's group number (as ``g`` orders its groups; -1 for a row without one)."""
    codes = g.ngroup().to_numpy()
    if codes.dtype.kind == "f":  # rows whose key is NA, dropped (dropna=True)
        codes = np.where(np.isnan(codes), -1, codes)
    return Labels(codes.astype(np.intp, copy=False), groups)


def _numbers(values: pd.Series) -> np.ndarray:
    """float64 values with NaN for NA: a view when the column already is float64."""
    if values.dtype == np.float64 and isinstance(values.dtype, np.dtype):
        return values.to_numpy()
    return _floats(values)


def column_count(labels: Labels, values: pd.Series) -> np.ndarray:
    """Non-NA values per group of a numpy column (int64)."""
    x = values.to_numpy()
    if x.dtype.kind != "f":
        return labels.size()
    if groupby_nogil.KERNELS is not None:
        return groupby_nogil.count_valid(labels, x.astype(np.float64, copy=False))
    codes = labels.codes[~np.isnan(x)]
    return np.bincount(codes[codes >= 0], minlength=labels.groups)


def column_moments(labels: Labels, values: pd.Series, var: bool) -> tuple:
    """(n, (mean hi, mean lo), M2 or None) per group of one numeric column; NA skipped.

    On pandas' GIL-releasing kernels when they are usable (:mod:`.groupby_nogil`), else on
    numpy's bincount; both run the same corrected two-pass algorithm: means from plain sums,
    then a pass over the deviations from them whose sum corrects the mean and whose squares
    give M2 (minus the correction's share). Deviations are small numbers even on data with a
    large offset (1e9 + noise), so no digit is lost, and no sum of squares is ever subtracted
    from another. (The kernels' path skips passes where they cannot change the answer.)
    """
    x = _numbers(values)
    if groupby_nogil.KERNELS is not None:
        return groupby_nogil.moments(labels, x, var)
    groups, c = labels.groups, labels.codes
    valid = ~np.isnan(x)
    if c.size and c.min() < 0:
        valid &= c >= 0
    n = labels.size() if valid.all() else None
    if n is None:
        c, x = c[valid], x[valid]
        n = np.bincount(c, minlength=groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(c, weights=x, minlength=groups) / n
        if not var:
            return n, (mean, np.zeros_like(mean)), None
        dev = np.take(mean, c)  # one buffer, reused: fresh pages cost as much as the maths
        np.subtract(x, dev, out=dev)
        correction = np.bincount(c, weights=dev, minlength=groups) / n
        np.multiply(dev, dev, out=dev)
        m2 = np.bincount(c, weights=dev, minlength=groups) - n * correction**2
        # an infinite mean stays as it is (its M2 is NaN), as pandas' mean and var give
        exact = (n > 0) & np.isfinite(mean)
        hi, lo = two_sum(mean, np.where(exact, correction, 0.0))
    return n, (np.where(exact, hi, mean), np.where(exact, lo, 0.0)), np.where(n > 0, m2, 0.0)


def direct_codes(chunk: pd.DataFrame, keys: list, plan: AggPlan, sort: bool) -> tuple | None:
    """(group numbers, the key's minimum) for an integer key in a small range.

    Then the key itself, minus its minimum, is the group number: no hash table, which is
    most of what a pandas groupby costs. Used when every output is a size, count or moment
    of a numpy column and groups come out sorted (``sort=True``), so the order of groups
    within a partial does not matter.
    """
    if not sort or len(keys) != 1 or keys[0] not in chunk.columns:
        return None
    for out in plan.outputs:
        if out.func not in ("size", "count", *MOMENTS):
            return None
        dtype = chunk[out.column].dtype
        if not isinstance(dtype, np.dtype) or dtype.kind not in "fiub":
            return None
    key = chunk[keys[0]]
    if not isinstance(key.dtype, np.dtype) or key.dtype.kind not in "iu" or not len(key):
        return None
    values = key.to_numpy()
    low, high = int(values.min()), int(values.max())
    if high - low >= max(4 * len(values), DIRECT_SPAN):
        return None
    codes = np.empty(len(values), dtype=np.intp)  # key - low, in one pass
    np.subtract(values, values.dtype.type(low), out=codes, casting="unsafe")
    return Labels(codes, high - low + 1), low


def direct_index(key: pd.Series, low: int, size: np.ndarray) -> tuple[pd.Index, np.ndarray]:
    """The key index of the groups :func:`direct_codes` found rows for, and which they are."""
    present = size > 0
    index = pd.Index((np.flatnonzero(present) + low).astype(key.dtype), name=key.name)
    return index, present
