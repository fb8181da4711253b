"""halos: chunks extended by rows of their neighbours, for ``map_overlap`` and ``rolling``.
Layer: core (imports only boundaries; pandas only in the functions that read an index).

A chunk ``[a, b)`` of an overlapping map is cut wider, at ``[a - before, b + after)`` clipped
to the data, so an interior chunk's extended rows are one wider slice of the same (shared)
input: a view, nothing copied. A depth larger than one or many chunks needs nothing special:
the slice just covers more neighbours. Each chunk's :class:`Halo` says what to trim from
``func``'s output, and how many boundary rows to add beyond the outer edges::

    row slices ──halo_slices──▶ Halo per chunk ──plan: cut at the extended rows──▶ specs
    in the worker: chunk ──Halos.extend──▶ (+ boundary rows at an edge) ──func──▶ output
                   output ──Halos.trim──▶ the chunk's own rows

Boundary rows (``boundary=``) come from :mod:`parallel_analysis.boundaries`.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from parallel_analysis.boundaries import check_boundary, edge_rows


class Halo(NamedTuple):
    """One extended chunk: input rows ``[start, stop)``, ``pad_before``/``pad_after`` boundary
    rows around them, and ``trim_before``/``trim_after`` rows cut from ``func``'s output."""

    start: int
    stop: int
    trim_before: int
    trim_after: int
    pad_before: int = 0
    pad_after: int = 0

    @property
    def core(self) -> slice:
        """The chunk's own rows of the data (and of the output)."""
        return slice(self.start + self.trim_before - self.pad_before,
                     self.stop - self.trim_after + self.pad_after)

    @property
    def length(self) -> int:
        """Rows ``func`` receives."""
        return self.pad_before + self.stop - self.start + self.pad_after

    @property
    def padded(self) -> bool:
        return bool(self.pad_before or self.pad_after)


def _count(name: str, value: Any) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a non-negative integer number of rows, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative integer number of rows, got {value}")
    return int(value)


def is_index_depth(depth: Any) -> bool:
    """A depth measured on the index (``"5min"``, a Timedelta) rather than in rows."""
    pair = depth if isinstance(depth, (tuple, list)) else (depth,)
    return any(isinstance(d, (str, np.timedelta64)) or hasattr(d, "nanos")
               or type(d).__name__ == "Timedelta" for d in pair)


def depth_pair(depth: Any) -> tuple[Any, Any]:
    """``depth`` as ``(before, after)``: an int (or an index distance) means both sides.

    >>> depth_pair(3), depth_pair((2, 0))
    ((3, 3), (2, 0))
    """
    if not isinstance(depth, (tuple, list)):
        return (depth, depth) if is_index_depth(depth) else (_count("depth", depth),) * 2
    if len(depth) != 2:
        raise ValueError(f"depth must be an int or a (before, after) pair, got {depth!r}")
    if is_index_depth(depth):
        return depth[0], depth[1]
    return _count("depth before", depth[0]), _count("depth after", depth[1])


def halo_slices(n_rows: int, slices: list[slice], before: int, after: int,
                pad: bool = False) -> list[Halo]:
    """One :class:`Halo` per chunk: the chunk widened by ``before``/``after`` rows, clipped to
    the data; with ``pad`` (a boundary given) the rows missing beyond the edges become boundary
    rows, so every chunk sees ``before + len + after`` rows.

    >>> [tuple(h) for h in halo_slices(10, [slice(0, 2), slice(2, 3), slice(3, 10)], 2, 1)]
    [(0, 3, 0, 1, 0, 0), (0, 4, 2, 1, 0, 0), (1, 10, 2, 0, 0, 0)]
    """
    out = []
    for s in slices:
        a, b = s.start, s.stop
        start, stop = max(0, a - before), min(n_rows, b + after)
        pb = before - (a - start) if pad else 0
        pa = after - (stop - b) if pad else 0
        out.append(Halo(start, stop, a - start + pb, stop - b + pa, pb, pa))
    return out


