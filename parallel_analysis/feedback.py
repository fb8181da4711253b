"""feedback: log records, warnings and prints from process workers, replayed in the caller.

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
construction) and :func:`replay` re-emits them. Thread and serial backends need none of this:
their chunks already run where the handlers are, so ``capture`` is a no-op for them.

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

#: Record attributes that name the chunk and the worker (usable in formats: ``%(chunk)s``).
CHUNK_ATTR, PID_ATTR = "chunk", "worker_pid"

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
        except Exception:  # noqa: BLE001 - logging must never fail the chunk
            self.handleError(record)


@contextlib.contextmanager
def capture(index: int, enabled: bool, level: int = logging.DEBUG) -> Iterator[Captured]:
    """Collect the log records, warnings and prints of a batch of chunks (when ``enabled``).

    The worker installs it once per batch and calls :meth:`Captured.take` after each chunk.

    ``level`` is the lowest level any of the caller's loggers accepts (see
    :func:`caller_level`); records below it are not even created in the worker. The worker's
    own logging and warning set-up is restored afterwards, whatever the chunk did.
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


def caller_level() -> int:
    """The lowest level at which any logger of this process would accept a record.

    Sent to workers so that ``log.debug`` in a chunk costs nothing when nobody listens, while
    ``logging.getLogger("mine").setLevel("DEBUG")`` in the caller still gets the debug records.
    """
    manager = logging.Logger.manager
    levels = [logging.getLogger().getEffectiveLevel()]
    for logger in list(manager.loggerDict.values()):
        if isinstance(logger, logging.Logger) and logger.level != logging.NOTSET:
            levels.append(logger.level)
    return max(1, min(levels), manager.disable + 1 if manager.disable else 1)


def replay(items: list, index: int, pid: int) -> None:
    """Re-emit a chunk's captured items in the caller, in the order the chunk emitted them.

    Log records go to the handlers of the logger that made them (respecting the caller's
    levels and filters), tagged with ``record.chunk`` and ``record.worker_pid`` and with
    ``[chunk i, worker pid]`` after the message; warnings go through ``warnings.warn_explicit``,
    so the caller's filters apply (an ``"error"`` filter raises here, naming the chunk); text
    goes to ``sys.stdout`` / ``sys.stderr`` as they are now (in Jupyter: the running cell).
    """
    with _clear_of_bars():
        _replay(items, index, pid)


def _replay(items: list, index: int, pid: int) -> None:
    for kind, payload in items:
        if kind == "log":
            _replay_record(payload, index, pid)
        elif kind == "warning":
            _replay_warning(payload, index, pid)
        elif kind in ("stdout", "stderr"):
            stream = sys.stdout if kind == "stdout" else sys.stderr
            if stream is not None:
                stream.write(payload)
                with contextlib.suppress(Exception):
                    stream.flush()


@contextlib.contextmanager
def _clear_of_bars() -> Iterator[None]:
    """Lift text progress bars off the terminal while replayed text is written, then redraw them.

    Without it a worker's log line lands after the bar's text on the same line ("3/8 [00:01]INFO
    ..."). Only bars already drawn are lifted: redrawing a ``progress="auto"`` bar still inside
    its delay would show it early. Notebook widgets are not in the text stream and are left
    alone. Costs nothing when tqdm was never imported or no bar is open.
    """
    cls = getattr(sys.modules.get("tqdm"), "tqdm", None)
    if not getattr(cls, "_instances", None):
        yield
        return
    with cls.get_lock():
        drawn = [bar for bar in list(cls._instances) if _drawn_as_text(bar)]
        for bar in drawn:
            bar.clear(nolock=True)
        try:
            yield
        finally:
            for bar in drawn:
                bar.refresh(nolock=True)


def _drawn_as_text(bar: Any) -> bool:
    if getattr(bar, "disable", True) or hasattr(bar, "container"):  # off, or a widget
        return False
    if not any(bar.fp == stream for stream in (sys.stdout, sys.stderr) if stream is not None):
        return False
    delay = getattr(bar, "delay", 0) or 0
    return delay <= 0 or bar.last_print_t >= bar.start_t + delay


def tag(index: int, pid: int) -> str:
    """The tag added to replayed messages: which chunk, on which worker process."""
    return f"[chunk {index}, worker {pid}]"


# -- worker side helpers ---------------------------------------------------------------------

def _record_state(record: logging.LogRecord) -> dict:
    """A LogRecord as a picklable dict: message formatted, exception rendered as text."""
    state = dict(record.__dict__)
    try:
        state["msg"] = record.getMessage()
    except Exception as exc:  # noqa: BLE001 - a bad format string must not fail the chunk
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
    except Exception:  # noqa: BLE001
        try:
            return repr(value)
        except Exception:  # noqa: BLE001
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


# -- caller side helpers ---------------------------------------------------------------------

def _replay_record(state: dict, index: int, pid: int) -> None:
    logger = logging.getLogger(state.get("name") or None)
    levelno = state.get("levelno", logging.INFO)
    if not logger.isEnabledFor(levelno):
        return
    state = dict(state)
    state["msg"] = f"{state.get('msg', '')} {tag(index, pid)}"
    state.setdefault(CHUNK_ATTR, index)
    state.setdefault(PID_ATTR, pid)
    logger.handle(logging.makeLogRecord(state))


def _replay_warning(payload: tuple, index: int, pid: int) -> None:
    """Apply the caller's warning filters to a worker's warning, then show or raise it.

    The filters are matched on the warning's own text, and "once per place" (the ``default``,
    ``module`` and ``once`` actions) is kept across chunks and workers as in a serial run; only
    the shown text carries the ``[chunk i, worker pid]`` tag.
    """
    category, message, filename, lineno, module, count = payload
    if not (isinstance(category, type) and issubclass(category, Warning)):
        category = UserWarning
    text = str(message)
    action = _action(text, category, module, lineno)
    if action == "ignore":
        return
    if action in ("default", "module", "once"):
        seen = _seen_warnings()
        key = {"default": (text, category, filename, lineno), "module": (text, category, filename),
               "once": (text, category)}[action]
        if key in seen:
            return
        seen.add(key)
    tagged = f"{text} {tag(index, pid)}" + (f" (x{count})" if count > 1 else "")
    try:
        shown = category(tagged)
    except Exception:  # noqa: BLE001 - a category whose constructor wants other arguments
        shown = message if isinstance(message, Warning) else UserWarning(tagged)
    if action == "error":
        shown.add_note(f"warned by chunk {index} in worker process {pid}")
        raise shown
    warnings.showwarning(shown, category, filename, lineno)


def _action(text: str, category: type, module: str, lineno: int) -> str:
    """The action of the caller's first matching warnings filter (as ``warnings.warn`` does)."""
    for action, msg, cat, mod, ln in warnings.filters:
        if ((msg is None or msg.match(text)) and issubclass(category, cat)
                and (mod is None or mod.match(module)) and (ln == 0 or lineno == ln)):
            return action
    return warnings.defaultaction


_seen: dict[str, Any] = {"filters": None, "keys": set()}


def _seen_warnings() -> set:
    """Warnings already shown under "once per place" actions; reset when the filters change."""
    try:
        current = tuple(warnings.filters)
    except TypeError:  # pragma: no cover - filters are tuples of hashables in CPython
        current = None
    if current != _seen["filters"]:
        _seen["filters"], _seen["keys"] = current, set()
    return _seen["keys"]
