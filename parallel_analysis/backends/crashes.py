"""backends.crashes: why a process pool broke, told as a WorkerCrashedError naming the chunk.
Layer: backends (imports errors and backends.spawning).

``ProcessPoolExecutor`` breaks as a whole when one worker dies. The process backend keeps each
executor it made as a :class:`Generation` (its board, its processes); :func:`explain` reads the
boards for the chunks of the failed map that were running, waits for the executor's own thread
to reap the workers, and names the worker that died on its own (the others were then stopped
with SIGTERM by the executor) and the chunk it ran.
"""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass
from typing import Any

from ..errors import WorkerCrashedError
from .spawning import describe_exit

RESTARTED = "The pool has been restarted; the next call works."


@dataclass
class Generation:
    """One executor of a process backend: its board, its processes by pid, itself."""

    board: Any
    processes: dict
    executor: Any

    @property
    def broken(self) -> bool:
        return bool(getattr(self.executor, "_broken", False))


def exitcode(proc: Any, timeout: float = 3.0) -> int | None:
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


def kill(proc: Any) -> None:
    try:
        proc.kill()
    except (OSError, AttributeError, ValueError):
        pass


def _wait_for_reaping(generations: list[Generation]) -> None:
    # Polling workers alongside the broken executor's thread races (see exitcode): let it finish.
    for gen in generations:
        thread = getattr(gen.executor, "_executor_manager_thread", None)
        if gen.broken and thread is not None and thread is not threading.current_thread():
            thread.join(2.0)


def explain(generations: list[Generation], current: dict, map_id: int) -> WorkerCrashedError:
    """The error for map ``map_id`` whose executor broke (``current``: the newest processes)."""
    procs, rows, broken = {}, [], []
    for gen in generations:
        found = gen.board.running(map_id)  # map ids are unique: only this map's chunks
        if found or gen.broken:
            procs.update(gen.processes)
            rows += found
            broken.append(gen.processes)
    if not rows:  # no chunk of this map had started: the newest broken executor's workers
        procs = dict(broken[-1] if broken else current)
    _wait_for_reaping(generations)
    codes = {pid: exitcode(procs[pid]) for pid, _, _ in rows if pid in procs}
    culprits = [r for r in rows if codes.get(r[0]) not in (None, -signal.SIGTERM)]
    pick = (culprits or rows or [None])[0]
    if pick is None:
        dead = [c for c in map(exitcode, procs.values()) if c not in (None, 0)]
        code = dead[0] if dead else None
        return WorkerCrashedError(
            f"a worker process {describe_exit(code)} while running this map (before it started "
            f"a chunk: while unpickling its task?). {RESTARTED}",
            chunk=None, exitcode=code)
    pid, chunk, _ = pick
    code = codes.get(pid)
    return WorkerCrashedError(
        f"worker process {pid} {describe_exit(code)} while running chunk {chunk}. {RESTARTED}",
        chunk=chunk, exitcode=code)
