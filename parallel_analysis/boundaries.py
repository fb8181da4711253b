"""boundaries: the rows an overlapping map adds beyond the data's outer edges (``boundary=``).
Layer: core (imports nothing of the package).

Boundaries follow ``dask.array.overlap`` along axis 0 (and ``np.pad`` where dask refuses a
depth larger than the data):

=============  =====================  ================  ======================================
boundary       dask                   ``np.pad`` mode   row copied for position p (< 0, >= n)
=============  =====================  ================  ======================================
``None``       ``"none"``             (no pad)          none: func sees fewer rows at the edges
a scalar       constant               ``constant``      the value
``"reflect"``  ``x[d-1::-1]``         ``symmetric``     ``q = p mod 2n``; ``q < n ? q : 2n-1-q``
``"nearest"``  ``repeat(edge, d)``    ``edge``          ``clip(p, 0, n - 1)``
``"periodic"`` ``concat(x[-d:], x)``  ``wrap``          ``p mod n``
=============  =====================  ================  ======================================

Only chunks within ``depth`` of an edge get boundary rows: the caller gathers them once (at
most ``before`` and ``after`` rows, :func:`edge_rows`) and each such chunk gets one new array of
``before + len + after`` rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Boundaries that copy rows of the data (dask.array.overlap's names).
BOUNDARY_KINDS = ("reflect", "nearest", "periodic")


def check_boundary(boundary: Any) -> Any:
    """``None``, one of :data:`BOUNDARY_KINDS`, or a scalar to pad with; anything else raises."""
    if boundary is None or (isinstance(boundary, str) and boundary == "none"):
        return None
    if isinstance(boundary, str):
        if boundary in BOUNDARY_KINDS:
            return boundary
        hint = " (pass the value itself, e.g. boundary=0.0)" if boundary == "constant" else ""
        raise ValueError(f"unknown boundary {boundary!r}{hint}: use None, a scalar to pad with, "
                         f"or one of {', '.join(map(repr, BOUNDARY_KINDS))}")
    if np.ndim(boundary) != 0 or isinstance(boundary, (dict, list, tuple)):
        raise TypeError(f"boundary must be None, a scalar or one of {BOUNDARY_KINDS}, got "
                        f"{boundary!r} (only axis 0 is overlapped: no per-axis dicts)")
    return boundary


def source_rows(kind: str, n_rows: int, positions: Any) -> np.ndarray:
    """The data row each position beyond the edges (``< 0`` or ``>= n_rows``) copies."""
    p = np.asarray(positions, dtype=np.int64)
    if kind == "nearest":
        return np.clip(p, 0, n_rows - 1)
    if kind == "periodic":
        return np.mod(p, n_rows)
    q = np.mod(p, 2 * n_rows)  # reflect, the edge row included
    return np.where(q < n_rows, q, 2 * n_rows - 1 - q)


def _fill_value(value: Any, dtype: np.dtype) -> Any:
    """``value`` in ``dtype``, refusing a lossy cast (NaN or 1.5 into ints, 300 into uint8),
    which dask's ``full_like`` would do silently."""
    # pd.Timestamp, pd.Timedelta, pd.NaT: as numpy's own scalar
    src = np.asarray(value.to_numpy() if hasattr(value, "to_numpy") else value)
    if (src.dtype.kind in "mM") != (dtype.kind in "mM") and not _missing(src):
        raise TypeError(f"boundary {value!r} cannot pad an array of dtype {dtype}: times pad "
                        "times, numbers numbers")
    try:
        with np.errstate(invalid="ignore", over="ignore"):
            fill = src.astype(dtype, casting="unsafe")
        with np.errstate(invalid="ignore"):
            same = bool(fill == src) or _missing(src) and _missing(fill)
    except OverflowError:
        same = False
    except (TypeError, ValueError) as err:
        raise TypeError(f"boundary {value!r} cannot pad an array of dtype {dtype}") from err
    if not same:
        raise ValueError(f"boundary {value!r} is not representable in dtype {dtype}; cast the "
                         "data first (e.g. x.astype(float)) or pad with a value it can hold")
    return fill


def _missing(value: np.ndarray) -> bool:
    """NaN or NaT: the one value that never equals itself, and pads as numpy pads it."""
    if value.dtype.kind in "fc":
        return bool(np.isnan(value))
    return value.dtype.kind in "mM" and bool(np.isnat(value))


def edge_rows(data: Any, boundary: Any, positions: Any) -> Any:
    """The boundary rows at ``positions`` beyond the edges of ``data`` (an array, frame or
    series), gathered from at most that many rows. For pandas objects the rows keep the labels
    of the rows they copy (of the edge row for a scalar boundary)."""
    n = len(data)
    positions = np.asarray(positions, dtype=np.int64)
    if isinstance(data, np.ndarray):
        if boundary in BOUNDARY_KINDS:
            return data[source_rows(boundary, n, positions)]
        fill = _fill_value(boundary, data.dtype)
        return np.full((len(positions),) + data.shape[1:], fill, dtype=data.dtype)
    if boundary in BOUNDARY_KINDS:
        return data.iloc[source_rows(boundary, n, positions)]
    labels = data.index[source_rows("nearest", n, positions)]
    if data.ndim == 1:
        return _padding_like(data, boundary, labels)
    import pandas as pd

    if data.shape[1] == 0:
        return type(data)(index=labels, columns=data.columns)
    pad = pd.concat([_padding_like(data.iloc[:, j], boundary, labels)
                     for j in range(data.shape[1])], axis=1)
    pad.columns = data.columns
    return pad


def _padding_like(column: Any, value: Any, labels: Any) -> Any:
    """``value`` at ``labels``, in the dtype of ``column`` (a Series) where that holds it
    exactly (0 in an int8 or a float32 column), else in the dtype pandas infers for it."""
    pad = type(column)(value, index=labels, name=column.name)
    try:
        cast = pad.astype(column.dtype)
        if bool(((cast == pad) | (cast.isna() & pad.isna())).all()):
            return cast
    except (TypeError, ValueError, OverflowError):
        pass
    return pad
