"""share: place data in shared memory once and hand out a small picklable handle. Layer: share
(the package's modules import segment, attached, specs and each other).

=================  ===================================================================
module             owns
=================  ===================================================================
:mod:`.handle`     ``Shared``: the handle (context manager, ``.value``, ``close()``)
:mod:`.arrays`     ndarrays in a segment (``share_array``, ``shared_array``), ``ArrayRows``
:mod:`.arrow`      the Arrow codec of one column (pandas, pyarrow)
:mod:`.frames`     DataFrames, Series, Tables as Arrow IPC in a segment, ``FrameRows``
=================  ===================================================================

``import parallel_analysis`` loads :mod:`.handle` and :mod:`.arrays` only; the frame modules
(and with them pandas and pyarrow) load when a frame is first shared.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .arrays import ArrayMeta, ArrayRows, share_array, shared_array
from .handle import Shared, local_value, refuse_masked

__all__ = ["ArrayMeta", "ArrayRows", "Shared", "is_arrow_table", "is_frame_like", "local_value",
           "pandas_stand_in", "refuse_masked",
           "share", "share_array", "shared_array", "whole_tables"]

#: The pyarrow classes that share, split and map take: tables of rows.
ARROW_TABLES = ("Table", "RecordBatch")


def _is_arrow(obj: Any) -> bool:
    return type(obj).__module__.startswith("pyarrow")


def is_arrow_table(obj: Any) -> bool:
    """A pyarrow Table or RecordBatch (checked without importing pyarrow)."""
    return _is_arrow(obj) and type(obj).__name__ in ARROW_TABLES


#: The pandas classes that share, split and map take (and their subclasses).
PANDAS_FRAMES = ("DataFrame", "Series")


def is_frame_like(obj: Any) -> bool:
    """A pandas DataFrame or Series (or a subclass), or a pyarrow Table (checked without
    importing either); not the other pandas objects (an Index, a Categorical, a groupby)."""
    if _is_arrow(obj):
        return type(obj).__name__ in ARROW_TABLES
    return any(cls.__module__.startswith("pandas") and cls.__name__ in PANDAS_FRAMES
               for cls in type(obj).__mro__)


def refuse_arrow_arrays(obj: Any) -> None:
    """A clear error for the pyarrow objects that are not tables (arrays, chunked arrays)."""
    if _is_arrow(obj) and type(obj).__name__ not in ARROW_TABLES:
        raise TypeError(
            f"a pyarrow {type(obj).__name__} is not a table of rows: wrap it as "
            "pa.table({'x': arr}), or pass arr.to_pandas() or arr.to_numpy()")


def whole_tables(data: Any) -> Any:
    """``data``, with a pyarrow Table's dictionary columns given one dictionary each, so that
    every chunk converts to pandas with the categories of the whole table (as
    ``table.to_pandas()`` does); a RecordBatch as a Table. Anything else as it is."""
    refuse_arrow_arrays(data)
    if not _is_arrow(data):
        return data
    from .frames import unified_dictionaries  # pyarrow, loaded for Arrow data only

    return unified_dictionaries(data)


def pandas_stand_in(data: Any, rows: str) -> Any:
    """The DataFrame that stands for a pyarrow Table or a lazy source (``par.from_parquet``)
    where pandas itself must answer, read in the caller: its ``rows`` "none" (the columns and
    dtypes: to decide), "first" (its first row group or the whole table: for pandas' error), or
    "all" (for a form only pandas computes). A DataFrame, or anything else, as it is."""
    if is_arrow_table(data):
        table = whole_tables(data)
        return (table.slice(0, 0) if rows == "none" else table).to_pandas()
    if not hasattr(data, "empty_frame"):
        return data
    specs = [] if rows == "none" else data.chunk_specs(size=1)  # a row group each
    if not specs:
        return data.empty_frame()
    if rows == "first":
        return specs[0].load()
    import pandas as pd

    return pd.concat([spec.load() for spec in specs])


def share(obj: Any) -> Shared:
    """Place ``obj`` in shared memory once; return a :class:`Shared` handle.

    ``obj`` may be an ndarray, a pandas DataFrame or Series, or a pyarrow Table (a Shared handle
    is returned as it is). One copy is made; use :func:`shared_array` to make none.
    """
    if isinstance(obj, Shared):
        return obj
    if isinstance(obj, np.ndarray):
        return share_array(obj)
    refuse_arrow_arrays(obj)
    if is_frame_like(obj):
        from .frames import share_frame  # pandas and pyarrow, loaded for frames only

        return share_frame(obj)
    if isinstance(obj, (np.generic, int, float, complex, bool)):
        raise TypeError(
            f"cannot share a scalar ({type(obj).__name__}): pass it to the map's args= instead"
        )
    hint = (": wrap it as pd.Series(...) or pass .to_numpy()"  # an Index, a pandas array
            if hasattr(obj, "dtype") and hasattr(obj, "__len__") else "")
    raise TypeError(
        f"cannot share {type(obj).__name__}: expected a numpy array, pandas DataFrame or Series, "
        f"or pyarrow Table{hint}"
    )
