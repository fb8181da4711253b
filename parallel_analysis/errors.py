"""Errors raised by parallel_analysis.

User exceptions raised inside ``func`` keep their own type; they gain a note naming the chunk and
carry the remote traceback as ``__cause__``. Everything the toolkit raises itself sits in a small
tree whose members are also builtins, so ``except RuntimeError`` style handlers keep working::

    ParallelAnalysisError(Exception)
     ├── WorkerCrashedError(RuntimeError)     a worker died (signal, os._exit, sys.exit)
     ├── ChunkTimeoutError(TimeoutError)      a chunk ran longer than ``timeout=``
     ├── SharedMemoryError(OSError)           no room for a segment, or a stale/foreign segment
     └── PicklingError(pickle.PicklingError)  a function, chunk or result could not be pickled

    PickleFallbackWarning(UserWarning)        data that cannot be shared travels by pickle
    SharedMemoryFallbackWarning(ResourceWarning)  /dev/shm full: a file mapping instead
"""

from __future__ import annotations

import pickle


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


class PicklingError(ParallelAnalysisError, pickle.PicklingError):
    """A function, chunk or result could not be pickled to cross a process boundary."""


class PickleFallbackWarning(UserWarning):
    """Data that cannot live in shared memory (object dtype) is sent by pickle instead."""


class SharedMemoryFallbackWarning(ResourceWarning):
    """/dev/shm had no room, so the data went to a file-backed mapping in a temporary folder."""
