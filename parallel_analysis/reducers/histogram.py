"""reducers.histogram: histograms as numpy computes them, and numpy's bin-count estimators
from mergeable statistics. Layer: core (imports reducers.base).

Every chunk calls ``np.histogram(chunk, bins, range)`` with the same ``bins`` and ``range``:
for uniform bins numpy puts a value in a bin from the value, the range, the bin count and the
input's dtype alone, so the chunks' counts add up to numpy's counts over the whole data, and
each chunk's edges are numpy's edges (in the input's float dtype: float32 data gets float32
edges; numpy's "Too many bins" error and its bool and complex warnings included).

``bins`` given as a name ("auto", "fd", "sturges", ...) needs statistics of the whole data
first; :func:`bin_count` is numpy's estimator computed from them (``par.histogram`` runs the
passes). The width numpy divides the range by comes from a variance, a skewness or an exact
inter-quartile range merged across chunks, equal to numpy's own up to the last bits, so the
bin count can differ from numpy's only if ``range / width`` falls within ~1e-15 of an integer.
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import numpy as np

from .base import Reducer, is_pandas

#: numpy's estimators of the bin count, by the name ``np.histogram`` takes.
ESTIMATORS = ("auto", "doane", "fd", "rice", "scott", "sqrt", "stone", "sturges")


def values_of(chunk: Any) -> np.ndarray:
    """The values of a chunk as a flat numpy array (pandas: NA dropped, as pandas skips it;
    a frame's value by value, not its rows that hold one)."""
    if is_pandas(chunk) and chunk.ndim == 2:
        columns = [chunk.iloc[:, i].dropna().to_numpy() for i in range(chunk.shape[1])]
        return np.concatenate(columns) if columns else np.empty(0)
    if is_pandas(chunk):
        return chunk.dropna().to_numpy().ravel()
    return np.asarray(chunk).ravel()


class Histogram(Reducer):
    """Counts in bins, as ``np.histogram(x, bins, range)``: returns ``(counts, edges)``.

    ``range`` (or explicit bin edges) is needed so every chunk uses the same bins;
    :func:`parallel_analysis.histogram` finds it for you in a first pass when you omit it,
    and estimates the bin count for ``bins="auto"`` and numpy's other names.
    """

    arrow_as_pandas = True

    def __init__(self, bins: Any = 10, range: tuple | None = None):
        if isinstance(bins, str):
            raise ValueError(f"Histogram(bins={bins!r}) needs statistics of the whole data; use "
                             "par.histogram(x, bins) or give the number of bins")
        if range is None and np.ndim(bins) == 0:
            raise ValueError(
                "Histogram needs range=(low, high) or explicit bin edges so that every chunk uses "
                "the same bins; par.histogram(x, bins) computes the range for you"
            )
        np.histogram_bin_edges(np.empty(0), bins, range)  # numpy's errors for bad bins, now
        self.bins = bins
        self.range = range

    def partial(self, chunk) -> tuple[np.ndarray, np.ndarray]:
        counts, edges = np.histogram(values_of(chunk), self.bins, self.range)
        return counts.astype(np.int64, copy=False), edges

    def combine(self, a, b):
        return a[0] + b[0], a[1]

    def finalize(self, state):
        return state[0], state[1].copy()


class ExtentState(NamedTuple):
    count: int
    low: Any  # numpy scalars of the data's dtype (bool data: uint8, as numpy converts it)
    high: Any


class Extent(Reducer):
    """Count, minimum and maximum of the values (within ``range`` if given), NaN propagating:
    what ``np.histogram`` derives its outer edges from."""

    arrow_as_pandas = True

    def __init__(self, range: tuple | None = None):
        self.range = range

    def partial(self, chunk) -> ExtentState:
        values = in_range(chunk, self.range)
        if not values.size:
            return ExtentState(0, None, None)
        return ExtentState(values.size, values.min(), values.max())

    def combine(self, a: ExtentState, b: ExtentState) -> ExtentState:
        if not a.count or not b.count:
            return a if a.count else b
        return ExtentState(a.count + b.count, np.minimum(a.low, b.low),
                           np.maximum(a.high, b.high))


def in_range(chunk: Any, range: tuple | None = None) -> np.ndarray:
    """The values numpy's estimators see: bool as uint8, only those within ``range``."""
    values = values_of(chunk)
    if values.dtype == np.bool_:
        values = values.astype(np.uint8)
    if range is not None:
        values = values[(values >= range[0]) & (values <= range[1])]
    return values


def cubed_deviations(chunk: Any, range: tuple | None, mean: Any, sigma: Any) -> np.ndarray:
    """((x - mean) / sigma)³ as numpy's Doane estimator computes it, in the data's dtype."""
    temp = in_range(chunk, range) - mean
    np.true_divide(temp, sigma, temp)
    np.power(temp, 3, temp)
    return temp


def squared_deviations(chunk: Any, range: tuple | None, mean: Any) -> np.ndarray:
    """(x - mean)² in the data's dtype, as ``np.var`` squares them (float16 data: in float16)."""
    temp = in_range(chunk, range) - mean
    np.multiply(temp, temp, temp)
    return temp


class StoneCounts(Reducer):
    """Counts of the values in 1, 2, ... ``most`` equal bins over ``range`` (Stone's rule)."""

    def __init__(self, most: int, range: tuple):
        self.most, self.range = most, range

    def partial(self, chunk) -> list:
        values = in_range(chunk, self.range)
        return [np.histogram(values, k, self.range)[0] for k in range(1, self.most + 1)]

    def combine(self, a: list, b: list) -> list:
        return [x + y for x, y in zip(a, b)]



class Sample(NamedTuple):
    """What numpy's estimators read of the (range-trimmed) data."""

    size: int
    low: Any
    high: Any
    std: Any = None  # np.std(x) (scott, doane)
    skew: Any = None  # mean of the cubed standardised deviations (doane)
    iqr: Any = None  # q75 - q25, exact (fd, auto)
    stone: list | None = None  # StoneCounts of the data (stone)


def bin_count(name: str, sample: Sample, edges: tuple) -> int:
    """numpy's number of equal bins for estimator ``name`` (``np.histogram_bin_edges``'s
    arithmetic, on the merged statistics of ``sample``)."""
    if sample.size == 0:
        return 1
    width = _width(name, sample, edges)
    if not width:
        return 1
    if np.issubdtype(np.asarray(sample.low).dtype, np.integer) and width < 1:
        width = 1
    return int(np.ceil(unsigned_subtract(edges[1], edges[0]) / width))


def _width(name: str, s: Sample, edges: tuple) -> Any:
    ptp = unsigned_subtract(s.high, s.low)
    if name in ("sqrt", "sturges", "rice", "fd"):
        return {"sqrt": lambda: ptp / np.sqrt(s.size),
                "sturges": lambda: ptp / (np.log2(s.size) + 1.0),
                "rice": lambda: ptp / (2.0 * s.size ** (1.0 / 3)),
                "fd": lambda: 2.0 * s.iqr * s.size ** (-1.0 / 3.0)}[name]()
    if name == "auto":
        fd = _width("fd", s, edges)
        return min(max(fd, _width("sqrt", s, edges) / 2), _width("sturges", s, edges))
    if name == "scott":
        return (24.0 * np.pi**0.5 / s.size) ** (1.0 / 3.0) * s.std
    if name == "doane":
        if s.size > 2 and s.std > 0.0:
            sg1 = np.sqrt(6.0 * (s.size - 2) / ((s.size + 1.0) * (s.size + 3)))
            return ptp / (1.0 + np.log2(s.size) + np.log2(1.0 + np.absolute(s.skew) / sg1))
        return 0.0
    return _stone_width(s, ptp)


def stone_bins(sample: Sample) -> int:
    """The most bins Stone's rule tries (numpy's bound)."""
    return max(100, int(np.sqrt(sample.size)))


def _stone_width(s: Sample, ptp: Any) -> Any:
    if s.size <= 1 or ptp == 0:
        return 0

    def jhat(nbins: int) -> float:
        p_k = s.stone[nbins - 1] / s.size
        return (2 - (s.size + 1) * p_k.dot(p_k)) / (ptp / nbins)

    most = stone_bins(s)
    nbins = min(range(1, most + 1), key=jhat)
    if nbins == most:
        warnings.warn("The number of bins estimated may be suboptimal.", RuntimeWarning,
                      stacklevel=4)
    return ptp / nbins


def unsigned_subtract(a: Any, b: Any) -> Any:
    """``a - b`` without overflow for signed integers (numpy's ``_unsigned_subtract``)."""
    dt = np.result_type(a, b)
    if dt.kind != "i":
        return np.subtract(a, b, dtype=dt)
    unsigned = np.dtype(f"u{dt.itemsize}")
    return np.subtract(np.asarray(a, dtype=dt), np.asarray(b, dtype=dt), casting="unsafe",
                       dtype=unsigned)


def outer_edges(extent: ExtentState, range: tuple | None) -> tuple:
    """numpy's first and last edge: the given range or the data's extent ([0, 1] for no data),
    widened by ±0.5 when equal."""
    if range is not None:
        first, last = range
        if first > last:
            raise ValueError("max must be larger than min in range parameter.")
    elif extent.count == 0:
        first, last = 0, 1
    else:
        first, last = extent.low, extent.high
    if not (np.isfinite(first) and np.isfinite(last)):
        raise ValueError(f"autodetected range of [{first}, {last}] is not finite")
    if first == last:
        first, last = first - 0.5, last + 0.5
    return first, last
