"""auto: backend="auto" chooses threads or processes per map from a probe, and says why. Layer:
pipeline (imports split and worker; touches no pool).

The probe runs ``func`` on a few small pieces of the first chunk, on the thread backend: one
piece alone (1/64 of the chunk's rows: is the work big enough for processes?), then
``k = min(workers, 4)`` pieces sized to take about ``PROBE_SECONDS`` each, at once, started
together by a barrier.
Their CPU seconds summed over the span from the first start to the last end say how parallel
they ran: threads that hold the GIL cannot use more than one CPU between them, whatever else the
machine runs; well above one CPU proves ``func`` releases the GIL. A machine busy with other
work can hide parallelism but never fake it, so an unclear figure is measured once more on the
next pieces. Released: threads suffice and no data moves at all. Otherwise the whole map goes
to processes (the safe side: GIL-bound work on threads would be twice as slow).

The probe's results are thrown away (``func`` runs twice on those few rows), so it costs only a
few times ``PROBE_SECONDS`` whatever the chunk size: a few per cent of a one-second map.

=====================================  ===========  ==========================================
probe                                  choice       why
=====================================  ===========  ==========================================
one worker                             serial       nothing to run in parallel
one chunk, or the probe failed         thread       nothing to gain / let the map raise
a chunk takes < ``TINY_CHUNK_SECONDS``  thread       too little work to move to processes
parallel ≥ ``RELEASES_GIL``            thread       func releases the GIL
otherwise                              process      func holds the GIL
=====================================  ===========  ==========================================
"""

from __future__ import annotations

import threading
import time
from typing import Any

from .split import take_rows
from .worker import apply_job

#: How close to fully parallel (0 = one thread at a time, 1 = all at once) the probe threads
#: must run for the GIL to be taken as released. Threads holding the GIL stay near 0.
RELEASES_GIL = 0.5

#: Below RELEASES_GIL, threads that slept (blocked, not waiting for a CPU) at least this share
#: of their time were waiting for each other's GIL: about 50% for two threads holding it.
#: Less, and they were only short of CPUs (other work running): the GIL is released.
SLEPT_GIL = 0.2

#: A chunk estimated to take less than this is too small for processes to pay off.
TINY_CHUNK_SECONDS = 0.002

#: The concurrent probe pieces are sized to take about this long each: three GIL switch
#: intervals (5 ms), so threads holding the GIL must take turns (and show it), short enough that
#: the thrown-away work (a first small piece plus k of these) is a few per cent of a map worth
#: parallelising.
PROBE_SECONDS = 0.015

#: The first probe piece is this fraction of the first chunk's rows.
FIRST_PIECE = 1 / 64


