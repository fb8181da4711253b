"""exact.elementwise: ``Series.map``, ``Series.apply`` and ``DataFrame.map``, computed in row
chunks, with pandas' exact results. Layer: API (imports exact.*; pandas at import).

Workers run what ``pandas.core.algorithms.map_array`` runs before its final inference: the
values boxed with ``astype(object)``, ``func`` on each (0-d array results unboxed, NA elements
kept as they are with ``na_action="ignore"``). The caller then either builds the result
directly, when every chunk's results are :class:`~.results.Typed` of one dtype and the source
is numpy-backed (then ``maybe_convert_objects`` over all of them gives exactly that dtype), or
replays the raw results through pandas' own ``map``/``apply``, which does the inference over
all elements at once (str from all-string results, float64 from ``None`` with ints, the
re-cast of extension arrays, a DataFrame when the first result is a Series).

Left to pandas in the caller: dict and Series mappers (one vectorised hash lookup, ~10 ms for
400,000 rows: not worth a pool), categorical and sparse sources (pandas calls func once per
category, not per element), ufuncs and strings (vectorised), and empty input.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from . import outputs
from .assembly import replayer
from .failures import Failure, note
from .results import common_typed_dtype, concat_typed, pack, unpack
from .running import Runner, curried, desc_of, job

_MISSING = object()


def _elementwise_ok(arr: Any) -> bool:
    """Whether pandas maps this array by calling the function once per element, in order."""
    return not isinstance(arr.dtype, (pd.CategoricalDtype, pd.SparseDtype))


def _boxed(arr: Any) -> Any:
    """The elements as pandas passes them to func (``arr.astype(object)``): for numeric numpy
    arrays the same Python scalars come out of ``tolist()``, which is 3x faster to map over."""
    if isinstance(arr, np.ndarray) and arr.dtype.kind in "biufc":
        return arr.tolist()
    return arr.astype(object, copy=False)


def _map_list(values: list, f: Callable) -> tuple[list, set]:
    """``f`` on each element, 0-d array results unboxed (as ``lib.map_infer`` does), and the
    set of the results' types."""
    out = list(map(f, values))
    kinds = _kinds(out)
    if np.ndarray in kinds:
        out = [v.item() if isinstance(v, np.ndarray) and v.ndim == 0 else v for v in out]
        kinds = _kinds(out)
    return out, kinds


def _kinds(values: list) -> set:
    """The set of the values' types; counting the first one's is twice as fast as hashing
    every type into a set when, as usual, all results have one type."""
    types = list(map(type, values))
    if types and types.count(types[0]) == len(types):
        return {types[0]}
    return set(types)


def _map_raw(values: Any, f: Callable, mask: Any, fast: bool) -> Any:
    """``f`` on each element, 0-d array results unboxed, masked elements kept: what
    ``lib.map_infer(convert=False)`` / ``map_infer_mask`` return (``fast``: those themselves)."""
    values = np.asarray(values, dtype=object)
    if fast:
        from pandas._libs import lib

        if mask is None:
            return lib.map_infer(values, f, convert=False)
        return lib.map_infer_mask(values, f, mask=mask.view(np.uint8), convert=False)
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        if mask is not None and mask[i]:
            out[i] = v
            continue
        r = f(v)
        out[i] = r.item() if isinstance(r, np.ndarray) and r.ndim == 0 else r
    return out


def _locate(values: Any, f: Callable, mask: Any) -> int | None:
    """Position of the first element on which ``f`` raises (run again after a failure: the
    C loop does not say where it stopped)."""
    for i, v in enumerate(values):
        if mask is not None and mask[i]:
            continue
        try:
            f(v)
        except Exception:
            return i
    return None


def map_column(arr: Any, index: pd.Index, f: Callable, na_action: str | None, flags: tuple,
               where: tuple = (_MISSING, ())) -> Any:
    """One column chunk: (packed raw results, mask of the skipped elements or None), or a
    Failure. ``flags`` = (typed, fast); ``where`` = (column label, failure order) for frames."""
    typed, fast = flags
    column, order = where
    values = _boxed(arr)
    mask = pd.isna(np.asarray(values, dtype=object)) if na_action is not None else None
    try:
        if mask is None and isinstance(values, list):
            raw, kinds = _map_list(values, f)
        else:
            raw, kinds = _map_raw(values, f, mask, fast), None
    except Exception as exc:
        pos = _locate(values, f, mask)
        label = index[pos] if pos is not None else None
        what = "element with index label"
        if column is not _MISSING:
            label, what = (label, column), "element at (row label, column label)"
        note(exc, label, what)
        return Failure(exc, label, what, pos, order)
    skipped = mask if mask is not None and mask.any() else None
    return pack(raw, typed, kinds), skipped


def _w_series_map(chunk: pd.Series, f: Callable, na_action: str | None, flags: tuple) -> Any:
    return map_column(chunk._values, chunk.index, f, na_action, flags)


def _called_results(parts: list) -> list:
    """Raw results of the elements pandas calls ``func`` on, in call order."""
    out: list = []
    for payload, skipped in parts:
        values = unpack(payload)
        if skipped is None:
            out.extend(values)
        else:
            out.extend(v for v, s in zip(values, skipped) if not s)
    return out


