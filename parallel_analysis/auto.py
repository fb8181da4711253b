"""backend="auto": choose threads or processes per map by timing a probe, and say why.

The probe runs the first chunks on the thread backend (their results are kept, not wasted):
one chunk alone, then ``k = min(workers, chunks left)`` chunks at once. If the concurrent chunks
used about ``k`` times the CPU of their wall time, ``func`` releases the GIL and threads suffice
(no data moves at all); if they crawled through one GIL, the rest goes to processes.

=====================================  ===========  ==========================================
probe                                  choice       why
=====================================  ===========  ==========================================
one worker                             serial       nothing to run in parallel
fewer than 3 chunks, or tiny chunks    thread       not worth moving data to processes
CPU/wall ≥ ``RELEASES_GIL`` × k        thread       func releases the GIL
otherwise                              process      func holds the GIL
=====================================  ===========  ==========================================
"""

from __future__ import annotations

import time

from . import map as _map
from .plan import make_plan

#: Fraction of perfect thread scaling above which the GIL is taken to be released.
RELEASES_GIL = 0.75

#: A probe chunk shorter than this is too small for processes to pay off.
TINY_CHUNK_SECONDS = 0.002


def decide(pool, job, plan, collect, run_kw, stats) -> tuple[str, str, set]:
    """(backend name, reason, indices already computed by the probe)."""
    if pool.workers <= 1:
        return "serial", "one worker: nothing to run in parallel", set()
    specs = plan.specs
    if len(specs) < 3:
        return "thread", f"only {len(specs)} chunk(s): not worth moving data to processes", set()
    thread = pool._backend("thread")
    done: set = set()

    def keep(index, value):
        done.add(index)
        collect(index, value)

    seconds: dict[int, float] = {}
    cpu: dict[int, float] = {}

    def record(index, value, _keep=keep):
        _keep(index, value)

    one = specs[:1]
    started = time.perf_counter()
    _run_probe(thread, job, one, record, run_kw, seconds, cpu)
    alone = time.perf_counter() - started
    if alone < TINY_CHUNK_SECONDS:
        return "thread", f"a chunk takes {alone * 1e3:.2f} ms: too little work for processes", done
    k = min(pool.workers, len(specs) - 1, 4)
    group = specs[1: 1 + k]
    started = time.perf_counter()
    _run_probe(thread, job, group, record, run_kw, seconds, cpu)
    wall = time.perf_counter() - started
    used = sum(cpu[s.index] for s in group)
    scaling = used / (wall * k) if wall > 0 else 1.0
    if scaling >= RELEASES_GIL:
        return "thread", (f"func releases the GIL: {k} chunks on {k} threads kept {scaling:.0%} "
                          "of the CPUs busy, so threads suffice and no data moves"), done
    return "process", (f"func holds the GIL: {k} chunks on {k} threads kept only {scaling:.0%} "
                       "of the CPUs busy, so the rest runs in processes"), done


def _run_probe(backend, job, specs, collect, run_kw, seconds, cpu) -> None:
    from .worker import run_chunks

    futures = [backend.submit(run_chunks, job, [spec]) for spec in specs]
    for future in futures:
        for outcome in future.result():
            if not outcome.ok:
                _map.raise_chunk_error(outcome, len(specs), "thread")
            seconds[outcome.index] = outcome.seconds
            cpu[outcome.index] = outcome.cpu_seconds
            collect(outcome.index, outcome.value)


def run_auto(pool, job, data, chunking, collect, start, out_spec, run_kw):
    """Run one map with backend="auto" (see the module docstring)."""
    thread = pool._backend("thread")
    stats = _map.timed_run("auto", pool.workers)
    plan = make_plan(data, thread, parallelism=pool._parallelism(thread), **chunking)
    try:
        n = len(plan.specs)
        if job.mode == "array":
            # Threads can write into a shared buffer as well as processes can.
            from .pool import _discard_output, _finish_output, allocate_output

            values: dict = {}
            probe_job = type(job)(job.func, "map", None, job.args, job.kwargs)
            name, reason, done = decide(pool, probe_job, plan, values.__setitem__, run_kw, stats)
            if not plan.specs:
                return pool._run_array(thread, job, plan, out_spec, run_kw, stats)
            import numpy as np

            first = np.asarray(values[0]) if values else None
            dtype, row_shape = out_spec
            if first is None:
                return pool._run_array(pool._backend(name), job, plan, out_spec, run_kw, stats)
            dtype = first.dtype if dtype is None else dtype
            row_shape = first.shape[1:] if row_shape is None else row_shape
            job.out = allocate_output((plan.n_rows,) + tuple(row_shape), dtype, shared=True)
            try:
                target = job.out.value
                for spec in plan.specs:
                    if spec.index in values:
                        np.copyto(target[spec.out_start: spec.out_stop], values[spec.index],
                                  casting="same_kind")
                rest = _rest(pool, name, data, chunking, plan, done)
                _map.execute(pool._backend(name), job, rest, lambda i, v: None, n_total=n,
                             stats=stats, **run_kw)
                return _finish_output(job)
            except BaseException:
                _discard_output(job)
                raise
            finally:
                _note(pool, stats, name, reason)
        if start is not None and n:
            start(n)
        name, reason, done = decide(pool, job, plan, collect, run_kw, stats)
        rest = _rest(pool, name, data, chunking, plan, done)
        _map.execute(pool._backend(name), job, rest, collect, n_total=n, stats=stats, **run_kw)
        _note(pool, stats, name, reason)
        return n
    finally:
        plan.close()
        _map.finish_run(stats, len(plan.specs))


def _rest(pool, name, data, chunking, plan, done):
    if name in ("thread", "serial"):
        return [s for s in plan.specs if s.index not in done]
    backend = pool._backend(name)
    remote = make_plan(data, backend, parallelism=pool._parallelism(backend), **chunking)
    plan.cleanups.append(remote.close)
    return [s for s in remote.specs if s.index not in done]


def _note(pool, stats, name, reason) -> None:
    stats.backend = f"auto → {name}"
    stats.reason = reason
    pool.last_reason = f"{name}: {reason}"
