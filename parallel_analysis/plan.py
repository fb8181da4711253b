"""plan: a map's data cut into chunks, then placed for a backend. Layer: plan (imports split,
specs, share and backends).

Two steps, so that ``backend="auto"`` cuts once and places twice at most::

    data ──cut(chunking)──▶ Cut: rows to cut and where   ──place(backend)──▶ Plan: chunk specs
                                 (or ready-made specs)                              + releases

============================  ===========================================================
data                          cut
============================  ===========================================================
ndarray, frame, Table         row slices (:func:`~parallel_analysis.split.row_slices`)
``by=`` a key                 whole groups per chunk, the rows reordered once if needed
:class:`Chunked`              the slices given (e.g. whole groups, cut by the caller;
                              overlapping slices with each chunk's own ``rows``)
``Shared`` handle             row slices of its value; placed as the handle (no copy)
list of chunks                one ``Local`` spec per chunk, on every backend
lazy source                   its own specs (``par.from_parquet``: row groups)
============================  ===========================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .backends import Backend, Placement
from .share import local_value, refuse_masked, whole_tables
from .specs import local_specs
from .split import Chunking, chunks_as_given, group_slices, row_slices


@dataclass(frozen=True)
class Chunked:
    """Data already cut: the rows of ``data`` at ``slices`` are the chunks. ``rows``: each
    chunk's own rows of a map_array output when they differ from its slice (map_overlap: the
    slice holds the halo too)."""

    data: Any
    slices: list
    rows: list | None = None


@dataclass
class Cut:
    """Where a map's data is cut: rows of ``source`` at ``slices``, or ready-made ``specs``."""

    n_rows: int
    source: Any = None
    slices: list = field(default_factory=list)
    specs: list | None = None
    rows: list | None = None  # output rows per chunk, when not its slice (Chunked.rows)
    order: Any = None  # by=: the data's row of each of source's rows, when they were reordered


@dataclass
class Plan:
    """The chunk specs of one map on one backend, and what to release when it ends."""

    specs: list
    n_rows: int
    placement: Placement | None = None
    order: Any = None  # Cut.order: where map_array's rows go back to

    def close(self) -> None:
        if self.placement is not None:
            self.placement.release()


def cut(data: Any, chunking: Chunking, parallelism: int) -> Cut:
    """Cut ``data`` into chunks (see the module docstring); nothing is copied or shared yet."""
    if chunking.groups is not None and (hasattr(data, "chunk_specs")
                                        or isinstance(data, (list, tuple))):
        what = "a lazy source's chunks are its row groups, which a group can span: read it " \
            "into a DataFrame first (pd.read_parquet)" if hasattr(data, "chunk_specs") else \
            f"a {type(data).__name__} is taken as chunks already"
        raise TypeError(f"by= keeps whole groups of a DataFrame or Series in one chunk; {what}")
    if hasattr(data, "chunk_specs"):  # a lazy source, e.g. par.from_parquet
        specs = data.chunk_specs(n=chunking.n, size=chunking.size, nbytes=chunking.nbytes)
        return Cut(sum(s.out_stop - s.out_start for s in specs), specs=specs)
    refuse_masked(local_value(data))
    data = whole_tables(data)
    if isinstance(data, (list, tuple)):
        specs = local_specs(chunks_as_given(data, chunking, "map"))
        return Cut(specs[-1].out_stop if specs else 0, specs=specs)
    if isinstance(data, Chunked):
        source, slices = data.data, data.slices
        if data.rows is not None:
            return Cut(data.rows[-1].stop if data.rows else 0, source, slices, rows=data.rows)
    elif chunking.groups is not None:
        value = local_value(data)
        source, slices, order = group_slices(value, chunking.groups, chunking, parallelism)
        return Cut(slices[-1].stop if slices else 0, source, slices, order=order)
    else:
        source = data
        slices = row_slices(local_value(data), chunking,
                            parallelism)
    return Cut(slices[-1].stop if slices else 0, source, slices)


def place(chunks: Cut, backend: Backend) -> Plan:
    """The specs of ``chunks`` on ``backend``: the backend puts the data where its workers read
    it (views, shared memory, a cluster)."""
    if chunks.specs is not None:
        return Plan(chunks.specs, chunks.n_rows)
    placement = backend.place(chunks.source, chunks.slices)
    for spec, rows in zip(placement.specs, chunks.rows or ()):
        spec.out_start, spec.out_stop = rows.start, rows.stop
    return Plan(placement.specs, chunks.n_rows, placement, chunks.order)


def make_plan(data: Any, backend: Backend, chunking: Chunking | None = None) -> Plan:
    """:func:`cut` then :func:`place`, for one backend."""
    return place(cut(data, chunking or Chunking(), backend.parallelism), backend)
