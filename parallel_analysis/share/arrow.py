"""share.arrow: how one column or index level is stored as Arrow and rebuilt in pandas. Layer:
share (imports nothing of the package; pandas and pyarrow at import, so :mod:`.frames` loads it
only for frames).

Every column is stored so that a worker rebuilds it on the segment's memory, without a copy:

- numeric, bool, datetime and timedelta columns as their raw numpy bytes (NaN and NaT stay
  values, not Arrow nulls; a bool is one byte, as in numpy), tz-aware ones as their UTC int64;
- nullable ``Int*``/``Float*``/``boolean`` columns as two arrays, values and mask;
- ``str`` / ``string`` columns as Arrow strings, which pandas wraps as they are;
- categoricals as an Arrow dictionary: the codes per row, the categories once, in the segment
  (so a handle stays small however many categories there are). A MultiIndex's levels travel the
  same way, as categoricals of their codes.

Period, interval and Arrow-backed columns go through pandas' own Arrow protocol
(``__arrow_array__`` / ``__from_arrow__``). A column Arrow cannot hold (arbitrary Python objects)
is marked ``pickle``: the caller sends it by pickle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

_MASKED = (pd.arrays.IntegerArray, pd.arrays.FloatingArray, pd.arrays.BooleanArray)


@dataclass(frozen=True)
class Codec:
    """How one column or index level is stored in Arrow (``parts`` arrays) and rebuilt."""

    how: str  # numpy | bool | raw | tz | masked | cat | dict | objstr | arrow | arrowdtype | pickle
    dtype: Any
    parts: int = 1
    inner: Codec | None = None  # dict: how the categories are stored
    freq: Any = None  # dict: the categories' freq (a DatetimeIndex of them may have one)
    name: Any = None  # dict: the categories' name
    extension: Any = None  # dict: the categories' Arrow extension type (the dictionary holds
    #                        its storage: an IPC stream does not read extension dictionaries)


def _numpy_to_arrow(values: np.ndarray, validity: Any = None) -> pa.Array:
    """The array's own bytes as an Arrow array (no validity bitmap: NaN and NaT stay values)."""
    values = np.ascontiguousarray(values)
    if values.dtype.kind == "b":
        values = values.view(np.uint8)
    return pa.Array.from_buffers(pa.from_numpy_dtype(values.dtype), len(values),
                                 [validity, pa.py_buffer(values)])


def plain_values(obj: pd.Series | pd.Index) -> Any:
    """A numpy array (a view) for numpy dtypes, else the pandas extension array."""
    return obj.to_numpy() if isinstance(obj.dtype, np.dtype) else obj.array


def _categorical(codes: np.ndarray, dtype: pd.CategoricalDtype) -> tuple[list, Codec]:
    """Codes as the indices of an Arrow dictionary whose dictionary is the categories."""
    inner_parts, inner = encode(plain_values(dtype.categories))
    dictionary = inner_parts[0] if inner.how != "pickle" and inner.parts == 1 else None
    if isinstance(dictionary, pa.ChunkedArray):
        dictionary = dictionary.combine_chunks()
    if dictionary is None:
        # Categories Arrow can't hold (Python objects): in the metadata, as the dtype itself,
        # so they travel by pickle (share_frame warns).
        return [_numpy_to_arrow(codes)], Codec("cat", dtype)
    extension = None
    if isinstance(dictionary.type, pa.ExtensionType):  # pandas' period and interval types
        extension, dictionary = dictionary.type, dictionary.storage
    codes = np.ascontiguousarray(codes)
    missing = codes < 0
    validity = pa.py_buffer(np.packbits(~missing, bitorder="little")) if missing.any() else None
    array = pa.DictionaryArray.from_arrays(_numpy_to_arrow(codes, validity), dictionary)
    categories = dtype.categories
    return [array], Codec("dict", pd.CategoricalDtype(ordered=dtype.ordered), inner=inner,
                          freq=getattr(categories, "freq", None), name=categories.name,
                          extension=extension)


