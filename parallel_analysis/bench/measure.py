"""Timing and memory: warm pools, a memory sampler over the whole process tree, statistics.
Layer: faces (bench.measure; imports the package and its own modules).

Memory is the proportional set size (PSS) summed over this process and all its descendants
(workers, forkservers, peers' pools): shared-memory pages are split among the processes that map
them, so a 1 GB segment mapped by three processes counts 1 GB, not 3 GB as summed RSS would.
It is sampled only during each case's untimed warm-up call, so sampling never slows a timed one.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import numpy as np

import parallel_analysis as par

from ..cpus import available_cpus
from .peers import close_all, make_peer

#: Seconds between memory samples during a warm-up call.
SAMPLE_INTERVAL = 0.01


def _pss(pid: int) -> int:
    """Proportional set size of ``pid`` in bytes (RSS where smaps_rollup is missing)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import psutil

        return psutil.Process(pid).memory_info().rss
    except Exception:  # a process that just exited uses nothing
        return 0


def tree_memory() -> int:
    """Bytes used by this process and every descendant (PSS, see the module docstring)."""
    import psutil

    me = psutil.Process()
    try:
        pids = [me.pid] + [c.pid for c in me.children(recursive=True)]
    except psutil.Error:
        pids = [me.pid]
    return sum(_pss(pid) for pid in pids)


class MemorySampler:
    """Peak of :func:`tree_memory` while the ``with`` block runs."""

    def __init__(self, interval: float = SAMPLE_INTERVAL):
        self.interval = interval
        self.before = 0
        self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, tree_memory())

    def __enter__(self) -> MemorySampler:
        self.before = self.peak = tree_memory()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="bench-memory")
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak = max(self.peak, tree_memory())


class Runners:
    """Warm pools for the cases: ours by (backend, workers), peers by (name, workers).

    Our pools live for the whole run (a user's pool is created once and reused); peers' pools
    are closed after each workload (:meth:`close_peers`) so they do not hold memory meanwhile.
    """

    def __init__(self):
        self._pools: dict[tuple, Any] = {}
        self._peers: dict[tuple, Any] = {}

    def pool(self, backend: str, workers: int):
        key = (backend, workers)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = par.Pool(workers, backend)
            warm = np.arange(1 << 16, dtype=np.int64)  # big enough to be shared: attach path
            pool.map_reduce(None, warm, par.reducers.Sum(), n=max(2, workers))
        return pool

    def peer(self, name: str, workers: int):
        key = (name, workers)
        peer = self._peers.get(key)
        if peer is None:
            peer = self._peers[key] = make_peer(name, workers)
        return peer

    def close_peers(self) -> None:
        close_all(self._peers)

    def close(self) -> None:
        self.close_peers()
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        par.shutdown_default_pools()


def stopwatch(func, *args) -> tuple[Any, float]:
    """(func(*args), seconds), with a result's own ``seconds`` when it carries one."""
    started = time.perf_counter()
    value = func(*args)
    seconds = time.perf_counter() - started
    return value, getattr(value, "seconds", seconds)


def cpu_count() -> int:
    return available_cpus() or os.cpu_count() or 1
