"""replay: what a process worker's chunk emitted, re-emitted in the caller. Layer: leaves.

The worker side is :mod:`.feedback` (it collects; this module replays). As each chunk returns,
the map driver calls :func:`replay` with the chunk's captured items:

- log records go to ``logger.handle(record)`` if the caller's level for that logger allows it,
  tagged ``record.chunk`` / ``record.worker_pid`` and with ``[chunk i, worker pid]`` after the
  message;
- warnings go through the caller's warning filters: ``"error"`` raises, ``"once"``/``"default"``
  show a warning once per place across all chunks (as a serial run would);
- text goes to ``sys.stdout`` / ``sys.stderr`` of the caller (the notebook cell that ran the map).

:func:`caller_level` tells workers the lowest level any of the caller's loggers accepts, so that
``log.debug`` in a chunk costs nothing when nobody listens.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import warnings
from collections.abc import Iterator
from typing import Any

#: Record attributes that name the chunk and the worker (usable in formats: ``%(chunk)s``).
CHUNK_ATTR, PID_ATTR = "chunk", "worker_pid"


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
    with clear_of_bars():
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
def clear_of_bars() -> Iterator[None]:
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
    # tqdm's lock is not held while the text is written: a handler that writes through tqdm
    # (tqdm.contrib.logging) takes it inside its own lock, the reverse order, and would deadlock.
    with cls.get_lock():
        drawn = [bar for bar in list(cls._instances) if _drawn_as_text(bar)]
        for bar in drawn:
            bar.clear(nolock=True)
    try:
        yield
    finally:
        with cls.get_lock():
            for bar in drawn:
                bar.refresh(nolock=True)


def _drawn_as_text(bar: Any) -> bool:
    if getattr(bar, "disable", True) or hasattr(bar, "container"):  # off, or a widget
        return False
    if not any(bar.fp == stream for stream in (sys.stdout, sys.stderr) if stream is not None):
        return False
    delay = getattr(bar, "delay", 0) or 0
    return delay <= 0 or bar.last_print_t >= bar.start_t + delay


def tag(index: int | None, pid: int) -> str:
    """The tag added to replayed messages: which chunk (None: a ``Pool.submit`` call), on which
    worker process."""
    what = "submitted call" if index is None else f"chunk {index}"
    return f"[{what}, worker {pid}]"


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
    except Exception:  # a category whose constructor wants other arguments
        shown = message if isinstance(message, Warning) else UserWarning(tagged)
    if action == "error":
        shown.add_note(f"warned by chunk {index} in worker process {pid}")
        raise shown
    warnings.showwarning(shown, category, filename, lineno)


def _action(text: str, category: type, module: str, lineno: int) -> str:
    """The action of the caller's first matching warnings filter (as ``warnings.warn`` does)."""
    for action, msg, cat, mod, ln in warnings.filters:
        if (_matches(msg, text) and issubclass(category, cat) and _matches(mod, module)
                and (ln == 0 or lineno == ln)):
            return action
    return warnings.defaultaction


def _matches(pattern: Any, text: str) -> bool:
    """A filter's message or module test: a compiled pattern, or (Python's own default filter
    of DeprecationWarning in ``__main__``) a plain string that must equal the text."""
    if pattern is None:
        return True
    if isinstance(pattern, str):
        return pattern == text
    return pattern.match(text) is not None


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
