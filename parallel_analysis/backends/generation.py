"""backends.generation: one ProcessPoolExecutor and what the caller knows of it. Layer: backends
(imports board and backends.oom, backends.remote).

A process backend replaces its executor when a worker dies (the executor then breaks as a
whole). Each executor it makes is a :class:`Generation`, which keeps what is needed to tell,
afterwards, whose fault the break was (:mod:`.crashes`):

- its board: the caller gives each new worker a slot by pid right after the submit that
  started it, and workers mark there which chunk of which map they run;
- the workers the caller stopped on purpose (a timeout, a cancelled map): nobody's crash;
- the memory counters of each worker's cgroups when it started (:mod:`.oom`);
- the futures submitted to it: a Python 3.11 executor that breaks while another thread submits
  can forget a future (its manager thread fails pending work without the submit lock, and can
  even die of it); :meth:`Generation.sweep` fails such leftovers and stops stray workers, so no
  map waits forever and no worker outlives the pool.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import weakref
from concurrent.futures import Future, InvalidStateError, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from ..board import Board
from .oom import MemoryWatch
from .remote import init_process_worker, pid_alive

#: Seconds to wait for a broken executor's own thread to reap its workers.
REAP_WAIT = 5.0

#: Seconds to wait for workers killed with SIGKILL to be dead (a few milliseconds, usually).
KILL_WAIT = 2.0


class Generation:
    """One executor of a process backend, its board, and what its workers did."""

    def __init__(self, ctx: Any, workers: int, blas_threads: int):
        self.board = Board(ctx.RawArray("q", Board.cells_for(workers + 2)))
        self.executor = ProcessPoolExecutor(
            workers, mp_context=ctx, initializer=init_process_worker,
            initargs=(self.board.buffer, os.getpid(), blas_threads))
        self.processes: dict = self.executor._processes  # pid → process, the executor's own
        self.stopped: set[int] = set()  # pids the caller killed on purpose
        self.memory = MemoryWatch()
        self.verdict: Any = None  # crashes.judge's, once broken
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None  # the executor's own (it forgets it)
        self._futures: weakref.WeakSet = weakref.WeakSet()
        self._slots: dict[int, int] = {}
        self._swept = False
        self.dead_at_break: set[int] = set()  # see _watch_break

    @property
    def broken(self) -> bool:
        return bool(getattr(self.executor, "_broken", False))

    def submit(self, fn, *args) -> Future:
        """``executor.submit``, then a slot on the board for each worker it started."""
        try:
            future = self.executor.submit(fn, *args)
        finally:
            if len(self.processes) != len(self._slots):
                self._adopt()
        # Kept here: shutting the executor down drops its own reference to its thread.
        if self.thread is None:
            self.thread = getattr(self.executor, "_executor_manager_thread", None)
            self._watch_break()
        future.generation = self
        self._futures.add(future)
        if self.broken:  # it broke under this submit: the future may be forgotten (3.11)
            threading.Thread(target=self.sweep, daemon=True,
                             name="parallel_analysis-sweep").start()
        return future

    def _watch_break(self) -> None:
        """Note which workers were dead already when the executor found itself broken. It
        SIGTERMs the others next, so a worker that died of a SIGTERM of its own (``os.kill``
        in a chunk, or from outside) is told from them by this (:mod:`.crashes`)."""
        original = getattr(type(self.thread), "terminate_broken", None)
        if original is None:  # another executor's internals: SIGTERMs then count as its own
            return
        # Weak references only: a cycle through the thread would keep its queues (and their
        # semaphores) alive after it ends, until the next garbage collection.
        generation, thread = weakref.ref(self), weakref.ref(self.thread)

        def terminate_broken(cause: Any) -> None:
            gen = generation()
            if gen is not None:
                gen.dead_at_break = {pid for pid in list(gen.processes) if not _running(pid)}
            original(thread(), cause)

        self.thread.terminate_broken = terminate_broken

    def _adopt(self) -> None:
        for pid in list(self.processes):
            if pid not in self._slots:
                self._slots[pid] = self.board.assign(pid)
                self.memory.watch(pid)

    def stop(self, pid: int) -> bool:
        """SIGKILL one of this executor's workers on purpose (it is then nobody's crash)."""
        proc = self.processes.get(pid)
        if proc is None or getattr(proc._popen, "returncode", 0) is not None:
            return False  # not ours, or reaped already (its pid may belong to another now)
        self.stopped.add(pid)
        try:
            os.kill(pid, signal.SIGKILL)
            return True
        except ProcessLookupError:
            return False

    def stop_map(self, map_id: int) -> None:
        """Skip the map's queued batches, and stop the workers running its chunks (returns
        once they are dead, so that nothing of the map runs on)."""
        self.board.cancel(map_id)  # first: a worker starting one of its batches now skips it
        killed = [pid for pid, _, _ in self.board.running(map_id) if self.stop(pid)]
        deadline = time.monotonic() + KILL_WAIT
        while killed and time.monotonic() < deadline:
            killed = [pid for pid in killed if _running(pid)]
            time.sleep(0.005)

    def kill_all(self) -> None:
        for pid in list(self.processes):
            self.stop(pid)

    def wait_reaped(self) -> None:
        """Let the broken executor's thread reap its workers (polling alongside it races)."""
        thread = self.thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(REAP_WAIT)

    def sweep(self) -> None:
        """Once the broken executor's thread is done: fail the futures it forgot, and stop
        workers it left running (both happen only when a Python 3.11 executor broke under a
        concurrent submit)."""
        self.wait_reaped()
        if self.thread is not None and self.thread.is_alive():
            return  # still failing the futures itself: ours would race its own
        with self.lock:
            if self._swept:
                return
            self._swept = True
        error = BrokenProcessPool("a worker process died; this batch was still queued")
        for future in list(self._futures):
            if not future.done():
                try:
                    future.set_exception(error)
                except InvalidStateError:
                    pass
        self.kill_all()  # only workers not reaped yet

    def shutdown(self, kill: bool, grace: float) -> None:
        """Stop the executor: cancel what is queued, let running chunks end (up to ``grace``
        seconds; ``kill``: at once), then kill what is left."""
        processes = list(self.processes.items())
        if kill:
            self.kill_all()
        self.executor.shutdown(wait=False, cancel_futures=True)
        for pid, proc in processes:
            proc.join(grace)
            if proc.is_alive():
                self.stop(pid)
                proc.join(1.0)

    @property
    def finished(self) -> bool:
        """Broken or shut down, its thread done and every worker reaped: nothing left to do."""
        return (bool(self.broken or getattr(self.executor, "_shutdown_thread", False))
                and (self.thread is None or not self.thread.is_alive())
                and all(getattr(p._popen, "returncode", 0) is not None
                        for p in list(self.processes.values())))

    def live_pids(self) -> list[int]:
        """Live workers, found without polling them (only the executor's thread reaps)."""
        return [pid for pid, proc in list(self.processes.items())
                if getattr(proc._popen, "returncode", 0) is None and pid_alive(pid)]


def _running(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie does not), read without reaping it."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return pid_alive(pid) if not os.path.isdir("/proc") else False
