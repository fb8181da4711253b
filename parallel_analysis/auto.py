"""backend="auto": choose threads or processes per map by timing a probe, and say why.

The probe runs ``func`` on a few small pieces of the first chunk, on the thread backend: one
piece alone, then ``k = min(workers, 4)`` pieces at once. A first piece of 1/64 of the chunk's
rows is timed, then one sized to take about ``PROBE_SECONDS``. Each concurrent thread measures its
own CPU time over its own wall time: when the GIL serialises them, each runs about 1/k of the
time; when ``func`` releases it, each runs as fast as the lone piece did, and threads suffice
(no data moves at all); otherwise the whole map goes to processes. Per-thread shares, relative
to the lone piece's, keep the verdict right on a machine busy with other work: a background load
slows both measurements alike, and threads the OS runs one after the other still each run at
full speed.

The probe's results are thrown away (``func`` runs twice on those few rows), so it costs only a
few times ``PROBE_SECONDS`` whatever the chunk size: a few per cent of a one-second map.

=====================================  ===========  ==========================================
probe                                  choice       why
=====================================  ===========  ==========================================
one worker                             serial       nothing to run in parallel
one chunk, or the probe failed         thread       nothing to gain / let the map raise
a chunk takes < ``TINY_CHUNK_SECONDS``  thread       too little work to move to processes
concurrency ≥ ``RELEASES_GIL``         thread       func releases the GIL
otherwise                              process      func holds the GIL
=====================================  ===========  ==========================================
"""

from __future__ import annotations

import sys
import time
from typing import Any

from . import map as _map
from .plan import make_plan

#: Fraction of perfect thread scaling above which the GIL is taken to be released. Held, two
#: threads reach 50%; released, close to 100%. 0.75 splits the difference.
RELEASES_GIL = 0.75

#: A chunk estimated to take less than this is too small for processes to pay off.
TINY_CHUNK_SECONDS = 0.002

#: A probe piece is sized to take about this long (at least two GIL switch intervals, so that
#: threads holding the GIL really alternate): long enough to time through noise, short enough
#: that the thrown-away work is a few per cent of a map worth parallelising.
PROBE_SECONDS = 0.012

#: The first probe piece is this fraction of the first chunk's rows.
FIRST_PIECE = 1 / 64


def _timed_call(job, piece) -> tuple[float, float]:
    """(wall, CPU seconds of this thread) of the job on one piece (runs in a pool thread)."""
    from .worker import _apply

    wall, cpu = time.perf_counter(), time.thread_time()
    _apply(job, piece)
    return time.perf_counter() - wall, time.thread_time() - cpu


def _pieces(chunk: Any, rows: int, count: int) -> list | None:
    """``count`` disjoint pieces of ``rows`` rows from ``chunk``; None when it cannot be cut."""
    from .split import take_rows

    try:
        if len(chunk) < count * rows or rows < 1:
            return None
        return [take_rows(chunk, slice(i * rows, (i + 1) * rows)) for i in range(count)]
    except (TypeError, AttributeError):  # not sliceable by rows (e.g. a list chunk)
        return None


def decide(pool, job, plan) -> tuple[str, str]:
    """(backend name, reason) for running ``job`` over ``plan`` with ``pool``'s workers."""
    if pool.workers <= 1:
        return "serial", "one worker: nothing to run in parallel"
    specs = plan.specs
    if len(specs) < 2:
        return "thread", "one chunk: nothing to run in parallel"
    k = min(pool.workers, 4)
    probe = type(job)(job.func, "map" if job.mode == "array" else job.mode, job.reducer,
                      job.args, job.kwargs)
    thread = pool._backend("thread")
    chunk = specs[0].load()
    try:
        n_rows = len(chunk)
    except TypeError:
        n_rows = 1
    target = max(PROBE_SECONDS, 2 * sys.getswitchinterval())
    rows = max(1, int(n_rows * FIRST_PIECE))
    try:
        alone = cpu_alone = 0.0
        for _ in range(3):  # a first small piece, then one sized to take about ``target``
            pieces = _pieces(chunk, rows, k + 1)
            if pieces is None:  # too few rows to cut k + 1 pieces: time whole chunks instead
                pieces, rows = [s.load() for s in specs[: k + 1]], n_rows
                if len(pieces) < 2:
                    return "thread", "too few rows to time a probe: running on threads"
            alone, cpu_alone = thread.submit(_timed_call, probe, pieces[0]).result()
            most = n_rows // (k + 1)
            if alone >= target / 2 or rows >= most:
                break
            rows = min(most, max(rows * 2, int(rows * target / max(alone, 1e-6))))
        chunk_seconds = alone * n_rows / max(1, rows)
        if chunk_seconds < TINY_CHUNK_SECONDS:
            return "thread", (f"a chunk takes about {chunk_seconds * 1e3:.2f} ms: too little "
                              "work to move to processes")
        futures = [thread.submit(_timed_call, probe, p) for p in pieces[1: k + 1]]
        timings = [f.result() for f in futures]
    except Exception as exc:  # noqa: BLE001 - the map itself will raise it, with the chunk
        return "thread", f"the probe raised {type(exc).__name__}; running on threads"
    # Each thread's CPU share while the others ran, relative to the lone piece's share: about
    # 1/k when the GIL serialises them, about 1 when it does not (a busy machine slows both).
    share = max(cpu_alone / alone, 0.05) if alone > 0 else 1.0
    each = [cpu / wall / share for wall, cpu in timings if wall > 0]
    scaling = min(1.0, sum(each) / len(each)) if each else 1.0
    n = len(timings)
    if scaling >= RELEASES_GIL:
        return "thread", (f"func releases the GIL: {n} threads ran {scaling:.0%} as fast each as "
                          "one alone, so threads suffice and no data moves")
    return "process", (f"func holds the GIL: {n} threads ran only {scaling:.0%} as fast each as "
                       "one alone, so the map runs in processes")


def run_auto(pool, job, data, chunking, collect, start, out_spec, run_kw):
    """Run one map with backend="auto" (see the module docstring); the number of chunks."""
    thread = pool._backend("thread")
    stats = _map.timed_run("auto", pool.workers)
    plan = make_plan(data, thread, parallelism=pool._parallelism(thread), **chunking)
    n = len(plan.specs)
    try:
        name, reason = decide(pool, job, plan) if n else ("thread", "no chunks")
    except BaseException:
        plan.close()
        raise
    backend = pool._backend(name)
    if backend.remote:  # the data goes to shared memory only now that processes are chosen
        plan.close()
        plan = make_plan(data, backend, parallelism=pool._parallelism(backend), **chunking)
    try:
        if job.mode == "array":
            return pool._run_array(backend, job, plan, out_spec, run_kw, stats)
        if start is not None and n:
            start(n)
        _map.execute(backend, job, plan.specs, collect, n_total=n, stats=stats, **run_kw)
        return n
    finally:
        _note(pool, stats, name, reason)
        plan.close()
        _map.finish_run(stats, len(plan.specs))


def _note(pool, stats, name, reason) -> None:
    stats.backend = f"auto → {name}"
    stats.reason = reason
    pool.last_reason = f"{name}: {reason}"
