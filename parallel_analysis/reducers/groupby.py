"""reducers.groupby: ``df.groupby(by).agg(agg)`` as a mergeable reducer. Layer: core (imports
reducers.base; pandas at import, so ``reducers/__init__`` loads it on first use).

Each chunk is reduced to one small row per group it holds (its *partial*), never to its raw rows:

=================  ==========================  =============================================
agg                per-group state             merge
=================  ==========================  =============================================
sum, count, size   the chunk's sum/count/size  sum
min, max           the chunk's min/max         min/max (NaN skipped, as pandas)
first, last        the chunk's first/last      first/last in chunk order
mean               count n, mean m (two        weighted mean
                   floats: hi + lo)
var, std           n, m, M2 (sum of squared    Chan et al.'s parallel update:
                   deviations, two-pass)       M2 = ΣM2ᵢ + Σnᵢ(mᵢ - m)²
nunique            distinct (key, value) pairs  union (exact, so it grows with the pairs)
anything else      the chunk's rows (key, col)  pandas on the rows, at the end
=================  ==========================  =============================================

Partials are stacked as chunks finish and merged (one pandas groupby over the stack,
:mod:`.groupby_tables`) only when the stack grows past :data:`COMPACT_ROWS`, and once at the
end. The last step runs pandas' own ``groupby(by, sort, dropna, observed).agg`` over the merged
partials, so the index, its dtype, the sort order, ``dropna`` and ``observed`` (the cartesian
product of categories, with pandas' fill values) and the result dtypes are pandas' by
construction rather than re-implemented.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from ..split import keys_of
from . import groupby_kernels as kernels
from .base import Reducer
from .groupby_dense import BATCH as DENSE_BATCH
from .groupby_dense import Dense, one_row_groups, to_table
from .groupby_dense import merge as merge_dense
from .groupby_plan import (
    MOMENTS,
    PREFIX,
    SIMPLE,
    comp,
    moment_dtype,
    on_column,
    plan_outputs,
    result_columns,
)
from .groupby_tables import CHUNK_GROUPING, aggregate, compact, moment, typed_keys

#: Partials are stacked as they arrive and merged into one row per group only when the stack
#: holds more rows than this (and at the end): merging costs a pandas groupby, so doing it for
#: every pair of chunks would cost more than the chunks themselves, while this bound keeps the
#: state a few megabytes.
COMPACT_ROWS = 2**18

class GroupState(NamedTuple):
    """Stacked partials: rows of (keys, components); pairs / rows per column for the rest."""

    tables: list  # DataFrames of keys + one column per component, in chunk order
    pairs: dict  # column -> list of distinct (keys, value) frames, for nunique
    rows: dict  # column -> list of raw (keys, value) frames, for aggregations that do not merge
    dtypes: dict  # column -> its dtype, for the numeric columns of moments, sums, products
    columns: pd.Index  # the input's columns, for agg given as a string or list (their labels)
    dense: tuple = ()  # Dense partials (integer keys in small ranges, as arrays), unmerged


def _rows_in(frames: list) -> int:
    return sum(len(f) for f in frames)


def _dtypes_needed(plan: Any, chunk: pd.DataFrame, agg: Any) -> list:
    """The columns whose dtype the last step needs: numeric columns of moments (their result
    dtype) and of sums and products (an integer total's narrowing, :func:`narrowed`); object
    columns of a plain string ``agg`` of min or max (pandas' frame path keeps them object,
    where its per-column path, for lists and dicts, gives ``str``)."""
    wanted = set(plan.moments) | {o.column for o in plan.outputs if o.func in ("sum", "prod")}
    numeric = [c for c in wanted if moment_dtype(chunk[c].dtype) is not None]
    if agg in ("min", "max"):
        numeric += [c for c in chunk.columns if chunk[c].dtype == object]
    return numeric


def _moment_dtypes(plan: Any, dtypes: dict) -> dict:
    """Column -> the dtype of its mean/var/std result, for the numeric columns of moments."""
    out = {c: moment_dtype(dtypes.get(c)) for c in plan.moments}
    return {c: d for c, d in out.items() if d is not None}


def narrowed(values: pd.Series, dtype: Any) -> pd.Series:
    """An integer sum or product in its column's own ``dtype`` when every group's value fits
    it, as pandas gives it (its totals are int64 and narrowed back; ours were merged from
    partials, some of which may not have fit)."""
    if dtype.kind not in "iu" or values.dtype == dtype or values.dtype.kind not in "iu":
        return values
    info = np.iinfo(dtype.numpy_dtype if hasattr(dtype, "numpy_dtype") else dtype)
    present = values.dropna()
    if len(present) and (present.min() < info.min or present.max() > info.max):
        return values
    return values.astype(dtype)


def _column(values: Any, index: pd.Index) -> Any:
    """A partial's column for the table: its array (an object one as an object Series, which
    pandas 3 would otherwise read as ``str``)."""
    if not isinstance(values, pd.Series):
        return values
    if values.dtype == object:
        return pd.Series(values.to_numpy(), index=index, dtype=object, copy=False)
    return values.array


class GroupBy(Reducer):
    """``df.groupby(by, sort=, dropna=, observed=).agg(agg)`` as a mergeable reducer.

    ``by`` is a column label (or index level name) or a list of them; ``agg`` a string, a list
    of strings or a dict ``column -> string or list``, as pandas accepts them. The state per
    chunk is one row per group (see the module docstring), so memory follows the number of
    groups, not of rows; ``nunique`` is exact and keeps the distinct pairs, and aggregations
    other than those listed keep the rows of their column.
    """

    arrow_as_pandas = True

    #: Whole chunks hold the GIL through about 5% of a partial's CPU time on pandas' kernels
    #: (15-20% on the numpy fallback): threads, which move no data, beat processes either way.
    releases_gil = True

    def __init__(self, by: Any, agg: Any, *, sort: bool = True, dropna: bool = True,
                 observed: bool = True):
        self.by = by
        self.agg = agg
        self.sort = sort
        self.dropna = dropna
        self.observed = observed
        self._keys = keys_of(by)

    # -- in the worker ----------------------------------------------------------------------
    def partial(self, chunk: pd.DataFrame) -> GroupState:
        if not isinstance(chunk, pd.DataFrame):
            raise TypeError(f"GroupBy needs DataFrame chunks, got {type(chunk).__name__}")
        keys, plan = self._keys, plan_outputs(self.agg, self._keys, chunk.columns)
        dtypes = {c: chunk[c].dtype for c in _dtypes_needed(plan, chunk, self.agg)}
        moments = _moment_dtypes(plan, dtypes)
        coded = kernels.direct_codes(chunk, keys, plan, self.sort) or \
            kernels.factorized_codes(chunk, keys, plan)
        if coded is None:
            # Rows with an NA key stay, as groups of their own, for the last groupby to drop:
            # pandas takes key values from every row, also those it drops (the product of
            # categories with observed=False, sort=False's order, the levels of the index).
            g = chunk.groupby(keys, **CHUNK_GROUPING)
            size = g.size()
            labels = kernels.group_codes(g, len(size)) if moments else None
        else:
            g, labels = None, coded.labels
        parts, pairs, rows = self._parts(chunk, plan, g, labels, moments)
        if coded is not None:  # kernels' outputs only (no pairs, no rows), rows counted on the way
            parts = {k: v.astype(np.int64, copy=False) if k == comp("size") or
                     k.startswith(PREFIX + "count") else v
                     for k, v in {comp("size"): labels.size(), **parts}.items()}
            if isinstance(coded, kernels.Factorized):
                table = pd.DataFrame({**dict(zip(keys, coded.uniques)), **parts}, copy=False)
                # factorize's uniques are the chunk's own first values: no codes needed
                return GroupState([typed_keys(table, keys, chunk)], {}, {}, dtypes,
                                  chunk.columns)
            dense = Dense(tuple(coded.lows), tuple(coded.spans), parts,
                          tuple(chunk[k].dtype for k in keys), len(chunk))
            return GroupState([], {}, {}, dtypes, chunk.columns, (dense,))
        index, parts = size.index, {comp("size"): size, **parts}
        table = pd.DataFrame({k: _column(v, index) for k, v in parts.items()}, index=index,
                             copy=False)
        pairs = {c: [p] for c, p in pairs.items()}
        rows = {c: [r] for c, r in rows.items()}
        codes = (lambda: labels.codes) if labels is not None else \
            functools.cache(lambda: kernels.group_codes(g, len(size)).codes)
        return GroupState([typed_keys(table.reset_index(), keys, chunk, codes)], pairs, rows,
                          dtypes, chunk.columns)

    def _parts(self, chunk: pd.DataFrame, plan: Any, g: Any, labels: Any, moments: dict
               ) -> tuple[dict, dict, dict]:
        """The partial's components (one value per group) but the size, and the distinct
        pairs (nunique) and rows (other aggregations) per column; ``moments``: the numeric
        columns of means and variances (see :func:`_moment_dtypes`)."""
        parts, pairs, rows = {}, {}, {}
        for out in plan.outputs:
            column, func = out.column, out.func
            if func == "size" and plan.series:
                continue
            if func in SIMPLE and g is None:  # size or count of a numpy column
                parts[comp(func, column)] = labels.size() if func == "size" else \
                    kernels.column_count(labels, chunk[column])
            elif func == "sum" and chunk[column].dtype == object:
                # None, not 0, for no value: 0 + "ab" would raise
                parts[comp(func, column)] = on_column(g, column, "sum", min_count=1)
            elif func in SIMPLE:
                parts[comp(func, column)] = on_column(g, column, func)
            elif func in MOMENTS and column in moments:
                if comp("n", column) in parts:
                    continue
                n, mean, m2 = kernels.column_moments(labels, chunk[column],
                                                     plan.moments[column] == "var")
                parts[comp("n", column)] = n.astype(np.int64)
                parts[comp("mean", column)], parts[comp("lo", column)] = mean
                if m2 is not None:
                    parts[comp("m2", column)] = m2
            elif func == "nunique":
                pairs[column] = self._rows(chunk, column).drop_duplicates()
            else:
                rows[column] = self._rows(chunk, column)
        return parts, pairs, rows

    def _rows(self, chunk: pd.DataFrame, column: Any) -> pd.DataFrame:
        """The keys and ``column`` of every row (NA keys too, see :meth:`partial`), under the
        chunk's index labels (``idxmax`` answers with them), unnamed (a name could clash with
        a key's)."""
        if all(k in chunk.columns for k in self._keys):
            rows = chunk[self._keys + [column]]
        else:
            rows = chunk.reset_index()[self._keys + [column]]
        return rows.set_axis(chunk.index.set_names([None] * chunk.index.nlevels))

    # -- in the caller ----------------------------------------------------------------------
    def combine(self, a: GroupState, b: GroupState) -> GroupState:
        tables, dense = a.tables + b.tables, a.dense + b.dense
        if len(dense) >= DENSE_BATCH:
            tables, dense = self._merged_dense(tables, dense)
        if _rows_in(tables) > COMPACT_ROWS:
            tables = [compact(tables, self._keys)]
        pairs = {}
        for c in a.pairs:
            pairs[c] = a.pairs[c] + b.pairs[c]
            if _rows_in(pairs[c]) > COMPACT_ROWS:
                pairs[c] = [pd.concat(pairs[c], ignore_index=True).drop_duplicates()]
        rows = {c: a.rows[c] + b.rows[c] for c in a.rows}
        return GroupState(tables, pairs, rows, a.dtypes or b.dtypes, a.columns, dense)

    def _merged_dense(self, tables: list, dense: tuple) -> tuple[list, tuple]:
        """(tables, dense) with the dense partials merged into one, or, when their key ranges
        lie too far apart for arrays, turned into tables."""
        if not dense:
            return tables, ()
        merged = merge_dense(dense)
        if merged is None:
            return tables + [to_table(d, self._keys) for d in dense], ()
        return tables, (merged,)

    def _group(self, frame: pd.DataFrame):
        """The user's groupby (sort, dropna, observed) of a merged table or of stacked rows."""
        return frame.groupby(self._keys, sort=self.sort, dropna=self.dropna,
                             observed=self.observed)

    def finalize(self, state: GroupState) -> Any:
        plan = plan_outputs(self.agg, self._keys, state.columns)
        moments = _moment_dtypes(plan, state.dtypes)
        tables, dense = self._merged_dense(state.tables, state.dense)
        table = compact(tables + [to_table(d, self._keys) for d in dense], self._keys)
        main, labels, extra = {}, [], {}
        for i, out in enumerate(plan.outputs):
            name = f"{PREFIX}out{i}"
            labels.append(name)
            column, func = out.column, out.func
            if func == "size" and plan.series:
                main[name] = (comp("size"), "sum")
            elif func in SIMPLE:
                main[name] = (comp(func, column), SIMPLE[func])
            elif func in MOMENTS and column in moments:
                whole = getattr(state.dtypes[column], "kind", "f") in "iub"
                table = table.assign(**{name: moment(table, column, func, moments[column], whole)})
                main[name] = (name, "first")
            elif func == "nunique":
                pairs = pd.concat(state.pairs[column], ignore_index=True)
                extra[name] = on_column(self._group(pairs), column, "nunique")
            else:
                rows = pd.concat(state.rows[column])
                extra[name] = on_column(self._group(rows), column, "agg", func)
        if not main:
            main[f"{PREFIX}size"] = (comp("size"), "sum")
        if dense and not tables:  # a single row per group already, in key order
            result = one_row_groups(table, self._keys, main)
        else:
            result = aggregate(table, self._group(table), main)
        for name, series in extra.items():
            if not series.index.equals(result.index):
                series = series.reindex(result.index)
            result[name] = series.to_numpy() if series.dtype == object else series.array
        result = result[labels]
        for name, out in zip(labels, plan.outputs):
            dtype = state.dtypes.get(out.column)
            if out.func in ("sum", "prod") and dtype is not None:
                result[name] = narrowed(result[name], dtype)
            elif dtype == np.dtype(object) and result[name].dtype != dtype:  # _dtypes_needed
                result[name] = result[name].astype(object)
        if plan.series:
            return result.iloc[:, 0].rename(None)
        result.columns = result_columns([o.label for o in plan.outputs], plan.flat,
                                        state.columns, isinstance(self.agg, dict))
        return result
