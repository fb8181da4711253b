"""backends.serial: chunks run in the calling thread, one after another. Layer: backends.

A real ``concurrent.futures.Executor`` whose ``submit`` runs the call at once and returns a done
future, so the map driver treats it exactly like the pools. ``timeout=`` is checked after each
chunk (a running call cannot be interrupted in its own thread).
"""

from __future__ import annotations

from concurrent.futures import Executor, Future

from ..board import Board
from ..worker import run_chunks
from .base import Backend


class SerialExecutor(Executor):
    """Runs each submitted call immediately in the caller's thread."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        future.set_running_or_notify_cancel()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # delivered through the future
            future.set_exception(exc)
        return future


class SerialBackend(Backend):
    name = "serial"

    def __init__(self, workers: int | None = 1):
        super().__init__(1)
        self._executor = SerialExecutor()
        self._board = Board.local(1)
        self._slot = self._board.claim()

    def submit(self, fn, /, *args, **kwargs) -> Future:
        return self._executor.submit(fn, *args, **kwargs)

    def submit_batch(self, job, specs, map_id) -> Future:
        return self._executor.submit(run_chunks, job, specs, self._board, self._slot, map_id)
