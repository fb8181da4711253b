"""auto_memory: the answers of ``backend="auto"``'s GIL votes that a pool remembers, and what
keys them. Layer: pipeline (imports worker).

A probe's answer depends on the function, the map's mode and reducer, and the kind of data, so
those (looked through partials and bound methods, and closures by what they close over) are the
key; a later map with the same key uses the answer without probing, once :data:`CONFIRMED`
probes in a row agreed on it.
"""

from __future__ import annotations

import functools
import threading
import types
from collections import OrderedDict
from typing import Any

import numpy as np

from .worker import Job

#: Decisions a pool remembers (the least recently used go first).
REMEMBERED = 256

#: Probes in a row that must give one backend before a pool stops probing (one probe can be
#: unlucky: a first call in a cold process, a stall of the machine).
CONFIRMED = 2

#: Plain values of a partial's arguments that go into the key as themselves (others by type).
_PLAIN = (str, bytes, int, float, bool, type(None))


def _func_key(func: Any, depth: int = 0) -> Any:
    """What identifies ``func``'s behaviour: its code (and a closure's cells), looked through
    partials and bound methods; a builtin or ufunc itself; another callable's class."""
    if depth > 8:
        return type(func)
    if isinstance(func, functools.partial):
        return ("partial", _func_key(func.func, depth + 1),
                tuple(_arg_key(a, depth) for a in func.args),
                tuple(sorted((k, _arg_key(v, depth)) for k, v in func.keywords.items())))
    if hasattr(func, "__func__") and hasattr(func, "__self__"):  # a bound method
        return ("method", _func_key(func.__func__, depth + 1), type(func.__self__))
    code = getattr(func, "__code__", None)
    if code is not None:  # a closure also by what it closes over (a factory's functions)
        cells = getattr(func, "__closure__", None) or ()
        return (code, tuple(_cell_key(cell, depth) for cell in cells)) if cells else code
    if isinstance(func, (types.BuiltinFunctionType, np.ufunc)):
        return func
    return type(func)  # a callable object: by class (the key must not keep its data alive)


def _cell_key(cell: Any, depth: int) -> Any:
    try:
        return _arg_key(cell.cell_contents, depth)
    except ValueError:  # a cell not yet filled
        return None


def _arg_key(value: Any, depth: int) -> Any:
    if callable(value) and not isinstance(value, type):
        return _func_key(value, depth + 1)
    if isinstance(value, _PLAIN) and not (isinstance(value, (str, bytes)) and len(value) > 200):
        return value
    if isinstance(value, (tuple, list)) and len(value) <= 8:
        return (type(value), tuple(_arg_key(v, depth) for v in value))
    return type(value)


def _data_key(data: Any) -> Any:
    """The kind of the data: its type and dtype(s), or the first chunk's for a list of them."""
    data = getattr(data, "value", data)  # a Shared handle: what it holds
    if isinstance(data, (list, tuple)):
        return ("chunks", _data_key(data[0]) if data else None)
    dtypes = getattr(data, "dtypes", None)
    if dtypes is not None and not isinstance(dtypes, np.dtype):
        try:
            return (type(data), tuple(str(d) for d in dtypes))
        except TypeError:
            pass
    return (type(data), str(getattr(data, "dtype", "")), getattr(data, "ndim", None))


class Memory:
    """The GIL votes' answers a pool has seen, by (function, mode, reducer, data kind)."""

    def __init__(self, size: int = REMEMBERED) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._answers: OrderedDict = OrderedDict()

    def key(self, job: Job, data: Any) -> Any:
        """The key of ``job`` on ``data``, or None when it cannot be told (never remembered)."""
        try:
            key = (_func_key(job.func), job.mode, type(job.reducer), job.halos is not None,
                   tuple(_arg_key(a, 0) for a in job.args),
                   tuple(sorted((k, _arg_key(v, 0)) for k, v in (job.kwargs or {}).items())),
                   _data_key(data))
            hash(key)
        except Exception:  # an odd object anywhere: decide afresh each time
            return None
        return key

    def get(self, key: Any) -> tuple[str, str, float] | None:
        """(backend, reason, func's wall seconds per row) for ``key``, once :data:`CONFIRMED`
        probes in a row gave that backend; else None (probe again)."""
        if key is None:
            return None
        with self._lock:
            answer = self._answers.get(key)
            if answer is None or answer[3] < CONFIRMED:
                return None
            self._answers.move_to_end(key)
            return answer[:3]

    def put(self, key: Any, answer: tuple[str, str, float]) -> None:
        """A probe's answer: it confirms the one remembered, or replaces it."""
        if key is None:
            return
        with self._lock:
            seen = self._answers.get(key)
            times = seen[3] + 1 if seen is not None and seen[0] == answer[0] else 1
            self._answers[key] = (*answer, times)
            self._answers.move_to_end(key)
            while len(self._answers) > self._size:
                self._answers.popitem(last=False)

    def __len__(self) -> int:
        return len(self._answers)
