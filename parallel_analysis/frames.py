"""frames: the DataFrame API (``apply``, ``groupby_apply``, ``groupby_agg``, ``describe``). Layer:
API (imports maps, reducers, groupby_keys and exact; pandas at import, so the package loads it
on first use).

Each is a map on the default pool (or ``pool=``) with the reducer or the chunking its pandas
counterpart needs; the results are pandas' own. The ``df.par`` accessor (:mod:`.pandas`) builds
on them and on :mod:`.exact`.

``apply`` has two meanings, told apart by ``axis``:

====================================  ===========================================================
``par.apply(df, func)``               ``func(chunk)`` on chunks of rows, results concatenated:
                                      for vectorised code (``lambda c: c["a"] * 2``)
``par.apply(df, func, axis=1)``       ``df.apply(func, axis=1)``: ``func`` on each row, pandas'
                                      exact result; the same as ``df.par.apply(func, axis=1)``
====================================  ===========================================================
"""

from __future__ import annotations

import copy
import functools
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from .exact.describe import frame_describe
from .exact.groups import GroupKeys
from .exact.groups import groupby_apply as exact_groupby_apply
from .exact.rows import ApplyCall, frame_apply
from .exact.running import Options, Runner
from .groupby_keys import as_column_keys
from .maps import map_chunks, map_reduce
from .reducers.frames import Describe
from .reducers.groupby import GroupBy
from .reducers.groupby_plan import ONE_PER_GROUP
from .share import is_arrow_table, local_value, pandas_stand_in
from .split import Chunking, keys_of, rows_and_row_nbytes


def _concat(parts: list) -> Any:
    """The chunks' results joined in row order: frames and series by ``pd.concat``, pyarrow
    Tables by ``pa.concat_tables``; anything else is refused, whatever the chunk count (one
    chunk's bare value would make the result's type depend on the chunking)."""
    if all(is_arrow_table(p) for p in parts):
        import pyarrow as pa

        return pa.concat_tables(parts) if len(parts) > 1 else parts[0]
    for i, part in enumerate(parts):
        if not isinstance(part, (pd.DataFrame, pd.Series)):
            raise TypeError(
                f"par.apply joins func's results on chunks of rows as pandas would (frames or "
                f"series, in row order), but func returned a {type(part).__name__} for chunk "
                f"{i}: use par.map_chunks for a list of results, par.map_array for one output "
                "row per input row, or par.apply(df, func, axis=1) for func on each row")
    return pd.concat(parts) if len(parts) > 1 else parts[0]


def apply(df: Any, func: Any, *, axis: int | str | None = None, raw: bool = False,
          result_type: str | None = None, **options: Any) -> Any:
    """Without ``axis``: ``func`` on each chunk of rows, results concatenated in row order.

    For a ``func`` that works row by row (returns a frame or series for its rows) this equals
    ``func(df)``. Options are those of :func:`parallel_analysis.map_chunks`.

    With ``axis`` (0 or "index", 1 or "columns"): ``df.apply(func, axis=axis, raw=raw,
    result_type=result_type, args=args, **kwargs)``, exactly pandas' result, ``func`` called
    on each row (axis=1) or column (axis=0); the same as ``df.par.apply``. Options: ``args``,
    ``kwargs`` (for ``func``), ``workers``, ``backend``, ``pool``, ``progress``, ``n``,
    ``timeout``.
    """
    if axis is None:
        if raw or result_type is not None:
            raise TypeError("raw= and result_type= are options of the row-wise apply: pass "
                            "axis=1 (rows) or axis=0 (columns) with them")
        if isinstance(df, np.ndarray):
            raise TypeError("par.apply takes a DataFrame, a Series or a Parquet source; for a "
                            "numpy array use par.map_array (one output row per input row) or "
                            "par.map_chunks (a list of results)")
        parts = map_chunks(func, df, **options)
        if parts:
            return _concat(parts)
        return func(df.empty_frame() if hasattr(df, "empty_frame") else df)
    df = local_value(df)  # a Shared frame: its view (processes copy the rows they need)
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"par.apply(..., axis=) needs a DataFrame, got {type(df).__name__}; "
                        "for a Series use s.par.apply(func) or s.par.map(func)")
    call = ApplyCall(func, axis, raw, result_type, tuple(options.pop("args", ())),
                     dict(options.pop("kwargs", None) or {}))
    return frame_apply(df, call, Runner(_options(options)))


