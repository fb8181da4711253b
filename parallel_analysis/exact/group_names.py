"""exact.group_names: the group names pandas gives ``func`` (``group.name``), in a chunk.
Layer: API (pandas at import).

A chunk's own groupby names its groups from the keys it holds, and pandas infers the type of
an object key's names from all of them: the whole frame's object keys ``['a', 1, None]`` name
a group ``1``, a chunk holding only ``[1, None]`` names it ``1.0``; ``[np.int64(1), 'b']``
keeps ``np.int64(1)``, a chunk of ``[np.int64(1)]`` alone gives ``1``. Where a key is of object
dtype the caller sends the whole frame's names, looked up by the name a chunk finds (equal
keys share a hash, ``1 == 1.0``; missing keys are matched as one), and each group is renamed
before ``func`` sees it. Other dtypes name groups the same in any chunk and send nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from ..split import keys_of

#: Stands for a missing key (None, NaN, NaT, pd.NA) in a lookup: they never equal each other.
_MISSING = ("<missing key>",)


def _is_missing(value: Any) -> bool:
    missing = pd.isna(value) if not isinstance(value, (tuple, list, np.ndarray)) else False
    return missing is True or missing is np.True_


def _lookup_key(name: Any) -> Any:
    if isinstance(name, tuple):
        return tuple(_MISSING if _is_missing(part) else part for part in name)
    return _MISSING if _is_missing(name) else name


def _object_keyed(df: pd.DataFrame, by: Any) -> bool:
    for key in keys_of(by):
        values = df[key] if key in df.columns else df.index.get_level_values(key)
        if values.dtype == object:
            return True
    return False


def whole_frame_names(grouped: Any, df: pd.DataFrame, by: Any) -> dict | None:
    """The names of ``grouped``'s groups (``df.groupby(by, ...)``) by their lookup key, when a
    key is of object dtype; None when every chunk names its groups as the whole frame does."""
    if not _object_keyed(df, by):
        return None
    return {_lookup_key(name): name for name in grouped._grouper.result_index}


def chunk_names(grouped: Any, names: dict | None) -> list | None:
    """The whole frame's names of a chunk's groups (``grouped``), in the chunk's group order."""
    if names is None:
        return None
    return [names.get(_lookup_key(name), name) for name in grouped._grouper.result_index]


class Named:
    """``func`` on each group in turn with the whole frame's name pinned, as pandas pins it."""

    __slots__ = ("func", "names")

    def __init__(self, func: Callable, names: list) -> None:
        self.func, self.names = func, iter(names)

    def __call__(self, group: Any) -> Any:
        object.__setattr__(group, "name", next(self.names))
        return self.func(group)


def named(func: Callable, grouped: Any, names: dict | None) -> Callable:
    """``func``, renaming each group of ``grouped`` first where the names need it."""
    in_chunk = chunk_names(grouped, names)
    return func if in_chunk is None else Named(func, in_chunk)
