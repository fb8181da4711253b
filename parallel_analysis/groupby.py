"""Grouped reductions: ``df.groupby(by).agg(agg)`` as a mergeable reducer, and friends.

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

Partials are stacked as chunks finish and merged (one pandas groupby over the stack) only when
the stack grows past :data:`COMPACT_ROWS`, and once at the end. The last step runs pandas' own
``groupby(by, sort, dropna, observed).agg`` over the merged partials, so the index, its dtype,
the sort order, ``dropna`` and ``observed`` (the cartesian product of categories, with pandas'
fill values) and the result dtypes are pandas' by construction rather than re-implemented.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from .reducers import Quantile, Reducer

#: Aggregations merged from small per-group partials; the key is the merge function.
_SIMPLE = {"sum": "sum", "count": "sum", "size": "sum", "min": "min", "max": "max",
           "first": "first", "last": "last", "prod": "prod"}
_MOMENTS = ("mean", "var", "std")
_PREFIX = "\x00"  # partial columns are named so that they cannot collide with a user's key


def _keys(by: Any) -> list:
    return list(by) if isinstance(by, (list, tuple)) else [by]


@dataclass(frozen=True)
class Output:
    """One column of the result: its label, the input column, the aggregation."""

    label: Any
    column: Any
    func: Any


@dataclass
class AggPlan:
    outputs: list
    flat: bool  # column labels are the input columns (else (column, func) tuples)
    series: bool  # agg="size" returns a Series
    moments: dict = field(default_factory=dict)  # column -> "mean" or "var"


def _plan(agg: Any, keys: list, columns: pd.Index) -> AggPlan:
    """Which output columns ``df.groupby(keys).agg(agg)`` has, in pandas' order."""
    values = [c for c in columns if c not in keys]
    if isinstance(agg, str) or callable(agg):
        name = agg if isinstance(agg, str) else None
        plan = AggPlan([Output(c, c, agg) for c in values], True, name == "size")
    elif isinstance(agg, (list, tuple)):
        plan = AggPlan([Output((c, _fname(f)), c, f) for c in values for f in agg], False, False)
    elif isinstance(agg, dict):
        flat = not any(isinstance(f, (list, tuple)) for f in agg.values())
        outs = []
        for c, funcs in agg.items():
            if c not in columns:
                raise KeyError(f"Column(s) [{c!r}] do not exist")
            for f in ([funcs] if flat or not isinstance(funcs, (list, tuple)) else funcs):
                outs.append(Output(c if flat else (c, _fname(f)), c, f))
        plan = AggPlan(outs, flat, False)
    else:
        raise TypeError(f"agg must be a string, a list of strings or a dict, got {agg!r}")
    for out in plan.outputs:
        if out.func in _MOMENTS:
            plan.moments[out.column] = "var" if out.func != "mean" or \
                plan.moments.get(out.column) == "var" else "mean"
    return plan


def _fname(func: Any) -> str:
    return func if isinstance(func, str) else getattr(func, "__name__", repr(func))


#: Partials are stacked as they arrive and merged into one row per group only when the stack
#: holds more rows than this (and at the end): merging costs a pandas groupby, so doing it for
#: every pair of chunks would cost more than the chunks themselves, while this bound keeps the
#: state a few megabytes.
COMPACT_ROWS = 2**18

#: An integer key whose values span fewer than this (or 4x the chunk's rows) is its own group
#: number; a wider one goes through pandas' hash table.
DIRECT_SPAN = 2**16


class GroupState(NamedTuple):
    """Stacked partials: rows of (keys, components); pairs / rows per column for the rest."""

    tables: list  # DataFrames of keys + one column per component, in chunk order
    pairs: dict  # column -> list of distinct (keys, value) frames, for nunique
    rows: dict  # column -> list of raw (keys, value) frames, for aggregations that do not merge
    moment_dtypes: dict  # column -> dtype of its mean/var/std result
    columns: list  # the input's columns, for agg given as a string or list


def _rows_in(frames: list) -> int:
    return sum(len(f) for f in frames)


