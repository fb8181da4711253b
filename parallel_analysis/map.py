"""map: run a job over every chunk of a plan on a backend, and collect the outcomes.

One driver for every backend (the toolz ``fold(binop, seq, map=...)`` idea: the reduction says
how to combine, the backend says where work runs)::

    plan.specs ──batches──▶ backend.submit_batch ──futures──▶ wait loop ──▶ collect(index, value)
                                                   │
                         timeout: stop the worker ─┤ crash: WorkerCrashedError naming the chunk
                         Ctrl-C / cancel: abort  ──┘ user error: re-raised with its own type

Small chunks are sent in batches (:func:`batches`) so that 5,000 tiny chunks cost a few dozen
messages, not 5,000.
"""

from __future__ import annotations

import itertools
import threading
import time
from concurrent.futures import FIRST_COMPLETED, CancelledError, wait
from typing import Any

from . import feedback
from .errors import ChunkTimeoutError, PicklingError
from .insights import RunStats, batch_timings, finish_run, last_run, timed_run  # noqa: F401
from .progress import progress_bar
from .worker import Job, Outcome

#: Batches per worker a map aims for: enough for load balance, few enough that per-message
#: costs (pickling, a pipe round trip: ~100 µs) vanish when chunks are tiny.
BATCHES_PER_WORKER = 8

#: Seconds between checks for timeouts and cancellation while waiting.
POLL_INTERVAL = 0.05
#: Seconds between checks that the pool was not closed under a map (no timeout= given).
IDLE_POLL = 0.5

_map_ids = itertools.count(1)


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a worker, attached as ``__cause__``."""

    def __init__(self, tb: str):
        super().__init__(tb)
        self.tb = tb

    def __str__(self) -> str:
        return self.tb


def batches(specs: list, workers: int) -> list[list]:
    """Contiguous groups of specs: one spec each unless there are many more chunks than workers."""
    size = max(1, len(specs) // (max(1, workers) * BATCHES_PER_WORKER))
    return [specs[i: i + size] for i in range(0, len(specs), size)]


def _dumps(obj: Any, what: str) -> bytes:
    import cloudpickle

    try:
        return cloudpickle.dumps(obj)
    except (Exception, SystemExit) as exc:  # a __reduce__ calling sys.exit must not end the caller
        raise PicklingError(
            f"could not pickle {what} to send it to worker processes: {type(exc).__name__}: "
            f"{exc}. Use backend='thread', or pass data that pickles (arrays, frames, numbers)."
        ) from exc


def _dumps_job(job: Job) -> bytes:
    try:
        import cloudpickle

        return cloudpickle.dumps(job)
    except (Exception, SystemExit):  # noqa: BLE001 - find the part that does not pickle, and name it
        for what, obj in (("the function", job.func), ("the reducer", job.reducer),
                          ("args", job.args), ("kwargs", job.kwargs)):
            _dumps(obj, f"{what} {_name(obj)}")
        return _dumps(job, "the job")


def _name(obj: Any) -> str:
    name = getattr(obj, "__qualname__", None) or type(obj).__name__
    try:
        text = repr(obj)
    except Exception:  # noqa: BLE001
        text = name
    return f"{name!s} ({text[:80]})" if text != name else name


def raise_chunk_error(outcome: Outcome, n_chunks: int, backend_name: str) -> None:
    """Re-raise a chunk's exception with its own type, the chunk index and remote traceback."""
    exc = outcome.error
    if outcome.remote_tb and exc.__cause__ is None:
        exc.__cause__ = RemoteTraceback(outcome.remote_tb)
    note = f"raised by chunk {outcome.index} of {n_chunks} on the {backend_name} backend"
    if note not in getattr(exc, "__notes__", ()):
        exc.add_note(note)
    try:
        exc.chunk_index = outcome.index
    except (AttributeError, TypeError):
        pass
    raise exc


def _unpack(future, backend, map_id: int, batch: list) -> tuple[list[Outcome], int]:
    """The outcomes of a finished batch, and the bytes its results took on the way back."""
    try:
        raw = future.result()
    except BaseException as exc:
        crash = backend.crash_error(exc, map_id)
        if crash is not None:
            backend.restart_if_broken()
            raise crash from None
        raise
    if not backend.remote:
        return raw, 0
    import cloudpickle

    try:
        status, *rest = cloudpickle.loads(raw)
    except (Exception, SystemExit) as exc:  # a result must not end the caller
        raise PicklingError(
            f"could not unpickle the results of chunks {batch[0].index}..{batch[-1].index} sent "
            f"back by a worker: {type(exc).__name__}: {exc}"
        ) from exc
    if status == "ok":
        return rest[0], len(raw)
    error, tb = rest
    return [Outcome(batch[0].index, False, error=error, remote_tb=tb)], len(raw)


