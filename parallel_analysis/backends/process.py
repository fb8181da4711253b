"""backends.process: chunks run on a ProcessPoolExecutor and read data from shared memory.
Layer: backends (imports board, cpus, errors, share and its sibling modules).

::

    caller                                       worker processes (forkserver; spawn elsewhere)
    ──────                                       ──────────────────────────────────────────────
    place(): share the data once ──── segment ──▶ attach once per process (cached, read-only)
    submit_batch(): cloudpickle(job, specs) ────▶ remote.run_batch_pickled → run_chunks
    outcomes() ◀───────────────────── results ── cloudpickle(outcomes)
    board (RawArray) ◀──── which chunk runs where, since when ── each worker
    crash: crashes.explain reads the boards; timeout: SIGKILL the worker on the board;
    Ctrl-C: kill all; next call: a fresh executor

Built on ``concurrent.futures.ProcessPoolExecutor`` rather than a hand-written worker loop. Its
all-or-nothing breakage on a worker death is turned into a precise WorkerCrashedError and a
restart, so "the pool works afterwards". Starting workers safely is :mod:`.spawning`'s job,
placing data :mod:`.placing`'s, pickling batches :mod:`.pickling`'s.
"""

from __future__ import annotations

import os
import signal
import threading
import weakref
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from ..board import Board
from ..cpus import threads_per_worker
from ..errors import pickling_error
from ..share.arrays import output_array
from . import crashes
from .base import Backend, Delivery, Output
from .pickling import dumps_job, dumps_specs, loads_outcomes
from .placing import place_shared
from .remote import call_pickled, init_process_worker, pid_alive, run_batch_pickled
from .spawning import context

#: Seconds to wait for workers to exit on shutdown before they are killed.
SHUTDOWN_GRACE = 5.0

#: Executors kept for explaining a crash: the one that ran a map may already be replaced.
GENERATIONS_KEPT = 4

_live: weakref.WeakSet = weakref.WeakSet()  # every ProcessBackend of this process


def live_worker_pids() -> set[int]:
    """Worker pids of every live process backend in this process (for leak checks)."""
    return {pid for backend in list(_live) for pid in backend.worker_pids()}


class ProcessBackend(Backend):
    name = "process"

    def __init__(self, workers: int, start_method: str | None = None):
        super().__init__(workers)
        self._ctx = context(start_method)
        self.start_method = self._ctx.get_start_method()
        self._executor: ProcessPoolExecutor | None = None
        self._board: Board | None = None
        self._processes: dict = {}
        self._generations: list[crashes.Generation] = []
        self._lock = threading.RLock()
        self._creator = os.getpid()
        _live.add(self)

    # -- executor life cycle --------------------------------------------------------------
    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if os.getpid() != self._creator:
                raise RuntimeError(
                    "this process pool belongs to the parent of a fork; create a new par.Pool "
                    "in the child (the module-level functions do this for you)"
                )
            if self._executor is None or getattr(self._executor, "_broken", False):
                if self._executor is not None:
                    self._discard()
                buffer = self._ctx.RawArray("q", Board.FIELDS * (self.workers * 2 + 2))
                lock = self._ctx.Lock()
                self._board = Board(buffer, lock)
                self._executor = ProcessPoolExecutor(
                    self.workers,
                    mp_context=self._ctx,
                    initializer=init_process_worker,
                    initargs=(buffer, lock, os.getpid(), threads_per_worker(self.workers)),
                )
                self._processes = self._executor._processes
                self._generations = self._generations[1 - GENERATIONS_KEPT:] + [
                    crashes.Generation(self._board, self._processes, self._executor)]
            return self._executor

    def _discard(self, kill: bool = False) -> None:
        executor, self._executor = self._executor, None
        processes = list(self._processes.values())
        if executor is None:
            return
        if kill:
            for proc in processes:
                crashes.kill(proc)
        executor.shutdown(wait=False, cancel_futures=True)
        for proc in processes:
            proc.join(SHUTDOWN_GRACE)
            if proc.is_alive():
                crashes.kill(proc)
                proc.join(1.0)

    # -- data -----------------------------------------------------------------------------
    def place(self, data, slices):
        return place_shared(data, slices)

    def output(self, shape, dtype) -> Output:
        """A shared buffer the workers write their rows into (nothing pickled back)."""
        handle = output_array(shape, dtype)
        # The owner's view stays valid once the name is unlinked (release), as numpy holds it.
        return Output(handle.value, handle, lambda: handle.close(wait=False))

    # -- running --------------------------------------------------------------------------
    def submit(self, fn, /, *args, **kwargs) -> Future:
        import cloudpickle

        try:
            payload = cloudpickle.dumps((fn, args, kwargs))
        except Exception as exc:
            raise pickling_error("the function or its arguments", fn, exc) from exc
        return self._pool().submit(call_pickled, payload)

    def submit_batch(self, job, specs, map_id) -> Future:
        job_bytes, specs_bytes = dumps_job(job), dumps_specs(specs)
        args = (run_batch_pickled, job_bytes, specs_bytes, map_id, specs[0].index)
        try:
            future = self._pool().submit(*args)
        except BrokenProcessPool:  # broke between _pool()'s check and submit: a fresh one
            future = self._pool().submit(*args)
        future.bytes_out = len(job_bytes) + len(specs_bytes)
        return future

    def outcomes(self, future, map_id, specs) -> Delivery:
        try:
            raw = future.result()
        except BrokenProcessPool:
            error = crashes.explain(list(self._generations), self._processes, map_id)
            self._restart()
            raise error from None
        return Delivery(loads_outcomes(raw, specs), getattr(future, "bytes_out", 0), len(raw))

    def _restart(self) -> None:
        # After a crash the current executor is the broken one, or a fresh one that took the
        # failed map's later batches mid-submission: stop either, so the next call starts afresh.
        with self._lock:
            if self._executor is not None:
                self._discard(kill=True)

    def running(self, map_id: int):
        board = self._board
        return board.running(map_id) if board is not None else []

    def stop_worker(self, worker_id: int) -> bool:
        try:
            os.kill(worker_id, signal.SIGKILL)
            return True
        except ProcessLookupError:
            return False

    def abort(self, futures=()) -> None:
        # The futures are left to the executor, which fails them when its workers are killed:
        # cancelling them here would make its thread raise InvalidStateError (CPython 3.11).
        with self._lock:
            self._discard(kill=True)

    def shutdown(self, wait: bool = True) -> None:
        with self._lock:
            if os.getpid() == self._creator:
                self._discard(kill=not wait)
            else:
                self._executor = None

    def worker_pids(self) -> list[int]:
        """Live workers, found without polling them (only the executor's thread reaps)."""
        if os.getpid() != self._creator:
            return []
        return [pid for pid, proc in list(self._processes.items())
                if getattr(proc._popen, "returncode", 0) is None and pid_alive(pid)]

    def describe(self) -> str:
        return f"process backend ({self.start_method}), {self.workers} worker(s)"
