"""backends.process: chunks run on a ProcessPoolExecutor and read data from shared memory.
Layer: backends (imports board, cpus, errors, share and its sibling modules).

::

    caller                                       worker processes (forkserver; spawn elsewhere)
    ──────                                       ──────────────────────────────────────────────
    place(): share the data once ──── segment ──▶ attach once per process (cached, read-only)
    submit_batch(): cloudpickle(job, specs) ────▶ remote.run_batch_pickled → run_chunks
    outcomes() ◀───────────────────── results ── cloudpickle(outcomes)
    board (RawArray) ◀── which chunk of which map runs where, since when, RSS ── each worker
    timeout / cancel / Ctrl-C of a map: SIGKILL the workers running *its* chunks (board)
    a worker died: crashes.judge names the guilty map's chunk; the other maps' lost batches
    are resubmitted to a fresh executor (outcomes() hands the driver a replacement future)

Built on ``concurrent.futures.ProcessPoolExecutor`` rather than a hand-written worker loop. Its
all-or-nothing breakage on a worker death is turned into a precise WorkerCrashedError for the
map whose chunk killed the worker, and a transparent retry for every other map sharing the pool,
so several maps (threads, asyncio tasks) can share one pool and "the pool works afterwards".
Each executor is a :class:`~.generation.Generation`; starting workers safely is
:mod:`.spawning`'s job, placing data :mod:`.placing`'s, pickling batches :mod:`.pickling`'s.
"""

from __future__ import annotations

import itertools
import multiprocessing.util
import os
import threading
import weakref
from concurrent.futures import CancelledError, Future
from concurrent.futures.process import BrokenProcessPool
from typing import NamedTuple

import numpy as np

from ..cpus import threads_per_worker
from ..replay import caller_level
from ..share.arrays import output_array
from . import crashes
from .base import Backend, Delivery, Output
from .generation import Generation
from .pickling import (
    REQUEUES,
    Batch,
    CallFuture,
    deliver_call,
    dumps_call,
    loads_outcomes,
    pack_batch,
    settle_crash,
)
from .placing import place_shared
from .remote import call_pickled, run_batch_pickled
from .spawning import context, interrupts_deferred

#: Seconds to wait for workers to exit on shutdown before they are killed.
SHUTDOWN_GRACE = 5.0

#: Executors kept at most after they were replaced, while their workers wind down.
GENERATIONS_KEPT = 4

#: Submits tried on a fresh executor when the one at hand broke under the submit.
SUBMIT_TRIES = 3

_live: weakref.WeakSet = weakref.WeakSet()  # every ProcessBackend of this process
_call_ids = itertools.count(1)  # submitted calls, marked on the board as maps of negative id


class Call(NamedTuple):
    """A submitted call as ``call_pickled`` takes it; sent again, whole, after a loss."""

    payload: bytes
    log_level: int
    call_id: int  # negative: the board tells it from every map
_exit_hook_pid = [0]  # the process whose exit shuts _live down (see _shut_down_at_exit)


def _shut_down_at_exit() -> None:
    """Stop every live process backend of this process: also in a multiprocessing child (a
    ``Process`` target, a ProcessPoolExecutor's worker), which ends without running atexit
    after it joins its non-daemonic children, the workers among them: without this it would
    wait for them forever."""
    for backend in list(_live):
        if backend._creator == os.getpid():
            backend.shutdown(wait=True)


def _register_exit_hook() -> None:
    if _exit_hook_pid[0] != os.getpid():
        _exit_hook_pid[0] = os.getpid()
        # Before the executors' queues close (their finalizers have priority 10): the workers'
        # stop sentinels must still get through.
        multiprocessing.util.Finalize(None, _shut_down_at_exit, exitpriority=100)


def live_worker_pids() -> set[int]:
    """Worker pids of every live process backend in this process (for leak checks)."""
    return {pid for backend in list(_live) for pid in backend.worker_pids()}


