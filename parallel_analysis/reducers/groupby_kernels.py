"""reducers.groupby_kernels: per-chunk numeric kernels of the GroupBy reducer. Layer: core
(imports reducers.groupby_nogil and reducers.groupby_plan; pandas at import).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from . import groupby_nogil
from .groupby_nogil import Labels
from .groupby_plan import MOMENTS, AggPlan

#: An integer key whose values span fewer than this (or 4x the chunk's rows) is its own group
#: number; a wider one goes through pandas' hash table.
DIRECT_SPAN = 2**16


def direct_slots(rows: int) -> int:
    """How many group numbers (slots) keys behind ``rows`` rows may span and still be numbered
    directly: :data:`DIRECT_SPAN`, or 4 per row for more rows."""
    return max(4 * rows, DIRECT_SPAN)


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
    return groupby_nogil.two_pass(c, x, n, mean,
                                  lambda values: np.bincount(c, weights=values, minlength=groups))


def kernel_outputs(chunk: pd.DataFrame, keys: list, plan: AggPlan) -> bool:
    """Whether the keys are plain columns (distinct, unique labels, none also an index level,
    which pandas' groupby rejects as ambiguous) and every output is a size, count or moment
    of a numpy column: what the kernels compute from group numbers alone."""
    if not keys or len(set(keys)) < len(keys) or not chunk.columns.is_unique or \
            not all(k in chunk.columns and k not in chunk.index.names for k in keys):
        return False
    for out in plan.outputs:
        if out.func not in ("size", "count", *MOMENTS):
            return False
        dtype = chunk[out.column].dtype
        if not isinstance(dtype, np.dtype) or dtype.kind not in "fiub":
            return False
    return True


def _key_values(key: pd.Series) -> Any:
    """What pandas' groupby factorizes for a key column: its extension array, or its ndarray
    (``Series.array`` would wrap that in a NumpyExtensionArray, whose factorize gives None and
    NaN in an object column codes of their own, where groupby makes them one NA group)."""
    values = key.array
    return values.to_numpy() if isinstance(values, pd.arrays.NumpyExtensionArray) else values


class Factorized(NamedTuple):
    """Group numbers of one or more keys (first-appearance order) and each key's value per
    group (one array per key)."""

    labels: Labels
    uniques: tuple


def factorized_codes(chunk: pd.DataFrame, keys: list, plan: AggPlan) -> Factorized | None:
    """Group numbers of key columns by pandas' ``factorize``, or None.

    It is the step a chunk's ``groupby(keys, sort=False, dropna=False)`` starts with: each key
    factorized (NA a value of its own), several keys' codes combined in mixed radix and that
    combination factorized again, so the same groups in the same first-appearance order. Used
    when every output is a kernel's (:func:`kernel_outputs`), it saves the groupby object's
    size and ngroup (and, for several keys, its MultiIndex), Python time that holds the GIL:
    a string key's partial 22.4 -> 19.7 ms per 667,000 rows, two string keys' 135 -> 102 ms.
    Categorical keys keep the groupby (their groups are categories).
    """
    if not len(chunk) or not kernel_outputs(chunk, keys, plan) or \
            any(isinstance(chunk[k].dtype, pd.CategoricalDtype) for k in keys):
        return None
    factorized = [pd.factorize(_key_values(chunk[k]), use_na_sentinel=False) for k in keys]
    if len(keys) == 1:
        codes, uniques = factorized[0]
        return Factorized(Labels(codes.astype(np.intp, copy=False), len(uniques)), (uniques,))
    sizes = [len(uniques) for _, uniques in factorized]
    if math.prod(sizes) >= 2**63:  # the combined code would not fit an int64
        return None
    combined = np.zeros(len(chunk), dtype=np.int64)
    for (codes, _), size in zip(factorized, sizes):
        np.multiply(combined, size, out=combined)
        np.add(combined, codes, out=combined, casting="unsafe")
    codes, firsts = pd.factorize(combined)  # no NA: every key's NA has a code of its own
    uniques, stride = [], 1
    for (_, values), size in zip(reversed(factorized), reversed(sizes)):
        uniques.append(values.take((firsts // stride) % size))
        stride *= size
    return Factorized(Labels(codes.astype(np.intp, copy=False), len(firsts)),
                      tuple(reversed(uniques)))


class Direct(NamedTuple):
    """Integer keys in small ranges as group numbers: each key's minimum and span."""

    labels: Labels
    lows: list
    spans: list


def direct_codes(chunk: pd.DataFrame, keys: list, plan: AggPlan, sort: bool) -> Direct | None:
    """Group numbers for integer keys in small ranges, or None.

    Then the keys themselves, minus their minimums, are the group number (mixed radix for
    several keys): no hash table, which is most of what a pandas groupby costs, and only
    ufuncs, which release the GIL. Used when every output is a size, count or moment of a
    numpy column and groups come out sorted (``sort=True``), so the order of groups within a
    partial does not matter.
    """
    if not sort or not kernel_outputs(chunk, keys, plan):
        return None
    columns, lows, spans = [], [], []
    for key in keys:
        values = chunk[key]
        if not isinstance(values.dtype, np.dtype) or values.dtype.kind not in "iu" or \
                not len(values):
            return None
        values = values.to_numpy()
        low, high = int(values.min()), int(values.max())
        columns.append(values)
        lows.append(low)
        spans.append(high - low + 1)
    limit = direct_slots(len(chunk))
    if math.prod(spans) > limit:
        return None
    if len(keys) == 1 and columns[0].dtype == np.intp and columns[0].flags.c_contiguous and \
            lows[0] >= 0 and lows[0] + spans[0] <= limit:  # the keys are the group numbers
        return Direct(Labels(columns[0], lows[0] + spans[0]), [0], [lows[0] + spans[0]])
    # Mixed radix, key by key in place: ((k0 * s1 + k1) * s2 + k2 ...) - offset. In intp with
    # wrap-around the result is exact modulo 2**64, and the true code is small.
    codes = np.empty(len(chunk), dtype=np.intp)
    offset = 0
    for i, (values, low, span) in enumerate(zip(columns, lows, spans)):
        if i:
            np.multiply(codes, span, out=codes)
            np.add(codes, values, out=codes, dtype=np.intp, casting="unsafe")
        else:
            np.copyto(codes, values, casting="unsafe")
        offset = offset * span + low
    offset = (offset + 2**63) % 2**64 - 2**63  # the same wrap-around, as an intp
    if offset:
        np.subtract(codes, np.intp(offset), out=codes)
    return Direct(Labels(codes, math.prod(spans)), lows, spans)
