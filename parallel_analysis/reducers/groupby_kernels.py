"""reducers.groupby_kernels: per-chunk numeric kernels of the GroupBy reducer. Layer: core
(imports reducers.base and reducers.groupby_plan; pandas at import).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .base import two_sum
from .groupby_plan import MOMENTS, AggPlan

#: An integer key whose values span fewer than this (or 4x the chunk's rows) is its own group
#: number; a wider one goes through pandas' hash table.
DIRECT_SPAN = 2**16


def _floats(series: pd.Series) -> np.ndarray:
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def group_codes(g: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """Each row's group number (as ``g`` orders its groups), and which rows have a group
    (None: all of them)."""
    codes = g.ngroup().to_numpy()
    if codes.dtype.kind == "f":  # rows whose key is NA, dropped (dropna=True)
        keep = ~np.isnan(codes)
        return np.where(keep, codes, 0).astype(np.intp), keep
    return codes.astype(np.intp, copy=False), None


def _numbers(values: pd.Series) -> np.ndarray:
    """float64 values with NaN for NA: a view when the column already is float64."""
    if values.dtype == np.float64 and isinstance(values.dtype, np.dtype):
        return values.to_numpy()
    return _floats(values)


def column_moments(codes: np.ndarray, keep: np.ndarray | None, groups: int, values: pd.Series,
             var: bool, size: np.ndarray | None = None) -> tuple:
    """(n, (mean hi, mean lo), M2 or None) per group of one numeric column; NA skipped.

    The corrected two-pass algorithm: means from plain sums, then a pass over the deviations
    from them whose sum corrects the mean and whose squares give M2 (minus the correction's
    share). Deviations are small numbers even on data with a large offset (1e9 + noise), so
    no digit is lost, and no sum of squares is ever subtracted from another. The correction
    pass is skipped for values near zero compared with their range, whose plain sums are
    already exact enough.
    """
    x = _numbers(values)
    valid = ~np.isnan(x)
    if keep is not None:
        valid &= keep
    c = codes
    if not valid.all():
        c, x, size = codes[valid], x[valid], None
    n = np.bincount(c, minlength=groups) if size is None else size
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(c, weights=x, minlength=groups) / n
        if not var:
            return n, (mean, np.zeros_like(mean)), None
        dev = np.take(mean, c)  # one buffer, reused: fresh pages cost as much as the maths
        np.subtract(x, dev, out=dev)
        correction = np.zeros(groups)
        if x.size and _far_from_zero(x):
            correction = np.bincount(c, weights=dev, minlength=groups) / n
        np.multiply(dev, dev, out=dev)
        m2 = np.bincount(c, weights=dev, minlength=groups) - n * correction**2
        # an infinite mean stays as it is (its M2 is NaN), as pandas' mean and var give
        exact = (n > 0) & np.isfinite(mean)
        hi, lo = two_sum(mean, np.where(exact, correction, 0.0))
    return n, (np.where(exact, hi, mean), np.where(exact, lo, 0.0)), np.where(n > 0, m2, 0.0)


#: Values further from zero than this many times their range lose digits in plain sums, so
#: their means get the corrected two-pass treatment; closer ones skip that pass.
OFFSET_RATIO = 1e3


def _far_from_zero(x: np.ndarray) -> bool:
    low, high = float(x.min()), float(x.max())
    return max(abs(low), abs(high)) > OFFSET_RATIO * (high - low)




def direct_codes(chunk: pd.DataFrame, keys: list, plan: AggPlan, sort: bool) -> tuple | None:
    """(codes, key index, rows per code) for an integer key in a small range.

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
    codes = (values - values.dtype.type(low)).astype(np.intp, copy=False)
    size = np.bincount(codes, minlength=high - low + 1)
    index = pd.Index((np.flatnonzero(size) + low).astype(key.dtype), name=key.name)
    return codes, index, size
