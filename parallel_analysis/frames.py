"""DataFrames: Arrow buffers in shared memory, group-aware chunks, and ``apply``.

A DataFrame, Series or pyarrow Table is written once into a segment as an Arrow IPC stream. A
worker maps the segment, reads the record batches without copying their buffers, slices its rows
and rebuilds pandas objects on top of the same memory::

    caller                                      worker
    ──────                                      ──────
    each column ──encode──▶ Arrow array ─┐      segment ──IPC read──▶ Table (no copy)
    index levels ──encode──▶ Arrow array ┼─▶    .slice(rows) ──decode──▶ numpy views /
    labels, dtypes, categories ──▶ meta ─┘      ArrowStringArray / masked arrays → DataFrame

Numeric, datetime and timedelta columns are stored as their raw numpy bytes (NaN and NaT stay
values, not Arrow nulls), so a worker gets numpy views of the segment; ``str`` / ``string``
columns stay Arrow strings that pandas wraps without copying; categoricals travel as their codes
with the categories in the handle's metadata. Nullable, period and interval columns go through
pandas' own Arrow protocol (``__arrow_array__`` / ``__from_arrow__``). Only a column Arrow cannot
hold (arbitrary Python objects) travels by pickle, with one
:class:`~parallel_analysis.errors.PickleFallbackWarning`; each chunk then carries its own rows of
it. The handle pickles to the metadata: a segment name, the column labels and the dtypes.

Group-aware chunks (:func:`split_by_groups`) and ``apply`` live here too; the groupby reducers
live in :mod:`.groupby`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from . import segment as _segment
from .errors import PickleFallbackWarning
from .plan import Spec
from .share import Shared
from .worker import in_worker

# -- one array (a column or an index level) ---------------------------------------------------


@dataclass(frozen=True)
class Codec:
    """How one column or index level is stored in Arrow and rebuilt in pandas."""

    how: str  # numpy | bool | raw | tz | cat | objstr | arrow | arrowdtype | pickle
    dtype: Any


def _numpy_to_arrow(values: np.ndarray) -> pa.Array:
    """The array's own bytes as an Arrow array (no validity bitmap: NaN and NaT stay values)."""
    values = np.ascontiguousarray(values)
    return pa.Array.from_buffers(pa.from_numpy_dtype(values.dtype), len(values),
                                 [None, pa.py_buffer(values)])


def _encode(values: Any) -> tuple[Any, Codec]:
    """(Arrow array or, for ``pickle``, the values themselves; codec) for a column or level."""
    dtype = values.dtype
    if isinstance(dtype, np.dtype):
        values = np.asarray(values)
        if dtype.kind in "iufMm":
            return _numpy_to_arrow(values), Codec("numpy", dtype)
        if dtype.kind == "b":
            return pa.array(values, type=pa.bool_()), Codec("bool", dtype)
        if dtype.kind in "cSV":  # complex and fixed-width bytes: raw bytes, one value a slot
            raw = np.ascontiguousarray(values)
            return pa.Array.from_buffers(pa.binary(dtype.itemsize), len(raw),
                                         [None, pa.py_buffer(raw.view(np.uint8))]), \
                Codec("raw", dtype)
        kind = pd.api.types.infer_dtype(values, skipna=True)
        missing = pd.isna(values)
        if kind in ("string", "bytes", "empty") and all(v is None for v in values[missing]):
            # str (or bytes) objects, with None where missing: Arrow nulls come back as None
            arrow = pa.large_binary() if kind == "bytes" else pa.large_string()
            return pa.array(values, type=arrow, from_pandas=False), Codec("objstr", dtype)
        return values, Codec("pickle", dtype)
    if isinstance(dtype, pd.DatetimeTZDtype):
        return _numpy_to_arrow(np.asarray(values.asi8)), Codec("tz", dtype)
    if isinstance(dtype, pd.CategoricalDtype):
        return _numpy_to_arrow(np.asarray(values.codes)), Codec("cat", dtype)
    if isinstance(dtype, pd.ArrowDtype):
        return values.__arrow_array__(), Codec("arrowdtype", dtype)
    if hasattr(values, "__arrow_array__") and hasattr(dtype, "__from_arrow__"):
        try:
            return values.__arrow_array__(), Codec("arrow", dtype)
        except (TypeError, ValueError, NotImplementedError, pa.ArrowException):
            pass
    return values, Codec("pickle", dtype)


