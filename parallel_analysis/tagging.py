"""tagging: the log records, warnings and prints of chunks that run in the caller's own process
(thread and serial workers, ``Pool.submit`` on threads, ``backend="auto"``'s probe). Layer:
leaves (imports replay).

Such chunks need no capture (:mod:`.feedback` collects a process worker's): they run where the
handlers are. What they need is what the replay gives a process worker's records: the chunk's
tag (``record.chunk``, ``record.worker_pid``, ``[chunk i, thread name]`` after the message, and
in the text of a warning they show), and text progress bars lifted off the terminal while a
record is written. A thread says which chunk it runs with :func:`enter_chunk`; the probe's
pieces, which the chunk repeats, are :func:`silenced`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import warnings
from collections.abc import Iterator
from typing import Any

from . import replay
from .forks import fork_safe_lock

_running = threading.local()  # .chunk: the chunk a thread or serial worker runs now (or None)
_muted = threading.local()  # .on: this thread's records and prints are dropped (silenced())
_mute_lock = fork_safe_lock()
_mute_count = [0]  # threads inside silenced(): the streams are swapped while any is
_streams: list = []  # the streams silenced() swapped out
_tagging_lock = fork_safe_lock()
_tagging_installed = False  # logging and warnings wrapped (see _install_tagging)


#: ``enter_chunk(CALL)``: a ``Pool.submit`` call, not a chunk (its records say so).
CALL = "submitted call"


def enter_chunk(index: int | str) -> Any:
    """Tag the log records this thread makes with chunk ``index`` (a thread or serial worker,
    whose records go straight to the caller's handlers; :data:`CALL` for a submitted call);
    returns what :func:`leave_chunk` restores. A chunk of a map nested in a running chunk keeps
    the outer chunk's tag, as a process worker's capture does."""
    if not _tagging_installed:
        _install_tagging()
    outer = getattr(_running, "chunk", None)
    if outer is None:
        _running.chunk = index
    return outer


def leave_chunk(outer: Any) -> None:
    _running.chunk = outer


def _tag(index: int | str) -> str:
    what = index if index == CALL else f"chunk {index}"
    return f"[{what}, thread {threading.current_thread().name}]"


@contextlib.contextmanager
def silenced() -> Iterator[None]:
    """Drop the log records and prints this thread makes while it runs (``backend="auto"``'s
    probe runs ``func`` on pieces of the first chunk in the caller: the chunk itself says it
    all again). Other threads write as they do; warnings are left to their filters."""
    if not _tagging_installed:
        _install_tagging()
    with _mute_lock:
        _mute_count[0] += 1
        if _mute_count[0] == 1:  # the first silenced thread swaps the streams for them all
            _streams[:] = [sys.stdout, sys.stderr]
            sys.stdout, sys.stderr = (_Muted(s) if s is not None else s for s in _streams)
    outer = getattr(_muted, "on", False)
    _muted.on = True
    try:
        yield
    finally:
        _muted.on = outer
        with _mute_lock:
            _mute_count[0] -= 1
            if _mute_count[0] == 0:
                for name, old in zip(("stdout", "stderr"), _streams):
                    if isinstance(getattr(sys, name), _Muted):  # unless swapped meanwhile
                        setattr(sys, name, old)


class _Muted:
    """A stream that drops what the silenced thread writes and passes the rest on."""

    def __init__(self, stream: Any):
        self._stream = stream

    def write(self, text: str) -> int:
        return len(text) if getattr(_muted, "on", False) else self._stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _install_tagging() -> None:
    """Wrap ``logging.Logger.makeRecord``, ``Logger.handle`` and ``warnings.formatwarning``
    (whatever they are) once.

    Records made while a chunk runs in this thread get ``record.chunk`` / ``record.worker_pid``
    and the message tag ``[chunk i, thread name]``, as a process worker's replayed records do;
    set after the record's ``extra``, and only where ``extra`` set none: a chunk's own
    ``extra={"chunk": ...}`` wins, as in the replay (a record factory runs before ``extra``,
    which then refuses to overwrite). Handling such a record lifts text progress bars off the
    terminal first (as the replay does), so the line does not land on the bar; a silenced
    thread's records are dropped. Warnings shown from a chunk carry the tag in their text.
    """
    global _tagging_installed
    with _tagging_lock:
        if _tagging_installed:
            return
        make, handle, formatwarning = (logging.Logger.makeRecord, logging.Logger.handle,
                                       warnings.formatwarning)

        def make_tagged(self: logging.Logger, *args: Any, **kwargs: Any) -> logging.LogRecord:
            record = make(self, *args, **kwargs)
            index = getattr(_running, "chunk", None)
            if index is not None:
                record.__dict__.setdefault("chunk", None if index == CALL else index)
                record.__dict__.setdefault("worker_pid", os.getpid())
                if isinstance(record.msg, str):  # a thread name's % must not format
                    tag = _tag(index)
                    record.msg = f"{record.msg} {tag.replace('%', '%%') if record.args else tag}"
            return record

        def handle_in_chunk(self: logging.Logger, record: logging.LogRecord) -> Any:
            if getattr(_muted, "on", False):
                return None
            if getattr(_running, "chunk", None) is None:
                return handle(self, record)
            with replay.clear_of_bars():
                return handle(self, record)

        def format_tagged(message: Any, category: Any, filename: str, lineno: int,
                          line: str | None = None) -> str:
            index = getattr(_running, "chunk", None)
            if index is not None:
                message = f"{message} {_tag(index)}"
            return formatwarning(message, category, filename, lineno, line)

        logging.Logger.makeRecord = make_tagged
        logging.Logger.handle = handle_in_chunk
        warnings.formatwarning = format_tagged
        _tagging_installed = True
