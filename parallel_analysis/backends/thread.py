"""backends.thread: chunks run on a ThreadPoolExecutor, reading the caller's data directly.
Layer: backends.

Right for work that releases the GIL (most numpy, pandas' groupby kernels): no data moves at
all. A thread cannot be stopped, so a chunk that outlives ``timeout=`` raises ChunkTimeoutError
in the caller while the thread finishes in the background; its map is aborted, so the executor
is retired (below) and the next map runs on fresh threads at once. The interpreter still waits
for that thread at exit, as for any non-daemon thread.

Several maps may share the pool. Stopping one (an error, Ctrl-C, a cancelled task) cancels its
waiting batches and marks it cancelled on the board, so its batches already running stop at
their next chunk; nothing else is touched. When an aborted map still holds threads with chunks
that cannot be stopped, the executor is retired: new work goes to fresh threads, and the other
maps' batches still queued move with it, so nobody waits behind a chunk that may never end.
"""

from __future__ import annotations

import queue
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
        # Slots are claimed per batch: threads of retired executors may still hold some.
        self._board = Board.local(4 * workers + 4)
        self._lock = threading.Lock()

    def _submit(self, fn, /, *args, **kwargs) -> Future:
        with self._lock:  # never submitted to an executor being retired
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.workers,
                                                    thread_name_prefix="parallel_analysis")
            return self._executor.submit(fn, *args, **kwargs)

    def _run(self, job, specs, map_id):
        slot = self._board.claim()
        try:
            return run_chunks(job, specs, self._board, slot, map_id)
        finally:
            self._board.release(slot)

    def submit(self, fn, /, *args, **kwargs) -> Future:
        return self._submit(fn, *args, **kwargs)

    def submit_batch(self, job, specs, map_id) -> Future:
        return self._submit(self._run, job, specs, map_id)

    def limits(self):
        """Cap BLAS/OpenMP threads so that workers × threads ≤ CPUs while the map runs."""
        from threadpoolctl import threadpool_limits

        if self.workers <= 1:
            return super().limits()
        return threadpool_limits(limits=threads_per_worker(self.workers))

    def running(self, map_id):
        return self._board.running(map_id)

    def cancel(self, futures=(), map_id=None) -> None:
        super().cancel(futures, map_id)
        if map_id is not None:
            self._board.cancel(map_id)

    def abort(self, futures=(), map_id=None) -> None:
        self.cancel(futures, map_id)
        if map_id is None or self._board.running(map_id):
            self._retire()

    def _retire(self) -> None:
        """New work goes to fresh threads; queued work of other maps moves there too."""
        with self._lock:
            old, self._executor = self._executor, None
            if old is None:
                return
            moved = []
            work = getattr(old, "_work_queue", None)
            while work is not None:
                try:
                    item = work.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    moved.append(item)
            old.shutdown(wait=False)  # its threads end once their chunks do
            if moved:
                fresh = self._executor = ThreadPoolExecutor(
                    self.workers, thread_name_prefix="parallel_analysis")
                with fresh._shutdown_lock:
                    for item in moved:
                        fresh._work_queue.put(item)
                        fresh._adjust_thread_count()

    def shutdown(self, wait: bool = True) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=wait, cancel_futures=True)