def _one_chunk(column: Any) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    return column


def _decode(column: Any, codec: Codec) -> Any:
    """Rebuild pandas values from an Arrow column, on the same memory where the dtype allows."""
    how, dtype = codec.how, codec.dtype
    if how in ("arrow", "arrowdtype"):
        if how == "arrowdtype":
            return pd.arrays.ArrowExtensionArray(column)
        return dtype.__from_arrow__(column)
    array = _one_chunk(column)
    if how == "numpy":
        return array.to_numpy(zero_copy_only=True).view(dtype)
    if how == "bool":
        return array.to_numpy(zero_copy_only=False)
    if how == "raw":
        return np.frombuffer(array.buffers()[1], dtype, count=len(array),
                             offset=array.offset * dtype.itemsize)
    if how == "objstr":
        return array.to_numpy(zero_copy_only=False).astype(object, copy=False)
    if how == "tz":
        wall = array.to_numpy(zero_copy_only=True).view(f"M8[{dtype.unit}]")
        return pd.DatetimeIndex(wall).tz_localize("UTC").tz_convert(dtype.tz).array
    if how == "cat":
        return pd.Categorical.from_codes(array.to_numpy(zero_copy_only=True), dtype=dtype,
                                         validate=False)
    raise ValueError(f"unknown column codec {how!r}")  # pragma: no cover


# -- a whole frame -----------------------------------------------------------------------------


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
        encoded, codec = _encode(values)
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
    seg = _segment.create(max(1, sink.size()))
    try:
        stream = pa.FixedSizeBufferWriter(pa.py_buffer(seg.buf))
        with pa.ipc.new_stream(stream, table.schema) as writer:
            writer.write_table(table)
    except BaseException:
        seg.unlink()
        raise
    return Shared("frame", FrameMeta(seg.ref, cache=not transient, **info), seg)


def _table(meta: FrameMeta) -> pa.Table:
    buf = _segment.attach(meta.ref, cache=meta.cache)
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
            arrays.append(_decode(table.column(f"a{number}"), codec))
    index = _rebuild_index(meta.index, arrays[:n_index], meta.codecs, start, stop)
    columns = [pd.Series(values, index=index, copy=False,
                         dtype=codec.dtype if isinstance(codec.dtype, np.dtype) else None)
               for values, codec in zip(arrays[n_index:], meta.codecs[n_index:])]
    if meta.kind == "series":
        return columns[0].rename(meta.columns)
    frame = pd.DataFrame(dict(enumerate(columns)), index=index, copy=False)
    frame.columns = meta.columns
    return frame


def decode_shared(meta: FrameMeta, owner: bool) -> Any:
    """The whole shared object (``Shared.value``), rebuilt on the segment's memory."""
    return _frame_from(meta, _table(meta), 0, meta.n_rows, meta.pickled)


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


def _rows(values: Any, s: slice) -> Any:
    return values[s]


def frame_rows_specs(handle: Shared, slices: list[slice]) -> list[Spec]:
    """One :class:`FrameRows` per slice; object columns travel sliced, never whole."""
    meta = handle.meta
    if not getattr(meta, "pickled", None):
        return [FrameRows(i, s.start, s.stop, handle, s.start, s.stop)
                for i, s in enumerate(slices)]
    handle._sent_to_processes = True  # close() waits for workers, as if the handle travelled
    light = Shared("frame", replace(meta, pickled=None))
    return [FrameRows(i, s.start, s.stop, light, s.start, s.stop,
                      {k: _rows(v, s) for k, v in meta.pickled.items()})
            for i, s in enumerate(slices)]