def _run_delay() -> float:
    """Seconds this thread has spent runnable but waiting for a CPU (Linux schedstat), or 0."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


def _timed_call(job, piece, barrier=None) -> tuple[float, float, float, float]:
    """(start, end, CPU seconds, seconds waiting for a CPU) of the job on one piece.

    With a ``barrier`` the concurrent pieces start together, so a thread that the OS wakes late
    does not run its piece alone after the others finished (which would hide a held GIL).
    """
    if barrier is not None:
        try:
            barrier.wait(timeout=1.0)
        except threading.BrokenBarrierError:
            pass
    start, cpu, delay = time.perf_counter(), time.thread_time(), _run_delay()
    apply_job(job, piece)
    return start, time.perf_counter(), time.thread_time() - cpu, _run_delay() - delay


def _wait(barrier) -> None:
    try:
        barrier.wait(timeout=1.0)
    except threading.BrokenBarrierError:
        pass


def _start_threads(thread, k: int) -> None:
    """Make sure the pool has ``k`` live threads, so the probe does not time thread start-up."""
    barrier = threading.Barrier(k)
    for future in [thread.submit(_wait, barrier) for _ in range(k)]:
        future.result()


def _pieces(chunk: Any, rows: int, count: int) -> list | None:
    """``count`` disjoint pieces of ``rows`` rows from ``chunk``; None when it cannot be cut."""
    try:
        if len(chunk) < count * rows or rows < 1:
            return None
        return [take_rows(chunk, slice(i * rows, (i + 1) * rows)) for i in range(count)]
    except (TypeError, AttributeError):  # not sliceable by rows (e.g. a list chunk)
        return None


def decide(job, specs: list, thread) -> tuple[str, str]:
    """(backend name, reason) for running ``job`` over ``specs``, probed on the ``thread``
    backend (whose workers are the pool's)."""
    if thread.workers <= 1:
        return "serial", "one worker: nothing to run in parallel"
    if len(specs) < 2:
        return "thread", "one chunk: nothing to run in parallel"
    k = min(thread.workers, 4)
    probe = type(job)(job.func, "map" if job.mode == "array" else job.mode, job.reducer,
                      job.args, job.kwargs)
    _start_threads(thread, k)
    chunk = specs[0].load()
    try:
        n_rows = len(chunk)
    except TypeError:
        n_rows = 1
    rows = max(1, int(n_rows * FIRST_PIECE))
    most = n_rows // (2 * k + 1)  # room for k + 1 pieces, and k more if the probe runs again
    try:
        first = _pieces(chunk, rows, 1) if rows <= most else None
        if first is None:  # too few rows to cut pieces: time whole chunks instead
            pieces, rows = [s.load() for s in specs[: k + 1]], n_rows
            if len(pieces) < 2:
                return "thread", "too few rows to time a probe: running on threads"
            first = pieces[:1]
        t0, t1, *_ = thread.submit(_timed_call, probe, first[0]).result()
        chunk_seconds = (t1 - t0) * n_rows / max(1, rows)
        if chunk_seconds < TINY_CHUNK_SECONDS:
            return "thread", (f"a chunk takes about {chunk_seconds * 1e3:.2f} ms: too little "
                              "work to move to processes")
        if rows < n_rows:  # pieces sized to take about PROBE_SECONDS each, after the first
            rows = min(most, max(rows, int(n_rows * PROBE_SECONDS / chunk_seconds)))
            pieces = _pieces(chunk, rows, k + 1) or []  # pieces[0] is not used again
            if len(pieces) < 2:
                return "thread", "too few rows to time a probe: running on threads"
        scaling, slept = _concurrency(thread, probe, pieces[1: k + 1])
        if scaling < RELEASES_GIL and slept < SLEPT_GIL:  # unclear: once more, next pieces
            again = _pieces(chunk, rows, 2 * k + 1)
            if again is not None:  # parallel progress is never an artefact: keep the best
                scaling2, slept2 = _concurrency(thread, probe, again[k + 1:])
                scaling, slept = max(scaling, scaling2), max(slept, slept2)
    except Exception as exc:  # the map itself will raise it, with the chunk
        return "thread", f"the probe raised {type(exc).__name__}; running on threads"
    n = min(k, len(pieces) - 1)
    if scaling >= RELEASES_GIL:
        return "thread", (f"func releases the GIL: {n} threads together ran {scaling:.0%} of the "
                          "way to fully parallel, so threads suffice and no data moves")
    if slept < SLEPT_GIL:
        return "thread", (f"func releases the GIL: {n} threads ran only {scaling:.0%} of the way "
                          f"to fully parallel, but waited for a CPU (other work is running), "
                          f"not for each other (blocked {slept:.0%} of the time); threads "
                          "suffice and no data moves")
    return "process", (f"func holds the GIL: {n} threads together ran only {scaling:.0%} of the "
                       f"way to fully parallel and were blocked {slept:.0%} of the time, so the "
                       "map runs in processes")


def _concurrency(thread, probe, pieces: list) -> tuple[float, float]:
    """How parallel ``pieces`` ran on threads, and how much of their time they slept.

    Parallel: their CPU seconds summed over the span from the first start to the last end, as
    0 (one at a time) to 1 (all at once). Threads that hold the GIL cannot use more than one CPU
    between them, whatever else the machine runs, so a high figure proves the GIL released; a
    busy machine can hide parallelism but never fake it. Slept: the share of their time neither
    running nor waiting for a CPU (Linux schedstat), i.e. blocked, as threads waiting for the
    GIL are (about (k - 1) / k of it); threads that release the GIL on a busy machine wait for a
    CPU instead, and sleep little.
    """
    k = len(pieces)
    if k < 2:
        return 1.0, 0.0
    barrier = threading.Barrier(k)
    futures = [thread.submit(_timed_call, probe, p, barrier) for p in pieces]
    timings = [f.result() for f in futures]
    span = max(t[1] for t in timings) - min(t[0] for t in timings)
    walls = sum(t[1] - t[0] for t in timings)
    if span <= 0 or walls <= 0:
        return 1.0, 0.0
    parallel = max(0.0, min(1.0, (sum(t[2] for t in timings) / span - 1) / (k - 1)))
    slept = max(0.0, sum(t[1] - t[0] - t[2] - t[3] for t in timings) / walls)
    return parallel, slept
