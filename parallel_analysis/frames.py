"""DataFrames: Arrow buffers in shared memory, group-aware chunks, groupby and apply.

A DataFrame, Series or pyarrow Table is written once into a segment as an Arrow IPC stream; a
worker maps the segment and reads the record batches without copying the buffers, slices its
rows and converts them to pandas. pandas' metadata travels in the Arrow schema, so dtypes and
the index round-trip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from . import segment as _segment
from .plan import Spec
from .reducers import Reducer
from .share import Shared


@dataclass(frozen=True)
class FrameMeta:
    ref: _segment.SegmentRef
    kind: str  # "frame", "series" or "table"
    cache: bool = True


def _to_table(obj: Any) -> tuple[pa.Table, str]:
    if isinstance(obj, pa.Table):
        return obj, "table"
    if isinstance(obj, pd.Series):
        return pa.Table.from_pandas(obj.to_frame(name=obj.name if obj.name is not None else 0)), \
            "series"
    return pa.Table.from_pandas(obj), "frame"


def share_frame(obj: Any, transient: bool = False) -> Shared:
    """Write a DataFrame / Series / Table into shared memory as an Arrow IPC stream."""
    table, kind = _to_table(obj)
    sink = pa.MockOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    size = max(1, sink.size())
    seg = _segment.create(size)
    try:
        stream = pa.FixedSizeBufferWriter(pa.py_buffer(seg.buf))
        with pa.ipc.new_stream(stream, table.schema) as writer:
            writer.write_table(table)
    except BaseException:
        seg.unlink()
        raise
    return Shared("frame", FrameMeta(seg.ref, kind, cache=not transient), seg)


def _table(meta: FrameMeta) -> pa.Table:
    buf = _segment.attach(meta.ref, cache=meta.cache)
    return pa.ipc.open_stream(pa.py_buffer(buf)).read_all()


def _to_pandas(table: pa.Table, kind: str) -> Any:
    if kind == "table":
        return table
    frame = table.to_pandas()
    if kind == "series":
        series = frame.iloc[:, 0]
        name = series.name
        return series.rename(None if name == 0 else name)
    return frame


def decode_shared(meta: FrameMeta, owner: bool) -> Any:
    return _to_pandas(_table(meta), meta.kind)


@dataclass
class FrameRows(Spec):
    handle: Shared | None = None
    start: int = 0
    stop: int = 0

    def load(self) -> Any:
        table = _table(self.handle.meta).slice(self.start, self.stop - self.start)
        return _to_pandas(table, self.handle.meta.kind)


def frame_rows_specs(handle: Shared, slices: list[slice]) -> list[Spec]:
    return [FrameRows(i, s.start, s.stop, handle, s.start, s.stop) for i, s in enumerate(slices)]


def split_by_groups(data: Any, by: Any, n=None, size=None, nbytes=None) -> list:
    """Chunks in which every group of ``by`` lies whole, balanced by rows."""
    from .cpus import available_cpus
    from .split import n_chunks_for, rows_and_row_nbytes

    if not hasattr(data, "groupby"):
        raise TypeError("by= needs a pandas DataFrame or Series")
    n_rows, row_nbytes = rows_and_row_nbytes(data)
    count = n_chunks_for(n_rows, row_nbytes, n=n, size=size, nbytes=nbytes,
                         parallelism=available_cpus())
    if n_rows == 0:
        return []
    keys = [by] if not isinstance(by, list) else by
    codes = data.groupby(keys, sort=False, dropna=False, observed=True).ngroup().to_numpy()
    order = np.argsort(codes, kind="stable")
    if not np.all(np.diff(codes) >= 0):
        data = data.iloc[order]
        codes = codes[order]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    bounds, row = [0], 0
    for i in range(1, count):
        target = round(i * n_rows / count)
        j = np.searchsorted(starts, target)
        candidates = [starts[k] for k in (j - 1, j) if 0 <= k < len(starts)]
        cut = min(candidates, key=lambda c: abs(c - target))
        if cut > bounds[-1]:
            bounds.append(int(cut))
    bounds.append(n_rows)
    del row
    return [data.iloc[a:b] for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


class ValueCounts(Reducer):
    """``Series.value_counts()`` merged across chunks."""

    def __init__(self, dropna: bool = True):
        self.dropna = dropna

    def partial(self, chunk):
        return pd.Series(chunk).value_counts(dropna=self.dropna)

    def combine(self, a, b):
        return a.add(b, fill_value=0).astype("int64")

    def finalize(self, state):
        return state.sort_values(ascending=False, kind="stable").rename("count")


class GroupBy(Reducer):
    """``df.groupby(by).agg(agg)`` as a mergeable reducer (state: the chunk rows per group)."""

    def __init__(self, by: Any, agg: Any):
        self.by = by
        self.agg = agg

    def partial(self, chunk):
        return [chunk]

    def combine(self, a, b):
        return a + b

    def finalize(self, state):
        return pd.concat(state).groupby(self.by).agg(self.agg)


def groupby_agg(df: Any, by: Any, agg: Any, **options: Any) -> Any:
    """``df.groupby(by).agg(agg)``, computed in parallel."""
    from .pool import map_reduce

    return map_reduce(None, df, GroupBy(by, agg), **options)


def apply(df: Any, func: Any, **options: Any) -> Any:
    """``func`` on each chunk of rows; results concatenated in order."""
    from .pool import map_chunks

    parts = map_chunks(func, df, **options)
    return pd.concat(parts) if parts else func(df)


def groupby_apply(df: Any, by: Any, func: Any, **options: Any) -> Any:
    """``df.groupby(by).apply(func)``, with every group whole in one chunk."""
    from .pool import map_chunks

    parts = map_chunks(lambda c: c.groupby(by).apply(func), df, by=by, **options)
    return pd.concat(parts).sort_index() if parts else df.groupby(by).apply(func)


def describe(data: Any, **options: Any) -> Any:
    """``data.describe()`` (numeric columns)."""
    return data.describe()
