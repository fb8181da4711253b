"""backends.thread: chunks run on a ThreadPoolExecutor, reading the caller's data directly.
Layer: backends.

Right for work that releases the GIL (most numpy, pandas' groupby kernels): no data moves at
all. A thread cannot be stopped, so a chunk that outlives ``timeout=`` raises ChunkTimeoutError
in the caller while the thread finishes in the background.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

from ..board import Board
from ..cpus import threads_per_worker
from ..worker import run_chunks
from .base import Backend


class ThreadBackend(Backend):
    name = "thread"

    def __init__(self, workers: int):
        super().__init__(workers)
        self._executor: ThreadPoolExecutor | None = None
        self._board = Board.local(workers + 1)
        self._slots = threading.local()
        self._lock = threading.Lock()

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.workers,
                                                    thread_name_prefix="parallel_analysis")
            return self._executor

    def _run(self, job, specs, map_id):
        slot = getattr(self._slots, "slot", None)
        if slot is None:
            slot = self._slots.slot = self._board.claim()
        return run_chunks(job, specs, self._board, slot, map_id)

    def submit(self, fn, /, *args, **kwargs) -> Future:
        return self._pool().submit(fn, *args, **kwargs)

    def submit_batch(self, job, specs, map_id) -> Future:
        return self._pool().submit(self._run, job, specs, map_id)

    def limits(self):
        """Cap BLAS/OpenMP threads so that workers × threads ≤ CPUs while the map runs."""
        from threadpoolctl import threadpool_limits

        if self.workers <= 1:
            return super().limits()
        return threadpool_limits(limits=threads_per_worker(self.workers))

    def running(self, map_id):
        return self._board.running(map_id)

    def abort(self, futures=()) -> None:
        super().abort(futures)
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        self._board = Board.local(self.workers + 1)
        self._slots = threading.local()

    def shutdown(self, wait: bool = True) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=wait, cancel_futures=True)