class ProcessBackend(Backend):
    name = "process"

    def __init__(self, workers: int, start_method: str | None = None):
        super().__init__(workers)
        self._ctx = context(start_method)
        self.start_method = self._ctx.get_start_method()
        self._current: Generation | None = None
        self._generations: list[Generation] = []
        self._lock = threading.RLock()
        self._closed = False
        self._creator = os.getpid()
        _live.add(self)
        _register_exit_hook()

    # -- executor life cycle --------------------------------------------------------------
    def _generation(self) -> Generation:
        """The working executor; a fresh one when there is none or it broke."""
        if os.getpid() != self._creator:
            raise RuntimeError(
                "this process pool belongs to the parent of a fork; create a new par.Pool "
                "in the child (the module-level functions do this for you)"
            )
        if self._closed:
            raise CancelledError("its pool was closed or shut down: the map's remaining chunks "
                                 "(or the submitted call) were cancelled")
        gen = self._current
        if gen is None or gen.broken:
            if gen is not None:
                gen.executor.shutdown(wait=False)  # broken: its own thread stops the workers
            gen = self._current = Generation(self._ctx, self.workers,
                                             threads_per_worker(self.workers))
            self._generations = self._generations[1 - GENERATIONS_KEPT:] + [gen]
        # Old executors are kept while their workers wind down (for abort and leak checks),
        # then dropped with their pipes.
        if len(self._generations) > 1:
            self._generations = [g for g in self._generations if g is gen or not g.finished]
        return gen

    def _submit(self, fn, *args) -> Future:
        """Submit to the working executor; one that broke under the submit is replaced."""
        with self._lock:  # no executor is replaced (or shut down) under a submit
            for attempt in range(SUBMIT_TRIES):
                current = self._current
                starting = current is None or current.broken or \
                    len(current.processes) < self.workers
                try:
                    with interrupts_deferred(starting):  # queues and workers made whole
                        return self._generation().submit(fn, *args)
                except BrokenProcessPool:
                    if attempt + 1 == SUBMIT_TRIES:
                        raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _gens(self) -> list[Generation]:
        with self._lock:
            return list(self._generations)

    # -- data -----------------------------------------------------------------------------
    def place(self, data, slices):
        return place_shared(data, slices)

    def output(self, shape, dtype) -> Output:
        """A shared buffer the workers write their rows into (nothing pickled back); for Python
        objects, which shared memory cannot hold, the rows come back pickled (as on dask)."""
        if np.dtype(dtype).hasobject:
            return Output(np.empty(shape, dtype), None)
        handle = output_array(shape, dtype)
        # The owner's view stays valid once the name is unlinked (release), as numpy holds it.
        return Output(handle.value, handle, lambda: handle.close(wait=False))

    # -- running --------------------------------------------------------------------------
    def submit(self, fn, /, *args, **kwargs) -> Future:
        payload = dumps_call(fn, args, kwargs)
        call = Call(payload, caller_level(), -next(_call_ids))
        result = CallFuture(keep=(fn, args, kwargs))
        self._send_call(call, result)
        return result

    def _send_call(self, call: Call, result: CallFuture) -> None:
        """Send a submitted call (again, after a loss); its outcome goes to ``result``."""
        sent = self._submit(call_pickled, *call)
        result._sent = sent
        if result.cancelled():  # cancelled while it was lost: it is not to run
            sent.cancel()
        sent.add_done_callback(
            lambda f: deliver_call(f, result, lambda exc: self._call_lost(f, call, result, exc)))

    def _call_lost(self, sent: Future, call: Call, result: CallFuture,
                   exc: BaseException) -> None:
        """A call lost with its executor: its own worker's death is its WorkerCrashedError;
        lost with another's, it is sent again (up to REQUEUES times), as a map's batch is."""
        death = crashes.call_death(sent.generation, call.call_id)
        result.requeues += 1
        if death is not None or result.requeues > REQUEUES:
            settle_crash(result, exc, *(death or (None, None)))
        elif not result.done():
            self._send_call(call, result)

    def submit_batch(self, job, specs, map_id) -> Future:
        return self._send(pack_batch(job, specs, map_id))

    def _send(self, batch: Batch) -> Future:
        future = self._submit(run_batch_pickled, batch.job, batch.specs, batch.map_id,
                              batch.first_index)
        future.batch = batch
        future.bytes_out = len(batch.job) + len(batch.specs)
        return future

    def outcomes(self, future, map_id, specs) -> Delivery:
        try:
            raw = future.result()
        except BrokenProcessPool:
            return self._after_break(future, map_id)
        return Delivery(loads_outcomes(raw, specs), getattr(future, "bytes_out", 0), len(raw))

    def _after_break(self, future: Future, map_id: int) -> Delivery:
        """A batch lost with its executor: the map's own crash, or resubmitted."""
        gen, batch = future.generation, future.batch
        verdict = crashes.judge(gen)
        death = verdict.culprits.get(map_id)
        if death is not None:
            raise crashes.crash_error(death, gen) from None
        batch.requeues += 1
        if batch.requeues > REQUEUES:
            raise crashes.lost_error(batch.first_index, batch.requeues, verdict, gen) from None
        return Delivery([], replacement=self._send(batch))

    def running(self, map_id: int):
        gen = self._current
        return gen.board.running(map_id) if gen is not None else []

    def stop_worker(self, worker_id: int) -> bool:
        return any(gen.stop(worker_id) for gen in self._gens() if worker_id in gen.processes)

    def cancel(self, futures=(), map_id=None) -> None:
        # The futures are left to the executor (cancelling one as a Python 3.11 executor breaks
        # kills its thread); the workers skip the map's batches instead.
        for gen in self._gens():
            if map_id is not None:
                gen.board.cancel(map_id)

    def abort(self, futures=(), map_id=None) -> None:
        for gen in self._gens():
            if map_id is None:
                gen.kill_all()
            else:
                gen.stop_map(map_id)

    def shutdown(self, wait: bool = True) -> None:
        with self._lock:
            if os.getpid() != self._creator:
                self._current, self._generations = None, []
                return
            self._closed = True
            gens, self._generations, self._current = self._generations, [], None
        for gen in gens:
            gen.shutdown(kill=not wait, grace=SHUTDOWN_GRACE)

    def worker_pids(self) -> list[int]:
        """Live workers, found without polling them (only the executor's thread reaps)."""
        if os.getpid() != self._creator:
            return []
        return [pid for gen in self._gens() for pid in gen.live_pids()]

    def describe(self) -> str:
        return f"process backend ({self.start_method}), {self.workers} worker(s)"