# -- group-aware chunks ------------------------------------------------------------------------


def _keys(by: Any) -> list:
    return list(by) if isinstance(by, (list, tuple)) else [by]


def _balanced_cuts(sizes: np.ndarray, count: int) -> list[int]:
    """Group boundaries (indices into ``sizes``) cutting them, in order, into ``count`` parts.

    Each chunk aims at the rows still to place divided by the chunks still to make and ends at
    the group boundary nearest that aim, so a chunk that had to take a big group does not push
    the others off balance: the rows after it are spread evenly over the chunks left.
    """
    ends = np.cumsum(sizes)
    total, cuts, start_group, placed = int(ends[-1]), [0], 0, 0
    for left in range(count, 1, -1):
        if start_group >= len(sizes) - 1:
            break
        aim = placed + (total - placed) / left
        j = int(np.searchsorted(ends, aim))  # first group ending at or after the aim
        j = min(max(j, start_group), len(sizes) - 1)
        before = ends[j - 1] if j > start_group else None
        end = j if before is None or abs(ends[j] - aim) <= abs(aim - before) else j - 1
        end = min(end, len(sizes) - 2)
        cuts.append(end + 1)
        start_group, placed = end + 1, int(ends[end])
    cuts.append(len(sizes))
    return cuts


def _spread_big_groups(sizes: np.ndarray, count: int) -> np.ndarray | None:
    """Chunk of each group when some groups are big (> half a fair chunk), else None.

    Big groups go first, largest first, each to the least loaded chunk; the small groups then
    fill the chunks up to a common level, in their own order, so each chunk gets a contiguous
    run of them. A group with 40% of the rows in the middle of the data thus shares its chunk
    with no more than its fair share of others, even with two chunks.
    """
    total = int(sizes.sum())
    big = np.flatnonzero(sizes > total / (2 * count))
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