def _fast_values(source: Any, parts: list) -> np.ndarray | None:
    """The mapped ndarray when pandas' ``maybe_convert_objects`` provably gives a numpy dtype:
    a numpy-backed source (extension arrays re-cast with their own rules) and every raw result
    of one exact scalar type of one numpy dtype (NA elements kept by na_action too)."""
    if not isinstance(source, np.ndarray):
        return None
    payloads = [p for p, _ in parts]
    return concat_typed(payloads) if common_typed_dtype(payloads) is not None else None


def series_map(s: pd.Series, arg: Any, runner: Runner, na_action: str | None = None) -> Any:
    """``s.map(arg, na_action)``; exactly pandas' result."""
    if na_action not in (None, "ignore"):
        raise ValueError(f"na_action must either be 'ignore' or None, {na_action} was passed")
    if (not callable(arg) or pd.api.types.is_dict_like(arg) or len(s) == 0
            or not _elementwise_ok(s._values)):
        return s.map(arg, na_action=na_action)
    return _series_elementwise(s, arg, runner, na_action, "map", desc_of(arg))


def series_apply(s: pd.Series, func: Any, runner: Runner, args: tuple = (),
                 kwargs: dict | None = None) -> Any:
    """``s.apply(func, args, **kwargs)``; exactly pandas' result."""
    kwargs = kwargs or {}
    if (not callable(func) or isinstance(func, (np.ufunc, str)) or len(s) == 0
            or not _elementwise_ok(s._values)):
        return s.apply(func, args=tuple(args), **kwargs)
    return _series_elementwise(s, curried(func, args, kwargs), runner, None, "apply",
                               desc_of(func))


def _series_elementwise(s: pd.Series, f: Callable, runner: Runner, na_action: str | None,
                        method: str, desc: str) -> Any:
    flags = (runner.routes.typed, runner.routes.use_hooks)
    work = job(_w_series_map, s, f=f, na_action=na_action, flags=flags)
    if outputs.usable(s._values, runner.pool.backend, runner.routes.typed):
        parts, buffer = outputs.run_into(s, work, runner, desc)
        runner.raise_first(parts)
        fast = outputs.whole(parts, buffer)
        if fast is None:  # not all written with one dtype: the usual assembly
            parts = outputs.materialized(parts, buffer)
            fast = _fast_values(s._values, parts)
    else:
        parts = runner.map(work, s, desc, n=runner.count(len(s), "elements"))
        runner.raise_first(parts)
        fast = _fast_values(s._values, parts)
    if fast is not None:
        # pandas: Series(new_values, index=self.index, copy=False).__finalize__(self, method)
        return s._constructor(fast, index=s.index, copy=False).__finalize__(s, method=method)
    replay, check = replayer(_called_results(parts))
    out = s.map(replay, na_action=na_action) if method == "map" else s.apply(replay)
    check()
    return out


def _w_frame_map(chunk: pd.DataFrame, f: Callable, na_action: str | None, flags: tuple) -> Any:
    out = []
    for j in range(chunk.shape[1]):
        part = map_column(chunk.iloc[:, j]._values, chunk.index, f, na_action, flags,
                          (chunk.columns[j], (j,)))
        if isinstance(part, Failure):
            return part  # pandas stops here: later columns are never mapped
        out.append(part)
    return out


def frame_map(df: pd.DataFrame, func: Callable, runner: Runner, na_action: str | None = None,
              kwargs: dict | None = None) -> pd.DataFrame:
    """``df.map(func, na_action, **kwargs)``; exactly pandas' result."""
    if na_action not in {"ignore", None}:
        raise ValueError(f"na_action must be 'ignore' or None. Got {na_action!r}")
    kwargs = kwargs or {}
    if df.empty or not callable(func) or not all(
            _elementwise_ok(df.iloc[:, j]._values) for j in range(df.shape[1])):
        return df.map(func, na_action=na_action, **kwargs)
    f = functools.partial(func, **kwargs) if kwargs else func
    flags = (runner.routes.typed, runner.routes.use_hooks)
    parts = runner.map(job(_w_frame_map, df, f=f, na_action=na_action, flags=flags), df,
                       desc_of(func), n=runner.count(len(df) * df.shape[1], "elements"))
    # pandas maps column 0 over all rows, then column 1...: the first failure is the one with
    # the lowest column, then the lowest chunk (Failure.order is the column)
    runner.raise_first(parts)
    columns = [[p[j] for p in parts] for j in range(df.shape[1])]
    fast = [_fast_values(df.iloc[:, j]._values, columns[j]) for j in range(df.shape[1])]
    if all(v is not None for v in fast):
        # pandas' map is self.apply(lambda x: x._map_values(func)): hand it the mapped arrays
        feed, check = replayer(fast)
        out = df.apply(feed)
    else:
        feed, check = replayer(itertools.chain.from_iterable(
            _called_results(col) for col in columns))
        out = df.map(feed, na_action=na_action)
    check()
    return out.__finalize__(df, "map")
