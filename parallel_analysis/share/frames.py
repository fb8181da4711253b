"""share.frames: DataFrames, Series and pyarrow Tables in shared memory as Arrow buffers. Layer:
share (imports share.handle, share.arrow, segment, attached and specs).

A frame is written once into a segment as an Arrow IPC stream. A worker maps the segment, reads
the record batches without copying their buffers, slices its rows and rebuilds pandas objects on
top of the same memory::

    caller                                      worker
    ──────                                      ──────
    each column ──encode──▶ Arrow array ─┐      segment ──IPC read──▶ Table (no copy)
    index levels ──encode──▶ Arrow array ┼─▶    .slice(rows) ──decode──▶ numpy views /
    labels, dtypes, categories ──▶ meta ─┘      ArrowStringArray / masked arrays → DataFrame

How each column is stored is :mod:`.arrow`'s business. Only a column Arrow cannot hold
(arbitrary Python objects) travels by pickle, with one
:class:`~parallel_analysis.errors.PickleFallbackWarning`; each chunk then carries its own rows of
it. The handle pickles to the metadata: a segment name, the column labels and the dtypes.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from .. import attached as _attached
from .. import segment as _segment
from ..errors import PickleFallbackWarning
from ..specs import Spec
from .arrow import decode, encode
from .handle import Shared


@dataclass(frozen=True)
class IndexSpec:
    """How the row index is rebuilt: a range from numbers, or levels stored as arrays."""

    kind: str  # range | flat | multi
    names: tuple
    start: int = 0
    step: int = 1
    levels: tuple | None = None  # MultiIndex levels (small; travel in the metadata)
    freq: Any = None


@dataclass(frozen=True)
class FrameMeta:
    """A shared frame's whole pickled payload: where the bytes are, and how to read them."""

    ref: _segment.SegmentRef
    kind: str  # "frame", "series" or "table"
    cache: bool = True
    n_rows: int = 0
    columns: Any = None  # frame: the column labels; series: the name
    codecs: tuple = ()  # index arrays first, then one per column
    index: IndexSpec | None = None
    pickled: dict | None = None  # array number -> values that Arrow cannot hold

    def decode(self, owner: bool) -> Any:
        """The whole shared object (``Shared.value``), rebuilt on the segment's memory."""
        return _frame_from(self, _table(self), 0, self.n_rows, self.pickled)


def _index_arrays(index: pd.Index) -> tuple[IndexSpec, list]:
    names = tuple(index.names)
    if isinstance(index, pd.RangeIndex):
        return IndexSpec("range", names, index.start, index.step), []
    if isinstance(index, pd.MultiIndex):
        return (IndexSpec("multi", names, levels=tuple(index.levels)),
                [np.asarray(c) for c in index.codes])
    return IndexSpec("flat", names, freq=getattr(index, "freq", None)), [_values(index)]


def _values(obj: pd.Series | pd.Index) -> Any:
    """A numpy array (a view) for numpy dtypes, else the pandas extension array."""
    return obj.to_numpy() if isinstance(obj.dtype, np.dtype) else obj.array


def _parts(obj: Any) -> tuple[str, Any, pd.Index, list]:
    if isinstance(obj, pd.Series):
        return "series", obj.name, obj.index, [_values(obj)]
    return "frame", obj.columns, obj.index, [_values(obj.iloc[:, i]) for i in range(obj.shape[1])]


def share_frame(obj: Any, transient: bool = False) -> Shared:
    """Write a DataFrame / Series / Table into a new segment as an Arrow IPC stream.

    ``transient=True`` (a map's own copy) makes workers map it per chunk instead of caching it.
    """
    if isinstance(obj, pa.Table):
        return _write(obj, dict(kind="table", n_rows=obj.num_rows), transient)
    kind, columns, index, arrays = _parts(obj)
    spec, index_arrays = _index_arrays(index)
    fields, codecs, pickled = [], [], {}
    for number, values in enumerate(index_arrays + arrays):
        encoded, codec = encode(values)
        codecs.append(codec)
        if codec.how == "pickle":
            pickled[number] = encoded
        else:
            fields.append((f"a{number}", encoded))
    if pickled:
        warnings.warn(
            f"{len(pickled)} column(s) or index level(s) hold Python objects that Arrow cannot "
            "store "
            f"({', '.join(str(c.dtype) for c in codecs if c.how == 'pickle')}): they are sent to "
            "workers by pickle (one copy per chunk); the other columns are shared.",
            PickleFallbackWarning,
            stacklevel=3,
        )
    table = pa.Table.from_arrays(
        [f if isinstance(f, pa.ChunkedArray) else pa.chunked_array([f], f.type)
         for _, f in fields],
        names=[name for name, _ in fields])
    info = dict(kind=kind, n_rows=len(obj), columns=columns, codecs=tuple(codecs), index=spec,
                pickled=pickled or None)
    return _write(table, info, transient)


