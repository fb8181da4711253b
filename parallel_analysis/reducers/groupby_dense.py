"""reducers.groupby_dense: partials of integer keys in small ranges, kept as arrays indexed by
the keys themselves. Layer: core (imports reducers.base, groupby_kernels and groupby_plan).

When :func:`~.groupby_kernels.direct_codes` numbers a chunk's groups by their keys (each key
minus its minimum, mixed radix for several), the chunk's partial needs no table: one array per
component (size, count, n, mean, lo, M2), one slot per possible key. Such partials merge by
laying them over the union of their key ranges and adding (sizes, counts) or Chan-merging
(moments) slot by slot: numpy on arrays as long as the key range, with no pandas groupby, no
concatenation and no Python per group. The caller collects up to :data:`BATCH` of them and
merges them in one stacked call, so the caller's merge, the part of a groupby that does not run
in parallel, costs a few numpy calls per batch instead of a pandas groupby over every partial
row. Only the last step builds a table, of the groups that have rows, in key order: already
what the pandas groupby would give, so the result is read off it (:func:`one_row_groups`);
mixed with tables of other partials it goes through the pandas groupby that gives the result
its index and dtypes (:meth:`GroupBy.finalize`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pandas as pd

from .base import Moments, merge_moments
from .groupby_kernels import direct_slots
from .groupby_plan import kind_of, moment_names

#: Partials the caller collects before merging them into one (bounds the state's memory).
BATCH = 8


class Dense(NamedTuple):
    """One partial (or several merged) over the key ranges ``lows[i] .. lows[i] + spans[i]``."""

    lows: tuple
    spans: tuple
    parts: dict  # component name -> array of prod(spans) slots (slot = mixed-radix key code)
    key_dtypes: tuple
    rows: int  # the rows behind it


def _size_name(parts: dict) -> str:
    return next(name for name in parts if kind_of(name) == "size")


def merge(partials: list) -> Dense | None:
    """The partials as one over the union of their ranges (one stacked merge: a handful of
    numpy calls however many there are); None when the union is too wide to hold as arrays
    (the caller keeps them as tables)."""
    if len(partials) == 1:
        return partials[0]
    lows = tuple(map(min, zip(*(d.lows for d in partials))))
    highs = tuple(map(max, zip(*([lo + span for lo, span in zip(d.lows, d.spans)]
                                 for d in partials))))
    spans = tuple(h - lo for h, lo in zip(highs, lows))
    rows = sum(d.rows for d in partials)
    if math.prod(spans) > direct_slots(rows):  # the bound of one chunk's range, for them all
        return None
    wide = [_widen(d, lows, spans) for d in partials]
    first = partials[0].parts
    parts = {name: np.sum([w[name] for w in wide], axis=0) for name in first
             if kind_of(name) in ("size", "count")}
    for mean in (name for name in first if kind_of(name) == "mean"):
        names = moment_names(mean)
        stacked = {kind: np.stack([w[name] for w in wide]) for kind, name in names.items()
                   if name in first}
        merged = merge_moments(Moments(stacked["n"], stacked["mean"], stacked.get("m2", 0.0),
                                       stacked["lo"]))
        parts[names["n"]] = merged.n.astype(np.int64)
        parts[names["mean"]], parts[names["lo"]] = merged.mean, merged.lo
        if "m2" in stacked:
            parts[names["m2"]] = merged.m2
    return Dense(lows, spans, parts, partials[0].key_dtypes, rows)


def _widen(d: Dense, lows: tuple, spans: tuple) -> dict:
    """``d``'s arrays laid over the wider ranges (empty slots: no rows, NaN means)."""
    if d.lows == lows and d.spans == spans:
        return d.parts
    where = tuple(slice(lo - new, lo - new + span) for lo, new, span in zip(d.lows, lows,
                                                                            d.spans))
    out = {}
    for name, values in d.parts.items():
        empty = np.nan if kind_of(name) == "mean" else 0
        wide = np.full(spans, empty, dtype=values.dtype)
        wide[where] = values.reshape(d.spans)
        out[name] = wide.reshape(-1)
    return out


def to_table(d: Dense, keys: list) -> pd.DataFrame:
    """The partial as a table of its groups with rows: key columns (in their dtypes), then one
    column per component, in key order."""
    present = d.parts[_size_name(d.parts)] > 0
    digits = np.unravel_index(np.flatnonzero(present), d.spans)
    table = {key: digit.astype(dtype) + dtype.type(low)
             for key, digit, low, dtype in zip(keys, digits, d.lows, d.key_dtypes)}
    for name, values in d.parts.items():
        table[name] = values[present]
    return pd.DataFrame(table, copy=False)


def one_row_groups(table: pd.DataFrame, keys: list, outputs: dict) -> pd.DataFrame:
    """What ``table.groupby(keys).agg(**outputs)`` gives for :func:`to_table`'s table of a
    merged state (one row per group, in key order; numpy integer keys, so no NA to drop):
    every output's column as it is, under the keys' index, with no pandas groupby (a hash of
    every group, run in the caller after the workers are done)."""
    if len(keys) == 1:
        index = pd.Index(table[keys[0]].to_numpy(), name=keys[0], copy=False)
    else:
        index = pd.MultiIndex.from_arrays([table[k].to_numpy() for k in keys], names=keys)
    return pd.DataFrame({name: table[column].to_numpy() for name, (column, _) in
                         outputs.items()}, index=index, copy=False)
