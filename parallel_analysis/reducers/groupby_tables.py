"""reducers.groupby_tables: GroupBy's partial tables (one row per group and chunk, a column per
component), merged in the caller into one row per group, and the moments read off them. Layer:
core (imports reducers.base and reducers.groupby_plan; pandas at import).

Sums, counts, extremes, first and last merge with pandas' own aggregations over the stacked
tables; means and M2 with :func:`~.base.merge_moments` (Chan et al.) over all partials of each
group, so a merge of many chunks costs one pandas groupby and one numpy pass per moment.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from .base import Moments, merge_moments
from .groupby_plan import PREFIX, SIMPLE, comp, kind_of, moment_names, on_column


def aggregate(table: pd.DataFrame, grouped: Any, outputs: dict) -> pd.DataFrame:
    """``grouped.agg(**outputs)`` (name -> (column, function)) of ``grouped = table.groupby``,
    one method call per output: what pandas' named aggregation does, without its per-call
    overhead.

    Float partial sums and products merge with NaN kept: a chunk's NaN values were skipped in
    its partial already, so a NaN partial is ``inf - inf``, and pandas' one sum is NaN there.
    """
    columns = {}
    for name, (column, how) in outputs.items():
        keep_nan = how in ("sum", "prod") and table[column].dtype.kind == "f"
        columns[name] = on_column(grouped, column, how, **({"skipna": False} if keep_nan else {}))
    return pd.DataFrame(columns, copy=False)


#: How a chunk's rows and stacked partials are grouped: every key value a group of its own
#: (NA too), groups in first-appearance order; the user's options apply at the last step.
CHUNK_GROUPING = {"sort": False, "dropna": False, "observed": True}


def key_values(source: pd.DataFrame, key: Any) -> Any:
    """The values of ``key`` in ``source``: its column, else its index level, else None."""
    if key in source.columns:
        return source[key]
    if key in source.index.names:
        return source.index.get_level_values(key)
    return None


def typed_keys(table: pd.DataFrame, keys: list, source: pd.DataFrame,
               codes: Callable[[], np.ndarray] | None = None) -> pd.DataFrame:
    """``table`` (one row per group) with its key columns in the dtypes they have in
    ``source`` (a key that is NA on every row comes out of pandas' groupby as float64, and
    pandas' result levels follow).

    An object key with NA also gets back its values as ``source`` holds them, from each
    group's first row (``codes()``: every source row's group, numbered as ``table``'s rows):
    pandas' groupby infers its index's dtype from them, and with the NA group kept, 1, 2 and
    None become 1.0, 2.0 and NaN, where pandas' one groupby drops None first and keeps ints.
    (Without NA both infer from the same values.)
    """
    for key in keys:
        values = key_values(source, key)
        if values is None:
            continue
        if values.dtype == object and codes is not None and values.isna().any():
            rows = codes()
            first = np.full(len(table), len(rows), dtype=np.intp)
            np.minimum.at(first, rows, np.arange(len(rows), dtype=np.intp))
            table[key] = pd.Series(values.to_numpy()[first], index=table.index, dtype=object)
        elif table[key].dtype != values.dtype:
            table[key] = table[key].astype(values.dtype)
    return table


def compact(tables: list, keys: list) -> pd.DataFrame:
    """Stacked partial tables merged into one row per group (first-appearance order; NA keys
    kept as groups of their own, for the last groupby to drop or keep)."""
    table = pd.concat(tables, ignore_index=True) if len(tables) > 1 else tables[0]
    if len(tables) == 1:
        return table
    grouped = table.groupby(keys, **CHUNK_GROUPING)
    merge, moments = {}, []
    for name in table.columns:
        if not isinstance(name, str) or not name.startswith(PREFIX):
            continue
        kind = kind_of(name)
        if kind == "mean":
            moments.append(name)
        elif kind not in ("lo", "m2"):
            merge[name] = SIMPLE.get(kind, "sum")
    out = aggregate(table, grouped, {name: (name, how) for name, how in merge.items()})
    codes = functools.cache(lambda: grouped.ngroup().to_numpy())
    for mean in moments:
        out = out.assign(**_merged_moments(table, codes(), len(out), mean))
    return typed_keys(out.reset_index(), keys, table, codes)


def _merged_moments(table: pd.DataFrame, codes: np.ndarray, groups: int, mean: str) -> dict:
    """The merged mean (hi, lo) and M2 columns of the input column whose partial mean is
    column ``mean``, one value per group."""
    name = moment_names(mean)
    has_m2 = name["m2"] in table.columns
    parts = Moments(table[name["n"]].to_numpy(np.float64),
                    table[name["mean"]].to_numpy(np.float64),
                    table[name["m2"]].to_numpy(np.float64) if has_m2 else 0.0,
                    table[name["lo"]].to_numpy(np.float64))
    merged = merge_moments(parts, codes, groups)
    out = {name["mean"]: merged.mean, name["lo"]: merged.lo}
    if has_m2:
        out[name["m2"]] = merged.m2
    return out


def moment(table: pd.DataFrame, column: Any, func: str, dtype: Any, integral: bool = False
           ) -> Any:
    """The mean, var or std of ``column`` per row of a merged table, in pandas' result dtype
    (``dtype``; std of float16 is float64, as pandas gives it).

    The mean of an ``integral`` column (ints, bools) is its exact integer sum over the count,
    as pandas' is (its float sum of integers is exact below 2**53): the sum is the merged
    two-float mean times the count, rounded to the integer it is, so no chunking changes the
    last bit. Below 2**50 only, where that product's rounding stays under half a unit."""
    n = table[comp("n", column)].to_numpy(np.float64)
    if func == "mean":
        values = table[comp("mean", column)].to_numpy(np.float64) + \
            table[comp("lo", column)].to_numpy(np.float64)
        if integral:
            with np.errstate(invalid="ignore"):
                sums = np.rint(values * n)
                exact = (n > 0) & (np.abs(sums) < 2.0**50)
                values = np.where(exact, sums / np.where(exact, n, 1.0), values)
    else:
        m2 = table[comp("m2", column)].to_numpy(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            values = np.where(n > 1, m2 / (n - 1), np.nan)
        if func == "std":
            values = np.sqrt(values)
            dtype = np.dtype(np.float64) if dtype == np.float16 else dtype
    return pd.array(values, dtype=dtype) if not isinstance(dtype, np.dtype) else \
        values.astype(dtype)
