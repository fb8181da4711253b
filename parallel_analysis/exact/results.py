"""exact.results: how a worker's raw results travel back to the caller. Layer: API (imports
nothing of the package; pandas at import).

A result list of Python objects pickles object by object (12 ms per 200,000 floats, minutes for
400,000 Series), so :func:`pack` sends what it can in bulk, and only when that is lossless:

- :class:`Typed`: every result has one exact scalar type (``float``/``np.float64``,
  ``int``/``np.int64`` within int64, ``bool``/``np.bool_``): one numpy array (2 ms per 200,000);
- :class:`SeriesRows`: every result is a Series of one numpy dtype and one unique index: the
  index once, the values as one 2-D block;
- otherwise the list itself.

:meth:`Typed.tolist` and :meth:`SeriesRows.tolist` rebuild equal objects (Python floats stay
Python floats, numpy scalars numpy scalars) for pandas' own assembly; where the whole-object
inference provably gives the bulk form's dtype the caller builds the result from the bulk form
directly (:func:`common_typed_dtype`, :func:`expand_fast`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

#: exact scalar type -> numpy dtype that holds it losslessly
_TYPED = {float: np.float64, np.float64: np.float64, int: np.int64, np.int64: np.int64,
          bool: np.bool_, np.bool_: np.bool_}


class Typed:
    """Results of one exact scalar type ``kind``, stored as a numpy array."""

    __slots__ = ("kind", "values")

    def __init__(self, kind: type, values: np.ndarray) -> None:
        self.kind, self.values = kind, values

    def tolist(self) -> list:
        # Python types come back as themselves; numpy scalar types as numpy scalars
        return self.values.tolist() if self.kind in (float, int, bool) else list(self.values)

    def __len__(self) -> int:
        return len(self.values)

    def __reduce__(self):
        return (Typed, (self.kind, self.values))


class SeriesRows:
    """Series results that share one dtype and one index, as a 2-D block.

    Pickling a Series costs ~0.25 ms (object index) to ~0.5 ms (a pandas-3 ``str`` index), so a
    function returning a Series per row would never pay off; here the index travels once and
    the values as one array. ``tolist`` rebuilds equal Series (values, dtype, index, name,
    attrs).
    """

    __slots__ = ("index", "values", "names", "attrs")

    def __init__(self, index: pd.Index, values: np.ndarray, names: list, attrs: dict) -> None:
        self.index, self.values, self.names, self.attrs = index, values, names, attrs

    def tolist(self) -> list:
        out = []
        for row, name in zip(self.values, self.names):
            r = pd.Series(row, index=self.index, name=name, copy=False, dtype=row.dtype)
            if self.attrs:
                r.attrs = self.attrs
            out.append(r)
        return out

    def __len__(self) -> int:
        return len(self.values)

    def __reduce__(self):
        return (SeriesRows, (self.index, self.values, self.names, self.attrs))


def _same_index(a: pd.Index, b: pd.Index) -> bool:
    return a is b or (type(a) is type(b) and a.equals(b) and a.dtype == b.dtype
                      and a.names == b.names)


def _series_rows(values: list) -> SeriesRows | None:
    first = values[0]
    index, dtype, attrs = first.index, first.dtype, first.attrs
    if not (isinstance(dtype, np.dtype) and dtype.kind in "biufcO" and index.is_unique):
        return None
    for r in values:
        if (type(r) is not pd.Series or r.dtype != dtype or r.attrs != attrs
                or not r.flags.allows_duplicate_labels or not _same_index(r.index, index)):
            return None
    rows = np.empty((len(values), len(index)), dtype=dtype)
    for i, r in enumerate(values):
        rows[i] = r._values
    return SeriesRows(index, rows, [r.name for r in values], dict(attrs))


def pack(values: Any, typed: bool = True, kinds: set | None = None) -> Any:
    """Results as :class:`Typed` or :class:`SeriesRows` when that is lossless, else a list
    (always a list with ``typed=False``: the tests compare both ways). ``kinds``: the set of
    the values' types, when the caller has it."""
    if len(values) == 0 or not typed:
        return list(values)
    kinds = set(map(type, values)) if kinds is None else set(kinds)
    if len(kinds) == 1:
        kind = kinds.pop()
        dtype = _TYPED.get(kind)
        if dtype is not None:
            try:
                return Typed(kind, np.array(values, dtype=dtype))
            except OverflowError:  # a Python int outside int64
                pass
        elif kind is pd.Series:
            block = _series_rows(list(values))
            if block is not None:
                return block
    return list(values)


def unpack(payload: Any) -> list:
    """The results as the objects ``func`` returned (equal ones, for the bulk forms)."""
    return payload.tolist() if isinstance(payload, (Typed, SeriesRows)) else list(payload)


def common_typed_dtype(payloads: list) -> np.dtype | None:
    """The dtype if every payload is Typed with one numpy dtype (the kinds may differ)."""
    if not payloads or not all(isinstance(p, Typed) for p in payloads):
        return None
    dtypes = {p.values.dtype for p in payloads}
    return dtypes.pop() if len(dtypes) == 1 else None


def concat_typed(payloads: list) -> np.ndarray:
    """The values of Typed payloads of one dtype, in order."""
    return np.concatenate([p.values for p in payloads])


def expand_fast(df: pd.DataFrame, parts: list) -> pd.DataFrame | None:
    """pandas' ``infer_to_same_shape`` for axis=1 when every result is a Series of one numpy
    dtype and one unique plain index, else None.

    ``DataFrame({i: s_i}).T`` is then the stacked values (the union of equal indexes is the
    first index; the transpose of a single-dtype block keeps the dtype), with
    ``index = df.index``, then ``infer_objects()`` as pandas does.
    """
    if not parts or not all(isinstance(p, SeriesRows) for p in parts):
        return None
    first = parts[0]
    if type(first.index) is not pd.Index:
        return None
    for p in parts[1:]:
        if p.values.dtype != first.values.dtype or not _same_index(p.index, first.index):
            return None
    values = np.concatenate([p.values for p in parts]) if len(parts) > 1 else first.values
    out = df._constructor(values, index=df.index, columns=first.index, copy=False,
                          dtype=values.dtype)
    return out.infer_objects()
