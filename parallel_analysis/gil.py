"""gil: does a function hold the GIL while it runs? A second thread asks. Layer: leaves.

While ``func`` runs on some input in the calling thread, a *watcher* thread naps for
:data:`NAP` seconds again and again. Each time a nap's timer fires the watcher needs the GIL back:

* if ``func`` releases the GIL (numpy ufuncs, pandas' cython kernels, I/O) it gets it at once;
* if ``func`` holds it (pure Python), it waits ``sys.getswitchinterval()`` (5 ms: its timed
  wait before it asks the holder to drop the GIL), or until func ends.

Per nap the watcher measures ``wait = wall - NAP - baseline - run delay``: the *baseline* is the
timer's slack and wake-up (tens of microseconds, measured once per process), the *run delay* the
time it spent runnable but without a CPU (Linux ``/proc/thread-self/schedstat``): the machine's
load, removed. It also reads the func thread's CPU clock (``time.pthread_getcpuclockid``) at
both ends of each nap: func's progress ``a``; ``min(wait, a)`` of it ran with the GIL held. The
*held share* is ``sum(min(wait, a)) / sum(a)``: ~0.9 for pure Python, ~0 for numpy.

Load does not move it: load shows up as run delay (subtracted), or as the OS suspending func
while it holds the GIL, which makes the watcher wait but adds no CPU time to func. Load can hide
holding (a starved watcher sees nothing) but not fake it. Garbage collection is paused while a
piece runs (a collection holds the GIL for milliseconds at random).

Two things the scheduler does would still fool it, and are ruled out:

* A woken thread is often queued on the CPU it last ran on: behind func, while the other CPU
  idles (measured on this project's Linux 6.18 machine: the watcher of a pure-Python func waited
  for a CPU through ~80% of each piece on an idle machine, and saw nothing). The watcher pins
  itself to a CPU other than the one func runs on (when it may use more than one).
* A timer that fires late (a virtual CPU the host did not run) looks like a wait for the GIL.
  Waiting for the GIL means sleeping a second time, on the GIL's condition variable, so a nap in
  which the watcher was scheduled in only once (schedstat's third field) waited for no GIL.
"""

from __future__ import annotations

import gc
import os
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from .forks import fork_safe_lock

#: The watcher's nap. Short enough for ~15 naps per piece when func releases the GIL, long
#: enough that the watcher uses little CPU (the work it displaces is part of the probe's cost).
NAP = 200e-6


def _schedstat_reader() -> Callable[[], tuple[float, int]]:
    """A function giving this thread's (run delay in seconds, times scheduled in); (0, 0) where
    schedstat is missing (then every nap counts as one that blocked twice)."""
    try:
        fd = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
    except OSError:
        return lambda: (0.0, 0)

    def read() -> tuple[float, int]:
        try:
            fields = os.pread(fd, 128, 0).split()
            return int(fields[1]) * 1e-9, int(fields[2])
        except (OSError, ValueError, IndexError):
            return 0.0, 0

    return read


