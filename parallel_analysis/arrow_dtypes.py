"""arrow_dtypes: Arrow chunks converted to pandas with the dtypes of the whole data. Layer: low
(imports nothing of the package; pyarrow inside the functions).

``Table.to_pandas()`` picks some numpy dtypes from the values at hand: an integer column becomes
float64 when it holds a null, a boolean column object. A chunk (a row group, a slice of a
Table) without the nulls of its neighbours would come out int64 or bool, and its partial would
not meet theirs; ``pd.read_parquet`` and ``table.to_pandas()`` give the whole column one dtype.
So the caller works out, once per map, which columns the whole data promotes
(:func:`promotions`), and every chunk is converted with them (:func:`as_whole`).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

#: What ``to_pandas`` makes of a column of these Arrow kinds once it holds a null.
FLOAT, OBJECT = "float64", "object"


def null_sensitive(arrow_type: Any) -> str | None:
    """The numpy dtype a column of ``arrow_type`` converts to when it holds a null (float64
    for integers, object for booleans), or None when its dtype does not depend on nulls."""
    import pyarrow as pa

    if pa.types.is_integer(arrow_type):
        return FLOAT
    if pa.types.is_boolean(arrow_type):
        return OBJECT
    return None


def candidates(schema: Any, columns: list | None = None) -> dict[str, str]:
    """The top-level fields of ``schema`` (among ``columns``) whose dtype depends on nulls."""
    repeats = Counter(schema.names)
    out = {}
    for field in schema:
        promoted = null_sensitive(field.type)
        if promoted is not None and (columns is None or field.name in columns) and \
                repeats[field.name] == 1:  # a duplicated name is not one column
            out[field.name] = promoted
    return out


def promotions(table: Any) -> dict[str, str]:
    """Columns of a pyarrow Table (or RecordBatch) that hold a null and so convert, as a
    whole, to another dtype than a chunk without nulls would: name → dtype."""
    return {name: dtype for name, dtype in candidates(table.schema).items()
            if table.column(name).null_count > 0}


def as_whole(frame: Any, dtypes: dict[str, str]) -> Any:
    """``frame`` (converted from one chunk) with the dtypes the whole data converts to. Only
    numpy integer and bool columns change: a column the pandas metadata made ``Int64``,
    ``boolean`` or ``int64[pyarrow]`` keeps its dtype whatever its nulls, as ``to_pandas``
    keeps it."""
    for name, dtype in dtypes.items():
        if name in frame.columns and frame.columns.get_indexer_for([name]).size == 1:
            now = frame[name].dtype
            if isinstance(now, np.dtype) and now.kind in "iub":
                frame[name] = frame[name].astype(dtype)
    return frame
