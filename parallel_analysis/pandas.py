"""pandas: the ``df.par`` and ``s.par`` accessors, registered with pandas' extension API. Layer:
API (imports frames, pool, windows, exact.*; pandas at import).

``import parallel_analysis.pandas`` registers them (so does the first use of any
``parallel_analysis`` DataFrame function); ``import parallel_analysis`` alone does not, since it
loads numpy only. Each method returns exactly what the pandas method of the same name returns
(values, dtypes, index, names, order), computed in chunks on a pool (:mod:`.exact` tells how)::

    >>> import pandas as pd, parallel_analysis.pandas
    >>> df = pd.DataFrame({"a": [1, 2, 3], "b": [4.0, 5.0, 6.0]}, index=list("xyz"))
    >>> df.par(backend="thread").apply(lambda r: r["a"] * r["b"], axis=1).tolist()
    [4.0, 10.0, 18.0]

``df.par`` runs on the default pool (processes); called, it takes the options of every map:
``df.par(workers=4, backend="process", progress=True, n=None, timeout=None)`` or ``pool=``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pandas as pd

from . import frames
from .exact.describe import frame_describe
from .exact.elementwise import frame_map, series_apply, series_map
from .exact.groups import GroupKeys, groupby_apply, groupby_transform
from .exact.rows import ApplyCall, frame_apply
from .exact.running import Options, Runner
from .maps import map_chunks
from .pool import Pool
from .reducers.groupby_plan import ONE_PER_GROUP
from .windows import Rolling

#: ``DataFrame.apply``'s keywords of its own, and the values (pandas' defaults) that keep the
#: parallel path; any other value runs pandas' own apply.
APPLY_ENGINE_DEFAULTS = {"by_row": ("compat",), "engine": (None, "python"),
                         "engine_kwargs": (None,)}


#: pandas' own ``rolling`` parameters, by position as pandas takes them; those refused.
ROLLING = inspect.signature(pd.Series.rolling)
ROLLING_REFUSED = ("win_type", "on", "step", "method", "axis")


class PandasRolling(Rolling):
    """The accessor's windows: pandas' own defaults, so that ``s.par.rolling(5).apply(f)``
    is ``s.rolling(5).apply(f)`` with ``f`` given Series (``raw=False``)."""

    RAW_DEFAULT = False


class _Accessor:
    """What ``df.par`` and ``s.par`` share: the options, and the maps that need no pandas
    semantics of their own."""

    def __init__(self, obj: Any, options: Options | None = None) -> None:
        self._obj = obj
        self._options = options or Options()

    def __call__(self, *, workers: int | None = None, backend: str | None = None,
                 pool: Pool | None = None, progress: Any = None, n: int | None = None,
                 timeout: float | None = None) -> Any:
        """The same accessor with these options for its maps (None: the default)."""
        return type(self)(self._obj, Options(workers, backend, pool, progress, n, timeout))

    def _runner(self) -> Runner:
        return Runner(self._options)

    def map_chunks(self, func: Callable, **options: Any) -> list:
        """``[func(chunk) for chunk in chunks of rows]`` (:func:`parallel_analysis.map_chunks`)."""
        return map_chunks(func, self._obj, **{**self._options.given(), **options})

    def rolling(self, window: Any, *args: Any, **options: Any) -> Rolling:
        """:func:`parallel_analysis.rolling` on this object: ``df.par.rolling(1000).mean()``
        equals ``df.rolling(1000).mean()`` (``min_periods``, ``center``, ``closed``, as
        pandas takes them, by position too), and ``.apply(func)`` passes Series, as pandas'
        ``raw=False`` default does. pandas' ``win_type``, ``on``, ``step`` and
        ``method="table"`` are refused with what to call instead; other keywords are options
        of :func:`~parallel_analysis.map_chunks`."""
        bound = ROLLING.bind_partial(self._obj, window, *args, **{
            k: options.pop(k) for k in list(options) if k in ROLLING.parameters})
        given = {k: v for k, v in bound.arguments.items()
                 if k in ROLLING_REFUSED and v != ROLLING.parameters[k].default}
        if given:
            said = ", ".join(f"{k}={v!r}" for k, v in given.items())
            raise TypeError(f"df.par.rolling does not take {said}: call pandas' own "
                            f".rolling(..., {said}), or drop it to run in parallel")
        bound.apply_defaults()
        taken = bound.arguments
        return PandasRolling(self._obj, window, taken["min_periods"], taken["center"],
                             taken["closed"], {**self._options.given(), **options})

    def __repr__(self) -> str:
        given = ", ".join(f"{k}={v!r}" for k, v in self._options.given().items())
        return (f"<parallel_analysis accessor on a {type(self._obj).__name__} of "
                f"{len(self._obj):,} rows ({given or 'default pool'})>")


@pd.api.extensions.register_dataframe_accessor("par")
class FrameAccessor(_Accessor):
    """``df.par``: DataFrame methods computed in parallel, with pandas' exact results."""

    def apply(self, func: Any, axis: int | str = 0, raw: bool = False,
              result_type: str | None = None, args: tuple = (), **kwargs: Any) -> Any:
        """``df.apply(func, axis, raw, result_type, args, **kwargs)``: axis=1 splits rows,
        axis=0 columns. pandas' own keywords ``by_row``, ``engine`` and ``engine_kwargs`` are
        taken as pandas takes them (not passed to ``func``); values other than their defaults
        (numba brings its own parallelism) run as pandas runs them, in the caller."""
        engine = {k: kwargs.pop(k) for k in APPLY_ENGINE_DEFAULTS if k in kwargs}
        if any(value not in APPLY_ENGINE_DEFAULTS[k] for k, value in engine.items()):
            return self._obj.apply(func, axis=axis, raw=raw, result_type=result_type,
                                   args=tuple(args), **engine, **kwargs)
        call = ApplyCall(func, axis, raw, result_type, tuple(args), kwargs)
        return frame_apply(self._obj, call, self._runner())

    def map(self, func: Callable, na_action: str | None = None, **kwargs: Any) -> Any:
        """``df.map(func, na_action, **kwargs)``: element-wise, rows split."""
        return frame_map(self._obj, func, self._runner(), na_action, kwargs)

    def groupby(self, by: Any, sort: bool = True, dropna: bool = True,
                group_keys: bool = True) -> GroupByAccessor:
        """``df.groupby(by, sort, dropna, group_keys)``, whose ``apply``, ``agg`` and
        ``transform`` run on whole groups per chunk."""
        return GroupByAccessor(self._obj, GroupKeys(by, sort, dropna, group_keys),
                               self._options)

    def describe(self, percentiles: Any = None, include: Any = None,
                 exclude: Any = None) -> pd.DataFrame:
        """``df.describe(...)``, bit for bit: whole columns per worker (threads by default)."""
        options = self._options
        if options.backend is None and options.pool is None:
            options = replace(options, backend="thread")
        return frame_describe(self._obj, Runner(options), percentiles, include, exclude)


