"""share.frame_index: how a shared frame's row index is stored and rebuilt. Layer: share
(imports share.arrow).

A RangeIndex travels as three numbers; a flat index as one array of the segment; a MultiIndex
as one categorical array per level (its codes, the level as the categories), so its levels
live in the segment too, except a level that cannot be categories (it holds NaN, or its
categories come in another order), which stays in the metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .arrow import plain_values


@dataclass(frozen=True)
class IndexSpec:
    """How the row index is rebuilt: a range from numbers, or levels stored as arrays."""

    kind: str  # range | flat | multi
    names: tuple
    start: int = 0
    step: int = 1
    freq: Any = None
    levels: tuple | None = None  # MultiIndex, per level: None (categories of its codes),
    #   CATEGORIES (a categorical level of its own categories, in order) or the level itself


#: A MultiIndex level that is a CategoricalIndex of exactly its categories, in their order (what
#: ``from_arrays``, ``from_product`` and a groupby make of a categorical key).
CATEGORIES = "categories"


def _level_storage(level: pd.Index) -> Any:
    """How a MultiIndex level is stored (see :attr:`IndexSpec.levels`)."""
    if isinstance(level.dtype, pd.CategoricalDtype):
        whole = np.array_equal(level.codes, np.arange(len(level.categories)))
        return CATEGORIES if whole else level
    # a range (from_product) stays one, of Python ints; a level holding NaN can't be categories
    return level if isinstance(level, pd.RangeIndex) or level.hasnans else None


def _whole_categories(kept: Any) -> bool:
    return isinstance(kept, str) and kept == CATEGORIES


def encode_index(index: pd.Index) -> tuple[IndexSpec, list]:
    """(how ``index`` is rebuilt, the arrays it is stored as)."""
    names = tuple(index.names)
    if isinstance(index, pd.RangeIndex):
        return IndexSpec("range", names, index.start, index.step), []
    if isinstance(index, pd.MultiIndex):
        # Each level a categorical of its codes, so that the level lives in the segment too; a
        # categorical level of its own categories is that categorical; a level that holds NaN,
        # or whose categories come in another order, can't be categories: it stays in the
        # metadata.
        kept = tuple(_level_storage(level) for level in index.levels)
        return IndexSpec("multi", names, levels=kept if any(k is not None for k in kept)
                         else None), [
            pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(level), validate=False)
            if keep is None else
            pd.Categorical.from_codes(codes, dtype=level.dtype, validate=False)
            if _whole_categories(keep) else np.asarray(codes)
            for codes, level, keep in zip(index.codes, index.levels, kept)]
    return IndexSpec("flat", names, freq=getattr(index, "freq", None)), [plain_values(index)]


def rebuild_index(spec: IndexSpec, arrays: list, codecs: tuple, start: int,
                  stop: int) -> pd.Index:
    """The index of rows ``start:stop``, from the arrays :func:`encode_index` stored."""
    if spec.kind == "range":
        return pd.RangeIndex(spec.start + start * spec.step, spec.start + stop * spec.step,
                             spec.step, name=spec.names[0])
    if spec.kind == "multi":
        kept = spec.levels or (None,) * len(arrays)
        return pd.MultiIndex(
            levels=[a.categories if k is None else
                    pd.CategoricalIndex(pd.Categorical.from_codes(
                        np.arange(len(a.categories)), dtype=a.dtype, validate=False))
                    if _whole_categories(k) else k for a, k in zip(arrays, kept)],
            codes=[a.codes if k is None or _whole_categories(k) else a
                   for a, k in zip(arrays, kept)],
            names=spec.names, verify_integrity=False)
    dtype = codecs[0].dtype if isinstance(codecs[0].dtype, np.dtype) else None
    index = pd.Index(arrays[0], dtype=dtype, name=spec.names[0], copy=False)
    if spec.freq is not None:
        index = type(index)(index, freq=spec.freq)
    return index