def group_slices(data: Any, by: Any, n=None, size=None, nbytes=None, *, sort: bool = False,
                 dropna: bool = False, contiguous: bool = False,
                 parallelism: int | None = None) -> tuple[Any, list, Any]:
    """(data with each chunk's rows together, row slices, row order or None) for ``by``.

    Groups come in order of first appearance (``sort=False``) or of their keys (``sort=True``).
    Chunks are balanced by rows: a group bigger than half a fair chunk gets a chunk to itself
    (see :func:`_spread_big_groups`) unless ``contiguous=True`` asks for chunks that follow the
    group order. When the rows already come chunk by chunk the data is returned as it is and
    the chunks are views; otherwise it is reordered once (the third item is that order).
    """
    from .cpus import available_cpus
    from .split import n_chunks_for, rows_and_row_nbytes

    if not isinstance(data, (pd.DataFrame, pd.Series)):
        raise TypeError(f"by= needs a pandas DataFrame or Series, got {type(data).__name__}")
    n_rows, row_nbytes = rows_and_row_nbytes(data)
    count = n_chunks_for(n_rows, row_nbytes, n=n, size=size, nbytes=nbytes,
                         parallelism=parallelism or available_cpus())
    if n_rows == 0:
        return data, [], None
    codes = data.groupby(_keys(by), sort=sort, dropna=dropna, observed=True).ngroup().to_numpy()
    if codes.dtype.kind == "f":  # NA keys dropped (dropna=True) are numbered NaN
        codes = np.where(np.isnan(codes), -1, codes).astype(np.int64)
    sizes = np.bincount(codes[codes >= 0])
    if not sizes.size:
        return data.iloc[:0], [], np.arange(0)
    count = min(count, len(sizes))
    chunk_of = None if contiguous or count < 2 else _spread_big_groups(sizes, count)
    if chunk_of is None:
        cuts = _balanced_cuts(sizes, count)
        chunk_of = np.repeat(np.arange(len(cuts) - 1), np.diff(cuts))
    rank = np.where(codes >= 0, chunk_of[np.maximum(codes, 0)] * len(sizes) + codes, -1)
    order = None
    if rank[0] < 0 or np.any(rank[1:] < rank[:-1]):
        order = np.argsort(rank, kind="stable")
        order = order[rank[order] >= 0]
        data = data.iloc[order]
    bounds = np.r_[0, np.cumsum(np.bincount(chunk_of, weights=sizes))].astype(np.int64)
    slices = [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    return data, slices, order


def split_by_groups(data: Any, by: Any, n=None, size=None, nbytes=None) -> list:
    """Chunks in which every group of ``by`` lies whole, balanced by rows (not by groups).

    Groups keep their order of first appearance; rows whose key is NA form a group too. The
    chunks are views when the rows already come group by group, else slices of one reordered
    copy.
    """
    data, slices, _ = group_slices(data, by, n, size, nbytes)
    return [data.iloc[s] for s in slices]


# -- apply -------------------------------------------------------------------------------------


def _concat(parts: list) -> Any:
    return pd.concat(parts) if len(parts) > 1 else parts[0]


def apply(df: Any, func: Any, **options: Any) -> Any:
    """``func`` on each chunk of rows, results concatenated in row order.

    For a ``func`` that works row by row (returns a frame or series for its rows) this equals
    ``func(df)``. Options are those of :func:`parallel_analysis.map_chunks`.
    """
    from .pool import map_chunks

    parts = map_chunks(func, df, **options)
    return _concat(parts) if parts else func(df)


class SharedSlices:
    """A shared frame cut at given row slices: a source the maps read in place.

    Like :func:`parallel_analysis.from_parquet`, it hands the map its own chunk specs (here
    :class:`FrameRows`), so chunks that are not even row slices still travel as metadata.
    """

    def __init__(self, handle: Shared, slices: list[slice]):
        self.handle = handle
        self.slices = slices

    def chunk_specs(self, n=None, size=None, nbytes=None) -> list[Spec]:
        return frame_rows_specs(self.handle, self.slices)


def _apply_groups(chunk: Any, by: Any, func: Any, kw: dict) -> Any:
    return chunk.groupby(by, **kw).apply(func)


def groupby_apply(df: Any, by: Any, func: Any, *, sort: bool = True, dropna: bool = True,
                  group_keys: bool = True, **options: Any) -> Any:
    """``df.groupby(by).apply(func)``, every group whole in one chunk, same result as pandas.

    Chunks hold whole groups in key order (``sort=True``) so that concatenating the chunks'
    results in order gives pandas' layout. A ``func`` that returns its rows (a transform) with
    ``group_keys=False`` gets them back in the original row order, as pandas gives them.
    """
    import functools

    from .pool import map_chunks

    kw = dict(sort=sort, dropna=dropna, group_keys=group_keys, observed=True)
    data, slices, order = group_slices(df, by, sort=sort, dropna=dropna, contiguous=True,
                                       **{k: options.pop(k) for k in ("n", "size", "nbytes")
                                          if k in options})
    if not slices:
        return df.groupby(by, **kw).apply(func)
    run = functools.partial(_apply_groups, by=by, func=func, kw=kw)
    if (options.get("backend") or "process") == "process" and not in_worker():
        with share_frame(data, transient=True) as handle:  # workers read the groups in place
            parts = map_chunks(run, SharedSlices(handle, slices), **options)
    else:
        parts = map_chunks(run, [data.iloc[s] for s in slices], **options)
    result = _concat(parts)
    if not group_keys and order is not None and result.index.equals(data.index):
        result = result.iloc[np.argsort(order, kind="stable")]
    return result


from .groupby import GroupBy, ValueCounts, describe, groupby_agg  # noqa: E402

__all__ = [
    "FrameMeta", "FrameRows", "GroupBy", "SharedSlices", "ValueCounts", "apply",
    "decode_shared", "describe", "frame_rows_specs", "group_slices", "groupby_agg",
    "groupby_apply", "share_frame", "split_by_groups",
]
