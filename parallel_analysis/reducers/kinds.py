"""reducers.kinds: what pandas returns for the mean, variance and deviation of a column, decided
once from its dtype. Layer: core (imports nothing of the package; pandas on first use).

pandas does not reduce every dtype the same way, and a partial must know which way before it
reduces anything. Each column is one of these families:

=========  ==========================================  ========================================
family     dtypes                                      missing or undefined result
=========  ==========================================  ========================================
number     numpy-backed bool, int, uint, float         ``nan``: a Python float when nothing is
                                                       left (pandas' ``nanmean``); var/std with
                                                       ``N - ddof <= 0`` or any ±inf: ``nan``
                                                       of the result dtype, and a Python float
                                                       for a Series with no rows at all
masked     Int*, UInt*, Float*, boolean                ``<NA>``, whenever numpy's own answer on
                                                       the valid values is NaN; ``ddof >= N``
                                                       with M2 > 0 is numpy's ``inf``
object     object holding numbers                      as number (strings raise TypeError)
arrow      pyarrow-backed int, uint, float, bool       ``<NA>`` when nothing is left (var/std:
                                                       ``N - ddof <= 0``); a Python float
                                                       otherwise; bool has no var/std
datetime   datetime64 (naive or tz-aware)              ``NaT``; mean a Timestamp (unit, tz),
                                                       std a Timedelta, var raises TypeError
timedelta  timedelta64                                 ``NaT``; mean and std a Timedelta
complex    complex64, complex128                       as number; the mean is complex128, the
                                                       variance ``E|z - mean|²`` (the real and
                                                       imaginary parts' variances added) of the
                                                       real dtype, float32 for complex64
=========  ==========================================  ========================================

Sparse columns are their values' family (pandas densifies them too). Results are
``np.float32`` for float32 and Float32 columns and ``np.float64`` otherwise
(pandas' own inconsistency: the mean of an empty float32 Series is a Python float, its
variance too, but the variance of an all-NaN one is ``np.float32(nan)``). Other dtypes (str,
string, categorical, period) raise pandas' own TypeError.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np


class Kind(NamedTuple):
    """A column's family (see the module docstring), its dtype and its float result dtype."""

    family: str
    dtype: Any
    result: np.dtype


def pandas_version() -> tuple[int, int]:
    """pandas' (major, minor) version: where its behaviour differs by version."""
    import pandas as pd

    major, minor = pd.__version__.split(".")[:2]
    return int(major), int("".join(c for c in minor if c.isdigit()) or 0)


def kind_of(dtype: Any) -> Kind:
    """The :class:`Kind` of a pandas column of ``dtype``."""
    import pandas as pd

    name = str(dtype)
    result = np.dtype(np.float32 if name in ("float32", "Float32") else np.float64)
    if isinstance(dtype, pd.SparseDtype):
        return kind_of(dtype.subtype)
    if isinstance(dtype, pd.ArrowDtype) and dtype.kind in "biuf":
        return Kind("arrow", dtype, np.dtype(np.float64))
    if isinstance(dtype, pd.api.extensions.ExtensionDtype):
        if isinstance(dtype, pd.core.dtypes.dtypes.BaseMaskedDtype):
            return Kind("masked", dtype, result)
        if isinstance(dtype, pd.DatetimeTZDtype):
            return Kind("datetime", dtype, result)
        return Kind("other", dtype, result)
    family = {"b": "number", "i": "number", "u": "number", "f": "number", "O": "object",
              "M": "datetime", "m": "timedelta", "c": "complex"}.get(dtype.kind, "other")
    if family == "complex":  # the variance's dtype; the mean is complex128 (mean_result)
        result = np.dtype(np.float32 if dtype == np.complex64 else np.float64)
    return Kind(family, dtype, result)


def valid_floats(series: Any, kind: Kind, op: str) -> np.ndarray:
    """The non-missing values of a Series as float64 (datetimes and timedeltas: their ticks).

    Raises pandas' TypeError where pandas cannot take ``op`` (strings, categoricals, the
    variance of datetimes), before any value is reduced, so an empty chunk raises too.
    """
    if kind.family == "other" or (op == "var" and kind.family in ("datetime", "timedelta")) \
            or (op in ("var", "std") and kind.family == "arrow" and kind.dtype.kind == "b"):
        getattr(series.iloc[:0], op)()  # pandas' own error for this dtype
        raise TypeError(f"cannot compute the {op} of a {series.dtype} column")
    if kind.family == "number" and series.dtype.kind != "f":
        return series.to_numpy(dtype=np.float64)
    values = series.dropna()
    if kind.family == "complex":  # complex128: the moments take its real and imaginary parts
        return values.to_numpy(dtype=np.complex128)
    if kind.family in ("datetime", "timedelta"):
        return values.to_numpy(dtype=np.int64).astype(np.float64)
    try:
        return values.to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"cannot compute the {op} of a {series.dtype} column holding "
                        f"non-numbers ({exc}); pandas refuses it too") from None


def mean_result(kind: Kind, total: Any, count: int) -> Any:
    """pandas' mean of ``count`` values summing to ``total`` (complex in a frame with a
    complex column, for every column)."""
    if kind.family != "complex":
        total = np.real(total)
    with np.errstate(all="ignore"):
        value = total / count if count else np.nan
    if kind.family == "complex":
        return np.complex128(value) if count else float("nan")
    return _typed(kind, value, empty=count == 0)


def var_result(kind: Kind, m2: float, count: int, ddof: int, rows: int, sqrt: bool) -> Any:
    """pandas' variance (or, with ``sqrt``, deviation) of ``count`` values with M2 ``m2``,
    of a column of ``rows`` rows (NA included)."""
    with np.errstate(all="ignore"):
        if kind.family == "masked":
            value = np.float64(m2) / max(count - ddof, 0) if count else np.nan
        else:  # pandas' nanvar: never inf
            value = np.float64(m2) / (count - ddof) if count - ddof > 0 else np.nan
        if kind.family == "number" and kind.dtype == np.float16 and rows:
            # pandas' nanvar casts back to a float column's dtype, and nanstd is its sqrt
            return np.sqrt(np.float16(value)) if sqrt else np.float16(value)
        value = np.sqrt(value) if sqrt else value
    return _typed(kind, value, empty=rows == 0, delta=True)


def _typed(kind: Kind, value: float, empty: bool, delta: bool = False) -> Any:
    """``value`` as pandas returns it for a column of this kind (NA, NaT, Timestamp...)."""
    import pandas as pd

    if kind.family == "masked":
        return pd.NA if np.isnan(value) else kind.result.type(value)
    if kind.family == "arrow":
        return pd.NA if np.isnan(value) else float(value)
    if kind.family in ("datetime", "timedelta"):
        if np.isnan(value):
            return pd.NaT
        unit = np.datetime_data(getattr(kind.dtype, "base", kind.dtype))[0] \
            if not isinstance(kind.dtype, pd.DatetimeTZDtype) else kind.dtype.unit
        ticks = int(np.int64(value))  # truncated, as pandas' _wrap_results
        if delta or kind.family == "timedelta":
            return pd.Timedelta(np.timedelta64(ticks, unit))
        stamp = pd.Timestamp(np.datetime64(ticks, unit))
        tz = getattr(kind.dtype, "tz", None)
        return stamp if tz is None else stamp.tz_localize("UTC").tz_convert(tz)
    if empty:
        return float("nan")
    return kind.result.type(value)