def current_cpu() -> int | None:
    """The CPU the calling thread runs on (``/proc/thread-self/stat``), or None."""
    try:
        with open("/proc/thread-self/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[36])
    except (OSError, ValueError, IndexError):
        return None


def _pin_away_from(cpu: int | None, allowed: set) -> None:
    """Pin the calling thread to the CPUs in ``allowed`` other than ``cpu`` (all of ``allowed``
    when that leaves none, or ``cpu`` is unknown)."""
    others = allowed - {cpu} if cpu is not None else set()
    try:
        os.sched_setaffinity(0, others or allowed)
    except (AttributeError, OSError, ValueError):
        pass


class Watcher:
    """A daemon thread that naps while asked to and records, per nap, (start, end, its own run
    delay, the watched thread's CPU seconds, whether it blocked more than once)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active = threading.Event()
        self._first = threading.Event()
        self._samples: list = []
        self._target: Callable[[], float] = lambda: 0.0
        self._away_from: int | None = None  # the CPU func runs on
        self.baseline = None  # typical lateness of a nap with the GIL free and a CPU at hand
        self._thread = threading.Thread(target=self._loop, name="gil-watcher", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        read = _schedstat_reader()
        perf, sleep = time.perf_counter, time.sleep
        try:
            allowed = os.sched_getaffinity(0)
        except (AttributeError, OSError):
            allowed = set()
        pinned = None
        while True:
            self._active.wait()
            if len(allowed) > 1 and self._away_from != pinned:
                pinned = self._away_from
                _pin_away_from(pinned, allowed)
            other = self._target
            t0, (r0, s0), o0 = perf(), read(), other()
            sleep(NAP)
            (r1, s1), o1, t1 = read(), other(), perf()
            with self._lock:
                self._samples.append((t0, t1, r1 - r0, o1 - o0, s1 - s0 != 1))
            self._first.set()

    def start(self, clock: int | None = None, cpu: int | None = None) -> None:
        """Start napping; ``clock``: the CPU-time clock of the thread that runs func
        (``time.pthread_getcpuclockid``), read at both ends of every nap; ``cpu``: the CPU it
        runs on, which the watcher keeps off."""
        with self._lock:
            self._samples = []
        self._target = (lambda: time.clock_gettime(clock)) if clock is not None else (lambda: 0.0)
        self._away_from = cpu
        self._first.clear()
        self._active.set()
        self._first.wait(1.0)  # the watcher is napping: func's start is covered

    def stop(self) -> list:
        """The naps so far; the watcher stops after the one in progress (its wait counts)."""
        self._active.clear()
        end = time.perf_counter()
        deadline = end + 1.0
        while time.perf_counter() < deadline:  # the last nap, which ends once func let go
            with self._lock:
                if self._samples and self._samples[-1][1] >= end:
                    break
            time.sleep(NAP)
        with self._lock:
            return list(self._samples)

    def calibrate(self, naps: int = 16) -> float:
        """Lateness of a nap with the GIL free (this thread waits on an event), run delay
        removed: the median of ``naps`` naps."""
        self.start()
        time.sleep(naps * NAP * 1.6)
        s = self.stop()
        late = [t1 - t0 - NAP - rd for t0, t1, rd, *_ in s] or [0.0]
        self.baseline = max(0.0, statistics.median(late))
        return self.baseline


_WATCHER: Watcher | None = None


def _cpu_clock() -> int | None:
    """The CPU-time clock of the calling thread, or None where there is none."""
    try:
        return time.pthread_getcpuclockid(threading.get_ident())
    except (AttributeError, OSError):
        return None


_watcher_lock = fork_safe_lock()


def watcher() -> Watcher:
    """The process's watcher thread, started and calibrated on first use (~5 ms)."""
    global _WATCHER
    with _watcher_lock:
        if _WATCHER is None:
            _WATCHER = Watcher()
            _WATCHER.calibrate()
        return _WATCHER


def gil_wait(samples: list, t_start: float, t_end: float, baseline: float,
             cpu: bool = True) -> tuple[float, float, float, int]:
    """(func's CPU seconds with the GIL held while the watcher waited for it, func's CPU seconds,
    the watcher's wait for a CPU, naps) over the naps that overlap ``[t_start, t_end]``, the
    window in which func ran. The first over the second is the *held share*.

    Per nap, the watcher waited for the GIL ``wait = wall - NAP - baseline - its run delay``
    (the time it was ready to run but blocked). The func thread's CPU time ``a`` over the nap is
    read from its CPU clock; ``min(wait, a)`` of it ran with the GIL held, since the nap ends as
    soon as func lets go; a nap in which the watcher was scheduled in only once waited for no
    GIL (a late timer) and counts none. Counting func's progress rather than wall time makes
    the share blind to load: a GIL holder that the OS suspends for other work makes the watcher
    wait, but makes no progress, and adds nothing. ``cpu=False`` (no CPU clock for the func
    thread): the share of the watcher's ready time spent waiting, which such suspensions
    inflate.
    """
    held = ran = starved = 0.0
    used = 0
    for t0, t1, rd, a, blocked_again in samples:
        if t1 <= t_start or t0 >= t_end:
            continue
        used += 1
        # The nap that outlasts func ends after the GIL went over to the watcher, which then
        # may wait for a CPU: that run delay falls after func ended, so the nap is cut there.
        late = max(0.0, t1 - t_end)
        rd = max(0.0, rd - late)
        wall = t1 - late - t0
        wait = max(0.0, wall - NAP - baseline - rd) if blocked_again else 0.0
        starved += rd
        if cpu:
            held += min(wait, a)
            ran += a
        else:
            held += wait
            ran += max(0.0, wall - rd)
    return held, ran, starved, used


class Watched(NamedTuple):
    """One watched call: its wall seconds, its CPU seconds with the GIL held while the watcher
    waited, its CPU seconds, the watcher's seconds waiting for a CPU, and the naps."""

    seconds: float
    held: float
    ran: float
    starved: float
    naps: int


def watch(func: Callable, piece: Any) -> Watched:
    """Run ``func(piece)`` in this thread while the watcher measures how it shares the GIL.

    Calls are serialised (one watcher per process); the value of ``func`` is thrown away.
    """
    w = watcher()
    with _watch_lock:
        return _watch(w, func, piece)


_watch_lock = fork_safe_lock()


def _watch(w: Watcher, func: Callable, piece: Any) -> Watched:
    collecting = gc.isenabled()
    gc.disable()  # a collection holds the GIL for ms at random: in a short piece, an outlier
    clock = _cpu_clock()
    w.start(clock, current_cpu())
    t0 = time.perf_counter()
    try:
        func(piece)
    finally:
        t1 = time.perf_counter()
        samples = w.stop()
        if collecting:
            gc.enable()
    return Watched(t1 - t0, *gil_wait(samples, t0, t1, w.baseline, cpu=clock is not None))