@pd.api.extensions.register_series_accessor("par")
class SeriesAccessor(_Accessor):
    """``s.par``: Series methods computed in parallel, with pandas' exact results."""

    def apply(self, func: Any, args: tuple = (), *, by_row: Any = "compat",
              **kwargs: Any) -> Any:
        """``s.apply(func, args, by_row, **kwargs)``; ``by_row=False`` hands func the whole
        Series, as pandas does (in the caller: chunks would change what func sees)."""
        if by_row is not False and by_row != "compat":
            raise ValueError(f"by_row={by_row!r}: pandas' Series.apply takes by_row=False or "
                             "'compat'")
        if by_row is False:
            return self._obj.apply(func, args=tuple(args), by_row=False, **kwargs)
        return series_apply(self._obj, func, self._runner(), tuple(args), kwargs)

    def map(self, arg: Any = None, na_action: str | None = None, **kwargs: Any) -> Any:
        """``s.map(arg, na_action, **kwargs)``: a function runs on the workers (with
        ``kwargs``); a dict or Series mapper is one vectorised lookup, done by pandas at once.
        ``func=`` is pandas 3.1's name of ``arg``."""
        if arg is None and "func" in kwargs:
            arg = kwargs.pop("func")
        if kwargs.get("engine") is None:
            kwargs.pop("engine", None)  # pandas' own keyword, at its default
        if kwargs:
            if not callable(arg) or "engine" in kwargs:  # pandas' own answer, or its engine
                return self._obj.map(arg, na_action, **kwargs)
            arg = functools.partial(arg, **kwargs)
        return series_map(self._obj, arg, self._runner(), na_action)


