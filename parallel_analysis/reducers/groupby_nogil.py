"""reducers.groupby_nogil: GroupBy's per-chunk sums and counts on pandas' cython kernels, which
release the GIL. Layer: core (imports reducers.base; pandas at import).

``np.bincount`` holds the GIL through its min/max pass over the group numbers (and the
conversion of its input), 20-30% of its time: with four of them per chunk, a groupby's
partials held the GIL 15-20% of the time and two threads could not reach 1.7x one.
``pandas._libs.groupby.group_sum`` runs its loop ``with nogil`` (Kahan summation, NaN skipped,
rows whose group number is -1 skipped) and counts each group's rows on the way, so it replaces
every bincount of a partial; ``group_var`` (Welford's update, also ``nogil``) gives M2 in
one more pass where it is accurate.

``pandas._libs`` is private API: :data:`KERNELS` is the module when it imports and passes a
small self-check at import, else None, and callers then take the numpy path (tests set it to
None to check that path gives the same answers).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .base import two_sum


def _load_kernels() -> Any:
    """``pandas._libs.groupby`` if its ``group_sum`` behaves as this module expects, else None."""
    try:
        from pandas._libs import groupby as lib

        values = np.array([[1.0], [2.0], [np.nan], [4.0], [8.0]])
        labels = np.array([0, 0, 1, -1, 1], dtype=np.intp)
        out, rows = np.zeros((2, 1)), np.zeros(2, dtype=np.int64)
        lib.group_sum(out, rows, values, labels, None, min_count=0)
        flags = np.ones((5, 1), dtype=np.int64)
        ints, _ = np.zeros((2, 1), dtype=np.int64), np.zeros(2, dtype=np.int64)
        lib.group_sum(ints, _, flags, labels, None, min_count=0)
        var = np.zeros((2, 1))
        lib.group_var(var, np.zeros(2, dtype=np.int64), values, labels, ddof=0)
    except Exception:  # noqa: BLE001 - any import or signature change means: not usable
        return None
    ok = out[:, 0].tolist() == [3.0, 8.0] and rows.tolist() == [2, 2] and \
        ints[:, 0].tolist() == [2, 2] and var[:, 0].tolist() == [0.25, 0.0]
    return lib if ok else None


#: ``pandas._libs.groupby`` when usable (see the module docstring), else None.
KERNELS = _load_kernels()


class Labels:
    """A chunk's group numbers as the kernels take them (intp, -1: the row has no group), how
    many groups there are, and the rows per group once a kernel has counted them."""

    def __init__(self, codes: np.ndarray, groups: int, rows: np.ndarray | None = None):
        self.codes = codes
        self.groups = groups
        self.rows = rows

    def size(self) -> np.ndarray:
        """Rows per group (int64): free after a kernel ran, else one counting pass (a kernel
        summing the group numbers themselves, which needs no other array)."""
        if self.rows is None and KERNELS is not None and self.codes.dtype == np.int64:
            group_sum(self, self.codes)
        if self.rows is None:
            codes = self.codes
            if codes.size and codes.min() < 0:
                codes = codes[codes >= 0]
            self.rows = np.bincount(codes, minlength=self.groups).astype(np.int64)
        return self.rows


def group_sum(labels: Labels, values: np.ndarray) -> np.ndarray:
    """Per-group sum of a 1-d float64 or int64 array (NaN skipped; int64 exact), GIL released;
    records the rows per group in ``labels``."""
    data = np.ascontiguousarray(values).reshape(-1, 1)
    out = np.zeros((labels.groups, 1), dtype=data.dtype)
    rows = np.zeros(labels.groups, dtype=np.int64)
    KERNELS.group_sum(out, rows, data, labels.codes, None, min_count=0)
    if labels.rows is None:
        labels.rows = rows
    return out[:, 0]


def count_valid(labels: Labels, x: np.ndarray) -> np.ndarray:
    """Non-NaN values per group of float64 ``x`` (int64, exact)."""
    with np.errstate(invalid="ignore"):  # inf - inf is NaN too: then the exact count below
        total = np.add.reduce(x)
    if not np.isnan(total):  # no NaN: one reduction, no temporary
        if labels.rows is None:
            group_sum(labels, x)  # counts the rows on the way
        return labels.rows
    return group_sum(labels, (~np.isnan(x)).view(np.uint8).astype(np.int64))


#: Values further from zero than this many times their range lose digits in plain sums, so
#: their means get the corrected two-pass treatment; closer ones skip that pass.
OFFSET_RATIO = 1e3


def far_from_zero(x: np.ndarray, sample: int = 0) -> bool:
    """Whether ``x`` (NaN skipped) sits further from zero than OFFSET_RATIO x its range, judged
    on every value or on a strided sample of about ``sample`` of them."""
    if sample and len(x) > sample:
        x = x[:: len(x) // sample]
    low, high = float(np.fmin.reduce(x)), float(np.fmax.reduce(x))
    return max(abs(low), abs(high)) > OFFSET_RATIO * (high - low)


def moments(labels: Labels, x: np.ndarray, var: bool) -> tuple:
    """(n, (mean hi, mean lo), M2 or None) per group of float64 ``x`` (NaN for NA).

    Means from Kahan sums (``group_sum``); M2 from Welford's update (``group_var``), whose
    relative error is about eps x |mean| / std: it is kept for groups within
    :data:`OFFSET_RATIO` standard deviations of zero. When a group is further (data with a
    large offset, 1e9 + noise, or a constant group), the chunk takes the corrected two-pass
    algorithm instead (:func:`two_pass`), which loses no digit to an offset.
    """
    sums = group_sum(labels, x)
    n = count_valid(labels, x)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / n
        if not var:
            return n, (mean, np.zeros_like(mean)), None
        # judged on a sample: a wrong guess costs time only, since the per-group check below
        # sends any group Welford would get wrong to the two-pass algorithm
        if x.size and far_from_zero(x, sample=4096):
            return _two_pass(labels, x, n, mean)
        out = np.zeros((labels.groups, 1))
        KERNELS.group_var(out, np.zeros(labels.groups, dtype=np.int64),
                          np.ascontiguousarray(x).reshape(-1, 1), labels.codes, ddof=0)
        spread = np.sqrt(out[:, 0])
        finite = np.isfinite(mean)
        if ((n < 2) | ~finite | (np.abs(mean) <= OFFSET_RATIO * spread)).all():
            m2 = np.where(finite, out[:, 0] * n, np.where(n > 0, np.nan, 0.0))
            return n, (mean, np.zeros_like(mean)), m2
        return _two_pass(labels, x, n, mean)


def two_pass(codes: np.ndarray, x: np.ndarray, n: np.ndarray, mean: np.ndarray,
             sums: Callable[[np.ndarray], np.ndarray]) -> tuple:
    """(n, (mean hi, mean lo), M2) by the corrected two-pass algorithm, given plain means:
    the sums of the deviations from them correct the means (hi + lo), the sums of their
    squares give M2 (minus the correction's share). ``sums(values)`` is the per-group sum of
    a row array (pandas' kernel, or numpy's bincount); NaN deviations of rows without a value
    are skipped by the kernel, absent from the numpy path's rows."""
    with np.errstate(invalid="ignore", divide="ignore"):
        dev = np.take(mean, codes, mode="clip")  # one buffer, reused; rows of group -1 skipped
        np.subtract(x, dev, out=dev)
        correction = sums(dev) / n
        np.multiply(dev, dev, out=dev)
        m2 = sums(dev) - n * correction**2
        # an infinite mean stays as it is and its M2 is NaN, as pandas' mean and var give
        exact = (n > 0) & np.isfinite(mean)
        hi, lo = two_sum(mean, np.where(exact, correction, 0.0))
    m2 = np.where(exact, m2, np.where(n > 0, np.nan, 0.0))
    return n, (np.where(exact, hi, mean), np.where(exact, lo, 0.0)), m2


def _two_pass(labels: Labels, x: np.ndarray, n: np.ndarray, mean: np.ndarray) -> tuple:
    return two_pass(labels.codes, x, n, mean, lambda values: group_sum(labels, values))