def _write(table: pa.Table, info: dict, transient: bool) -> Shared:
    sink = pa.MockOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    seg = _segment.create(max(1, sink.size()), transient=transient)
    try:
        stream = pa.FixedSizeBufferWriter(pa.py_buffer(seg.buf))
        with pa.ipc.new_stream(stream, table.schema) as writer:
            writer.write_table(table)
    except BaseException:
        seg.unlink()
        raise
    return Shared("frame", FrameMeta(seg.ref, cache=not transient, **info), seg)


def _table(meta: FrameMeta) -> pa.Table:
    buf = _attached.attach(meta.ref, cache=meta.cache)
    return pa.ipc.open_stream(pa.py_buffer(buf)).read_all()


def _rebuild_index(spec: IndexSpec, arrays: list, codecs: tuple, start: int,
                   stop: int) -> pd.Index:
    if spec.kind == "range":
        return pd.RangeIndex(spec.start + start * spec.step, spec.start + stop * spec.step,
                             spec.step, name=spec.names[0])
    if spec.kind == "multi":
        return pd.MultiIndex(levels=spec.levels, codes=arrays, names=spec.names,
                             verify_integrity=False)
    dtype = codecs[0].dtype if isinstance(codecs[0].dtype, np.dtype) else None
    index = pd.Index(arrays[0], dtype=dtype, name=spec.names[0], copy=False)
    if spec.freq is not None:
        index = type(index)(index, freq=spec.freq)
    return index


def _frame_from(meta: FrameMeta, table: pa.Table, start: int, stop: int,
                pickled: dict | None) -> Any:
    """The rows ``start:stop`` of a shared frame; ``table`` holds exactly those rows."""
    if meta.kind == "table":
        return table
    n_index = {"range": 0, "flat": 1, "multi": len(meta.index.names)}[meta.index.kind]
    arrays = []
    for number, codec in enumerate(meta.codecs):
        if codec.how == "pickle":
            arrays.append(pickled[number])
        else:
            arrays.append(decode(table.column(f"a{number}"), codec))
    index = _rebuild_index(meta.index, arrays[:n_index], meta.codecs, start, stop)
    columns = [pd.Series(values, index=index, copy=False,
                         dtype=codec.dtype if isinstance(codec.dtype, np.dtype) else None)
               for values, codec in zip(arrays[n_index:], meta.codecs[n_index:])]
    if meta.kind == "series":
        return columns[0].rename(meta.columns)
    frame = pd.DataFrame(dict(enumerate(columns)), index=index, copy=False)
    frame.columns = meta.columns
    return frame


@dataclass
class FrameRows(Spec):
    """Rows ``start:stop`` of a shared frame; ``pickled`` carries this chunk's object columns."""

    handle: Shared | None = None
    start: int = 0
    stop: int = 0
    pickled: dict | None = None

    def load(self) -> Any:
        meta = self.handle.meta
        table = _table(meta).slice(self.start, self.stop - self.start)
        return _frame_from(meta, table, self.start, self.stop, self.pickled)


def frame_rows_specs(handle: Shared, slices: list[slice]) -> list[Spec]:
    """One :class:`FrameRows` per slice; object columns travel sliced, never whole."""
    meta = handle.meta
    if not getattr(meta, "pickled", None):
        return [FrameRows(i, s.start, s.stop, handle, s.start, s.stop)
                for i, s in enumerate(slices)]
    handle._sent_to_processes = True  # close() waits for workers, as if the handle travelled
    light = Shared("frame", replace(meta, pickled=None))
    return [FrameRows(i, s.start, s.stop, light, s.start, s.stop,
                      {k: v[s] for k, v in meta.pickled.items()})
            for i, s in enumerate(slices)]
