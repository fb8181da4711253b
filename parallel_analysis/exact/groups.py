"""exact.groups: ``df.groupby(by, sort, dropna, group_keys).apply(func)`` and
``.transform(func)`` in chunks of whole groups, with pandas' exact result. Layer: API (imports
plan, exact.*; pandas at import).

Chunks are consecutive slices of the rows taken once in pandas' group order
(:func:`~.running.group_chunks`), so every group frame a worker builds is the one pandas would
build. ``apply``: each worker runs pandas' own ``apply_groupwise`` on its chunk (the group
frames with ``name`` pinned, the key columns excluded) and sends the results back with its
"mutated" flag (some result's index differs from its group's); the caller ORs the flags over
all groups and runs pandas' ``_wrap_applied_output`` once: the concat with the group keys, or
the reindex back to the original row order, ``None`` results dropped. ``transform``: pandas
chooses the fast (``func(group)``) or slow (``group.apply(func)``) path on the first group
only, so the caller does that on the first group and the workers take the same path for the
others; the caller then concatenates and restores the row order with pandas' own
``_set_result_index_ordered``.

Left to pandas in the caller: strings, ``by`` other than column or index-level names (arrays,
Series, functions, ``Grouper``), no groups; ``transform`` with one group or without the hooks.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..plan import Chunked
from ..reducers.kinds import pandas_version
from ..split import Groups, keys_of
from .assembly import Recorder, replayer
from .failures import Failure, note
from .group_names import NameRule, chunk_names, named, whole_frame_names
from .results import pack, unpack
from .running import Runner, curried, desc_of, group_chunks, job

WHAT = "group with key"


@dataclass(frozen=True)
class GroupKeys:
    """How the frame is grouped: ``df.groupby(by, sort=, dropna=, group_keys=)``."""

    by: Any
    sort: bool = True
    dropna: bool = True
    group_keys: bool = True

    def groupby(self, df: pd.DataFrame) -> Any:
        return df.groupby(self.by, sort=self.sort, dropna=self.dropna,
                          group_keys=self.group_keys)

    def simple(self, df: pd.DataFrame) -> bool:
        """Whether ``by`` names columns / index levels, so that a chunk can group itself."""
        keys = keys_of(self.by)
        levels = {n for n in df.index.names if n is not None}
        for k in keys:
            if not pd.api.types.is_hashable(k) or callable(k) or isinstance(k, pd.Grouper):
                return False
            if k not in df.columns and k not in levels:
                return False
            if pandas_version() < (3, 0) and k in df.columns and isinstance(
                    df[k].dtype, pd.CategoricalDtype):
                return False  # observed=False before pandas 3: a chunk would add empty groups
        return len(keys) > 0


def _chunked(df: pd.DataFrame, keys: GroupKeys, gb: Any, runner: Runner) -> Chunked:
    groups = Groups(keys.by, keys.sort, keys.dropna)
    data, slices = group_chunks(df, groups, gb, runner.count(len(df), "groups"),
                                runner.routes.use_hooks)
    return Chunked(data, slices)


# -- apply -----------------------------------------------------------------------------------

def _warm_block_map(obj: Any) -> None:
    """Compute the frame's column -> block map once, as pandas' own sort would have.

    pandas' splitter takes the rows in group order (``take``); on a frame in whole-frame order
    its ``take`` of rows it already holds in order is a shallow copy, and then every group
    frame sliced from it rebuilds that map on its first column access (about 25 µs a group, a
    tenth of a cheap group function). The map is a cache of the block layout: no group frame,
    result or dtype changes.
    """
    mgr = getattr(obj, "_mgr", None)
    if getattr(mgr, "ndim", 1) == 2 and getattr(mgr, "_blknos", ()) is None:
        mgr.blknos  # noqa: B018  (the property fills the cache)


class _Guarded:
    """``func`` on the hooks route, where pandas' own loop keeps the results: only the group it
    raised on is remembered (a third of the Recorder's cost per call, ~1 µs a group)."""

    __slots__ = ("func", "calls", "failed", "label")

    def __init__(self, func: Callable) -> None:
        self.func, self.calls, self.failed, self.label = func, 0, False, None

    def __call__(self, group: Any) -> Any:
        try:
            self.calls += 1
            return self.func(group)
        except Exception:
            self.failed, self.label = True, getattr(group, "name", None)
            raise


def _w_apply(chunk: pd.DataFrame, keys: GroupKeys, f: Callable, hooks: bool,
             typed: bool, names: NameRule | None) -> Any:
    cg = keys.groupby(chunk)
    f = named(f, cg, names)
    rec = _Guarded(f) if hooks else Recorder(f, WHAT)
    try:
        if hooks:  # BaseGrouper.apply_groupwise: pins group.name, calls f, tracks "mutated"
            obj = cg._obj_with_exclusions
            _warm_block_map(obj)
            values, mutated = cg._grouper.apply_groupwise(rec, obj)
        else:
            cg.apply(rec)
            values, mutated = rec.out, None
    except Exception as exc:
        if rec.failed:
            note(exc, rec.label, WHAT)
            done = rec.calls - 1 if hooks else len(rec.out)
            return Failure(exc, rec.label, WHAT, done)
        raise
    return pack(values, typed), mutated


def groupby_apply(df: pd.DataFrame, keys: GroupKeys, func: Any, runner: Runner,
                  args: tuple = (), kwargs: dict | None = None) -> Any:
    """``keys.groupby(df).apply(func, *args, **kwargs)``; exactly pandas' result."""
    kwargs = kwargs or {}
    gb = keys.groupby(df)
    if not callable(func) or isinstance(func, str) or not keys.simple(df) or gb.ngroups == 0:
        return gb.apply(func, *args, **kwargs)
    hooks = runner.routes.use_hooks
    worker = job(_w_apply, df, keys=keys, f=curried(func, args, kwargs), hooks=hooks,
                 typed=runner.routes.typed, names=whole_frame_names(gb, df, keys.by))
    parts = runner.map(worker, _chunked(df, keys, gb, runner), desc_of(func))
    runner.raise_first(parts)
    values = list(itertools.chain.from_iterable(unpack(p) for p, _ in parts))
    if hooks:
        return gb._wrap_applied_output(gb._obj_with_exclusions, values,
                                       not_indexed_same=any(m for _, m in parts),
                                       is_transform=False)
    replay, check = replayer(values)
    out = gb.apply(replay)
    check()
    return out


# -- transform -------------------------------------------------------------------------------

def _w_transform(chunk: pd.DataFrame, keys: GroupKeys, f: Callable, fast: bool,
                 names: NameRule | None) -> Any:
    from pandas.core.groupby.generic import _wrap_transform_general_frame

    cg = keys.groupby(chunk)
    fast_path, slow_path = cg._define_paths(f)
    path = fast_path if fast else slow_path
    applied = []
    groups = cg._grouper.get_iterator(cg._obj_with_exclusions)
    renamed = chunk_names(cg, names)
    if renamed is not None:
        groups = zip(renamed, (group for _, group in groups))
    for name, group in groups:
        if group.size == 0:
            continue
        object.__setattr__(group, "name", name)
        try:
            applied.append(_wrap_transform_general_frame(chunk, group, path(group)))
        except Exception as exc:  # func, or pandas rejecting its result for this group
            note(exc, name, WHAT)
            return Failure(exc, name, WHAT, len(applied))
    return _pack_frames(applied)


def _same_numpy_dtypes(frames: list) -> bool:
    """All frames have equal (unique) columns and the same non-object numpy dtype each."""
    first = frames[0]
    if not first.columns.is_unique or not all(
            isinstance(d, np.dtype) and d.kind in "biufcmM" for d in first.dtypes):
        return False
    return all(f.columns.equals(first.columns) and f.dtypes.equals(first.dtypes)
               for f in frames[1:])


def _pack_frames(frames: list) -> tuple:
    """Frames that only meet again in ``concat(..., ignore_index=True)``: one block when all
    have the same columns and numpy dtypes (concat then cannot change a dtype), else a list."""
    if len(frames) > 1 and _same_numpy_dtypes(frames):
        block = pd.concat(frames, axis=0, verify_integrity=False, ignore_index=True)
        return ("block", block, [len(f) for f in frames])
    return ("frames", frames, None)


def _first_group(gb: Any, f: Callable) -> tuple[Callable, list, int]:
    """pandas' choice of path on the first group: (path, its wrapped result, its rows)."""
    from pandas.core.groupby.generic import _wrap_transform_general_frame

    fast_path, slow_path = gb._define_paths(f)
    name, group = next(iter(gb._grouper.get_iterator(gb._obj_with_exclusions)))
    object.__setattr__(group, "name", name)
    try:
        path, res = gb._choose_path(fast_path, slow_path, group)
    except ValueError as err:
        new = ValueError("transform must return a scalar value for each group")
        note(new, name, WHAT)
        raise new from err
    except Exception as exc:
        note(exc, name, WHAT)
        raise
    first = [_wrap_transform_general_frame(gb.obj, group, res)] if group.size > 0 else []
    return path is fast_path, first, len(group)


def _pieces(first: list, parts: list) -> list:
    blocks = first + [data for kind, data, _ in parts if kind == "block"]
    if len(blocks) == len(first) + len(parts) and _same_numpy_dtypes(blocks):
        return blocks  # one dtype per column everywhere: concat of blocks == concat of pieces
    pieces = list(first)
    for kind, data, lengths in parts:
        if kind == "frames":
            pieces.extend(data)
        else:
            starts = np.cumsum([0] + lengths)
            pieces.extend(data.iloc[a:b] for a, b in zip(starts[:-1], starts[1:]))
    return pieces


def groupby_transform(df: pd.DataFrame, keys: GroupKeys, func: Any, runner: Runner,
                      args: tuple = (), kwargs: dict | None = None) -> Any:
    """``keys.groupby(df).transform(func, *args, **kwargs)``; exactly pandas' result."""
    kwargs = kwargs or {}
    gb = keys.groupby(df)
    if (not callable(func) or isinstance(func, str) or not keys.simple(df) or gb.ngroups <= 1
            or not runner.routes.use_hooks):
        return gb.transform(func, *args, **kwargs)
    f = curried(func, args, kwargs)
    fast, first, first_rows = _first_group(gb, f)
    chunked = _chunked(df, keys, gb, runner)
    # the first group is done: its rows lead the first chunk (rows are in group order)
    head = chunked.slices[0]
    slices = ([slice(head.start + first_rows, head.stop)] if head.stop - head.start > first_rows
              else []) + chunked.slices[1:]
    parts = runner.map(job(_w_transform, df, keys=keys, f=f, fast=fast,
                           names=whole_frame_names(gb, df, keys.by)),
                       Chunked(chunked.data, slices), desc_of(func))
    runner.raise_first(parts)
    concatenated = pd.concat(_pieces(first, parts), axis=0, verify_integrity=False,
                             ignore_index=True)
    concatenated = concatenated.reindex(gb._obj_with_exclusions.columns, axis=1)
    return gb._set_result_index_ordered(concatenated)
