"""Chunk specs: what a worker needs to rebuild chunk ``i`` of the data, and nothing more.

A plan turns the caller's data into a list of specs. Each spec is small to pickle and has a
``load()`` that returns the chunk where it runs:

=====================  ==========================================  =============================
data                   spec                                        load() in the worker
=====================  ==========================================  =============================
ndarray (process)      ``ArrayRows(handle, start, stop)``          read-only view of shared rows
ndarray (in-process)   ``Local(view)``                             the view itself
small ndarray (proc.)  ``InlineRows(array, start, stop)``          rows of the array in the batch
DataFrame / Table      ``frames.FrameRows`` (process)              rows rebuilt from Arrow buffers
list of chunks         ``Local(chunk)`` (pickled to processes)     the chunk
lazy source            the source's own specs                      e.g. a Parquet row group read
=====================  ==========================================  =============================

``out_start``/``out_stop`` say which rows of a :func:`map_array` output the chunk fills.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .share import Shared, find_owned_view, share_array
from .split import row_slices, take_rows

#: Arrays smaller than this travel by pickle: a segment costs more than copying a few KiB.
SHARE_MIN_BYTES = 256 * 2**10


@dataclass
class Spec:
    index: int
    out_start: int = 0
    out_stop: int = 0

    def load(self) -> Any:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass
class Local(Spec):
    """A chunk carried by value (in-process: no copy; to a process: pickled)."""

    value: Any = None

    def load(self) -> Any:
        return self.value


@dataclass
class ArrayRows(Spec):
    """Rows ``start:stop`` of an array in shared memory."""

    handle: Shared | None = None
    start: int = 0
    stop: int = 0

    def load(self) -> np.ndarray:
        return self.handle.value[self.start: self.stop]


@dataclass
class InlineRows(Spec):
    """Rows ``start:stop`` of a small array that travels inside the batch (pickled once)."""

    base: np.ndarray | None = None
    start: int = 0
    stop: int = 0

    def load(self) -> np.ndarray:
        return _readonly(self.base[self.start: self.stop])


@dataclass
class Plan:
    """The specs of one map call, and what to release when it ends."""

    specs: list
    n_rows: int
    cleanups: list = field(default_factory=list)

    def close(self) -> None:
        while self.cleanups:
            self.cleanups.pop()()


def _readonly(view: Any) -> Any:
    if isinstance(view, np.ndarray) and view.flags.writeable:
        view = view.view()
        view.flags.writeable = False
    return view


def _local_specs(data: Any, slices: list[slice]) -> list[Spec]:
    return [Local(i, s.start, s.stop, _readonly(take_rows(data, s))) for i, s in enumerate(slices)]


def _list_specs(chunks: list) -> tuple[list[Spec], int]:
    specs, row = [], 0
    for i, chunk in enumerate(chunks):
        rows = len(chunk) if hasattr(chunk, "__len__") else 1
        specs.append(Local(i, row, row + rows, _readonly(chunk)))
        row += rows
    return specs, row


def share_for_processes(data: Any) -> tuple[Any, Any]:
    """(data as workers should get it, cleanup or None) for the process backend."""
    if isinstance(data, np.ndarray):
        if data.dtype.hasobject or data.nbytes < SHARE_MIN_BYTES:
            if data.dtype.hasobject:
                share_array(data)  # warns once that objects travel by pickle
            return data, None
        meta = find_owned_view(data)
        if meta is not None:  # already in a segment we own (e.g. par.shared_array): no copy
            from .share import owners

            keep = owners.get(meta.ref.name)  # not collected (and unlinked) while the map runs
            return Shared("array", meta), (lambda: keep and None)
        handle = share_array(data, transient=True)
        return handle, lambda: handle.close(wait=False)
    if type(data).__module__.startswith(("pandas", "pyarrow")):
        from .frames import share_frame

        handle = share_frame(data, transient=True)
        return handle, lambda: handle.close(wait=False)
    return data, None


def make_plan(data: Any, backend: Any, *, n=None, size=None, nbytes=None, by=None,
              parallelism: int = 1) -> Plan:
    """Place ``data`` for ``backend`` and describe each chunk of it."""
    if hasattr(data, "chunk_specs"):  # a lazy source, e.g. par.from_parquet
        specs = data.chunk_specs(n=n, size=size, nbytes=nbytes)
        return Plan(specs, sum(s.out_stop - s.out_start for s in specs))
    if isinstance(data, (list, tuple)):
        specs, rows = _list_specs(list(data))
        return Plan(specs, rows)
    if by is not None:
        # Whole groups per chunk: the rows come group by group (reordered once if needed), and
        # the chunks are row slices of that, shared like any frame (not pickled per chunk).
        from .frames import group_slices

        value = data.value if isinstance(data, Shared) else data
        source, slices, _ = group_slices(value, by, n, size, nbytes, parallelism=parallelism)
    else:
        source = data.value if isinstance(data, Shared) and not backend.remote else data
        slices = row_slices(source.value if isinstance(source, Shared) else source, n,
                            size=size, nbytes=nbytes, parallelism=parallelism)
    n_rows = slices[-1].stop if slices else 0
    plan = Plan([], n_rows)
    placed, cleanup = backend.place(source) if backend.remote else (source, None)
    if cleanup is not None:
        plan.cleanups.append(cleanup)
    custom = backend.chunk_specs(placed, slices) if backend.remote else None
    if custom is not None:  # e.g. the dask backend: chunks of data scattered to the cluster
        plan.specs = custom
    elif isinstance(placed, Shared) and placed.kind == "array":
        plan.specs = [ArrayRows(i, s.start, s.stop, placed, s.start, s.stop)
                      for i, s in enumerate(slices)]
    elif isinstance(placed, Shared) and placed.kind != "pickled":
        from .frames import frame_rows_specs

        plan.specs = frame_rows_specs(placed, slices)
    elif backend.remote and isinstance(placed, np.ndarray) and not placed.dtype.hasobject:
        # A small array: each batch carries it once, and each chunk is just a pair of ints.
        plan.specs = [InlineRows(i, s.start, s.stop, placed, s.start, s.stop)
                      for i, s in enumerate(slices)]
    else:
        value = placed.value if isinstance(placed, Shared) else placed
        plan.specs = _local_specs(value, slices)
    return plan
