"""Backends: where chunks run. One small interface, one module per implementation.

A backend runs batches of chunk specs (:func:`~parallel_analysis.worker.run_chunks`) and hands
back ``concurrent.futures.Future`` objects; the map driver in :mod:`parallel_analysis.map` does
the rest the same way for all of them. The serial backend is a real implementation of the same
interface (as dask's ``local.py`` synchronous executor), not a special case.

=========  ==================================  ============================================
backend    runs chunks                         data reaches the chunk by
=========  ==================================  ============================================
serial     in the calling thread               a view of the caller's data
thread     on a ThreadPoolExecutor             a view of the caller's data
process    on a ProcessPoolExecutor            shared memory (Arrow buffers for frames)
dask       on a dask.distributed cluster       scatter, once per call
=========  ==================================  ============================================
"""

from __future__ import annotations

import contextlib
from concurrent.futures import Future
from typing import Any

BACKENDS = ("serial", "thread", "process", "auto", "dask")


class Backend:
    """The interface every backend implements."""

    name = "?"
    #: Whether chunks cross a process boundary (and so need shared memory or pickling).
    remote = False

    def __init__(self, workers: int):
        self.workers = workers

    def submit(self, fn, /, *args, **kwargs) -> Future:
        """Run ``fn(*args, **kwargs)`` on the backend."""
        raise NotImplementedError

    def submit_batch(self, job: Any, specs: list, map_id: int) -> Future:
        """Run a batch of chunks; the future's result is a list of ``Outcome``."""
        raise NotImplementedError

    def place(self, data: Any) -> Any:
        """Put ``data`` where the workers can read it; returns (placed, cleanup callable)."""
        return data, None

    def chunk_specs(self, placed: Any, slices: list) -> list | None:
        """Specs for the chunks of ``placed`` data, or None for the standard ones (plan.py)."""
        return None

    def running(self, map_id: int) -> list[tuple[int, int, float]]:
        """(worker id, chunk, seconds) of the chunks of ``map_id`` running now."""
        return []

    def stop_worker(self, worker_id: int) -> bool:
        """Stop the worker running a timed-out chunk; False when that cannot be done."""
        return False

    def crash_error(self, exc: BaseException, map_id: int) -> BaseException | None:
        """Translate a broken-pool error into a WorkerCrashedError, or None if not a crash."""
        return None

    def abort(self) -> None:
        """Stop all work now (Ctrl-C, timeout, crash); the next call starts afresh."""

    def limits(self) -> Any:
        """A context in which a map runs (the thread backend caps BLAS threads there)."""
        return contextlib.nullcontext()

    def restart_if_broken(self) -> None:
        """After a crash: drop the broken workers so the next call gets fresh ones."""

    def shutdown(self, wait: bool = True) -> None:
        """Release the workers."""

    def worker_pids(self) -> list[int]:
        return []

    def describe(self) -> str:
        return f"{self.name} backend, {self.workers} worker(s)"


def make_backend(name: str, workers: int, **options: Any) -> Backend:
    """Build the backend called ``name`` with ``workers`` workers."""
    if name == "serial":
        from .serial import SerialBackend

        return SerialBackend(workers)
    if name == "thread":
        from .thread import ThreadBackend

        return ThreadBackend(workers)
    if name == "process":
        from .process import ProcessBackend

        return ProcessBackend(workers, start_method=options.get("start_method"))
    if name == "dask":
        from .dask import DaskBackend

        return DaskBackend(workers, **options)
    raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(map(repr, BACKENDS))}")