def _options(options: dict) -> Options:
    unknown = set(options) - set(Options.__dataclass_fields__)
    if unknown:
        raise TypeError(f"unexpected option(s): {', '.join(sorted(unknown))}"
                        f" (it takes {', '.join(Options.__dataclass_fields__)}, args, kwargs)")
    return Options(**options)


def groupby_apply(df: Any, by: Any, func: Any, *, sort: bool = True, dropna: bool = True,
                  group_keys: bool = True, **options: Any) -> Any:
    """``df.groupby(by, sort=, dropna=, group_keys=).apply(func)``: exactly pandas' result, by
    the engine of ``df.par.groupby(by).apply(func)`` (:mod:`.exact.groups`).

    Every group is whole in one chunk; pandas' own code assembles the groups' results once, so
    a ``func`` returning a scalar, a Series (reduced or indexed like its group), a frame or its
    own rows gives pandas' layout. Options: ``args``, ``kwargs`` (for ``func``), ``workers``,
    ``backend``, ``pool``, ``progress``, ``timeout``, and ``n``, ``size`` or ``nbytes`` (rows
    or bytes per chunk, counted as that many chunks: groups are never cut).
    """
    df = local_value(df)  # a Shared frame: its view (its groups are gathered into chunks)
    if not isinstance(df, (pd.DataFrame, pd.Series)):
        raise TypeError(
            f"groupby_apply takes a pandas DataFrame or Series (or a Shared handle of one), not "
            f"{type(df).__name__}: every group must be whole in one chunk, so read it into a "
            "frame first (pd.read_parquet(path) for a par.from_parquet source)")
    call = (tuple(options.pop("args", ())), dict(options.pop("kwargs", None) or {}))
    size, nbytes = options.pop("size", None), options.pop("nbytes", None)
    if size is not None or nbytes is not None:
        chunking = Chunking(options.pop("n", None), size, nbytes)
        options["n"] = max(1, chunking.count(*rows_and_row_nbytes(df)))
    return exact_groupby_apply(df, GroupKeys(by, sort, dropna, group_keys), func,
                               Runner(_options(options)), *call)


def groupby_agg(df: Any, by: Any, agg: Any, *, sort: bool = True, dropna: bool = True,
                observed: bool = True, level: Any = None, **options: Any) -> Any:
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
    if options.get("pool") is None:  # a pool given (e.g. on a dask cluster) has its backend
        options.setdefault("backend", "thread")
    source = local_value(df)
    if isinstance(source, pd.Series):
        raise TypeError("groupby_agg takes a DataFrame (or a Table, a Parquet source), not a "
                        "Series: pass s.to_frame(), whose one column is named after the Series")
    if _pandas_only(pandas_stand_in(source, "none"), by, agg, level):
        return pandas_stand_in(source, "all").groupby(
            by, level=level, sort=sort, dropna=dropna, observed=observed).agg(agg)
    key_index = _key_index(source, by, level)
    pandas_agg = functools.partial(_pandas_agg, by=by, level=level, sort=sort, dropna=dropna,
                                   observed=observed, agg=agg)  # ``by`` as given
    if level is not None and by is None:  # index levels, as keys named after them
        df = source  # (a Shared frame's view: its levels become columns of a copy)
        levels = level if isinstance(level, list) else [level]
        keys = [df.index.get_level_values(lv) for lv in levels]
        by = keys if isinstance(level, list) else keys[0]
    keyed = as_column_keys(df, by)  # array keys (df.groupby(df["t"].dt.hour)) as columns
    df, by = keyed.frame, keyed.by
    if isinstance(df, pd.DataFrame) and isinstance(agg, dict):
        # Only the columns the aggregation reads are shared with workers.
        used = [k for k in keys_of(by) if k in df.columns] + [c for c in agg if c in df.columns]
        if len(used) < df.shape[1]:
            df = df[list(dict.fromkeys(used))]
    try:
        out = keyed.name_levels(map_reduce(
            None, df, GroupBy(by, agg, sort=sort, dropna=dropna, observed=observed),
            **options))
    except (TypeError, ValueError, KeyError, NotImplementedError) as ours:
        _raise_pandas_error(pandas_agg, pandas_stand_in(source, "first"))
        raise ours
    if getattr(key_index, "freq", None) is not None:
        # pandas' groups of a DatetimeIndex with a freq are its own values: the freq stays
        own = key_index.sort_values() if sort else key_index
        if type(out.index) is type(own) and out.index.equals(own):
            out.index = own.set_names(out.index.names)
    return carried_over(out, source, pandas_agg)


