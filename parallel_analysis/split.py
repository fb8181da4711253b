"""split: cut data into balanced chunks along its rows, as views.

Splitting computes ``slice`` objects first (:func:`even_slices`), then applies them with
``arr[s]`` or ``df.iloc[s]``, so chunks are views and never copies. How many chunks to make when
the caller does not say is a separate pure function, :func:`choose_n_chunks`, that no backend
sees.

>>> import numpy as np
>>> [len(c) for c in split(np.arange(10), 4)]
[3, 3, 2, 2]
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

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


def even_slices(n_rows: int, n_chunks: int) -> list[slice]:
    """``n_chunks`` contiguous slices covering ``range(n_rows)``; lengths differ by at most one.

    The first ``n_rows % n_chunks`` slices get one extra row (as scikit-learn's
    ``gen_even_slices``). More chunks than rows gives one row each.
    """
    n_chunks = min(n_chunks, n_rows)
    if n_chunks <= 0:
        return []
    base, extra = divmod(n_rows, n_chunks)
    slices, start = [], 0
    for i in range(n_chunks):
        stop = start + base + (1 if i < extra else 0)
        slices.append(slice(start, stop))
        start = stop
    return slices


def _check_positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a positive integer, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return int(value)


def n_chunks_for(
    n_rows: int,
    row_nbytes: int,
    *,
    n: int | None = None,
    size: int | None = None,
    nbytes: int | None = None,
    parallelism: int = 1,
) -> int:
    """Resolve the caller's ``n`` / ``size`` / ``nbytes`` (at most one) into a chunk count."""
    given = [k for k, v in (("n", n), ("size", size), ("nbytes", nbytes)) if v is not None]
    if len(given) > 1:
        raise ValueError(f"give at most one of n, size and nbytes, not {' and '.join(given)}")
    if n is not None:
        return min(_check_positive("n", n), n_rows)
    if size is not None:
        return math.ceil(n_rows / _check_positive("size", size)) if n_rows else 0
    if nbytes is not None:
        rows = max(1, _check_positive("nbytes", nbytes) // max(1, row_nbytes))
        return math.ceil(n_rows / rows) if n_rows else 0
    return choose_n_chunks(n_rows, row_nbytes, parallelism)


def row_slices(data: Any, n=None, *, size=None, nbytes=None, parallelism: int = 1) -> list[slice]:
    """The row slices :func:`split` would apply to ``data`` (an array, frame, series or table)."""
    n_rows, row_nbytes = rows_and_row_nbytes(data)
    count = n_chunks_for(n_rows, row_nbytes, n=n, size=size, nbytes=nbytes, parallelism=parallelism)
    return even_slices(n_rows, count)


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
        values_nbytes = int(data.memory_usage(index=False, deep=False).sum()) if hasattr(
            data, "columns"
        ) else int(data.memory_usage(index=False, deep=False))
        return rows, max(1, values_nbytes // rows)
    raise TypeError(
        f"cannot split {type(data).__name__}: expected a numpy array, pandas DataFrame or Series, "
        "or a pyarrow Table"
    )


def take_rows(data: Any, s: slice) -> Any:
    """Apply a row slice without copying: ``arr[s]``, ``df.iloc[s]`` or ``table.slice``."""
    if isinstance(data, np.ndarray):
        return data[s]
    if hasattr(data, "iloc"):
        return data.iloc[s]
    return data.slice(s.start, s.stop - s.start)


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
    of that key whole in one chunk, balancing chunks by rows. Empty input gives ``[]``.
    """
    if by is not None:
        from .frames import split_by_groups

        return split_by_groups(data, by, n=n, size=size, nbytes=nbytes)
    if isinstance(data, (list, tuple)):
        return list(data)
    from .cpus import available_cpus

    slices = row_slices(data, n, size=size, nbytes=nbytes, parallelism=available_cpus())
    return [take_rows(data, s) for s in slices]
