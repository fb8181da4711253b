"""exact.failures: an exception raised by ``func`` in a worker, sent back as a value and
re-raised where pandas would have raised it. Layer: API (imports map, worker, errors).

pandas stops at the first row (column, element, group) whose ``func`` raises. Chunks run at
once, and a later chunk may fail before an earlier one, so a worker does not raise: it catches
the exception, notes the label pandas would name (``raised by func on row with label ('c',
4)``) and returns a :class:`Failure`. The caller re-raises the failure pandas would have met
first (the lowest chunk; for ``DataFrame.map``, which pandas runs column by column, the lowest
column first) with its own type and arguments, plus what every map adds: the chunk note and
the worker's traceback as ``__cause__`` (:func:`parallel_analysis.map.raise_chunk_error`).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

from ..backends.remote import travelling_error
from ..errors import safe_repr
from ..map import raise_chunk_error
from ..worker import Outcome

#: Every note this package adds naming where func failed starts so.
NOTE_PREFIX = "raised by func on"


class Failure:
    """``func``'s exception in a worker, with where pandas would have raised it.

    ``position`` is the item's place in its chunk, ``order`` the key that sorts failures of one
    call in pandas' evaluation order (before the chunk index), ``chunk`` set by the caller.
    """

    __slots__ = ("exc", "label", "what", "position", "order", "tb", "chunk")

    def __init__(self, exc: BaseException, label: Any, what: str, position: int | None,
                 order: tuple = (), tb: str | None = None) -> None:
        self.exc, self.label, self.what, self.position = exc, label, what, position
        self.order, self.chunk = order, None
        self.tb = tb if tb is not None else "".join(
            traceback.format_exception(type(exc), exc, exc.__traceback__))

    def __reduce__(self):
        # the traceback object does not pickle: its text travels instead
        return (Failure, (travelling_error(self.exc), self.label, self.what, self.position,
                          self.order, self.tb))


def note(exc: BaseException, label: Any, what: str) -> None:
    """Add ``raised by func on <what> <label>`` to ``exc`` (once)."""
    if not any(str(n).startswith(NOTE_PREFIX) for n in getattr(exc, "__notes__", ())):
        exc.add_note(f"{NOTE_PREFIX} {what} {safe_repr(label, 200)}")


def failures_of(parts: list, failure_of: Callable[[Any], Any] = lambda p: p) -> list[Failure]:
    """The failures among the chunks' payloads, each told its chunk index."""
    out = []
    for i, part in enumerate(parts):
        failure = failure_of(part)
        if isinstance(failure, Failure):
            failure.chunk = i
            out.append(failure)
    return out


def reraise(failure: Failure, n_chunks: int, backend: str) -> None:
    """Raise the failure's exception with the label note, the chunk note and its traceback."""
    note(failure.exc, failure.label, failure.what)
    raise_chunk_error(Outcome(failure.chunk or 0, False, error=failure.exc,
                              remote_tb=failure.tb), n_chunks, backend)


def raise_first(parts: list, n_chunks: int, backend: str,
                failure_of: Callable[[Any], Any] = lambda p: p) -> None:
    """Re-raise the failure pandas would have met first, if any chunk failed."""
    failures = failures_of(parts, failure_of)
    if failures:
        reraise(min(failures, key=lambda f: (f.order, f.chunk)), n_chunks, backend)