def _raise_pandas_error(pandas_call: Callable[[Any], Any], frame: Any) -> None:
    """pandas' own error for ``frame``, if it raises one: where several columns fail, pandas
    names the first in column order, and a chunk's column may have failed first here."""
    try:
        pandas_call(frame)
    except Exception as theirs:
        raise theirs from None


def _pandas_agg(frame: Any, by: Any, level: Any, sort: bool, dropna: bool, observed: bool,
                agg: Any) -> Any:
    return frame.groupby(rows_of_keys(by, frame), level=level, sort=sort, dropna=dropna,
                         observed=observed).agg(agg)


def rows_of_keys(by: Any, frame: Any) -> Any:
    """``by`` for ``frame``, its keys that are values (arrays, Series) cut to ``frame``'s rows
    when ``frame`` has none (the zero-row frame :func:`carried_over` asks pandas about)."""
    if len(frame) or by is None:
        return by
    keys = [k if pd.api.types.is_hashable(k) and not isinstance(k, (pd.Index, pd.Series))
            else k[:0] for k in keys_of(by)]
    return keys if isinstance(by, list) else keys[0]


def carried_over(out: Any, source: Any, pandas_call: Callable[[Any], Any]) -> Any:
    """``out`` with the ``attrs`` and ``flags`` pandas gives its own result, which it carries
    from the frame for some aggregations and not others (``sum`` keeps them, ``count`` and
    lists of functions drop them): read from ``pandas_call`` on the frame's zero rows (no
    group, so no callable of ``agg`` runs)."""
    if not isinstance(source, pd.DataFrame) or (
            not source.attrs and source.flags.allows_duplicate_labels):
        return out
    try:
        theirs = pandas_call(source.iloc[:0])
    except Exception:  # pandas refuses no rows where it takes some: keep ours as they are
        return out
    out.attrs = copy.deepcopy(theirs.attrs)
    out.flags.allows_duplicate_labels = theirs.flags.allows_duplicate_labels
    return out


def _key_index(df: Any, by: Any, level: Any) -> pd.Index | None:
    """The Index ``df`` is grouped by, when its one key is one: its own single-level index
    (by name or level) or an Index given as the key; else None."""
    if not isinstance(df, pd.DataFrame):
        return None
    if by is None:
        levels = level if isinstance(level, list) else [level]
        own = df.index.nlevels == 1 and len(levels) == 1 and (
            levels[0] in (0, -1) or levels[0] == df.index.name)
        return df.index if own else None
    keys = keys_of(by)
    if len(keys) != 1:
        return None
    key = keys[0]
    if isinstance(key, pd.Index) and not isinstance(key, pd.MultiIndex):
        return key
    named = isinstance(key, (str, int, tuple)) and key == df.index.name and \
        key not in df.columns and df.index.nlevels == 1
    return df.index if named else None


