"""share.arrow: how one column or index level is stored as Arrow and rebuilt in pandas. Layer:
share (imports nothing of the package; pandas and pyarrow at import, so :mod:`.frames` loads it
only for frames).

Numeric, datetime and timedelta columns are stored as their raw numpy bytes (NaN and NaT stay
values, not Arrow nulls), so a worker gets numpy views of the segment; ``str`` / ``string``
columns stay Arrow strings that pandas wraps without copying; categoricals travel as their codes
with the categories in the handle's metadata. Nullable, period and interval columns go through
pandas' own Arrow protocol (``__arrow_array__`` / ``__from_arrow__``). A column Arrow cannot
hold (arbitrary Python objects) is marked ``pickle``: the caller sends it by pickle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa


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


def encode(values: Any) -> tuple[Any, Codec]:
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


def decode(column: Any, codec: Codec) -> Any:
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