def _two_sum(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(s, e) with s = fl(a + b) and s + e == a + b exactly (Knuth's TwoSum)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _comp(kind: str, column: Any = None) -> str:
    return f"{_PREFIX}{kind}{_PREFIX}{column!r}"


def _moment_dtype(dtype: Any) -> Any:
    """The dtype of pandas' groupby mean/var/std of a column, or None if not numeric here."""
    if isinstance(dtype, np.dtype):
        if dtype.kind == "f":
            return dtype
        return np.dtype(np.float64) if dtype.kind in "iub" else None
    if isinstance(dtype, pd.core.dtypes.dtypes.BaseMaskedDtype):
        return pd.Float64Dtype()
    return None


def _floats(series: pd.Series) -> np.ndarray:
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def _codes(g: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """Each row's group number (as ``g`` orders its groups), and which rows have a group
    (None: all of them)."""
    codes = g.ngroup().to_numpy()
    if codes.dtype.kind == "f":  # rows whose key is NA, dropped (dropna=True)
        keep = ~np.isnan(codes)
        return np.where(keep, codes, 0).astype(np.intp), keep
    return codes.astype(np.intp, copy=False), None


def _numbers(values: pd.Series) -> np.ndarray:
    """float64 values with NaN for NA: a view when the column already is float64."""
    if values.dtype == np.float64 and isinstance(values.dtype, np.dtype):
        return values.to_numpy()
    return _floats(values)


def _moments(codes: np.ndarray, keep: np.ndarray | None, groups: int, values: pd.Series,
             var: bool, size: np.ndarray | None = None) -> tuple:
    """(n, (mean hi, mean lo), M2 or None) per group of one numeric column; NA skipped.

    The corrected two-pass algorithm: means from plain sums, then a pass over the deviations
    from them whose sum corrects the mean and whose squares give M2 (minus the correction's
    share). Deviations are small numbers even on data with a large offset (1e9 + noise), so
    no digit is lost, and no sum of squares is ever subtracted from another. The correction
    pass is skipped for values near zero compared with their range, whose plain sums are
    already exact enough.
    """
    x = _numbers(values)
    valid = ~np.isnan(x)
    if keep is not None:
        valid &= keep
    c = codes
    if not valid.all():
        c, x, size = codes[valid], x[valid], None
    n = np.bincount(c, minlength=groups) if size is None else size
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(c, weights=x, minlength=groups) / n
        if not var:
            return n, (mean, np.zeros_like(mean)), None
        dev = np.take(mean, c)  # one buffer, reused: fresh pages cost as much as the maths
        np.subtract(x, dev, out=dev)
        correction = np.zeros(groups)
        if x.size and _far_from_zero(x):
            correction = np.bincount(c, weights=dev, minlength=groups) / n
        np.multiply(dev, dev, out=dev)
        m2 = np.bincount(c, weights=dev, minlength=groups) - n * correction**2
    has = n > 0
    return n, _two_sum(mean, np.where(has, correction, 0.0)), np.where(has, m2, 0.0)


#: Values further from zero than this many times their range lose digits in plain sums, so
#: their means get the corrected two-pass treatment; closer ones skip that pass.
OFFSET_RATIO = 1e3


def _far_from_zero(x: np.ndarray) -> bool:
    low, high = float(x.min()), float(x.max())
    return max(abs(low), abs(high)) > OFFSET_RATIO * (high - low)


class GroupBy(Reducer):
    """``df.groupby(by, sort=, dropna=, observed=).agg(agg)`` as a mergeable reducer.

    ``by`` is a column label (or index level name) or a list of them; ``agg`` a string, a list
    of strings or a dict ``column -> string or list``, as pandas accepts them. The state per
    chunk is one row per group (see the module docstring), so memory follows the number of
    groups, not of rows; ``nunique`` is exact and keeps the distinct pairs, and aggregations
    other than those listed keep the rows of their column.
    """

    def __init__(self, by: Any, agg: Any, *, sort: bool = True, dropna: bool = True,
                 observed: bool = True):
        self.by = by
        self.agg = agg
        self.sort = sort
        self.dropna = dropna
        self.observed = observed
        self._keys = _keys(by)

    # -- in the worker ----------------------------------------------------------------------
    def partial(self, chunk: pd.DataFrame) -> GroupState:
        if not isinstance(chunk, pd.DataFrame):
            raise TypeError(f"GroupBy needs DataFrame chunks, got {type(chunk).__name__}")
        keys, plan = self._keys, _plan(self.agg, self._keys, chunk.columns)
        dtypes = {}
        for column in plan.moments:
            dtype = _moment_dtype(chunk[column].dtype)
            if dtype is not None:
                dtypes[column] = dtype
        direct = self._direct(chunk, plan)
        if direct is None:
            g = chunk.groupby(keys, sort=False, dropna=self.dropna, observed=True)
            size = g.size()
            index, groups, present = size.index, len(size), None
            codes, keep = _codes(g) if dtypes else (None, None)
        else:
            g, keep = None, None
            codes, index, size = direct
            present = size > 0
            groups = len(size)
        parts = {_comp("size"): size}
        pairs, rows = {}, {}
        for out in plan.outputs:
            column, func = out.column, out.func
            if func == "size" and plan.series:
                continue
            if func in _SIMPLE and g is None:  # size or count of a numpy column
                values = chunk[column].to_numpy()
                parts[_comp(func, column)] = size if func == "size" or values.dtype.kind != "f" \
                    else np.bincount(codes[~np.isnan(values)], minlength=groups)
            elif func in _SIMPLE:
                parts[_comp(func, column)] = getattr(g[column], func)()
            elif func in _MOMENTS and column in dtypes:
                if _comp("n", column) in parts:
                    continue
                n, mean, m2 = _moments(codes, keep, groups, chunk[column],
                                       plan.moments[column] == "var",
                                       size if g is None else None)
                parts[_comp("n", column)] = n.astype(np.int64)
                parts[_comp("mean", column)], parts[_comp("lo", column)] = mean
                if m2 is not None:
                    parts[_comp("m2", column)] = m2
            elif func == "nunique":
                pairs[column] = self._rows(chunk, column).drop_duplicates()
            else:
                rows[column] = self._rows(chunk, column)
        if present is not None:
            parts = {k: np.asarray(v)[present].astype(np.int64) if k == _comp("size") or
                     k.startswith(_PREFIX + "count") else np.asarray(v)[present]
                     for k, v in parts.items()}
        table = pd.DataFrame({k: (v.array if isinstance(v, pd.Series) else v)
                              for k, v in parts.items()}, index=index, copy=False)
        pairs = {c: [p] for c, p in pairs.items()}
        rows = {c: [r] for c, r in rows.items()}
        return GroupState([table.reset_index()], pairs, rows, dtypes, list(chunk.columns))

    def _direct(self, chunk: pd.DataFrame, plan: AggPlan) -> tuple | None:
        """(codes, key index, rows per code) for an integer key in a small range.

        Then the key itself, minus its minimum, is the group number: no hash table, which is
        most of what a pandas groupby costs. Used when every output is a size, count or moment
        of a numpy column and groups come out sorted (``sort=True``), so the order of groups
        within a partial does not matter.
        """
        if not self.sort or len(self._keys) != 1 or self._keys[0] not in chunk.columns:
            return None
        for out in plan.outputs:
            if out.func not in ("size", "count", *_MOMENTS):
                return None
            dtype = chunk[out.column].dtype
            if not isinstance(dtype, np.dtype) or dtype.kind not in "fiub":
                return None
        key = chunk[self._keys[0]]
        if not isinstance(key.dtype, np.dtype) or key.dtype.kind not in "iu" or not len(key):
            return None
        values = key.to_numpy()
        low, high = int(values.min()), int(values.max())
        if high - low >= max(4 * len(values), DIRECT_SPAN):
            return None
        codes = (values - values.dtype.type(low)).astype(np.intp, copy=False)
        size = np.bincount(codes, minlength=high - low + 1)
        index = pd.Index((np.flatnonzero(size) + low).astype(key.dtype), name=key.name)
        return codes, index, size

    def _rows(self, chunk: pd.DataFrame, column: Any) -> pd.DataFrame:
        cols = [k for k in self._keys if k in chunk.columns]
        rows = chunk.reset_index()[self._keys + [column]] if len(cols) < len(self._keys) else \
            chunk[self._keys + [column]]
        return rows.dropna(subset=self._keys) if self.dropna else rows

    # -- in the caller ----------------------------------------------------------------------
    def combine(self, a: GroupState, b: GroupState) -> GroupState:
        tables = a.tables + b.tables
        if _rows_in(tables) > COMPACT_ROWS:
            tables = [self._compact(tables)]
        pairs = {}
        for c in a.pairs:
            pairs[c] = a.pairs[c] + b.pairs[c]
            if _rows_in(pairs[c]) > COMPACT_ROWS:
                pairs[c] = [pd.concat(pairs[c], ignore_index=True).drop_duplicates()]
        rows = {c: a.rows[c] + b.rows[c] for c in a.rows}
        return GroupState(tables, pairs, rows, a.moment_dtypes or b.moment_dtypes, a.columns)

    def _group(self, frame: pd.DataFrame, final: bool = False):
        if final:
            return frame.groupby(self._keys, sort=self.sort, dropna=self.dropna,
                                 observed=self.observed)
        return frame.groupby(self._keys, sort=False, dropna=False, observed=True)

    def _compact(self, tables: list) -> pd.DataFrame:
        """Stacked partials merged into one row per group (first-appearance order)."""
        table = pd.concat(tables, ignore_index=True) if len(tables) > 1 else tables[0]
        if len(tables) == 1:
            return table
        codes = self._group(table).ngroup().to_numpy()
        merge = {}
        for name in table.columns:
            if not isinstance(name, str) or not name.startswith(_PREFIX):
                continue
            _, kind, column = name.split(_PREFIX, 2)
            merge[name] = _SIMPLE.get(kind, "sum")
            if kind == "mean":
                merge[name] = merge[f"{_PREFIX}lo{_PREFIX}{column}"] = "first"
                table = self._merge_moments(table, codes, column)
        return self._group(table).agg(merge).reset_index()

    def _merge_moments(self, table: pd.DataFrame, codes: np.ndarray, column: str):
        """Chan et al.'s update over all partials of each group at once.

        With N = Σnᵢ, the mean is m = r + Σnᵢdᵢ/N and M2 = ΣM2ᵢ + Σnᵢ(dᵢ - Σnⱼdⱼ/N)², where
        dᵢ = mᵢ - r are deviations from a reference r (the group's first partial mean). Means
        are carried as two floats (hi + lo), so the dᵢ stay exact on data with a large offset.
        """
        name = f"{_PREFIX}{{}}{_PREFIX}{column}".format
        n = table[name("n")].to_numpy(np.float64)
        hi, lo = table[name("mean")].to_numpy(np.float64), table[name("lo")].to_numpy(np.float64)
        has = n > 0
        groups = int(codes.max()) + 1 if codes.size else 0
        ref_hi, ref_lo = np.zeros(groups), np.zeros(groups)
        seen, first = np.unique(codes[has], return_index=True)
        ref_hi[seen], ref_lo[seen] = hi[has][first], lo[has][first]
        d = np.where(has, (hi - ref_hi[codes]) + (lo - ref_lo[codes]), 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            shift = (np.bincount(codes, weights=n * d, minlength=groups)
                     / np.bincount(codes, weights=n, minlength=groups))
        new_hi, new_lo = _two_sum(ref_hi, ref_lo + shift)
        update = {name("mean"): new_hi[codes], name("lo"): new_lo[codes]}
        if name("m2") in table.columns:
            dev = np.where(has, d - shift[codes], 0.0)
            update[name("m2")] = np.where(has, table[name("m2")].to_numpy(np.float64)
                                          + n * dev * dev, 0.0)
        return table.assign(**update)

    def finalize(self, state: GroupState) -> Any:
        plan = _plan(self.agg, self._keys, state.columns)
        table = self._compact(state.tables)
        main, labels, extra = {}, [], {}
        for i, out in enumerate(plan.outputs):
            name = f"{_PREFIX}out{i}"
            labels.append(name)
            column, func = out.column, out.func
            if func == "size" and plan.series:
                main[name] = (_comp("size"), "sum")
            elif func in _SIMPLE:
                main[name] = (_comp(func, column), _SIMPLE[func])
            elif func in _MOMENTS and column in state.moment_dtypes:
                table = table.assign(**{name: self._moment(table, column, func,
                                                           state.moment_dtypes[column])})
                main[name] = (name, "first")
            elif func == "nunique":
                pairs = pd.concat(state.pairs[column], ignore_index=True)
                extra[name] = self._group(pairs, True)[column].nunique()
            else:
                rows = pd.concat(state.rows[column], ignore_index=True)
                extra[name] = self._group(rows, True)[column].agg(func)
        if not main:
            main[f"{_PREFIX}size"] = (_comp("size"), "sum")
        result = self._group(table, True).agg(**main)
        for name, series in extra.items():
            if not series.index.equals(result.index):
                series = series.reindex(result.index)
            result[name] = series.to_numpy() if series.dtype == object else series.array
        result = result[labels]
        if plan.series:
            return result.iloc[:, 0].rename(None)
        result.columns = (pd.Index([o.label for o in plan.outputs]) if plan.flat else
                          pd.MultiIndex.from_tuples([o.label for o in plan.outputs]))
        return result

    def _moment(self, table: pd.DataFrame, column: Any, func: str, dtype: Any) -> Any:
        n = table[_comp("n", column)].to_numpy(np.float64)
        if func == "mean":
            values = table[_comp("mean", column)].to_numpy(np.float64) + \
                table[_comp("lo", column)].to_numpy(np.float64)
        else:
            m2 = table[_comp("m2", column)].to_numpy(np.float64)
            with np.errstate(invalid="ignore", divide="ignore"):
                values = np.where(n > 1, m2 / (n - 1), np.nan)
            if func == "std":
                values = np.sqrt(values)
        return pd.array(values, dtype=dtype) if not isinstance(dtype, np.dtype) else \
            values.astype(dtype)


def groupby_agg(df: Any, by: Any, agg: Any, *, sort: bool = True, dropna: bool = True,
                observed: bool = True, **options: Any) -> Any:
    """``df.groupby(by, sort=, dropna=, observed=).agg(agg)``, computed in parallel.

    Returns what pandas returns: values, dtypes, index, column order and sort order. Options
    are those of :func:`parallel_analysis.map_reduce`; ``backend`` defaults to ``"thread"``:

    - threads read views of the caller's frame: nothing is copied and no worker interpreter
      is added, so peak memory stays near the frame's own size (1.1x in
      ``benchmarks/groupby_memory.py``), and the per-chunk work (pandas' hashing, numpy
      kernels, integer keys counted without hashing) is lighter than pandas' own groupby;
    - processes must first copy the columns the aggregation reads into shared memory (for 20
      million rows of a key and a float, 320 MB and a few tenths of a second) and each worker
      adds its interpreter (about 1.8x the frame at peak), which that measurement shows costs
      more time than it saves on two cores.

    Pass ``backend="process"`` for aggregations that hold the GIL (``nunique`` on strings,
    Python callables), or a :func:`~parallel_analysis.share` handle made once and reused, which
    processes read with no copy at all. With a dict ``agg`` only the key and the named columns
    are used, so nothing else is shared or copied.
    """
    from .pool import map_reduce

    if options.get("pool") is None:  # a pool given (e.g. on a dask cluster) has its backend
        options.setdefault("backend", "thread")
    if isinstance(df, pd.DataFrame) and isinstance(agg, dict):
        # Only the columns the aggregation reads are shared with workers.
        used = [k for k in _keys(by) if k in df.columns] + [c for c in agg if c in df.columns]
        if len(used) < df.shape[1]:
            df = df[list(dict.fromkeys(used))]
    return map_reduce(None, df, GroupBy(by, agg, sort=sort, dropna=dropna, observed=observed),
                      **options)


class ValueCounts(Reducer):
    """``Series.value_counts()`` (or ``DataFrame.value_counts()``) merged across chunks."""

    def __init__(self, dropna: bool = True, normalize: bool = False):
        self.dropna = dropna
        self.normalize = normalize

    def partial(self, chunk):
        if not isinstance(chunk, (pd.Series, pd.DataFrame)):
            chunk = pd.Series(np.asarray(chunk))
        return chunk.value_counts(sort=False, dropna=self.dropna)

    def combine(self, a, b):
        both = pd.concat([a, b])
        levels = list(range(both.index.nlevels))
        return both.groupby(level=levels, sort=False, dropna=False, observed=True).sum()

    def finalize(self, state):
        out = state.sort_values(ascending=False, kind="stable")
        if self.normalize:
            return (out / out.sum()).rename("proportion")
        return out.rename("count")


class DescribeState(NamedTuple):
    count: np.ndarray
    mean: np.ndarray
    m2: np.ndarray
    low: np.ndarray
    high: np.ndarray
    quantiles: list  # one Quantile state per column


class Describe(Reducer):
    """``DataFrame.describe()`` of the numeric columns: count, mean, std, min, percentiles, max.

    count, mean, std (Chan's update), min and max match pandas; percentiles come from
    :class:`~.reducers.Quantile` and are approximate within its stated rank bound unless
    ``exact=True`` (which keeps every value).
    """

    def __init__(self, percentiles: tuple = (0.25, 0.5, 0.75), exact: bool = False,
                 sketch_size: int = 4096):
        self.percentiles = tuple(percentiles)
        self.exact = exact
        self.sketch_size = sketch_size

    def _quantile(self) -> Quantile:
        return Quantile(list(self.percentiles), exact=self.exact, sketch_size=self.sketch_size)

    def partial(self, chunk) -> tuple[list, list, DescribeState]:
        frame = chunk.to_frame() if isinstance(chunk, pd.Series) else chunk
        numeric = frame.select_dtypes(include="number")
        cols = [numeric.iloc[:, i] for i in range(numeric.shape[1])]
        values = [_floats(c) for c in cols]
        values = [v[~np.isnan(v)] for v in values]
        count = np.array([v.size for v in values], dtype=np.float64)
        with np.errstate(invalid="ignore"):
            mean = np.array([v.mean() if v.size else np.nan for v in values])
            m2 = np.array([((v - v.mean()) ** 2).sum() if v.size else 0.0 for v in values])
        low = np.array([v.min() if v.size else np.nan for v in values])
        high = np.array([v.max() if v.size else np.nan for v in values])
        quant = [self._quantile().partial(pd.Series(v)) for v in values]
        dtypes = [c.dtype for c in cols]
        return list(numeric.columns), dtypes, DescribeState(count, mean, m2, low, high, quant)

    def combine(self, a, b):
        cols, dtypes, x = a
        y = b[2]
        n = x.count + y.count
        with np.errstate(invalid="ignore", divide="ignore"):
            delta = np.where(y.count > 0, y.mean, 0) - np.where(x.count > 0, x.mean, 0)
            mean = np.where(x.count == 0, y.mean, np.where(
                y.count == 0, x.mean, x.mean + delta * y.count / n))
            m2 = x.m2 + y.m2 + np.where((x.count > 0) & (y.count > 0),
                                        delta**2 * x.count * y.count / n, 0)
        q = self._quantile()
        return cols, dtypes, DescribeState(
            n, mean, m2, np.fmin(x.low, y.low), np.fmax(x.high, y.high),
            [q.combine(s, t) for s, t in zip(x.quantiles, y.quantiles)])

    def finalize(self, state):
        cols, dtypes, s = state
        q = self._quantile()
        with np.errstate(invalid="ignore", divide="ignore"):
            std = np.sqrt(np.where(s.count > 1, s.m2 / (s.count - 1), np.nan))
        rows = {"count": s.count, "mean": s.mean, "std": std, "min": s.low}
        pct = [q.finalize(st) if st.count else np.full(len(self.percentiles), np.nan)
               for st in s.quantiles]
        for i, p in enumerate(self.percentiles):
            rows[_pct_label(p)] = np.array([np.atleast_1d(v)[i] for v in pct], dtype=np.float64)
        rows["max"] = s.high
        out = pd.DataFrame(rows, index=pd.Index(cols)).T
        for col, dtype in zip(cols, dtypes):
            if not isinstance(dtype, np.dtype):
                out[col] = pd.array(out[col].to_numpy(np.float64), dtype="Float64")
        return out


def _pct_label(p: float) -> str:
    from pandas.io.formats.format import format_percentiles

    return format_percentiles([p])[0]


def describe(data: Any, *, percentiles: tuple = (0.25, 0.5, 0.75), exact: bool = False,
             **options: Any) -> pd.DataFrame:
    """``data.describe()`` for numeric columns, computed in parallel (see :class:`Describe`).

    ``backend`` defaults to ``"thread"``, for the reasons :func:`groupby_agg` gives.
    """
    from .pool import map_reduce

    options.setdefault("backend", "thread")
    return map_reduce(None, data, Describe(percentiles, exact), **options)
