"""exact.outputs: ``Series.map`` / ``Series.apply`` results written by process workers straight
into one shared buffer. Layer: API (imports share, split, worker, exact.results,
exact.failures; pandas at import).

On the process backend (and ``auto``) a chunk's results of one 8-byte numpy dtype (``float64``,
``int64``: what :func:`~.results.pack` makes a :class:`~.results.Typed` of) otherwise travel
back pickled
(400 KB a chunk of 50,000 floats, through the executor's pipe, while the worker waits), are
unpickled in the caller and concatenated there: about 5 ms of the caller's 10 ms for 400,000
floats, all of it serial. Here the caller hands every worker the series (Arrow buffers in shared
memory, as every map does) and one output buffer of 8 bytes an element (warm pages of the
arena); each chunk is a ``(start, stop)`` pair, so the worker knows where its results go, writes
them there and sends back only a :class:`Written` marker. The caller copies the buffer out once.

Whatever is not one 8-byte dtype (bools, mixed types, objects, a Failure) comes back as before;
:func:`materialized` turns every marker back into the :class:`~.results.Typed` it stands for, so
the caller's assembly (the exact fast path or pandas' own replay) is unchanged.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from ..cuts import even_slices
from ..share.arrays import output_array
from ..share.frames import share_frame
from ..worker import in_worker
from .failures import Failure
from .results import Typed

#: Bytes per element of the output buffer: the widest Typed dtype (float64, int64).
WIDTH = 8


class Written:
    """A chunk's Typed results, left in the output buffer at ``start:stop`` (elements)."""

    __slots__ = ("kind", "dtype", "start", "stop")

    def __init__(self, kind: type, dtype: np.dtype, start: int, stop: int) -> None:
        self.kind, self.dtype, self.start, self.stop = kind, dtype, start, stop

    def __reduce__(self):
        return (Written, (self.kind, self.dtype, self.start, self.stop))


class Span:
    """Elements ``start:stop`` of the shared series: a chunk as small as a tuple that
    ``backend="auto"``'s probe can still cut like rows (``span.iloc[:r]``, ``len(span)``), so an
    auto pool decides on this map as it would on the series' own chunks."""

    __slots__ = ("start", "stop")

    def __init__(self, start: int, stop: int) -> None:
        self.start, self.stop = start, stop

    def __len__(self) -> int:
        return self.stop - self.start

    @property
    def iloc(self) -> Span:
        return self

    def __getitem__(self, rows: slice) -> Span:
        start, stop, _ = rows.indices(len(self))
        return Span(self.start + start, self.start + stop)

    def __reduce__(self):
        return (Span, (self.start, self.stop))


#: Backends whose workers write the buffer: processes (results would otherwise be pickled
#: back) and auto, which picks processes or threads per map (threads write it just as well).
BACKENDS = ("process", "auto")


def usable(values: Any, backend: str, typed: bool) -> bool:
    """Whether a map of ``values`` (a Series' array) should write into a shared buffer: process
    (or auto) workers (not a nested map inside a worker: that one runs serially), bulk payloads
    allowed, numeric numpy values (shared as Arrow without a pickle)."""
    return (backend in BACKENDS and typed and isinstance(values, np.ndarray)
            and values.dtype.kind in "biufc" and len(values) > 0 and not in_worker())


def write_part(part: Any, out: Any, start: int) -> Any:
    """A worker's ``(payload, skipped)`` with a Typed payload of 8-byte items written into
    ``out`` (a handle of the uint8 buffer) at element ``start``, replaced by a Written marker."""
    if isinstance(part, Failure):
        return part
    payload, skipped = part
    if isinstance(payload, Typed) and payload.values.dtype.itemsize == WIDTH:
        values = payload.values
        buffer = out.value
        buffer[start * WIDTH:(start + len(values)) * WIDTH] = values.view(np.uint8)
        payload = Written(payload.kind, values.dtype, start, start + len(values))
    return payload, skipped


def _w_map_span(span: Span, source: Any, out: Any, work: Callable) -> Any:
    chunk = source.value.iloc[span.start:span.stop]
    return write_part(work(chunk), out, span.start)


def run_into(s: Any, work: Callable, runner: Any, desc: str) -> tuple[list, np.ndarray]:
    """``work(chunk)`` (a worker returning ``(payload, skipped)`` or a Failure) on each chunk of
    ``s``, the Typed payloads written into one buffer: (the parts, the buffer's copy)."""
    n = len(s)
    spans = [Span(sl.start, sl.stop) for sl in even_slices(n, runner.count(n, "elements"))]
    source = share_frame(s, transient=True)
    out = output_array((n * WIDTH,), np.uint8, transient=True)
    try:
        parts = runner.map(functools.partial(_w_map_span, source=source, out=out, work=work),
                           spans, desc)
        written = any(isinstance(p, tuple) and isinstance(p[0], Written) for p in parts)
        return parts, (np.array(out.value) if written else np.empty(0, np.uint8))
    finally:
        out.close(wait=False)
        source.close(wait=False)


def materialized(parts: list, buffer: np.ndarray) -> list:
    """The parts with every Written marker replaced by the Typed payload it stands for."""
    out = []
    for part in parts:
        if isinstance(part, tuple) and isinstance(part[0], Written):
            w, skipped = part
            values = buffer[w.start * WIDTH:w.stop * WIDTH].view(w.dtype)
            part = (Typed(w.kind, values), skipped)
        out.append(part)
    return out


def whole(parts: list, buffer: np.ndarray) -> np.ndarray | None:
    """The buffer as the mapped array when every chunk was written with one dtype (the exact
    fast path's condition, :func:`~.results.common_typed_dtype`, met without a concat)."""
    payloads = [p[0] if isinstance(p, tuple) else p for p in parts]
    if not payloads or not all(isinstance(p, Written) for p in payloads):
        return None
    dtypes = {p.dtype for p in payloads}
    return buffer.view(dtypes.pop()) if len(dtypes) == 1 else None