def index_halo_slices(index: Any, slices: list[slice], before: Any, after: Any) -> list[Halo]:
    """Halos measured on a monotonic index: chunk ``[a, b)`` reads every row whose label lies
    within ``before`` of its first label or within ``after`` of its last (ends included)."""
    import pandas as pd

    if not isinstance(index, (pd.DatetimeIndex, pd.TimedeltaIndex)):
        raise TypeError(f"a time depth such as '5min' needs a DatetimeIndex or TimedeltaIndex, "
                        f"not a {type(index).__name__}; give the depth in rows instead")
    if index.hasnans:
        raise ValueError("a time depth needs an index without NaT")
    if index.is_monotonic_increasing:
        key = index.asi8
    elif index.is_monotonic_decreasing:
        key = -index.asi8
    else:
        raise ValueError("a time depth needs a monotonic index: sort it first (sort_index())")
    unit = pd.Timedelta(1, unit=index.unit).value
    reach = []
    for d in (before, after):
        if isinstance(d, numbers.Integral) and d != 0:
            raise TypeError(f"a time depth takes times on both sides (0 for none), got {d!r} "
                            "rows beside a time")
        td = pd.Timedelta(0) if isinstance(d, numbers.Integral) else pd.Timedelta(d)
        if td < pd.Timedelta(0):
            raise ValueError(f"depth must not be negative, got {d!r}")
        reach.append(-(-td.value // unit))  # in index units, rounded up: never a row short
    out = []
    for s in slices:
        a, b = s.start, s.stop
        start = min(a, int(np.searchsorted(key, key[a] - reach[0], side="left")))
        stop = max(b, int(np.searchsorted(key, key[b - 1] + reach[1], side="right")))
        out.append(Halo(start, stop, a - start, stop - b))
    return out


def coarsen(slices: list[slice], min_rows: int) -> list[slice]:
    """Neighbouring chunks merged until each has ``min_rows`` rows (where the data has them).
    Never needed for correctness; it bounds the halo work when the depth dwarfs the chunks."""
    out: list[list[int]] = []
    for s in slices:
        if out and out[-1][1] - out[-1][0] < min_rows:
            out[-1][1] = s.stop
        else:
            out.append([s.start, s.stop])
    if len(out) > 1 and out[-1][1] - out[-1][0] < min_rows:  # a short tail joins its neighbour
        tail = out.pop()
        out[-1][1] = tail[1]
    return [slice(a, b) for a, b in out]


@dataclass(frozen=True)
class Halos:
    """The hook a worker applies around ``func`` for chunk ``i`` of an overlapping map
    (``worker.Job.halos``): :meth:`extend` adds boundary rows, :meth:`trim` cuts the halo.

    ``head`` holds the boundary rows before row 0 and ``tail`` those after the last row
    (``None`` without a boundary); a chunk takes the last ``pad_before`` and the first
    ``pad_after`` of them.
    """

    halos: tuple
    head: Any = None
    tail: Any = None

    def extend(self, i: int, chunk: Any) -> Any:
        halo = self.halos[i]
        if not halo.padded:
            return chunk
        if isinstance(chunk, np.ndarray):
            return np.concatenate([self.head[len(self.head) - halo.pad_before:], chunk,
                                   self.tail[:halo.pad_after]])
        import pandas as pd

        parts = [self.head.iloc[len(self.head) - halo.pad_before:], chunk,
                 self.tail.iloc[:halo.pad_after]]
        return pd.concat([p for p in parts if len(p)])

    def trim(self, i: int, value: Any) -> Any:
        """``func``'s output for chunk ``i`` without the halo rows; it must have one row per
        row ``func`` was given."""
        halo = self.halos[i]
        if np.ndim(value) == 0:
            raise TypeError(
                f"map_overlap: func returned a scalar ({type(value).__name__}) for chunk {i}; it "
                "must return one row per row it was given (use map_chunks or map_reduce for one "
                "result per chunk)")
        if len(value) != halo.length:
            core = halo.core
            raise ValueError(
                f"map_overlap: func returned {len(value)} rows for chunk {i} but was given "
                f"{halo.length} (rows {core.start}:{core.stop} plus {halo.trim_before} before "
                f"and {halo.trim_after} after); it must return one row per row it was given")
        stop = halo.length - halo.trim_after
        if hasattr(value, "iloc"):
            return value.iloc[halo.trim_before:stop]
        return np.asarray(value)[halo.trim_before:stop]


def plan_halos(data: Any, slices: list[slice], depth: Any, boundary: Any) -> Halos:
    """The :class:`Halos` of ``data`` (an array, frame or series) cut at ``slices``, with its
    boundary rows gathered; ``depth`` and ``boundary`` as :func:`depth_pair` and
    :func:`check_boundary` accept them."""
    before, after = depth_pair(depth)
    boundary = check_boundary(boundary)
    if is_index_depth(depth):
        if boundary is not None:
            raise ValueError("a time depth (e.g. '5min') works with boundary=None only")
        if not hasattr(data, "index"):
            raise TypeError("a time depth (e.g. '5min') needs a Series or DataFrame with a "
                            "DatetimeIndex; give an array's depth in rows")
        return Halos(tuple(index_halo_slices(data.index, slices, before, after)))
    halos = tuple(halo_slices(len(data), slices, before, after, pad=boundary is not None))
    if boundary is None or not slices:
        return Halos(halos)
    n = len(data)
    return Halos(halos, edge_rows(data, boundary, np.arange(-before, 0)),
                 edge_rows(data, boundary, np.arange(n, n + after)))
