"""The process backend: chunks run on a ProcessPoolExecutor and read data from shared memory.

::

    caller                                       worker processes (forkserver; spawn elsewhere)
    ──────                                       ──────────────────────────────────────────────
    place(): share the data once ──── segment ──▶ attach once per process (cached, read-only)
    submit_batch(): cloudpickle(job, specs) ────▶ run_batch_pickled → run_chunks
    futures ◀──────────────────────── results ── cloudpickle(outcomes)
    board (RawArray) ◀──── which chunk runs where, since when ── each worker
    crash: read the board for the dead pid's chunk; exit code from the Process object
    timeout: SIGKILL the worker on the board; Ctrl-C: kill all; next call: a fresh executor

Built on ``concurrent.futures.ProcessPoolExecutor`` rather than a hand-written worker loop. Its
all-or-nothing breakage on a worker death is turned into a precise WorkerCrashedError and a
restart, so "the pool works afterwards".
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import threading
import time
import weakref
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import context as mp_context
from multiprocessing import spawn

from ..cpus import threads_per_worker
from ..errors import PicklingError, WorkerCrashedError
from ..share import worker_pid_sources
from ..worker import Board, init_process_worker, pid_alive, run_batch_pickled
from . import Backend

#: Modules the forkserver imports once, so each worker starts with numpy already loaded.
FORKSERVER_PRELOAD = ["numpy", "cloudpickle", "threadpoolctl", "parallel_analysis.worker",
                      "parallel_analysis.share", "parallel_analysis.backends.process"]

#: Seconds to wait for workers to exit on shutdown before they are killed.
SHUTDOWN_GRACE = 5.0


def default_start_method() -> str:
    """forkserver on Linux (safe with threads, fast with preloading); spawn elsewhere."""
    if sys.platform.startswith("linux") and "forkserver" in mp.get_all_start_methods():
        return "forkserver"
    return "spawn"


_launching = threading.local()
_original_preparation_data = spawn.get_preparation_data


def _preparation_data(name):
    """multiprocessing's start-up data, minus the main module when we start our workers.

    Without this every worker re-runs the caller's script (``__main__``) on start-up: the
    classic trap where a script without ``if __name__ == "__main__":`` starts pools recursively.
    Our functions travel by value with cloudpickle, so workers never need ``__main__``.
    """
    data = _original_preparation_data(name)
    if getattr(_launching, "active", False):
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
    return data


spawn.get_preparation_data = _preparation_data


class _StartWithoutMain:
    def start(self):
        _launching.active = True
        try:
            super().start()
        finally:
            _launching.active = False


class ForkServerWorker(_StartWithoutMain, mp_context.ForkServerProcess):
    """A forkserver process that does not re-run ``__main__``."""


class SpawnWorker(_StartWithoutMain, mp_context.SpawnProcess):
    """A spawned process that does not re-run ``__main__``."""


class ForkServerWorkerContext(mp_context.ForkServerContext):
    Process = ForkServerWorker


class SpawnWorkerContext(mp_context.SpawnContext):
    Process = SpawnWorker


_CONTEXTS = {"forkserver": ForkServerWorkerContext, "spawn": SpawnWorkerContext}


def _forget_parent_processes() -> None:
    """In the child of an os.fork(): the parent's forkserver and workers are not ours.

    Without this the child's first process map fails (multiprocessing waits on the parent's
    forkserver) and its exit tries to join the parent's workers.
    """
    from multiprocessing import forkserver, process

    server = forkserver._forkserver
    if server._forkserver_alive_fd is not None:  # a copy: the parent's forkserver may end
        try:
            os.close(server._forkserver_alive_fd)
        except OSError:
            pass
    server._forkserver_address = server._forkserver_alive_fd = None
    server._forkserver_pid = server._inherited_fds = None
    server._lock = threading.Lock()
    process._children.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_parent_processes)


def _context(start_method: str | None):
    """A multiprocessing context whose processes start without importing ``__main__``."""
    method = start_method or default_start_method()
    if method not in mp.get_all_start_methods():
        methods = ", ".join(mp.get_all_start_methods())
        raise ValueError(f"unknown start method {method!r}; choose one of {methods}")
    if method == "forkserver":
        mp.get_context("forkserver").set_forkserver_preload(FORKSERVER_PRELOAD)
    return _CONTEXTS[method]() if method in _CONTEXTS else mp.get_context(method)


def describe_exit(exitcode: int | None) -> str:
    if exitcode is None:
        return "died (exit code unknown)"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"was killed by {name} (exit code {exitcode})"
    return f"exited with code {exitcode} (os._exit or a fatal error in native code)"


class ProcessBackend(Backend):
    name = "process"
    remote = True

    def __init__(self, workers: int, start_method: str | None = None):
        super().__init__(workers)
        self._ctx = _context(start_method)
        self.start_method = self._ctx.get_start_method()
        self._executor: ProcessPoolExecutor | None = None
        self._board: Board | None = None
        self._processes: dict = {}
        #: (board, processes, executor) of the last few executors: a crash is explained from the
        #: one that ran the map, even when a later batch already started a fresh executor.
        self._generations: list = []
        self._lock = threading.RLock()
        self._creator = os.getpid()
        ref = weakref.ref(self)
        self._pid_source = lambda: (b.worker_pids() if (b := ref()) is not None else [])
        worker_pid_sources.append(self._pid_source)

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
                self._generations = self._generations[-3:] + [
                    (self._board, self._processes, self._executor)]
            return self._executor

    def _discard(self, kill: bool = False) -> None:
        executor, self._executor = self._executor, None
        processes = list(self._processes.values())
        if executor is None:
            return
        if kill:
            for proc in processes:
                _kill(proc)
        executor.shutdown(wait=False, cancel_futures=True)
        for proc in processes:
            proc.join(SHUTDOWN_GRACE)
            if proc.is_alive():
                _kill(proc)
                proc.join(1.0)

    # -- the interface --------------------------------------------------------------------
    def submit(self, fn, /, *args, **kwargs) -> Future:
        import cloudpickle

        try:
            payload = cloudpickle.dumps((fn, args, kwargs))
        except Exception as exc:
            raise PicklingError(
                f"could not pickle {fn!r} or its arguments to send them to a worker process: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        return self._pool().submit(_call_pickled, payload)

    def submit_batch(self, job_bytes: bytes, specs_bytes: bytes, map_id: int,
                     first_index: int = 0) -> Future:
        try:
            return self._pool().submit(run_batch_pickled, job_bytes, specs_bytes, map_id,
                                       first_index)
        except BrokenProcessPool:  # broke between _pool()'s check and submit: a fresh one
            return self._pool().submit(run_batch_pickled, job_bytes, specs_bytes, map_id,
                                       first_index)

    def place(self, data):
        from ..plan import share_for_processes

        return share_for_processes(data)

    def running(self, map_id: int):
        board = self._board
        return board.running(map_id) if board is not None else []

    def stop_worker(self, worker_id: int) -> bool:
        try:
            os.kill(worker_id, signal.SIGKILL)
            return True
        except ProcessLookupError:
            return False

    def crash_error(self, exc: BaseException, map_id: int) -> BaseException | None:
        if not isinstance(exc, BrokenProcessPool):
            return None
        procs, rows, broken = {}, [], []
        for board, processes, executor in list(self._generations):
            found = board.running(map_id)  # map ids are unique: only this map's chunks
            if found or getattr(executor, "_broken", False):
                procs.update(processes)
                rows += found
                broken.append(processes)
        if not rows:  # no chunk of this map had started: the newest broken executor's workers
            procs = dict(broken[-1] if broken else self._processes)
        # The broken executor's own thread reaps its workers; polling them alongside it races
        # (multiprocessing's Popen is not thread-safe: exit code 255 or None). Let it finish.
        for _, _, executor in list(self._generations):
            thread = getattr(executor, "_executor_manager_thread", None)
            if getattr(executor, "_broken", False) and thread is not None \
                    and thread is not threading.current_thread():
                thread.join(2.0)
        codes = {pid: _exitcode(procs[pid]) for pid, _, _ in rows if pid in procs}
        # The culprit died on its own; the others were then stopped with SIGTERM by the executor.
        culprits = [r for r in rows if codes.get(r[0]) not in (None, -signal.SIGTERM)]
        pick = (culprits or rows or [None])[0]
        if pick is None:
            dead = [c for c in map(_exitcode, procs.values()) if c not in (None, 0)]
            code = dead[0] if dead else None
            return WorkerCrashedError(
                f"a worker process {describe_exit(code)} while running this map (before it "
                "started a chunk: while unpickling its task?). The pool has been restarted; the "
                "next call works.",
                chunk=None,
                exitcode=code,
            )
        pid, chunk, _ = pick
        code = codes.get(pid)
        return WorkerCrashedError(
            f"worker process {pid} {describe_exit(code)} while running chunk {chunk}. The pool "
            "has been restarted; the next call works.",
            chunk=chunk,
            exitcode=code,
        )

    def abort(self) -> None:
        with self._lock:
            self._discard(kill=True)

    def restart_if_broken(self) -> None:
        # After a crash the current executor is the broken one, or a fresh one that took the
        # failed map's later batches mid-submission: stop either, so the next call starts afresh.
        with self._lock:
            if self._executor is not None:
                self._discard(kill=True)

    def shutdown(self, wait: bool = True) -> None:
        with self._lock:
            if os.getpid() == self._creator:
                self._discard(kill=not wait)
            else:
                self._executor = None
        if self._pid_source in worker_pid_sources:
            worker_pid_sources.remove(self._pid_source)

    def worker_pids(self) -> list[int]:
        """Live workers, found without polling them (only the executor's thread reaps)."""
        if os.getpid() != self._creator:
            return []
        return [pid for pid, proc in list(self._processes.items())
                if getattr(proc._popen, "returncode", 0) is None and pid_alive(pid)]

    def describe(self) -> str:
        return f"process backend ({self.start_method}), {self.workers} worker(s)"


def _exitcode(proc, timeout: float = 3.0) -> int | None:
    """The exit code of a worker of a broken executor, read without reaping it ourselves.

    The executor's own thread reaps its workers when it breaks. Reaping alongside it races:
    multiprocessing's Popen is not thread-safe, and the loser reads EOF from the forkserver
    (exit code 255) or ECHILD from waitpid (None). So wait for the code it stores, and poll
    ourselves only if it never comes.
    """
    popen = getattr(proc, "_popen", None)
    deadline = time.monotonic() + timeout
    while popen is not None and popen.returncode is None and time.monotonic() < deadline:
        time.sleep(0.01)
    if popen is not None and popen.returncode is not None:
        return popen.returncode
    return proc.exitcode


def _kill(proc) -> None:
    try:
        proc.kill()
    except (OSError, AttributeError, ValueError):
        pass


def _call_pickled(payload: bytes):
    import cloudpickle

    fn, args, kwargs = cloudpickle.loads(payload)
    return fn(*args, **kwargs)
