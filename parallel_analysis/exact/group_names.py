"""exact.group_names: the group names pandas gives ``func`` (``group.name``), in a chunk.
Layer: API (pandas at import).

A chunk's own groupby names its groups from the keys it holds, and pandas infers the type of
an object key's names from all of them: the whole frame's object keys ``['a', 1, None]`` name
a group ``1``, a chunk holding only ``[1, None]`` names it ``1.0``; ``[np.int64(1), 'b']``
keeps ``np.int64(1)``, a chunk of ``[np.int64(1)]`` alone gives ``1``. pandas' name for a group
is the key at the group's first row (its factorize keeps first occurrences) in the whole
frame's result dtype; a chunk holds whole groups in pandas' order, so its first row of a group
is the frame's. Where a key is of object dtype, a chunk names each of its groups so: the key
at the group's first row (``_grouper.ids``), as the whole frame's level dtype holds it. No
lookup by value, which Python's equality would merge (``np.datetime64`` and ``datetime``);
other dtypes name groups the same in any chunk and are left alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from ..reducers.extremes import is_missing
from ..split import keys_of


class NameRule(NamedTuple):
    """What a chunk needs to name its groups as the whole frame does: the keys; per key the
    whole frame's level dtype when the key is of object dtype (else None: left alone); with
    several keys, each object key's level by value (pandas factorizes each key over the whole
    column, so a level holds a value's first occurrence, maybe in another group)."""

    keys: list
    level_dtypes: list
    levels: list | None = None


def _values_of(frame: pd.DataFrame, key: Any) -> Any:
    return frame[key] if key in frame.columns else frame.index.get_level_values(key)


def whole_frame_names(grouped: Any, df: pd.DataFrame, by: Any) -> NameRule | None:
    """How chunks name the groups of ``grouped`` (``df.groupby(by, ...)``), or None when no
    key is of object dtype (every chunk names its groups as the whole frame does)."""
    keys = keys_of(by)
    objects = [_inferred_apart(_values_of(df, k), grouped.dropna) for k in keys]
    if not any(objects):
        return None
    index = grouped._grouper.result_index
    if not isinstance(index, pd.MultiIndex):
        return NameRule(keys, [index.dtype])
    levels = [_by_value(level) if o else None for level, o in zip(index.levels, objects)]
    return NameRule(keys, [lv.dtype if o else None for lv, o in zip(index.levels, objects)],
                    levels)


#: Object keys all of one of these kinds name their groups alike in any chunk: a chunk's
#: inference from its own keys gives the whole frame's dtype.
ONE_KIND = frozenset(["string", "bytes", "integer", "floating", "boolean"])


def _inferred_apart(values: Any, dropna: bool) -> bool:
    """Whether a chunk could infer another type for these keys' names than the whole frame:
    an object key of mixed kinds, or with a missing value kept as a group (NaN makes the
    frame's ints floats)."""
    if values.dtype != np.dtype(object):
        return False
    if pd.api.types.infer_dtype(values, skipna=True) not in ONE_KIND:
        return True
    return not dropna and bool(pd.isna(values).any())


def _by_value(level: pd.Index) -> dict:
    """A level's elements by value (Python's hash and equality, as pandas' object hashtable
    keys them); missing values are not keys."""
    out: dict = {}
    for value in level:
        try:
            out.setdefault(value, value)
        except TypeError:  # unhashable: looked up by position instead
            pass
    return out


def chunk_names(grouped: Any, rule: NameRule | None) -> list | None:
    """The whole frame's names of a chunk's groups (``grouped``), in the chunk's group order."""
    if rule is None:
        return None
    grouper = grouped._grouper
    own = list(grouper.result_index)
    ids = np.asarray(grouper.ids)
    rows = np.flatnonzero(ids >= 0)
    found, at = np.unique(ids[rows], return_index=True)
    first = np.full(len(own), -1)
    first[found] = rows[at]
    frame = grouped.obj
    parts = []
    for i, (key, dtype) in enumerate(zip(rule.keys, rule.level_dtypes)):
        if dtype is None:  # not an object key: the chunk's own name is the frame's
            parts.append([name[i] if len(rule.keys) > 1 else name for name in own])
            continue
        raw = np.asarray(_values_of(frame, key), dtype=object)
        picked = [raw[r] if r >= 0 else np.nan for r in first]
        picked = [np.nan if is_missing(v) else v for v in picked]
        if rule.levels is not None:  # several keys: the level's own element of that value
            by_value = rule.levels[i]
            picked = [_lookup(by_value, v) for v in picked]
        elif dtype != np.dtype(object):
            picked = list(pd.Index(picked, dtype=object).astype(dtype))
        parts.append(picked)
    names = list(zip(*parts)) if len(rule.keys) > 1 else parts[0]
    return [name if r >= 0 else mine for name, r, mine in zip(names, first, own)]


def _lookup(by_value: dict, value: Any) -> Any:
    try:
        return by_value.get(value, value)
    except TypeError:
        return value


class Named:
    """``func`` on each group in turn with the whole frame's name pinned, as pandas pins it."""

    __slots__ = ("func", "names")

    def __init__(self, func: Callable, names: list) -> None:
        self.func, self.names = func, iter(names)

    def __call__(self, group: Any) -> Any:
        object.__setattr__(group, "name", next(self.names))
        return self.func(group)


def named(func: Callable, grouped: Any, rule: NameRule | None) -> Callable:
    """``func``, renaming each group of ``grouped`` first where the names need it."""
    in_chunk = chunk_names(grouped, rule)
    return func if in_chunk is None else Named(func, in_chunk)
