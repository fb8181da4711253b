"""share.frames: DataFrames, Series and pyarrow Tables in shared memory as Arrow buffers. Layer:
share (imports share.handle, share.arrow, share.frame_index, segment, attached and specs).

A frame is written once into a segment as an Arrow IPC stream. A worker maps the segment, reads
the record batches without copying their buffers, slices its rows and rebuilds pandas objects on
top of the same memory::

    caller                                      worker
    ──────                                      ──────
    each column ──encode──▶ Arrow array ─┐      segment ──IPC read──▶ Table (no copy)
    index levels ──encode──▶ Arrow array ┼─▶    .slice(rows) ──decode──▶ numpy views /
    labels, dtypes, attrs ──▶ meta ──────┘      ArrowStringArray / masked arrays → DataFrame

How each column is stored is :mod:`.arrow`'s business. Only a column Arrow cannot hold
(arbitrary Python objects) travels by pickle, with one
:class:`~parallel_analysis.errors.PickleFallbackWarning`; each chunk then carries its own rows of
it. The handle pickles to the metadata: a segment name, the column labels and the dtypes.
"""

from __future__ import annotations

import pickle
import warnings
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from .. import attached as _attached
from .. import segment as _segment
from ..errors import PickleFallbackWarning
from ..forks import fork_safe_lock
from ..specs import Spec, copy_on_write
from .arrow import decode, encode, plain_values
from .frame_index import IndexSpec, encode_index, rebuild_index
from .handle import Shared


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
    attrs: dict | None = None  # DataFrame.attrs / Series.attrs
    allows_duplicate_labels: bool = True  # .flags, kept as pandas' own copies keep it

    def decode(self, owner: bool) -> Any:
        """The whole shared object (``Shared.value``), rebuilt on the segment's memory."""
        return _frame_from(self, _table(self), 0, self.n_rows, self.pickled)


def _parts(obj: Any) -> tuple[str, Any, pd.Index, list]:
    if isinstance(obj, pd.Series):
        return "series", obj.name, obj.index, [plain_values(obj)]
    return "frame", obj.columns, obj.index, [plain_values(obj.iloc[:, i])
                                             for i in range(obj.shape[1])]


def share_frame(obj: Any, transient: bool = False) -> Shared:
    """Write a DataFrame / Series / Table into a new segment as an Arrow IPC stream.

    ``transient=True`` (a map's own copy) makes workers map it per chunk instead of caching it.
    """
    if isinstance(obj, (pa.Table, pa.RecordBatch)):
        return _write(unified_dictionaries(obj), dict(kind="table", n_rows=obj.num_rows),
                      transient)
    kind, columns, index, arrays = _parts(obj)
    spec, index_arrays = encode_index(index)
    fields, codecs, pickled = [], [], {}
    for number, values in enumerate(index_arrays + arrays):
        encoded, codec = encode(values)
        codecs.append(codec)
        if codec.how == "pickle":
            pickled[number] = encoded
        else:
            fields += [(_field(number, part), array) for part, array in enumerate(encoded)]
    objects = [c for c in codecs if c.how in ("pickle", "cat")]  # cat: object categories
    if objects:
        warnings.warn(
            f"{len(objects)} column(s) or index level(s) hold Python objects that Arrow cannot "
            f"store ({', '.join(str(c.dtype) for c in objects)}): they (or their categories) "
            "are sent to workers by pickle (one copy per chunk); the other columns are shared.",
            PickleFallbackWarning,
            stacklevel=3,
        )
    table = pa.Table.from_arrays(
        [f if isinstance(f, pa.ChunkedArray) else pa.chunked_array([f], f.type)
         for _, f in fields],
        names=[name for name, _ in fields])
    info = dict(kind=kind, n_rows=len(obj), columns=columns, codecs=tuple(codecs), index=spec,
                pickled=pickled or None, attrs=_portable(obj.attrs),
                allows_duplicate_labels=obj.flags.allows_duplicate_labels)
    return _write(table, info, transient)


#: A categorical column's dtype per (segment, array number), read from the segment once per
#: process: rebuilding categories (hashing them to check they are unique) for every chunk
#: costs as much as the categories, however few rows the chunk has.
_category_dtypes: dict = {}
_CATEGORY_DTYPES_KEPT = 64
_category_lock = fork_safe_lock()


def _forget_old_categories() -> None:
    with _category_lock:
        while len(_category_dtypes) > _CATEGORY_DTYPES_KEPT:
            del _category_dtypes[next(iter(_category_dtypes))]

#: ``attrs`` travel in the handle's metadata up to this size (pickled).
ATTRS_MAX_BYTES = 64 * 1024