class GroupByAccessor:
    """``df.par.groupby(by, ...)``: ``apply``, ``agg``/``aggregate`` and ``transform``."""

    def __init__(self, df: pd.DataFrame, keys: GroupKeys, options: Options) -> None:
        self._df, self._keys, self._options = df, keys, options

    def apply(self, func: Any, *args: Any, include_groups: bool = False, **kwargs: Any) -> Any:
        """``groupby(...).apply(func, *args, include_groups=False, **kwargs)``; groups
        without their key columns, as pandas 3 gives them (other ``include_groups``: pandas'
        own answer, or its error)."""
        if include_groups is not False:
            return self._keys.groupby(self._df).apply(func, *args,
                                                      include_groups=include_groups, **kwargs)
        return groupby_apply(self._df, self._keys, func, Runner(self._options), args, kwargs)

    def transform(self, func: Any, *args: Any, engine: Any = None, engine_kwargs: Any = None,
                  **kwargs: Any) -> Any:
        """``groupby(...).transform(func, *args, engine=None, engine_kwargs=None, **kwargs)``;
        pandas' own ``engine`` (numba) runs in pandas."""
        if engine is not None or engine_kwargs is not None:
            return self._keys.groupby(self._df).transform(
                func, *args, engine=engine, engine_kwargs=engine_kwargs, **kwargs)
        return groupby_transform(self._df, self._keys, func, Runner(self._options), args,
                                 kwargs)

    def agg(self, func: Any = None, *args: Any, **named: Any) -> Any:
        """``groupby(...).agg(...)``: :func:`parallel_analysis.groupby_agg` for a string, a
        list or a dict of them and for named aggregations of them; pandas for the rest."""
        keys, options = self._keys, self._options.given()
        spec = _agg_spec(func, named) if not args else None
        if spec is None:
            return keys.groupby(self._df).agg(func, *args, **named)
        agg, rename = spec
        out = frames.groupby_agg(self._df, keys.by, agg, sort=keys.sort, dropna=keys.dropna,
                                 **options)
        if rename is None:
            return out
        try:
            named_columns = {name: out[_output_label(s)] for name, s in rename.items()}
        except KeyError:  # labels pandas reads its own way (a tuple label of flat columns)
            return keys.groupby(self._df).agg(**named)
        return frames.carried_over(
            pd.DataFrame(named_columns, index=out.index), self._df,
            lambda head: replace(keys, by=frames.rows_of_keys(keys.by, head))
            .groupby(head).agg(**named))

    aggregate = agg

    def __repr__(self) -> str:
        return f"<parallel_analysis groupby accessor by {self._keys.by!r}>"


def _output_label(source: tuple) -> tuple:
    """The column of groupby_agg's result that a named aggregation ``(column, how)`` reads: a
    MultiIndex column's label is a tuple, whose levels come before the aggregation's."""
    column, how = source
    return (*column, how) if isinstance(column, tuple) else (column, how)


def _agg_spec(func: Any, named: dict) -> tuple[Any, dict | None] | None:
    """(the ``agg`` groupby_agg takes, the named outputs' sources or None), or None when
    pandas must do it (callables, unusual forms)."""
    def plain(f: Any) -> bool:
        return isinstance(f, str) or (isinstance(f, list) and all(isinstance(x, str) for x in f))

    if named:
        if func is not None or not all(isinstance(v, tuple) and len(v) == 2
                                       and isinstance(v[1], str) and v[1] in ONE_PER_GROUP
                                       for v in named.values()):
            return None  # a callable, or pandas' own forms ("ohlc": four columns) in pandas
        agg: dict = {}
        for column, how in named.values():
            agg.setdefault(column, [])
            if how not in agg[column]:
                agg[column].append(how)
        return agg, {name: tuple(v) for name, v in named.items()}
    if plain(func) or (isinstance(func, dict) and all(plain(v) for v in func.values())):
        return func, None
    return None
