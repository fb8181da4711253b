"""exact.assembly: pandas' own assembly code run on results computed elsewhere. Layer: API
(imports exact.results and exact.failures; pandas at import).

Two routes, both exact:

- **hooks**: the private pandas functions that sit right after pandas' loop over rows or
  groups (``FrameApply.wrap_results``, ``DataFrameGroupBy._wrap_applied_output``,
  ``_choose_path`` / ``_set_result_index_ordered``), given the results of all chunks in order.
  Cheap, but private: they are used only on the pandas versions in :data:`PANDAS_TESTED`, and
  only when every name in :data:`PRIVATE_NAMES` is there (``tests/test_exact.py`` checks both,
  so a pandas upgrade shows up as a failing test, never as a wrong result).
- **replay**: the *public* pandas method called on the whole object with a stand-in function
  that returns the recorded results in call order (:func:`replayer`). Exact by construction;
  it pays pandas' own per-call overhead (about 40% of ``df.apply(f, axis=1)`` itself).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from ..reducers.kinds import pandas_version
from .failures import NOTE_PREFIX, Failure
from .results import unpack

#: pandas (major, minor) versions whose private assembly functions were checked against
#: pandas' public results (the hypothesis suite in tests/test_exact.py); others replay.
PANDAS_TESTED = ((3, 0), (3, 1))

#: The private names the hooks route relies on, by where they live.
PRIVATE_NAMES = {
    "pandas._libs.lib": ("map_infer", "map_infer_mask"),
    "pandas.core.apply": ("frame_apply",),
    "pandas.core.groupby.generic": ("_wrap_transform_general_frame",),
    "pandas.core.methods.describe": ("DataFrameDescriber", "reorder_columns"),
    "DataFrameGroupBy": ("_wrap_applied_output", "_define_paths", "_choose_path",
                         "_set_result_index_ordered", "_obj_with_exclusions", "_grouper"),
    "BaseGrouper": ("apply_groupwise", "get_iterator", "ids", "result_ilocs", "ngroups"),
}


def missing_private_names() -> list[str]:
    """The private pandas names :data:`PRIVATE_NAMES` lists that this pandas lacks."""
    import importlib

    grouped = pd.DataFrame({"k": [1]}).groupby("k")
    owners = {"DataFrameGroupBy": grouped, "BaseGrouper": getattr(grouped, "_grouper", None)}
    missing = []
    for where, names in PRIVATE_NAMES.items():
        owner = owners[where] if where in owners else importlib.import_module(where)
        missing += [f"{where}.{n}" for n in names if not hasattr(owner, n)]
    return missing


@functools.cache
def hooks_usable() -> bool:
    """Whether this pandas is one the hooks were tested with and has all their names."""
    return pandas_version() in PANDAS_TESTED and not missing_private_names()


@dataclass(frozen=True)
class Routes:
    """Which routes a call may take: ``hooks`` (else replay), ``typed`` (bulk payloads, else
    lists) and ``fast_expand`` (Series rows built straight from their block). All on by
    default; the tests switch them off to check that every route gives pandas' result."""

    hooks: bool = True
    typed: bool = True
    fast_expand: bool = True

    @property
    def use_hooks(self) -> bool:
        return self.hooks and hooks_usable()


_routes = [Routes()]


def current_routes() -> Routes:
    return _routes[0]


@contextlib.contextmanager
def routes(**changes: bool) -> Iterator[Routes]:
    """Calls made inside take only the routes given (for tests)."""
    before = _routes[0]
    _routes[0] = replace(before, **changes)
    try:
        yield _routes[0]
    finally:
        _routes[0] = before


_END = object()
_MISSING = object()
_COUNT_ERROR = ("pandas called func {} than the workers did; cannot assemble the result "
                "exactly")


def replayer(results: Any) -> tuple[Callable, Callable[[], None]]:
    """A stand-in func returning ``results`` in order, and a check that all were consumed.

    ``functools.partial(next, it)`` is a C-level callable: ``f(x)`` is ``next(it, x)``.
    """
    it = itertools.chain(results, (_END,))

    def check() -> None:
        if next(it, _MISSING) is not _END:
            raise RuntimeError(_COUNT_ERROR.format("a different number of times"))
    return functools.partial(next, it), check


class SequenceReplay:
    """Replays recorded results *and* a recorded failure in call order (Python-level).

    For the routes where pandas checks each result inside its loop (``broadcast``, ``raw``):
    a check that fails on an earlier row must win over a func error recorded on a later row,
    and an error raised by pandas' own check gets a note naming the row whose result it
    rejected. ``parts`` are ``(payload, Failure or None)`` per chunk; ``raise_failure`` raises
    a recorded failure the way the call reports errors.
    """

    def __init__(self, parts: list, labels: Any, what: str,
                 raise_failure: Callable[[Failure], None]) -> None:
        self.items = itertools.chain.from_iterable(
            itertools.chain(unpack(p), [f] if f is not None else []) for p, f in parts)
        self.labels, self.what, self.calls = labels, what, 0
        self.raise_failure = raise_failure

    def __call__(self, v: Any) -> Any:
        x = next(self.items, _END)
        self.calls += 1
        if isinstance(x, Failure):
            self.raise_failure(x)
        if x is _END:
            raise RuntimeError(_COUNT_ERROR.format("more often"))
        return x

    def run(self, call: Callable[[], Any]) -> Any:
        try:
            out = call()
        except Exception as exc:
            notes = getattr(exc, "__notes__", [])
            if self.calls and not any(str(n).startswith(NOTE_PREFIX) for n in notes):
                label = self.labels[self.calls - 1]
                exc.add_note(f"raised by pandas on the result of func for {self.what} "
                             f"{label!r}")
            raise
        if next(self.items, _END) is not _END:
            raise RuntimeError(_COUNT_ERROR.format("less often"))
        return out


class Recorder:
    """Wraps func for the replay route's workers: records each result (as pandas keeps it)
    and the label of a failing call, while pandas' public method drives the loop."""

    def __init__(self, func: Callable, what: str,
                 name_of: Callable[[Any], Any] = lambda v: getattr(v, "name", None)) -> None:
        self.func, self.what, self.name_of = func, what, name_of
        self.out: list = []
        self.failed = False
        self.label = None

    def __call__(self, v: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            r = self.func(v, *args, **kwargs)
        except Exception:
            self.failed = True
            self.label = self.name_of(v)
            raise
        # pandas keeps a shallow copy of a Series result (the row object is reused)
        self.out.append(r.copy(deep=False) if isinstance(r, pd.Series) else r)
        return r
