"""split: cut data into balanced chunks along its rows, as views. Layer: core (imports the leaf
cpus and cuts; pandas only inside the functions that cut by groups).

Every cut in the package is computed as item boundaries first (:mod:`.cuts`) and ``slice``
objects second, then applied with ``arr[s]`` or ``df.iloc[s]``, so chunks are views and never
copies: :func:`row_slices` for rows, :func:`group_slices` for whole groups of a key per chunk,
balanced by rows.

How many chunks to make when the caller does not say is a separate pure function,
:func:`choose_n_chunks`, that no backend sees.

>>> import numpy as np
>>> [len(c) for c in split(np.arange(10), 4)]
[3, 3, 2, 2]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .cpus import available_cpus
from .cuts import balanced_cuts, even_slices

#: Aim for chunks of about this many bytes when the caller gives no size: large enough that the
#: ~100 µs a chunk costs to dispatch is noise, small enough that several chunks per worker let a
#: fast worker take over from a slow one.
TARGET_CHUNK_BYTES = 16 * 2**20

#: At least this many chunks per CPU, for load balance when each row is expensive (pure-Python
#: work on a small array).
MIN_CHUNKS_PER_CPU = 4


def choose_n_chunks(n_rows: int, row_nbytes: int, parallelism: int) -> int:
    """How many chunks to cut ``n_rows`` rows of ``row_nbytes`` bytes into for ``parallelism`` CPUs.

    Pure policy: the count depends only on the data and the machine, never on the backend, so
    the same call gives the same chunking (and bit-for-bit the same reduction) on every backend.

    >>> choose_n_chunks(0, 8, 2), choose_n_chunks(10, 8, 2), choose_n_chunks(10**8, 8, 2)
    (0, 8, 48)
    """
    if n_rows <= 0:
        return 0
    by_bytes = math.ceil(n_rows * max(1, row_nbytes) / TARGET_CHUNK_BYTES)
    return int(min(n_rows, max(by_bytes, MIN_CHUNKS_PER_CPU * max(1, parallelism))))


def _check_positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a positive integer, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return int(value)


@dataclass(frozen=True)
class Groups:
    """Chunks hold whole groups of the key ``by``, in order of first appearance (or of the keys,
    ``sort=True``); ``contiguous`` keeps chunks in group order even when a group is big."""

    by: Any
    sort: bool = False
    dropna: bool = False
    contiguous: bool = False


@dataclass(frozen=True)
class Chunking:
    """How to cut: ``n`` chunks, or at most ``size`` rows or ``nbytes`` bytes each (at most one
    of the three; none: :func:`choose_n_chunks`), and ``by``: a key (or :class:`Groups`) whose
    groups stay whole."""

    n: int | None = None
    size: int | None = None
    nbytes: int | None = None
    by: Any = None

    def __post_init__(self) -> None:
        given = [k for k in ("n", "size", "nbytes") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give at most one of n, size and nbytes, not {' and '.join(given)}")
        for name in given:
            _check_positive(name, getattr(self, name))

    @property
    def groups(self) -> Groups | None:
        if self.by is None or isinstance(self.by, Groups):
            return self.by
        return Groups(self.by)

    def row_limit(self, row_nbytes: int) -> int | None:
        """The most rows a chunk may hold under ``size`` or ``nbytes`` (None: no bound)."""
        if self.size is not None:
            return int(self.size)
        if self.nbytes is not None:
            return max(1, int(self.nbytes) // max(1, row_nbytes))
        return None

    def count(self, n_rows: int, row_nbytes: int, parallelism: int = 1) -> int:
        """The number of chunks for ``n_rows`` rows of ``row_nbytes`` bytes each."""
        if self.n is not None:
            return min(int(self.n), n_rows)
        limit = self.row_limit(row_nbytes)
        if limit is not None:
            return math.ceil(n_rows / limit) if n_rows else 0
        return choose_n_chunks(n_rows, row_nbytes, parallelism)


# -- rows of arrays, frames and tables ------------------------------------------------------------

def rows_and_row_nbytes(data: Any) -> tuple[int, int]:
    """Number of rows and bytes per row of an array, DataFrame, Series or pyarrow Table."""
    if isinstance(data, np.ndarray):
        if data.ndim == 0:
            raise ValueError(
                "cannot split a 0-d array: it has no rows. Pass np.atleast_1d(x) to treat it as "
                "one row, or compute on the scalar directly."
            )
        rows = data.shape[0]
        return rows, (data.itemsize * (data.size // rows) if rows else data.itemsize)
    if hasattr(data, "num_rows") and hasattr(data, "nbytes"):  # pyarrow Table / RecordBatch
        rows = data.num_rows
        return rows, (data.nbytes // rows if rows else 1)
    if hasattr(data, "iloc"):  # pandas DataFrame / Series
        rows = len(data)
        if not rows:
            return 0, 1
        usage = data.memory_usage(index=False, deep=False)
        return rows, max(1, int(usage.sum() if hasattr(data, "columns") else usage) // rows)
    raise TypeError(
        f"cannot split {type(data).__name__}: expected a numpy array, pandas DataFrame or Series, "
        "or a pyarrow Table"
    )


def row_slices(data: Any, chunking: Chunking, parallelism: int = 1) -> list[slice]:
    """The row slices :func:`split` would apply to ``data`` (an array, frame, series or table)."""
    n_rows, row_nbytes = rows_and_row_nbytes(data)
    return even_slices(n_rows, chunking.count(n_rows, row_nbytes, parallelism))


def take_rows(data: Any, s: slice) -> Any:
    """Apply a row slice without copying: ``arr[s]``, ``df.iloc[s]`` or ``table.slice``."""
    if isinstance(data, np.ndarray):
        return data[s]
    if hasattr(data, "iloc"):
        return data.iloc[s]
    return data.slice(s.start, s.stop - s.start)


# -- whole groups of a key ------------------------------------------------------------------------

#: A group is big when it holds more than this share of a fair chunk: big groups are placed
#: one by one, so a small group straddling two chunks' room moves a load by at most 1/16 of a
#: fair chunk (1/2 let chunks come out a third heavier than needed).
BIG_GROUP_SHARE = 1 / 8


def _spread_big_groups(sizes: np.ndarray, count: int) -> np.ndarray | None:
    """Chunk of each group when some groups are big (see BIG_GROUP_SHARE), else None.

    Big groups go first, largest first, each to the least loaded chunk; the small groups then
    fill the chunks up to a common level, in their own order, so each chunk gets a contiguous
    run of them. A group with 40% of the rows in the middle of the data thus shares its chunk
    with no more than its fair share of others, even with two chunks.
    """
    total = int(sizes.sum())
    big = np.flatnonzero(sizes > total * BIG_GROUP_SHARE / count)
    if big.size == 0:
        return None
    chunk_of = np.full(len(sizes), -1)
    loads = np.zeros(count)
    for g in big[np.argsort(-sizes[big], kind="stable")]:
        k = int(np.argmin(loads))
        chunk_of[g] = k
        loads[k] += sizes[g]
    small = np.flatnonzero(chunk_of < 0)
    rest = float(sizes[small].sum())
    low = np.sort(loads)
    for j in range(1, count + 1):  # the water level that the small groups fill up to
        level = (rest + low[:j].sum()) / j
        if j == count or level <= low[j]:
            break
    ends = np.cumsum(np.maximum(0.0, level - loads))
    middle = np.cumsum(sizes[small]) - sizes[small] / 2
    chunk_of[small] = np.minimum(np.searchsorted(ends, middle, side="right"), count - 1)
    return chunk_of


def _assign_groups(sizes: np.ndarray, count: int, contiguous: bool) -> np.ndarray:
    """Chunk of each group: ``count`` chunks balanced by rows (see :func:`group_slices`).

    Contiguous runs of groups (views of sorted data) unless spreading the big groups balances
    the chunks better: a sum of squared loads lower by more than 1% (lower maxima, and the
    chunks beside a big group's evener)."""
    cuts = balanced_cuts(sizes, count)
    runs = np.repeat(np.arange(len(cuts) - 1), np.diff(cuts))
    spread = None if contiguous or count < 2 else _spread_big_groups(sizes, count)
    if spread is None:
        return runs

    def spread_of_loads(chunk_of: np.ndarray) -> float:
        return float(np.square(np.bincount(chunk_of, weights=sizes, minlength=count)).sum())

    return spread if spread_of_loads(spread) < 0.99 * spread_of_loads(runs) else runs


def chunks_as_given(data: list | tuple, chunking: Chunking, who: str) -> list:
    """A list or tuple's items, taken as chunks already: ``n``, ``size`` and ``nbytes`` cannot
    cut them, and saying one is an error (not silently ignored)."""
    given = [k for k in ("n", "size", "nbytes") if getattr(chunking, k) is not None]
    if given:
        raise TypeError(
            f"{who}: a {type(data).__name__} is taken as chunks already (every map accepts "
            f"it as is), so {given[0]}= cannot apply to it; to cut its items into chunks, "
            "pass np.asarray(data)")
    return list(data)


def keys_of(by: Any) -> list:
    """A groupby's ``by`` as a list of keys, read as pandas reads it: a list holds several keys;
    anything else is one, a tuple too (the label of a MultiIndex column, pandas 2)."""
    return list(by) if isinstance(by, list) else [by]


def _group_codes(data: Any, groups: Groups) -> np.ndarray:
    """Each row's group number (-1: an NA key that ``dropna`` drops)."""
    keys = keys_of(groups.by)
    try:
        grouped = data.groupby(keys, sort=groups.sort, dropna=groups.dropna, observed=True)
    except KeyError as exc:
        if isinstance(groups.by, tuple):  # pandas 2 reads a tuple as one label
            raise KeyError(f"{groups.by!r}: a tuple is one key (a MultiIndex column's label), "
                           "as in pandas; give several keys as a list") from exc
        raise
    codes = grouped.ngroup().to_numpy()
    if codes.dtype.kind == "f":  # NA keys dropped (dropna=True) are numbered NaN
        codes = np.where(np.isnan(codes), -1, codes).astype(np.int64)
    return codes


def group_slices(data: Any, groups: Groups, chunking: Chunking,
                 parallelism: int | None = None) -> tuple[Any, list, Any]:
    """(data with each chunk's rows together, row slices, row order or None) for ``groups``.

    Chunks are balanced by rows: a group bigger than half a fair chunk gets a chunk to itself
    (see :func:`_spread_big_groups`) unless ``groups.contiguous``. When the rows already come
    chunk by chunk the data is returned as it is and the chunks are views; otherwise it is
    reordered once (the third item is that order).
    """
    if not hasattr(data, "groupby") or not hasattr(data, "iloc"):
        raise TypeError(f"by= needs a pandas DataFrame or Series, got {type(data).__name__}")
    n_rows, row_nbytes = rows_and_row_nbytes(data)
    count = chunking.count(n_rows, row_nbytes, parallelism or available_cpus())
    codes = _group_codes(data, groups)  # on no rows too: a missing key is pandas' KeyError
    if n_rows == 0:
        return data, [], None
    sizes = np.bincount(codes[codes >= 0])
    if not sizes.size:
        return data.iloc[:0], [], np.arange(0)
    count = min(count, len(sizes))
    chunk_of = _assign_groups(sizes, count, groups.contiguous)
    limit = chunking.row_limit(row_nbytes)
    while limit is not None and count < len(sizes):  # size= / nbytes= are bounds: keep them
        loads = np.bincount(chunk_of, weights=sizes, minlength=count)
        groups_in = np.bincount(chunk_of, minlength=count)
        if not np.any((loads > limit) & (groups_in > 1)):
            break
        count = min(len(sizes), max(count + 1, math.ceil(count * loads.max() / limit)))
        chunk_of = _assign_groups(sizes, count, groups.contiguous)
    rank = np.where(codes >= 0, chunk_of[np.maximum(codes, 0)] * len(sizes) + codes, -1)
    order = None
    if rank[0] < 0 or np.any(rank[1:] < rank[:-1]):
        order = np.argsort(rank, kind="stable")
        order = order[rank[order] >= 0]
        data = data.iloc[order]
    bounds = np.r_[0, np.cumsum(np.bincount(chunk_of, weights=sizes))].astype(np.int64)
    slices = [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    return data, slices, order


def split(
    data: Any,
    n: int | None = None,
    *,
    size: int | None = None,
    nbytes: int | None = None,
    by: Any = None,
) -> list:
    """Split ``data`` along its rows into balanced chunks (views, never copies).

    ``n`` chunks, or chunks of at most ``size`` rows or ``nbytes`` bytes (at most one of the
    three); with none, :func:`choose_n_chunks` decides. ``by`` (DataFrames only) keeps every group
    of that key whole in one chunk, balancing chunks by rows; groups keep their order of first
    appearance, except that groups big enough to unbalance a chunk (over 1/8 of a fair chunk's
    rows) are placed first, largest first, when that balances the chunks better; rows whose
    key is NA form a group too. Empty input gives ``[]``.
    """
    chunking = Chunking(n, size, nbytes, by)
    if chunking.groups is not None:
        data, slices, _ = group_slices(data, chunking.groups, chunking)
    elif isinstance(data, (list, tuple)):
        return chunks_as_given(data, chunking, "split")
    else:
        slices = row_slices(data, chunking, parallelism=available_cpus())
    return [take_rows(data, s) for s in slices]
