"""exact.rows: ``DataFrame.apply(func, axis, raw, result_type, args, **kwargs)`` in chunks of
rows (axis=1) or columns (axis=0), with pandas' exact result. Layer: API (imports exact.*;
pandas at import).

============================  ================================  ==============================
call                          worker records                    caller assembles
============================  ================================  ==============================
raw=False, result_type None,  ``func`` on each row/column of    one dtype of scalars:
"expand" or "reduce"          pandas' own ``series_generator``  ``Series(values)``; Series rows
                              (a shallow copy of a Series       of one dtype and index (axis
                              result, as pandas keeps)          1): the frame from the block;
                                                                else ``wrap_results`` (hooks)
                                                                or a replay of ``df.apply``
result_type="broadcast"       ``func(target[label])``           a replay of ``df.apply``: its
                                                                checks and casts depend on the
                                                                whole frame's dtype
raw=True                      ``func`` on rows/columns of the   one dtype: ``Series``; else a
                              *whole* frame's ``values`` (its   replay (``apply_along_axis``
                              dtype can depend on all rows)     fixes the dtype from the first
                                                                result and casts the rest)
============================  ================================  ==============================

pandas itself runs non-callables, ufuncs, strings, list- and dict-likes (vectorised or
aggregations) and frames with an empty axis (it probes func on an empty Series).
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import PickleFallbackWarning
from .assembly import Recorder, SequenceReplay, replayer
from .failures import Failure, failures_of, note
from .results import common_typed_dtype, concat_typed, expand_fast, pack, unpack
from .running import Runner, column_chunks, desc_of, job, value_chunks

RESULT_TYPES = (None, "reduce", "broadcast", "expand")


@dataclass(frozen=True)
class ApplyCall:
    """One ``DataFrame.apply`` call, as its workers need it."""

    func: Any
    axis: int | str = 0
    raw: bool = False
    result_type: str | None = None
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)

    @property
    def what(self) -> str:
        return "row with label" if self.axis == 1 else "column with label"

    def pandas(self, df: pd.DataFrame, func: Any = None) -> Any:
        """pandas' own call (with a stand-in ``func`` for a replay)."""
        if func is not None:
            return df.apply(func, axis=self.axis, raw=self.raw, result_type=self.result_type)
        return df.apply(self.func, axis=self.axis, raw=self.raw, result_type=self.result_type,
                        args=self.args, **self.kwargs)


def frame_apply(df: pd.DataFrame, call: ApplyCall, runner: Runner) -> Any:
    """``df.apply(...)`` computed in chunks; exactly pandas' result (see the module table)."""
    call = ApplyCall(call.func, df._get_axis_number(call.axis), call.raw, call.result_type,
                     tuple(call.args), dict(call.kwargs))
    if call.result_type not in RESULT_TYPES:
        raise ValueError("invalid value for result_type, must be one "
                         "of {None, 'reduce', 'broadcast', 'expand'}")
    func = call.func
    if (not callable(func) or isinstance(func, (np.ufunc, str)) or pd.api.types.is_list_like(func)
            or not all(df.shape)):
        return call.pandas(df)
    if call.result_type == "broadcast":
        return _broadcast(df, call, runner)
    if call.raw:
        return _raw(df, call, runner)
    return _series_results(df, call, runner)


def _chunks(df: pd.DataFrame, call: ApplyCall, runner: Runner) -> tuple[Any, int | None]:
    """Rows (the frame, cut in n) for axis=1; column frames for axis=0."""
    if call.axis == 1:
        return df, runner.count(len(df), "rows")
    return column_chunks(df, runner.count(df.shape[1], "columns")), None


def _agg_axis(df: pd.DataFrame, call: ApplyCall) -> pd.Index:
    return df.index if call.axis == 1 else df.columns


def _typed_series(df: pd.DataFrame, call: ApplyCall, payloads: list) -> Any:
    """pandas' result for scalars of one dtype: ``Series(values, index=agg axis)``.

    ``wrap_results``: results[0] a scalar gives ``Series(dict of results)``, whatever the
    result_type (expand and reduce act on sequences only); ``apply_along_axis`` stores every
    result of its first result's dtype as it is.
    """
    out = df._constructor_sliced(concat_typed(payloads), index=_agg_axis(df, call))
    return out.__finalize__(df, method="apply")


# -- raw=False, result_type None / expand / reduce ---------------------------------------------

def _w_apply(chunk: pd.DataFrame, call: ApplyCall, hooks: bool, typed: bool) -> Any:
    """Raw results of func on each row (axis=1) or column (axis=0) of the chunk."""
    if not hooks:  # public route: pandas drives the loop, we record what func returns
        rec = Recorder(call.func, call.what)
        try:
            chunk.apply(rec, axis=call.axis, result_type=call.result_type, args=call.args,
                        **call.kwargs)
        except Exception as exc:
            if rec.failed:
                note(exc, rec.label, call.what)
                return Failure(exc, rec.label, call.what, len(rec.out))
            raise
        return pack(rec.out, typed)
    from pandas.core.apply import frame_apply as pandas_frame_apply

    func, args, kwargs = call.func, call.args, call.kwargs
    op = pandas_frame_apply(chunk, func, axis=call.axis, raw=False, result_type=call.result_type,
                            args=args, kwargs=kwargs)
    out: list = []
    # FrameApply.apply_series_generator, with the row's label at hand for errors
    for i, v in enumerate(op.series_generator):
        try:
            r = func(v, *args, **kwargs)
        except Exception as exc:
            note(exc, v.name, call.what)
            return Failure(exc, v.name, call.what, i)
        out.append(r.copy(deep=False) if isinstance(r, pd.Series) else r)
    return pack(out, typed)