def _portable(attrs: dict) -> dict | None:
    """``attrs`` if they pickle small enough to travel in every batch's metadata; else None,
    with a warning (the values themselves are shared; only ``attrs`` stay behind)."""
    if not attrs:
        return None
    try:
        size = len(pickle.dumps(dict(attrs)))
    except Exception as exc:
        why = f"they do not pickle ({type(exc).__name__}: {exc})"
    else:
        if size <= ATTRS_MAX_BYTES:
            return dict(attrs)
        why = f"they pickle to {size:,} bytes, more than {ATTRS_MAX_BYTES:,}"
    warnings.warn(f"the frame's attrs are not carried to its shared copy: {why}",
                  UserWarning, stacklevel=4)
    return None


def _field(number: int, part: int) -> str:
    """The Arrow field name of part ``part`` of array ``number`` (index levels, then columns)."""
    return f"a{number}" if part == 0 else f"a{number}.{part}"


def unified_dictionaries(table: pa.Table | pa.RecordBatch) -> pa.Table:
    """``table`` with one dictionary per dictionary column, so that every slice of it converts
    to pandas with the categories of the whole (``pa.concat_tables`` keeps one per piece); a
    RecordBatch as a one-batch Table."""
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    if any(_pieces_differ(c) for c in table.columns):
        return table.unify_dictionaries()
    return table


def _pieces_differ(column: pa.ChunkedArray) -> bool:
    """A dictionary column whose pieces do not all share the first piece's dictionary (a
    table unified once, e.g. by the map that shares it, is not unified again)."""
    if not pa.types.is_dictionary(column.type) or column.num_chunks < 2:
        return False
    first = column.chunk(0).dictionary
    return not all(c.dictionary.equals(first) for c in column.iterchunks())


def _batches(table: pa.Table) -> list:
    """The table's record batches; for a table without rows one empty batch, which carries the
    categories (an IPC stream writes a dictionary only before a batch, and pyarrow leaves out
    empty ones)."""
    batches = table.to_batches()
    if batches or not table.num_columns:
        return batches
    return [pa.RecordBatch.from_arrays(
        [c.chunk(0) if c.num_chunks else pa.array([], type=c.type) for c in table.columns],
        schema=table.schema)]


def _write(table: pa.Table, info: dict, transient: bool) -> Shared:
    batches = _batches(table)
    sink = pa.MockOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
    seg = _segment.create(max(1, sink.size()), transient=transient)
    try:
        stream = pa.FixedSizeBufferWriter(pa.py_buffer(seg.buf))
        with pa.ipc.new_stream(stream, table.schema) as writer:
            for batch in batches:
                writer.write_batch(batch)
    except BaseException:
        seg.unlink()
        raise
    return Shared("frame", FrameMeta(seg.ref, cache=not transient, **info), seg)


def _table(meta: FrameMeta) -> pa.Table:
    _register_pandas_arrow_types()
    buf = _attached.attach(meta.ref, cache=meta.cache)
    return pa.ipc.open_stream(pa.py_buffer(buf)).read_all()


def _register_pandas_arrow_types() -> None:
    """Let pyarrow read pandas' period and interval columns of a Table as those types, not as
    their storage: pandas registers them only when its Arrow I/O first needs them (its own
    read_parquet and read_feather import this module first, as here), so a worker that has
    read no Parquet yet would see a caller's ``period[D]`` column as int64."""
    try:
        import pandas.core.arrays.arrow.extension_types  # noqa: F401
    except ImportError:  # a pandas that moved it: its types are then registered another way
        pass


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
            arrays.append(decode([table.column(_field(number, part))
                                  for part in range(codec.parts)], codec,
                                 _category_dtypes, (meta.ref.name, number)))
    if len(_category_dtypes) > _CATEGORY_DTYPES_KEPT:
        _forget_old_categories()
    index = rebuild_index(meta.index, arrays[:n_index], meta.codecs, start, stop)
    columns = [pd.Series(values, index=index, copy=False,
                         dtype=codec.dtype if isinstance(codec.dtype, np.dtype) else None)
               for values, codec in zip(arrays[n_index:], meta.codecs[n_index:])]
    if meta.kind == "series":
        result = columns[0].rename(meta.columns)
    else:
        result = pd.DataFrame(dict(enumerate(columns)), index=index, copy=False)
        result.columns = meta.columns
    if meta.attrs:
        result.attrs = dict(meta.attrs)
    if not meta.allows_duplicate_labels:
        result = result.set_flags(allows_duplicate_labels=False)
    return copy_on_write(result)  # func may write to it as to a view of the caller's frame


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
