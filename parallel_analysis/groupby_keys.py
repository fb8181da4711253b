"""groupby_keys: keys given as arrays, made columns of the frame so that chunks carry them.
Layer: api (pandas).

pandas groups by labels and also by arrays: ``df.groupby(df["t"].dt.hour)``,
``df.groupby(codes)``, a list mixing both. A chunk of rows has no such array, so each array key
becomes a column of a shallow copy of the frame (copy-on-write: no column is copied) and the
result's index gets the names pandas gives it. pandas' rules, kept here:

- a Series is aligned to the frame's index (``reindex`` when the indexes differ); an array,
  Index or extension array must have one value per row;
- a Series that *is* a column of the frame (``df.groupby(df["k"])``, found by its shared
  values, as pandas finds it) is that column's label: the column is not aggregated;
- the result's level is named after the Series or Index (``None`` for a bare array);
- a function or a dict is applied to (looked up with) each label of the frame's index, as
  pandas does (``df.groupby(lambda i: i % 3)``): the level is named after the index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .split import keys_of

#: Name of the column holding the i-th array key (never a label of the caller's).
PREFIX = "__parallel_analysis_key_"


@dataclass
class ColumnKeys:
    """The frame with array keys as columns, the keys as labels, and the level names of the
    result's index (``None``: the keys were labels already, nothing to rename)."""

    frame: Any
    by: Any
    names: list | None = None

    def name_levels(self, result: Any) -> Any:
        if self.names is not None:
            result.index = result.index.set_names(self.names)
        return result


def is_array_key(key: Any) -> bool:
    return isinstance(key, (np.ndarray, pd.Series, pd.Index, pd.api.extensions.ExtensionArray))


def as_column_keys(df: Any, by: Any) -> ColumnKeys:
    """``df`` and ``by`` with every array key of ``by`` turned into a column (see above)."""
    keys = keys_of(by)
    if isinstance(df, pd.DataFrame):
        keys = [df.index.map(k) if callable(k) or isinstance(k, dict) else k for k in keys]
    if not isinstance(df, pd.DataFrame) or not any(is_array_key(k) for k in keys):
        return ColumnKeys(df, by)
    frame, labels, names = df.copy(deep=False), [], []
    for i, key in enumerate(keys):
        if not is_array_key(key):
            labels.append(key)
            names.append(key)
        elif isinstance(key, pd.Series) and _is_column_of(df, key):
            labels.append(key.name)
            names.append(key.name)
        else:
            label = f"{PREFIX}{i}"
            frame[label] = _aligned(df, key)
            labels.append(label)
            names.append(getattr(key, "name", None))
    return ColumnKeys(frame, labels if isinstance(by, list) else labels[0], names)


def _aligned(df: pd.DataFrame, key: Any) -> Any:
    if isinstance(key, pd.Series):
        return (key if key.index.equals(df.index) else key.reindex(df.index)).array
    if len(key) != len(df):
        raise ValueError(f"Grouper and axis must be same length: a key of {len(key)} values "
                         f"for {len(df)} rows")
    return key.array if isinstance(key, pd.Index) else key


def _is_column_of(df: pd.DataFrame, key: pd.Series) -> bool:
    """pandas' own test (``get_grouper``'s ``is_in_obj``): the Series shares the column's
    values."""
    try:
        column = df[key.name]
    except (KeyError, IndexError, TypeError, ValueError):
        return False
    if not isinstance(column, pd.Series):
        return False
    try:
        return bool(key._mgr.references_same_values(column._mgr, 0))
    except AttributeError:  # a pandas without reference tracking: values' memory
        return np.shares_memory(np.asarray(key.array), np.asarray(column.array))