def _series_results(df: pd.DataFrame, call: ApplyCall, runner: Runner) -> Any:
    routes = runner.routes
    data, n = _chunks(df, call, runner)
    parts = runner.map(job(_w_apply, df, call=call, hooks=routes.use_hooks, typed=routes.typed),
                       data, desc_of(call.func), n=n)
    runner.raise_first(parts)
    if common_typed_dtype(parts) is not None:
        return _typed_series(df, call, parts)
    if call.axis == 1 and routes.fast_expand:
        # Series results: FrameColumnApply.wrap_results_for_axis -> infer_to_same_shape for
        # every result_type but broadcast (it never checks "reduce")
        fast = expand_fast(df, parts)
        if fast is not None:
            return fast.__finalize__(df, method="apply")
    results = itertools.chain.from_iterable(map(unpack, parts))
    if routes.use_hooks:
        from pandas.core.apply import frame_apply as pandas_frame_apply

        op = pandas_frame_apply(df, call.func, axis=call.axis, raw=False,
                                result_type=call.result_type, args=call.args,
                                kwargs=call.kwargs)
        out = op.wrap_results(dict(enumerate(results)), op.result_index)
        return out.__finalize__(df, method="apply")
    replay, check = replayer(results)
    out = call.pandas(df, replay)
    check()
    return out


# -- result_type="broadcast" -----------------------------------------------------------------

def _w_broadcast(chunk: pd.DataFrame, call: ApplyCall, typed: bool) -> Any:
    """func on what pandas' ``apply_broadcast`` passes: ``target[label]`` for each column of
    the chunk (axis=0) or of its transpose (axis=1: the rows, with the transpose's dtype).

    The checks of each result (``too many dims``, ``cannot broadcast result``) and the casts
    into the result array are pandas', in the caller: they depend on the whole frame's dtype.
    """
    target = chunk.T if call.axis == 1 else chunk
    out = []
    for i, label in enumerate(target.columns):
        try:
            out.append(call.func(target[label], *call.args, **call.kwargs))
        except Exception as exc:
            note(exc, label, call.what)
            return pack(out, typed), Failure(exc, label, call.what, i)
    return pack(out, typed), None


def _broadcast(df: pd.DataFrame, call: ApplyCall, runner: Runner) -> Any:
    agg_axis = _agg_axis(df, call)
    if not agg_axis.is_unique:  # pandas passes target[label]: a frame for a repeated label
        return call.pandas(df)
    data, n = _chunks(df, call, runner)
    parts = runner.map(job(_w_broadcast, df, call=call, typed=runner.routes.typed), data,
                       desc_of(call.func), n=n)
    failures_of(parts, lambda p: p[1])
    replay = SequenceReplay(parts, agg_axis, call.what, runner.reraise)
    return replay.run(lambda: call.pandas(df, replay))


# -- raw=True --------------------------------------------------------------------------------

def _w_raw(values: np.ndarray, call: ApplyCall, typed: bool) -> Any:
    """func on each row of a slice of the whole frame's ``values`` (of its transpose for
    axis=0: a column each), as ``np.apply_along_axis`` passes them; a failure's label is
    named by the caller, which knows where the slice starts."""
    out = []
    for i in range(len(values)):
        try:
            out.append(call.func(values[i], *call.args, **call.kwargs))
        except Exception as exc:
            return pack(out, typed), Failure(exc, None, call.what, i)
    return pack(out, typed), None


def _raw(df: pd.DataFrame, call: ApplyCall, runner: Runner) -> Any:
    values = df.values  # the whole frame's: its dtype can depend on all rows (Int64 + NA)
    along = values if call.axis == 1 else values.T
    agg_axis = _agg_axis(df, call)
    data, slices = value_chunks(along, runner.count(len(along), "rows" if call.axis == 1
                                                    else "columns"))
    with warnings.catch_warnings():  # the user gave a frame: that its .values are objects
        # (mixed dtypes) and travel by pickle is this function's choice, not theirs to fix
        warnings.simplefilter("ignore", PickleFallbackWarning)
        parts = runner.map(job(_w_raw, df, call=call, typed=runner.routes.typed), data,
                           desc_of(call.func))
    for failure in failures_of(parts, lambda p: p[1]):
        failure.label = agg_axis[slices[failure.chunk].start + failure.position]
    payloads = [p for p, _ in parts]
    if common_typed_dtype(payloads) is not None and all(f is None for _, f in parts):
        return _typed_series(df, call, payloads)
    replay = SequenceReplay(parts, agg_axis, call.what, runner.reraise)
    return replay.run(lambda: call.pandas(df, replay))

