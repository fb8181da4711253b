"""cuts: boundaries that cut a run of items into contiguous runs. Layer: core (numpy only).

The arithmetic under every chunking in the package, kept apart from the data it is applied to
(:mod:`.split` turns the boundaries into row slices of arrays and frames, :mod:`.parquet` into
runs of row groups):

- :func:`balanced_cuts`: runs of about equal total size (rows of an array, whole groups of a
  key, Parquet row groups);
- :func:`capped_cuts`: runs of at most a given size (Parquet row groups by size);
- :func:`cuts_to_slices` and :func:`even_slices`: the row slices between boundaries.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def balanced_cuts(sizes: Any, count: int) -> list[int]:
    """Boundaries ``0 = c0 < c1 < ... < ck = len(items)`` cutting items into ``k = min(count,
    len(items))`` contiguous runs of about equal total size.

    ``sizes`` holds each item's size (rows per group, per row group), or is an int: that many
    items of one row each. Each run aims at the rows still to place divided by the runs still to
    make (rounded up) and ends at the item boundary nearest that aim, so a run that had to take
    a big item does not push the others off balance. Items of one row each get
    ``np.array_split``'s layout: the first ``n % k`` runs have one row more.

    >>> balanced_cuts(10, 4), balanced_cuts([1, 8, 1, 1, 1], 2)
    ([0, 3, 6, 8, 10], [0, 2, 5])
    """
    unit = isinstance(sizes, (int, np.integer))
    n_items = int(sizes) if unit else len(sizes)
    count = min(int(count), n_items)
    if count <= 0:
        return [0]
    if unit:  # what the aims below give for items of one row: np.array_split's layout
        step, extra = divmod(n_items, count)
        return [i * step + min(i, extra) for i in range(count + 1)]
    ends = np.cumsum(np.asarray(sizes, dtype=np.int64))
    total = int(ends[-1])
    cuts, placed = [0], 0
    for left in range(count, 1, -1):
        aim = placed + -(-(total - placed) // left)
        j = int(np.searchsorted(ends, aim))  # first item ending at or after the aim
        end = j + 1 if j == cuts[-1] or ends[j] - aim <= aim - ends[j - 1] else j
        end = max(cuts[-1] + 1, min(end, n_items - (left - 1)))  # no run left empty
        cuts.append(end)
        placed = int(ends[end - 1])
    cuts.append(n_items)
    return cuts


def capped_cuts(sizes: list[int], limit: int) -> list[int]:
    """Boundaries of runs of items whose sizes add up to at most ``limit`` (one item at least)."""
    bounds, acc = [0], 0
    for i, w in enumerate(sizes):
        if acc and acc + w > limit:
            bounds.append(i)
            acc = 0
        acc += w
    bounds.append(len(sizes))
    return bounds


def cuts_to_slices(cuts: list[int], ends: Any = None) -> list[slice]:
    """Row slices between consecutive cuts (``ends``: cumulative rows per item; None: one row
    per item)."""
    rows = cuts if ends is None else [0] + [int(ends[c - 1]) for c in cuts[1:]]
    return [slice(a, b) for a, b in zip(rows[:-1], rows[1:])]


def even_slices(n_rows: int, n_chunks: int) -> list[slice]:
    """``n_chunks`` contiguous slices covering ``range(n_rows)``; lengths differ by at most one."""
    return cuts_to_slices(balanced_cuts(n_rows, n_chunks)) if n_rows > 0 else []