def _stops_map(future, timeout: float | None) -> bool:
    """Whether a finished in-process batch holds a failed or overdue chunk."""
    if future.exception() is not None:
        return True
    return any(not o.ok or (timeout is not None and o.seconds > timeout) for o in future.result())


def execute(backend, job: Job, specs: list, collect, *, timeout: float | None = None,
            progress: Any = None, desc: str = "", cancel: threading.Event | None = None,
            n_total: int | None = None, stats: RunStats | None = None,
            bar: Any = None) -> None:
    """Run ``job`` on ``specs`` with ``backend``, calling ``collect(index, value)`` per chunk.

    ``bar``: a progress bar the caller owns (one bar over several calls, as map_array makes);
    without it, execute shows and closes its own, per ``progress``.
    """
    if timeout is not None and not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if not specs:
        return
    n_total = n_total or len(specs)
    map_id = next(_map_ids)
    groups = batches(specs, backend.workers)
    own_bar = bar is None
    if own_bar:  # first: a bad mode fails before any work
        bar = progress_bar(len(specs), desc, progress)
    sent: dict = {}  # future -> (monotonic time submitted, bytes pickled out, time done or None)
    try:
        if backend.remote:
            job_bytes = _dumps_job(job)
            futures = {}
            for group in groups:
                specs_bytes = _dumps(group, f"chunks {group[0].index}..{group[-1].index}")
                submitted = time.monotonic()
                future = backend.submit_batch(job_bytes, specs_bytes, map_id, group[0].index)
                futures[future] = group
                sent[future] = (submitted, len(job_bytes) + len(specs_bytes), None)
        else:
            futures = {}
            for group in groups:
                submitted = time.monotonic()
                future = backend.submit_batch(job, group, map_id)
                futures[future] = group
                # The serial backend runs the batch inside submit: its result is in hand now,
                # and a failed or overdue chunk ends the map before later chunks run.
                sent[future] = (submitted, 0, time.monotonic() if future.done() else None)
                if future.done() and _stops_map(future, timeout):
                    break
    except BaseException as exc:
        for future in sent:  # batches already submitted must not run on after the error
            future.cancel()
        if isinstance(exc, (KeyboardInterrupt, CancelledError)):
            backend.abort()  # Ctrl-C: stop the chunks already running as well
        if own_bar:
            bar.close()
        raise
    pending = set(futures)
    # Bounded even without timeout= or cancel: a pool closed mid-map cancels our futures, and a
    # future cancelled that way never wakes a wait() already blocked on it.
    poll = POLL_INTERVAL if (timeout is not None or cancel is not None) else IDLE_POLL
    stopped_worker = False
    try:
        while pending:
            done, pending = wait(pending, timeout=poll, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: futures[f][0].index):  # lowest chunk first
                outcomes, bytes_back = _unpack(future, backend, map_id, futures[future])
                if stats is not None:
                    submitted, bytes_out, done_at = sent[future]
                    stats.timings.extend(batch_timings(outcomes, submitted,
                                                       done_at or time.monotonic(), bytes_out,
                                                       bytes_back))
                for outcome in outcomes:
                    if outcome.feedback:
                        feedback.replay(outcome.feedback, outcome.index, outcome.pid)
                    if not outcome.ok:
                        raise_chunk_error(outcome, n_total, backend.name)
                    if timeout is not None and outcome.seconds > timeout:
                        raise ChunkTimeoutError(
                            f"chunk {outcome.index} took {outcome.seconds:.2f} s, more than "
                            f"timeout={timeout} s (the {backend.name} backend cannot interrupt "
                            "a running chunk, so this is reported when it returns)",
                            chunk=outcome.index, timeout=timeout)
                    collect(outcome.index, outcome.value)
                    if stats is not None:
                        stats.chunk_seconds.append(outcome.seconds)
                bar.update(len(outcomes))
            if timeout is not None:
                for worker_id, chunk, seconds in backend.running(map_id):
                    if seconds > timeout:
                        stopped_worker = backend.stop_worker(worker_id)
                        fate = ("its worker was stopped" if stopped_worker else
                                "it keeps running in the background (a thread cannot be stopped)")
                        raise ChunkTimeoutError(
                            f"chunk {chunk} ran longer than timeout={timeout} s; {fate}",
                            chunk=chunk, timeout=timeout)
            if cancel is not None and cancel.is_set():
                raise CancelledError("the map was cancelled")
            if any(future.cancelled() for future in pending):
                raise CancelledError("the map's remaining chunks were cancelled: its pool was "
                                     "closed or shut down while it ran")
    except BaseException as exc:
        for future in pending:
            future.cancel()
        if stopped_worker or isinstance(exc, (KeyboardInterrupt, CancelledError)):
            backend.abort()
        raise
    finally:
        if own_bar:
            bar.close()