def encode(values: Any) -> tuple[Any, Codec]:
    """(list of ``codec.parts`` Arrow arrays or, for ``pickle``, the values themselves; codec)
    for a column or an index level."""
    dtype = values.dtype
    if isinstance(dtype, np.dtype):
        values = np.asarray(values)
        long_float = dtype.kind == "f" and dtype.itemsize > 8  # np.longdouble: not in Arrow
        if dtype.kind in "iufMm" and not long_float:
            return [_numpy_to_arrow(values)], Codec("numpy", dtype)
        if dtype.kind == "b":
            return [_numpy_to_arrow(values)], Codec("bool", dtype)
        if dtype.kind in "cSV" or long_float:  # complex, fixed-width bytes, long doubles: raw
            raw = np.ascontiguousarray(values)
            return [pa.Array.from_buffers(pa.binary(dtype.itemsize), len(raw),
                                          [None, pa.py_buffer(raw.view(np.uint8))])], \
                Codec("raw", dtype)
        kind = pd.api.types.infer_dtype(values, skipna=True)
        missing = pd.isna(values)
        if kind in ("string", "bytes", "empty") and all(v is None for v in values[missing]):
            # str (or bytes) objects, with None where missing: Arrow nulls come back as None
            arrow = pa.large_binary() if kind == "bytes" else pa.large_string()
            return [pa.array(values, type=arrow, from_pandas=False)], Codec("objstr", dtype)
        return values, Codec("pickle", dtype)
    if isinstance(dtype, pd.DatetimeTZDtype):
        return [_numpy_to_arrow(np.asarray(values.asi8))], Codec("tz", dtype)
    if isinstance(dtype, pd.CategoricalDtype):
        return _categorical(np.asarray(values.codes), dtype)
    if isinstance(values, _MASKED):
        data, mask = values._data, values._mask  # pandas' own buffers, shared as they are
        return [_numpy_to_arrow(data), _numpy_to_arrow(mask)], Codec("masked", dtype, parts=2)
    if isinstance(dtype, pd.ArrowDtype):
        return [values.__arrow_array__()], Codec("arrowdtype", dtype)
    if hasattr(values, "__arrow_array__") and hasattr(dtype, "__from_arrow__"):
        try:
            return [values.__arrow_array__()], Codec("arrow", dtype)
        except (TypeError, ValueError, NotImplementedError, pa.ArrowException):
            pass
    return values, Codec("pickle", dtype)


def _one_chunk(column: Any) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    return column


def _view(array: pa.Array, dtype: np.dtype) -> np.ndarray:
    """The values buffer of a fixed-width Arrow array as numpy, ignoring any validity bitmap."""
    return np.frombuffer(array.buffers()[1], dtype, count=len(array),
                         offset=array.offset * dtype.itemsize)


def decode(columns: list, codec: Codec, dtypes: dict | None = None, key: Any = None) -> Any:
    """Rebuild pandas values from a column's Arrow parts, on the same memory where the dtype
    allows. ``dtypes`` caches a categorical's dtype under ``key``: its categories are read and
    checked once, not for every chunk of the column."""
    how, dtype = codec.how, codec.dtype
    if how == "arrowdtype":
        return pd.arrays.ArrowExtensionArray(columns[0])
    if how == "arrow":
        return dtype.__from_arrow__(columns[0])
    arrays = [_one_chunk(c) for c in columns]
    array = arrays[0]
    if how == "numpy":
        return array.to_numpy(zero_copy_only=True).view(dtype)
    if how == "bool":
        return _view(array, np.dtype(np.uint8)).view(bool)
    if how == "raw":
        return _view(array, dtype)
    if how == "masked":
        data = _view(array, np.dtype(np.uint8)).view(bool) if dtype.kind == "b" else \
            array.to_numpy(zero_copy_only=True)
        mask = _view(arrays[1], np.dtype(np.uint8)).view(bool)
        return dtype.construct_array_type()(data, mask, copy=False)
    if how == "objstr":
        return array.to_numpy(zero_copy_only=False).astype(object, copy=False)
    if how == "tz":
        utc = array.to_numpy(zero_copy_only=True).view(f"M8[{dtype.unit}]")
        return pd.arrays.DatetimeArray._simple_new(utc, dtype=dtype)  # no copy; public ways copy
    if how == "cat":
        return pd.Categorical.from_codes(array.to_numpy(zero_copy_only=True), dtype=dtype,
                                         validate=False)
    if how == "dict":
        indices = array.indices
        categorical = dtypes.get(key) if dtypes is not None else None
        if categorical is None:
            categorical = _categories(array.dictionary, codec)
            if dtypes is not None:
                dtypes[key] = categorical
        return pd.Categorical.from_codes(
            _view(indices, np.dtype(indices.type.to_pandas_dtype())), dtype=categorical,
            validate=False)
    raise ValueError(f"unknown column codec {how!r}")  # pragma: no cover


def _categories(dictionary: pa.Array, codec: Codec) -> pd.CategoricalDtype:
    """The categorical dtype of a ``dict`` column, from the dictionary stored in the segment."""
    inner = codec.inner
    if codec.extension is not None:
        dictionary = pa.ExtensionArray.from_storage(codec.extension, dictionary)
    categories = pd.Index(decode([dictionary], inner), copy=False, name=codec.name,
                          dtype=inner.dtype if isinstance(inner.dtype, np.dtype) else None)
    if codec.freq is not None:
        categories = type(categories)(categories, freq=codec.freq, name=codec.name)
    return pd.CategoricalDtype(categories, ordered=codec.dtype.ordered)