def _pandas_only(df: Any, by: Any, agg: Any, level: Any) -> bool:
    """Whether pandas itself computes this groupby, in the caller: time-binned keys
    (``pd.Grouper``), both ``by`` and ``level`` (or neither), repeated keys or column labels,
    a list naming one function twice (pandas raises), or an aggregation named by a string
    that is not one value per group (:data:`~.reducers.groupby_plan.ONE_PER_GROUP`: ``ohlc``,
    ``head``, ``describe``, pandas' transformations...). Their answers (and errors) are pandas'
    own; they run on one thread. So do a frame with no column besides its keys, and a dict
    that aggregates a key column (pandas' rare forms: the groups' sizes of a frame of keys)."""
    if not isinstance(df, pd.DataFrame):
        return False
    funcs = agg.values() if isinstance(agg, dict) else [agg]
    lists = [list(fs) if isinstance(fs, (list, tuple)) else [fs] for fs in funcs]
    named = [f for fs in lists for f in fs]
    keys = keys_of(by)
    key_columns = {k for k in keys if pd.api.types.is_hashable(k) and k in df.columns}
    if by is not None and (not set(df.columns) - key_columns
                           or (isinstance(agg, dict) and (not agg or key_columns & set(agg)))):
        return True
    return any(isinstance(k, pd.Grouper) for k in keys) or \
        (by is None) == (level is None) \
        or not df.columns.is_unique or _repeated(keys) or \
        any(_repeated([f if isinstance(f, str) else id(f) for f in fs]) for fs in lists) or \
        any(isinstance(f, str) and f not in ONE_PER_GROUP for f in named)


def _repeated(labels: list) -> bool:
    """Whether a label repeats (pandas' rule for keys, and for functions: a string or the same
    function object twice; ``[np.sum, "sum"]`` is no repeat)."""
    hashable = [k for k in labels if isinstance(k, (str, int, float, tuple))]
    return len(set(hashable)) < len(hashable)


def describe(data: Any, *, percentiles: tuple = (0.25, 0.5, 0.75), include: Any = None,
             exclude: Any = None, exact: bool | None = None, **options: Any) -> pd.DataFrame:
    """``data.describe()`` for numeric columns, computed in parallel (see
    :class:`~parallel_analysis.reducers.Describe`).

    ``backend`` defaults to ``"thread"``, for the reasons :func:`groupby_agg` gives. numpy has
    no describe: a 1-d array is described as ``pd.Series(x)``, a 2-d one as ``pd.DataFrame(x)``
    (views of it, not copies). ``include``/``exclude`` pick a DataFrame's columns as pandas
    does; they are described whole, a column per worker, as ``df.par.describe`` does (a Series
    ignores them, as pandas' does).

    Percentiles are exact (pandas' own, on every value) for data in memory; for a lazy source
    (``par.from_parquet``), whose values may not fit in memory, they are approximate within
    :class:`~parallel_analysis.reducers.Quantile`'s rank bound unless ``exact=True`` (and
    ``exact=False`` gives that bound for data in memory too, holding K values per chunk).
    """
    if exact is None:
        exact = not hasattr(local_value(data), "chunk_specs")  # a lazy source: approximate
    if isinstance(data, np.ndarray):
        if data.ndim not in (1, 2):
            raise TypeError(f"describe takes a 1-d or 2-d array (as a Series or DataFrame), "
                            f"not a {data.ndim}-d one; reshape it, or use par.mean, par.std "
                            "and par.quantile")
        data = pd.Series(data, copy=False) if data.ndim == 1 else pd.DataFrame(data, copy=False)
    if options.get("pool") is None:  # a pool given has its backend
        options.setdefault("backend", "thread")
    if include is not None or exclude is not None:
        data = local_value(data)  # a Shared frame: its view
        if isinstance(data, pd.Series):  # pandas ignores them there, with its warning
            with warnings.catch_warnings(record=True) as said:
                warnings.simplefilter("always")
                data.iloc[:0].describe(include=include, exclude=exclude)
            for warning in said:
                warnings.warn(warning.message, warning.category, stacklevel=2)
            return map_reduce(None, data, Describe(percentiles, exact), **options)
        if not isinstance(data, pd.DataFrame):
            raise TypeError(f"describe(include=, exclude=) picks the columns of a DataFrame, "
                            f"not of a {type(data).__name__}; select the columns first")
        return frame_describe(data, Runner(_options(options)), percentiles, include, exclude)
    return map_reduce(None, data, Describe(percentiles, exact), **options)
