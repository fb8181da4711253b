"""feedback: log records, warnings and prints of a chunk in a process worker, collected. Layer:
leaves.

A process worker has no notebook cell and no logging configuration: left alone, its prints and
log records go to the kernel's terminal (or nowhere) and its warnings to the worker's stderr.
So while a chunk runs in a worker, :func:`capture` collects what it emits, in order::

    worker                                         caller (map.execute, as each chunk returns)
    ──────                                         ───────────────────────────────────────────
    logging → _Collector handler on the root  ──▶  logger.handle(record) if the caller's level
                                                   for that logger allows it, tagged
                                                   ``record.chunk`` / ``record.worker_pid``
    warnings.warn → showwarning, deduplicated ──▶  the caller's warning filters: "error"
                                                   raises, "once"/"default" show a warning once
                                                   per place across all chunks (as a serial run
                                                   would), then warnings.showwarning
    print / sys.stdout / sys.stderr writes    ──▶  sys.stdout / sys.stderr of the caller (the
                                                   notebook cell that ran the map)

The items travel back with the chunk's outcome (:class:`Captured` ``.items``, picklable by
construction) and :func:`parallel_analysis.replay.replay` re-emits them in the caller. Thread
and serial backends need none of this: their chunks already run where the handlers are, so
``capture`` is a no-op for them; their records are tagged as they are made instead
(:mod:`.tagging`).

Costs: with nothing emitted, a chunk pays for swapping ``sys.stdout``/``sys.stderr``, one handler
and one warnings filter (a few microseconds). Records are turned into plain dicts (message
formatted, exception text rendered) so an unpicklable log argument can never break a result.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import warnings
from collections.abc import Iterator
from typing import Any

#: Distinct warnings (by category, text and place) kept per chunk; the rest are counted only,
#: so a warning raised in a tight loop costs a dict lookup, not a list that grows per row.
MAX_WARNINGS = 100

#: Characters of stdout/stderr kept per chunk; a chunk that prints more keeps the start and a
#: note of how much was dropped (the caller's cell must not receive gigabytes).
MAX_TEXT = 1_000_000

_PLAIN = (str, int, float, bool, type(None))

_capturing = threading.local()  # .active: a chunk's capture is running in this thread


class Captured:
    """What one chunk emitted: a list of ``(kind, payload)`` items in emission order.

    Kinds: ``"log"`` (a LogRecord's ``__dict__``, made picklable), ``"warning"`` (category,
    message, filename, lineno, module, count), ``"stdout"`` and ``"stderr"`` (text).
    """

    def __init__(self) -> None:
        self.items: list[tuple[str, Any]] = []
        self._warning_keys: dict[tuple, int] = {}
        self._text = 0

    # -- text -------------------------------------------------------------------------------
    def write(self, kind: str, text: str) -> None:
        if not text:
            return
        room = MAX_TEXT - self._text
        if room <= 0:
            self._text += len(text)
            return
        if len(text) > room:
            text = text[:room] + f"\n[parallel_analysis: worker {kind} cut at {MAX_TEXT} chars]\n"
        self._text += len(text)
        if self.items and self.items[-1][0] == kind:  # consecutive writes of one stream
            self.items[-1][1].append(text)  # parts joined once, in seal(): no quadratic copies
        else:
            self.items.append((kind, [text]))

    def seal(self) -> None:
        """Join each run of text parts into one string (at the end of the chunk)."""
        self.items = [(kind, "".join(payload) if isinstance(payload, list) else payload)
                      for kind, payload in self.items]

    def take(self) -> list[tuple[str, Any]]:
        """The items of the chunk that just ended, sealed; starts afresh for the next chunk."""
        if not self.items:
            return []
        self.seal()
        items, self.items = self.items, []
        self._warning_keys, self._text = {}, 0
        return items

    # -- logging ----------------------------------------------------------------------------
    def log(self, record: logging.LogRecord) -> None:
        self.items.append(("log", _record_state(record)))

    # -- warnings ---------------------------------------------------------------------------
    def warn(self, message: Any, category: type, filename: str, lineno: int,
             file: Any = None, line: str | None = None) -> None:
        key = (category, str(message), filename, lineno)
        slot = self._warning_keys.get(key)
        if slot is not None:
            kind, (cat, msg, fname, lno, module, count) = self.items[slot]
            self.items[slot] = (kind, (cat, msg, fname, lno, module, count + 1))
            return
        if len(self._warning_keys) >= MAX_WARNINGS:
            return
        self._warning_keys[key] = len(self.items)
        module = _module_of(filename, lineno)
        self.items.append(("warning", (category, _picklable_or_text(message), filename, lineno,
                                       module, 1)))


class _Stream:
    """A text stream standing in for sys.stdout/sys.stderr in a worker during a chunk."""

    def __init__(self, captured: Captured, kind: str, original: Any):
        self._captured, self._kind, self._original = captured, kind, original

    def write(self, text: str) -> int:
        self._captured.write(self._kind, str(text))
        return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:
        return getattr(self._original, "encoding", None) or "utf-8"

    def fileno(self) -> int:  # C-level writers (faulthandler, subprocess) keep the real fd
        return self._original.fileno()


class _Collector(logging.Handler):
    def __init__(self, captured: Captured):
        super().__init__(logging.NOTSET)
        self._captured = captured

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._captured.log(record)
        except Exception:  # logging must never fail the chunk
            self.handleError(record)


@contextlib.contextmanager
def capture(index: int, enabled: bool, level: int = logging.DEBUG) -> Iterator[Captured]:
    """Collect the log records, warnings and prints of a batch of chunks (when ``enabled``).

    The worker installs it once per batch and calls :meth:`Captured.take` after each chunk.

    ``level`` is the lowest level any of the caller's loggers accepts (see
    :func:`parallel_analysis.replay.caller_level`); records below it are not even created in the
    worker. The worker's own logging and warning set-up is restored afterwards, whatever the
    chunk did.
    """
    captured = Captured()
    if not enabled or getattr(_capturing, "active", False):
        # A nested map inside a chunk: the outer chunk's capture already collects everything
        # (a second one would collect each record twice).
        yield captured
        return
    _capturing.active = True
    root = logging.getLogger()
    handler = _Collector(captured)
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(level)
    old_out, old_err = sys.stdout, sys.stderr
    sys.stdout = _Stream(captured, "stdout", old_out)
    sys.stderr = _Stream(captured, "stderr", old_err)
    try:
        with warnings.catch_warnings():
            # The caller's filters decide what is shown; the worker only keeps each distinct
            # warning once per chunk (with a count).
            warnings.simplefilter("always")
            warnings.showwarning = captured.warn
            yield captured
    finally:
        sys.stdout, sys.stderr = old_out, old_err
        root.removeHandler(handler)
        root.setLevel(old_level)
        _capturing.active = False
        captured.seal()


# -- worker side helpers ---------------------------------------------------------------------

def _record_state(record: logging.LogRecord) -> dict:
    """A LogRecord as a picklable dict: message formatted, exception rendered as text."""
    state = dict(record.__dict__)
    try:
        state["msg"] = record.getMessage()
    except Exception as exc:  # a bad format string must not fail the chunk
        state["msg"] = f"{record.msg!r} (could not format with {record.args!r}: {exc})"
    state["args"] = None
    if record.exc_info:
        if not record.exc_text:
            state["exc_text"] = logging.Formatter().formatException(record.exc_info)
        state["exc_info"] = None
    for key, value in state.items():
        if not isinstance(value, _PLAIN):
            state[key] = _picklable_or_text(value)
    return state


def _picklable_or_text(value: Any) -> Any:
    if isinstance(value, _PLAIN):
        return value
    try:
        import cloudpickle

        cloudpickle.dumps(value)
        return value
    except Exception:
        try:
            return repr(value)
        except Exception:
            return object.__repr__(value)


def _module_of(filename: str, lineno: int) -> str:
    """The ``__name__`` a filter's module regex is matched against, as ``warnings.warn`` does.

    showwarning is not told the module, so find the frame the warning was attributed to (same
    file and line) on the stack and read its globals; failing that, CPython's own fallback (the
    file name without ``.py``).
    """
    frame = sys._getframe(1)
    for _ in range(64):
        if frame is None:
            break
        if frame.f_code.co_filename == filename and frame.f_lineno == lineno:
            return str(frame.f_globals.get("__name__", "<string>"))
        frame = frame.f_back
    module = filename or "<unknown>"
    return module[:-3] if module.lower().endswith(".py") else module
