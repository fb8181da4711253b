"""specs: what a chunk is, as a worker sees it. Layer: core (imports nothing of the package).

A map sends each worker small *specs*, not data. Each has the chunk's ``index``, the rows of a
``map_array`` output it fills (``out_start``/``out_stop``), and a ``load()`` that returns the
chunk where it runs. The kinds, by where they are defined:

=========================================  ==========================================
spec                                        load() in the worker
=========================================  ==========================================
``Local(value)`` (here)                     the value itself (in-process: no copy; to a
                                            process: pickled with the batch)
``InlineRows(base, start, stop)`` (here)    rows of a small array that rides in the batch
``share.arrays.ArrayRows``                  read-only view of rows in shared memory
``share.frames.FrameRows``                  rows rebuilt from Arrow buffers in shared memory
``parquet.ParquetChunk``                    row groups read from Parquet files
``backends.dask_specs.Scattered``           a chunk scattered to a dask cluster
=========================================  ==========================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .reducers.base import is_pandas


@dataclass
class Spec:
    """Base of every chunk spec: the chunk's index and its rows in a map_array output."""

    index: int
    out_start: int = 0
    out_stop: int = 0

    def load(self) -> Any:  # pragma: no cover - interface
        raise NotImplementedError


def readonly(view: Any) -> Any:
    """A read-only view of an ndarray (inputs are read-only in workers on every backend)."""
    if isinstance(view, np.ndarray) and view.flags.writeable:
        view = view.view()
        view.flags.writeable = False
    return view


def copy_on_write(frame: Any) -> Any:
    """A frame or Series chunk that ``func`` may write to as to a view of the caller's frame.

    pandas' copy-on-write copies a column before a write into a view (``c.loc[m, "x"] = 0``,
    ``fillna(inplace=True)``) while the viewed frame lives; a chunk over a segment's read-only
    buffers, or sliced from a frame since dropped, owns its buffers as pandas sees it, so
    pandas writes in place and numpy refuses. A shallow copy holding the original makes
    pandas copy first on every backend (no bytes copied now; the shared ones never written).
    """
    view = frame.copy(deep=False)
    object.__setattr__(view, "_par_read_only_original", frame)
    return view


@dataclass
class Local(Spec):
    """A chunk carried by value (in-process: no copy; to a process: pickled)."""

    value: Any = None

    def load(self) -> Any:
        if is_pandas(self.value) and hasattr(self.value, "iloc"):  # a frame or Series
            return copy_on_write(self.value)
        return readonly(self.value)  # an array unpickled in a worker is writable again


@dataclass
class InlineRows(Spec):
    """Rows ``start:stop`` of a small array that travels inside the batch (pickled once)."""

    base: np.ndarray | None = None
    start: int = 0
    stop: int = 0

    def load(self) -> np.ndarray:
        view = self.base[self.start: self.stop]
        return readonly(view) if view.flags.writeable else view  # a read-only base: no copy


def local_specs(chunks: list) -> list[Spec]:
    """One :class:`Local` spec per chunk of a list, output rows counted along."""
    specs, row = [], 0
    for i, chunk in enumerate(chunks):
        rows = len(chunk) if hasattr(chunk, "__len__") else 1
        specs.append(Local(i, row, row + rows, readonly(chunk)))
        row += rows
    return specs
