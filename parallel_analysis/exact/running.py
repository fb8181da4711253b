"""exact.running: an exact call's maps on a pool: options, chunk counts, column and group
chunks, the per-chunk job. Layer: API (imports pool, plan, split, cpus, exact.assembly,
exact.failures).

Where the chunks of each call come from:

=========================  ===============================  ==================================
call                       chunks                           reach process workers as
=========================  ===============================  ==================================
apply(axis=1), map, maps   rows of the frame / series       Arrow buffers in shared memory
of a Series                (``map_chunks(job, df, n=)``)
apply(axis=1, raw=True)    rows of the whole frame's        a shared numpy array
                           ``values`` (``Chunked``)
apply(axis=0)              columns (``df.iloc[:, a:b]``)    pickled column frames
groupby(...).apply /       whole groups of one sorted copy  Arrow buffers in shared memory
transform                  (``split.group_slices``,
                           ``Chunked``)
=========================  ===============================  ==================================

Column chunks are frames cut across their columns, which the shared-memory layout (rows of
Arrow record batches) cannot cut; apply(axis=0) runs one call per column, so a frame has few
such chunks and their pickles cost a copy each, no more.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from ..cpus import available_cpus
from ..cuts import balanced_cuts, cuts_to_slices, even_slices
from ..maps import pool_for
from ..plan import Chunked
from ..pool import Pool
from ..split import Chunking, Groups, group_slices
from .assembly import Routes, current_routes
from .failures import Failure, raise_first, reraise

#: Chunks per usable CPU at most: the bar moves (16 steps on 2 CPUs) and a worker slowed by
#: other work leaves the rest to the others, while per-chunk costs (about 1 ms: a batch sent,
#: the rows decoded from shared memory, pandas' set-up, the results pickled) stay invisible.
CHUNKS_PER_CPU = 8
#: At least two chunks per CPU when there are that many items: a slow func on a small frame
#: (a model per row) is where parallelism helps most.
MIN_CHUNKS_PER_CPU = 2
#: Items per chunk before more chunks are cut, from the least work pandas does per item (about
#: 2 µs a row for ``apply(axis=1)``, 0.1 µs an element for ``map``, a few µs per group): a
#: chunk then costs well over its 1 ms.
MIN_ITEMS = {"rows": 2_000, "elements": 50_000, "columns": 1, "groups": 2_000}


def chunk_count(n_items: int, kind: str, cpus: int | None = None) -> int:
    """How many chunks an exact call cuts ``n_items`` rows/elements/columns/group rows into.

    >>> chunk_count(400_000, "rows", 2), chunk_count(400_000, "elements", 2)
    (16, 8)
    >>> chunk_count(1_000, "rows", 2), chunk_count(3, "columns", 2), chunk_count(0, "rows", 2)
    (4, 3, 0)
    """
    if n_items <= 0:
        return 0
    cpus = max(1, cpus or available_cpus())
    least = min(n_items, MIN_CHUNKS_PER_CPU * cpus)
    return max(least, min(CHUNKS_PER_CPU * cpus, n_items // MIN_ITEMS[kind]))


@dataclass(frozen=True)
class Options:
    """What ``df.par(...)`` was called with: where and how its maps run (None: the default)."""

    workers: int | None = None
    backend: str | None = None
    pool: Pool | None = None
    progress: Any = None
    n: int | None = None
    timeout: float | None = None

    def __post_init__(self) -> None:
        Chunking(n=self.n)  # a bad n is an error now, not at the first map

    def given(self) -> dict:
        """The options set, as keyword arguments of the ``par.*`` functions."""
        names = ("workers", "backend", "pool", "progress", "n", "timeout")
        return {k: getattr(self, k) for k in names if getattr(self, k) is not None}


class Runner:
    """One exact call's maps on one pool, and how their failures are raised."""

    def __init__(self, options: Options, routes: Routes | None = None) -> None:
        self.options = options
        self.routes = routes or current_routes()
        self.pool = pool_for(options.pool, options.backend, options.workers)
        self.n_chunks = 0

    def count(self, n_items: int, kind: str) -> int:
        """The chunks to cut: ``n`` when given, else :func:`chunk_count`'s."""
        return self.options.n if self.options.n is not None else chunk_count(n_items, kind)

    def map(self, job: Callable, data: Any, desc: str, n: int | None = None) -> list:
        """``job`` on each chunk of ``data`` (cut in ``n`` rows when given), in chunk order."""
        options = dict(progress=self.options.progress, timeout=self.options.timeout, n=n)
        parts = self.pool.map_chunks(job, data, desc=desc,
                                     **{k: v for k, v in options.items() if v is not None})
        self.n_chunks = len(parts)
        return parts

    @property
    def backend(self) -> str:
        """The backend the last map ran on (``auto``: the one it chose)."""
        name = self.pool.backend
        return (self.pool.last_reason.split(":")[0] or name) if name == "auto" else name

    def raise_first(self, parts: list, failure_of: Callable[[Any], Any] = lambda p: p) -> None:
        raise_first(parts, self.n_chunks, self.backend, failure_of)

    def reraise(self, failure: Failure) -> None:
        reraise(failure, self.n_chunks, self.backend)


