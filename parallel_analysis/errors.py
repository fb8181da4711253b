"""Errors raised by parallel_analysis. Layer: leaves (imports nothing of the package).

User exceptions raised inside ``func`` keep their own type; they gain a note naming the chunk and
carry the remote traceback as ``__cause__``. Everything the toolkit raises itself sits in a small
tree whose members are also builtins, so ``except RuntimeError`` style handlers keep working::

    ParallelAnalysisError(Exception)
     ├── WorkerCrashedError(RuntimeError)     a worker died (signal, os._exit, sys.exit)
     ├── ChunkTimeoutError(TimeoutError)      a chunk ran longer than ``timeout=``
     ├── SharedMemoryError(OSError)           no room for a segment, or a stale/foreign segment
     ├── SourceChangedError(OSError)          a Parquet file changed since par.from_parquet read it
     └── PicklingError(pickle.PicklingError)  a function, chunk or result could not be pickled

    RemoteTraceback(Exception)                a worker's traceback, as a raised error's __cause__
    PickleFallbackWarning(UserWarning)        data that cannot be shared travels by pickle
    SharedMemoryFallbackWarning(UserWarning)  /dev/shm full: a file mapping instead
    ResourceTrackerWarning(RuntimeWarning)    multiprocessing's resource tracker had died
"""

from __future__ import annotations

import pickle
from typing import Any


class ParallelAnalysisError(Exception):
    """Base of every error the toolkit raises itself."""


class WorkerCrashedError(ParallelAnalysisError, RuntimeError):
    """A worker process died while it ran a chunk.

    ``chunk`` is the index of the chunk it was running (None when it could not be told), and
    ``exitcode`` the process exit code (negative: killed by that signal).
    """

    def __init__(self, message: str, chunk: int | None = None, exitcode: int | None = None):
        super().__init__(message)
        self.chunk = chunk
        self.exitcode = exitcode

    def __reduce__(self):
        return (type(self), (self.args[0], self.chunk, self.exitcode))


class ChunkTimeoutError(ParallelAnalysisError, TimeoutError):
    """A chunk ran longer than the ``timeout=`` given to the map; its worker was stopped."""

    def __init__(self, message: str, chunk: int | None = None, timeout: float | None = None):
        super().__init__(message)
        self.chunk = chunk
        self.timeout = timeout

    def __reduce__(self):
        return (type(self), (self.args[0], self.chunk, self.timeout))


class SharedMemoryError(ParallelAnalysisError, OSError):
    """Shared memory could not be had: no room (says needed and free bytes) or a stale handle."""


class SourceChangedError(ParallelAnalysisError, OSError):
    """A lazy source's file changed after its footers were read (``par.from_parquet``)."""


class PicklingError(ParallelAnalysisError, pickle.PicklingError):
    """A function, chunk or result could not be pickled to cross a process boundary."""


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a worker, attached as its ``__cause__``."""

    def __init__(self, tb: str):
        super().__init__(tb)
        self.tb = tb

    def __str__(self) -> str:
        return self.tb


class PickleFallbackWarning(UserWarning):
    """Data that cannot live in shared memory (object dtype) is sent by pickle instead."""


class SharedMemoryFallbackWarning(UserWarning):
    """/dev/shm had no room, so the data went to a file-backed mapping in a temporary folder.

    A UserWarning, shown by default (a ResourceWarning is hidden unless asked for)."""


class ResourceTrackerWarning(RuntimeWarning):
    """multiprocessing's resource tracker had died; a new one was started and told what this
    process owns (so nothing is left in /dev/shm), and maps go on."""


def safe_repr(obj: Any, limit: int = 80) -> str:
    """``repr(obj)`` cut to ``limit`` characters; a broken ``__repr__`` never hides an error."""
    try:
        text = repr(obj)
    except Exception:  # a broken __repr__ must not hide the real error
        text = object.__repr__(obj)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def pickling_error(what: str, obj: Any, exc: BaseException, verb: str = "pickle"
                   ) -> PicklingError:
    """The one message for anything that cannot cross a process boundary by pickle."""
    shown = "" if obj is None else f" ({type(obj).__name__}: {safe_repr(obj)})"
    return PicklingError(
        f"could not {verb} {what}{shown} to send it between processes: "
        f"{type(exc).__name__}: {exc}. Pass plain data (numbers, arrays, frames), or use "
        "backend='thread'."
    )


def format_bytes(n: int | None) -> str:
    """``1.5 GiB``: sizes in messages (None: "an unknown amount")."""
    if n is None:
        return "an unknown amount"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover
