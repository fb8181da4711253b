"""map: run a job over chunk specs on a backend, and collect the outcomes. Layer: plan (imports
backends, worker, replay, insights, progress and errors).

One driver for every backend (the toolz ``fold(binop, seq, map=...)`` idea: the reduction says
how to combine, the backend says where work runs)::

    specs ──batches──▶ backend.submit_batch ──futures──▶ wait loop ──▶ backend.outcomes
                                                  │                      └▶ collect(index, value)
                        timeout: stop the worker ─┤ crash: WorkerCrashedError naming the chunk
                        Ctrl-C / cancel: abort  ──┘ user error: re-raised with its own type
                                                    lost with another map's crash: the
                                                    replacement future is waited for instead

Several maps may share one backend at once (threads, asyncio tasks): each has its own map id,
and everything that stops work (a timeout, Ctrl-C, a cancelled task, an error) stops only the
map it belongs to (``backend.abort`` / ``backend.cancel`` with that id).

Small chunks are sent in batches (:func:`batches`) so that 5,000 tiny chunks cost a few dozen
messages, not 5,000.
"""

from __future__ import annotations

import itertools
import numbers
import threading
import time
from concurrent.futures import FIRST_COMPLETED, CancelledError, wait
from dataclasses import dataclass, field
from typing import Any

from . import replay
from .backends import Backend, Delivery
from .errors import ChunkTimeoutError, RemoteTraceback
from .insights import RunStats
from .progress import NoBar
from .worker import Job, Outcome

#: Batches per worker a map aims for: enough for load balance, few enough that per-message
#: costs (pickling, a pipe round trip: ~100 µs) vanish when chunks are tiny.
BATCHES_PER_WORKER = 8

#: Seconds between checks for timeouts and cancellation while waiting.
POLL_INTERVAL = 0.05
#: Seconds between checks that the pool was not closed under a map (no timeout= given).
IDLE_POLL = 0.5

_map_ids = itertools.count(1)


@dataclass
class Run:
    """What the driver needs of a map besides the work itself: its limits and its trackers."""

    timeout: float | None = None
    cancel: threading.Event | None = None  # set: the map stops (an asyncio task was cancelled)
    bar: Any = field(default_factory=NoBar)  # advances per finished chunk
    stats: RunStats | None = None
    n_total: int = 0  # chunks of the whole map, for "chunk i of n" (0: these specs)

    def __post_init__(self) -> None:
        check_timeout(self.timeout)


def check_timeout(timeout: Any) -> None:
    """``timeout=``: None or a positive number of seconds, else a ValueError that says so."""
    if timeout is None:
        return
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds (per chunk) or None, "
                         f"got {timeout!r}")


def batches(specs: list, workers: int) -> list[list]:
    """Contiguous groups of specs: one spec each unless there are many more chunks than workers."""
    size = max(1, len(specs) // (max(1, workers) * BATCHES_PER_WORKER))
    return [specs[i: i + size] for i in range(0, len(specs), size)]


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


def _overdue(outcome: Outcome, timeout: float | None) -> bool:
    return timeout is not None and outcome.seconds > timeout


class _Submitted:
    """The batches of one map in flight: their specs, when they were sent, what came back."""

    def __init__(self, map_id: int) -> None:
        self.map_id = map_id
        self.specs: dict = {}  # future → its specs
        self.sent: dict = {}  # future → monotonic time submitted
        self.ready: dict = {}  # future → (Delivery, time) read at submission (a serial batch)
        self.delivered: set = set()  # futures delivered while submitting

    def read(self, backend: Backend, future) -> Delivery:
        """The batch's delivery. When the backend resubmitted the batch (it lost its workers to
        another map's crash), its ``replacement`` takes the old future's place here."""
        delivery = backend.outcomes(future, self.map_id, self.specs[future])
        if delivery.replacement is not None:
            self.specs[delivery.replacement] = self.specs.pop(future)
            self.sent[delivery.replacement] = time.monotonic()
            del self.sent[future]
        return delivery


def _submit_all(backend: Backend, job: Job, specs: list, map_id: int, run: Run,
                collect) -> _Submitted:
    """Submit every batch. A batch done at once (serial runs it while it is submitted) is
    delivered at once, so its bar advances and its error stops the rest before they run."""
    submitted = _Submitted(map_id)
    try:
        for group in batches(specs, backend.workers):
            if run.cancel is not None and run.cancel.is_set():  # serial runs while submitting
                raise CancelledError("the map was cancelled")
            sent = time.monotonic()
            future = backend.submit_batch(job, group, map_id)
            submitted.specs[future], submitted.sent[future] = group, sent
            if future.done():
                delivery = submitted.read(backend, future)
                if delivery.replacement is not None:
                    continue
                submitted.ready[future] = (delivery, time.monotonic())
                _collect_done([future], set(), submitted, backend, collect, run)
                submitted.delivered.add(future)
    except BaseException as exc:
        # Batches already submitted must not run on after the error; Ctrl-C stops the chunks
        # already running as well. Other maps on the backend are not touched.
        if isinstance(exc, (KeyboardInterrupt, CancelledError)):
            backend.abort(list(submitted.specs), map_id)
        else:
            backend.cancel(list(submitted.specs), map_id)
        raise
    return submitted


def _deliver(delivery: Delivery, collect, backend: Backend, run: Run) -> None:
    """Replay a batch's feedback, raise its first error, collect its values, count it."""
    for outcome in delivery.outcomes:
        if outcome.feedback:
            replay.replay(outcome.feedback, outcome.index, outcome.pid)
        if not outcome.ok:
            raise_chunk_error(outcome, run.n_total, backend.name)
        if _overdue(outcome, run.timeout):
            raise ChunkTimeoutError(
                f"chunk {outcome.index} took {outcome.seconds:.2f} s, more than "
                f"timeout={run.timeout} s (the {backend.name} backend cannot interrupt a "
                "running chunk, so this is reported when it returns)",
                chunk=outcome.index, timeout=run.timeout)
        collect(outcome.index, outcome.value)
    run.bar.update(len(delivery.outcomes))


def _overdue_running(backend: Backend, map_id: int, timeout: float) -> tuple | None:
    """(worker id, chunk) of a chunk of the map running longer than ``timeout``, or None."""
    for worker_id, chunk, seconds in backend.running(map_id):
        if seconds > timeout:
            return worker_id, chunk
    return None


def _collect_done(done, pending: set, submitted: _Submitted, backend: Backend, collect,
                  run: Run) -> None:
    """Deliver the finished batches in chunk order; a resubmitted one is waited for again."""
    for future in sorted(done, key=lambda f: submitted.specs[f][0].index):
        sent = submitted.sent[future]
        delivery, received = submitted.ready.pop(future, (None, None))
        if delivery is None:
            delivery, received = submitted.read(backend, future), time.monotonic()
        if delivery.replacement is not None:
            pending.add(delivery.replacement)
            continue
        if run.stats is not None:
            run.stats.add_batch(delivery.outcomes, sent, received, delivery.bytes_out,
                                delivery.bytes_back)
        _deliver(delivery, collect, backend, run)


def execute(backend: Backend, job: Job, specs: list, collect, run: Run) -> None:
    """Run ``job`` on ``specs`` with ``backend``, calling ``collect(index, value)`` per chunk."""
    if not specs:
        return
    run.n_total = run.n_total or len(specs)
    map_id, started = next(_map_ids), time.monotonic()
    submitted = _submit_all(backend, job, specs, map_id, run, collect)
    pending = set(submitted.specs) - submitted.delivered
    # Bounded even without timeout= or cancel: a pool closed mid-map cancels our futures, and a
    # future cancelled that way never wakes a wait() already blocked on it.
    poll = POLL_INTERVAL if (run.timeout is not None or run.cancel is not None) else IDLE_POLL
    stopped_worker, overdue = False, None
    try:
        while pending:
            done, pending = wait(pending, timeout=poll, return_when=FIRST_COMPLETED)
            _collect_done(done, pending, submitted, backend, collect, run)
            if not done:
                backend.check_workers(started)
            overdue = _overdue_running(backend, map_id, run.timeout) if run.timeout else None
            if overdue is not None:
                stopped_worker = backend.stop_worker(overdue[0])
                fate = ("its worker was stopped" if stopped_worker else
                        "it keeps running in the background (a thread cannot be stopped; "
                        "the pool goes on with fresh threads, but Python cannot exit before "
                        "the chunk returns: use backend='process' for chunks that may hang)")
                raise ChunkTimeoutError(f"chunk {overdue[1]} ran longer than timeout="
                                        f"{run.timeout} s; {fate}", chunk=overdue[1],
                                        timeout=run.timeout)
            if run.cancel is not None and run.cancel.is_set():
                raise CancelledError("the map was cancelled")
            if any(future.cancelled() for future in pending):
                raise CancelledError("the map's remaining chunks were cancelled: its pool was "
                                     "closed or shut down while it ran")
    except BaseException as exc:
        # Only this map stops: the other maps sharing the backend go on. A chunk that timed out
        # and could not be stopped (a thread) still holds its worker: abort retires it.
        if stopped_worker or overdue is not None or isinstance(
                exc, (KeyboardInterrupt, CancelledError)):
            backend.abort(pending, map_id)
        else:
            backend.cancel(pending, map_id)
        raise