def desc_of(func: Any) -> str:
    """The progress bar's name: the user's function."""
    return getattr(func, "__name__", None) or type(func).__name__


# -- chunks --------------------------------------------------------------------------------------

def column_chunks(df: pd.DataFrame, count: int) -> list:
    """Frames of consecutive columns (views), ``count`` of them, balanced."""
    return [df.iloc[:, s] for s in even_slices(df.shape[1], count)]


def value_chunks(values: Any, count: int) -> tuple[Chunked, list[slice]]:
    """Rows of an ndarray, cut in ``count`` balanced slices."""
    slices = even_slices(len(values), count)
    return Chunked(values, slices), slices


def group_chunks(df: pd.DataFrame, groups: Groups, grouped: Any, count: int, hooks: bool
                 ) -> tuple[Any, list[slice]]:
    """Whole groups per chunk, balanced by rows, in pandas' group order within and across
    chunks: (the rows in (group number, position) order, the chunks' slices of them).

    pandas' splitter takes the rows once in that order (``data.take(result_ilocs)``, dropped
    NA keys left out) and cuts consecutive slices, one per group; the chunks are consecutive
    slices of the same sorted frame, so each group frame a worker builds has the same rows in
    the same order and the same index *type* (``RangeIndex.take`` gives a RangeIndex only for
    progressions: taking rows again per chunk could turn an ``Index`` into a ``RangeIndex``).
    With ``hooks`` the order is pandas' own (``result_ilocs``, a counting sort of the codes
    ``grouped`` (``df.groupby(groups.by, ...)``) has already computed); otherwise
    :func:`~parallel_analysis.split.group_slices` finds it.
    """
    if not hooks:
        data, slices, _ = group_slices(df, replace(groups, contiguous=True),
                                       Chunking(n=max(1, count)))
        return data, slices
    grouper = grouped._grouper
    ids, order = grouper.ids, grouper.result_ilocs
    sizes = np.bincount(ids[ids >= 0], minlength=grouper.ngroups)
    if not sizes.size:
        return df.iloc[:0], []
    data = df if np.array_equal(order, np.arange(len(df))) else df.take(order)
    return data, cuts_to_slices(balanced_cuts(sizes, max(1, count)), np.cumsum(sizes))


# -- the job a worker runs on each chunk -------------------------------------------------------

def meta_of(obj: Any) -> tuple:
    """What a chunk rebuilt from shared memory lacks but func can see: attrs and flags."""
    return (dict(obj.attrs), obj.flags.allows_duplicate_labels)


def _with_meta(worker: Callable, meta: tuple, chunk: Any) -> Any:
    attrs, allows_duplicate_labels = meta
    if isinstance(chunk, (pd.DataFrame, pd.Series)):
        if chunk.attrs != attrs:
            chunk.attrs = attrs
        if chunk.flags.allows_duplicate_labels != allows_duplicate_labels:
            chunk.flags.allows_duplicate_labels = allows_duplicate_labels
    return worker(chunk)


def job(worker: Callable, obj: Any, **params: Any) -> Callable:
    """The picklable per-chunk function: ``worker(chunk, **params)`` on a chunk that carries the
    whole object's ``attrs`` and ``flags`` (pandas propagates them to every row and group)."""
    return functools.partial(_with_meta, functools.partial(worker, **params), meta_of(obj))


def curried(func: Callable, args: tuple, kwargs: dict) -> Callable:
    """``func(x, *args, **kwargs)`` as a one-argument picklable callable."""
    if not args and not kwargs:
        return func
    return functools.partial(_call_with, func, tuple(args), dict(kwargs))


def _call_with(func: Callable, args: tuple, kwargs: dict, x: Any) -> Any:
    return func(x, *args, **kwargs)
