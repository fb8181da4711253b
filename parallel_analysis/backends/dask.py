"""backends.dask: chunks run on a dask.distributed cluster, one machine or many. Layer:
backends (imports share, split and its sibling modules; distributed when built).

::

    caller (the client)                                 dask workers (any machine)
    ───────────────────                                 ──────────────────────────
    place(): scatter the chunks, once per call; ────────▶ one piece of data per chunk, held
        specs carry only their keys                       by the workers until the map ends
    submit_batch(): client.submit(run_batch,   ─────────▶ the chunks' data arrive as arguments
        job, specs, *the chunks' futures)                 → run_batch_pickled → run_chunks
    concurrent.futures.Future ◀── bytes of outcomes ──── (as on the process backend)
    map driver: feedback, errors, fixed-tree reduction in the caller, as for every backend

Shared memory is a single-machine optimisation and is skipped here: data reaches the workers by
``Client.scatter``, each chunk once per call (never once per chunk *and* per batch, never the
whole data per chunk), and a scattered chunk lives on one worker, whose task runs next to it.
Lists of chunks and lazy sources (``par.from_parquet``) need no scatter: their specs are small
or carry their own chunk. Partials come back to the caller and meet in the same fixed tree as on
the local backends, so results are bit-for-bit the same for the same chunking.

Batches that lose their chunks with a dying worker are scattered again and resubmitted
(:mod:`.dask_batches`); exceptions raised by ``func`` keep their type, as on every backend,
because they travel inside the outcomes. Dask is imported only when this backend is built.
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import CancelledError, Future
from typing import Any

import numpy as np

from ..errors import pickling_error
from ..replay import caller_level
from ..share import local_value
from ..split import take_rows
from ..worker import call_without_exit
from .base import Backend, Delivery, Output, Placement
from .dask_batches import Batch, call_crash_error, crash_error
from .dask_cluster import (
    Vacancy,
    close_cluster,
    connect,
    import_distributed,
    no_workers_error,
    wait_for_workers,
    watch_exits,
    worker_count,
)
from .dask_specs import (
    Scattered,
    Task,
    alignment,
    process_id,
    run_batch,
    run_call,
    subclass_of,
)
from .pickling import deliver_call, dumps_job, dumps_specs, loads_outcomes

#: Payloads (the job, a batch of specs) above this many bytes are scattered to the workers
#: instead of riding inside the task: dask sends task arguments through the scheduler and warns
#: about large graphs, whereas scattered data goes straight to a worker.
SCATTER_PAYLOAD_BYTES = 1 * 2**20

#: Tries, and seconds between them, to scatter data while workers come and go.
RELAUNCH_TRIES = 5
RELAUNCH_PAUSE = 0.5


class DaskBackend(Backend):
    """Runs chunks on a dask.distributed cluster.

    ``client``: a ``distributed.Client`` to use (left open at shutdown). ``address``: a scheduler
    to connect to (``"tcp://host:8786"``). With neither, a ``LocalCluster`` of ``workers`` worker
    processes with ``threads_per_worker`` threads each (1: pandas and pure-Python work hold the
    GIL) is started, and closed with the pool; other options go to ``LocalCluster``.
    ``workers`` is then the cluster's total thread count, which chunking plans for.
    """

    name = "dask"

    def __init__(self, workers: int | None = None, *, address: str | None = None,
                 client: Any = None, threads_per_worker: int = 1, **cluster_options: Any):
        self._cluster = None
        self._closing = False  # shutting down: cancelled tasks are not resubmitted
        self._own_client = client is None
        if client is not None:
            self._client = client
        else:
            self._client, self._cluster = connect(workers, address, threads_per_worker,
                                                  cluster_options)
        try:
            wait_for_workers(self._client)
        except Exception:
            self.shutdown()
            raise
        super().__init__(self.total_threads())
        # the exit codes of the workers of a cluster in this process (ours, or a client's)
        self._exits = watch_exits(self._cluster or getattr(self._client, "cluster", None))
        self._lock = threading.Lock()
        self._live: dict[str, tuple] = {}  # key → (future, chunk) scattered for a running map
        self._inflight: dict[int, set] = {}  # map id → its dask futures running or queued
        self._job: tuple[bytes | None, Any] = (None, None)  # the last big job, scattered once
        self._vacancy = Vacancy(self._client)

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` this backend submits to (its dashboard, its logs...)."""
        return self._client

    def total_threads(self) -> int:
        """Worker threads in the cluster now (what ``Pool.workers`` reports)."""
        workers = self._client.scheduler_info(n_workers=-1).get("workers", {})
        return max(1, sum(int(w.get("nthreads", 1)) for w in workers.values()))

    def check_workers(self, since: float) -> None:
        self._vacancy.check(since)

    @property
    def parallelism(self) -> int:
        """The cluster's worker threads: chunking plans for the cluster, not this machine."""
        return self.workers

    # -- placing data ------------------------------------------------------------------------
    def place(self, data: Any, slices: list[slice]) -> Placement:
        """Scatter each chunk once (one call for them all); specs keep only the keys."""
        value = local_value(data)
        if not slices:
            return Placement([])
        chunks = [take_rows(value, s) for s in slices]
        futures = self._scatter(chunks)
        keys = []
        with self._lock:
            for future, chunk in zip(futures, chunks):
                # The chunk (a view of the caller's data) is kept to scatter it again if the
                # worker holding it dies: dask cannot recompute data it was given.
                self._live[future.key] = (future, chunk)
                keys.append(future.key)
        specs = [Scattered(i, s.start, s.stop, future.key, alignment(chunk, s.start),
                           subclass_of(chunk))
                 for i, (s, future, chunk) in enumerate(zip(slices, futures, chunks))]
        return Placement(specs, [lambda: self._release(keys)])

    def output(self, shape: tuple, dtype: Any) -> Output:
        """Dask workers may run on other machines, which cannot write into our memory: each
        chunk's rows come back with its outcome and the caller writes them."""
        return Output(np.empty(shape, dtype), None)

    def _release(self, keys: list) -> None:
        with self._lock:
            futures = [self._live.pop(k)[0] for k in keys if k in self._live]
        for future in futures:
            future.release()

    def _chunk_futures(self, keys: list) -> list:
        """The scattered futures of ``keys``, scattered again where a dead worker lost them."""
        with self._lock:
            entries = [self._live[k] for k in keys]
        futures = []
        for key, (future, chunk) in zip(keys, entries):
            if future.status != "finished":
                [future] = self._scatter([chunk])
                with self._lock:
                    self._live[key] = (future, chunk)
            futures.append(future)
        return futures

    def _scatter(self, values: Any) -> Any:
        """``client.scatter``, tried again when it meets a worker that is going away."""
        for attempt in range(RELAUNCH_TRIES):
            start = time.monotonic()
            try:
                return self._client.scatter(values, hash=False)
            except OSError as exc:  # CommClosedError and friends; TimeoutError with no worker
                if isinstance(exc, TimeoutError) and not worker_count(self._client):
                    raise no_workers_error(time.monotonic() - start) from exc
                if attempt + 1 == RELAUNCH_TRIES:
                    raise
                time.sleep(RELAUNCH_PAUSE)
        raise AssertionError("unreachable")  # pragma: no cover

    def _payload(self, payload: bytes) -> Any:
        """Large bytes travel scattered (straight to a worker), small ones inside the task."""
        if len(payload) <= SCATTER_PAYLOAD_BYTES:
            return payload
        return self._scatter(payload)

    def _job_payload(self, job_bytes: bytes) -> Any:
        """The job of a map, scattered once for all its batches when it is big."""
        if len(job_bytes) <= SCATTER_PAYLOAD_BYTES:
            return job_bytes
        with self._lock:
            cached_bytes, future = self._job
            if cached_bytes is not job_bytes or future.status != "finished":
                if future is not None:
                    future.release()
                future = self._scatter(job_bytes)
                self._job = (job_bytes, future)
            return future

    # -- running -----------------------------------------------------------------------------
    def submit(self, fn, /, *args, **kwargs) -> Future:
        """As the process backend's: the call travels as one cloudpickle and runs in
        :func:`.remote.call_pickled` (by :func:`.dask_specs.run_call`), whose reply (value or
        error, and what the call logged and warned) :func:`.pickling.deliver_call` unpacks
        into the caller's future."""
        import cloudpickle

        try:
            payload = cloudpickle.dumps((fn, args, kwargs))
        except Exception as exc:
            named = args[0] if fn is call_without_exit and args else fn  # the user's function
            raise pickling_error("the function or its arguments", named, exc) from exc
        result: Future = Future()
        sent: Future = Future()
        sent.submitted = time.monotonic()
        kept = [(fn, args, kwargs)]  # alive until the call ends (a Shared handle made for it)
        result.add_done_callback(lambda r: kept.clear())
        dask_future = self._client.submit(run_call, payload, caller_level(), process_id(),
                                          pure=False)
        result.add_done_callback(lambda r: r.cancelled() and dask_future.cancel())
        sent.add_done_callback(lambda s: deliver_call(s, result))
        dask_future.add_done_callback(lambda f: self._deliver(f, sent, None))
        return result

    def submit_batch(self, job, specs, map_id) -> Future:
        keys = [spec.key for spec in specs if isinstance(spec, Scattered)]
        batch = Batch(dumps_job(job), dumps_specs(specs), map_id, specs[0].index, keys=keys)
        result: Future = Future()
        result.bytes_out = len(batch.job) + len(batch.specs)
        result.add_done_callback(lambda r: r.cancelled() and batch.cancel())
        self._launch(batch, result)
        return result

    def outcomes(self, future, map_id, specs) -> Delivery:
        raw = future.result()
        return Delivery(loads_outcomes(raw, specs), getattr(future, "bytes_out", 0), len(raw))

    def _launch(self, batch: Batch, result: Future) -> None:
        """Submit ``batch`` as one dask task; its outcome goes to ``result``."""
        if batch.lost:
            batch.marker = f"parallel_analysis-started-{uuid.uuid4().hex}"
        future = self._client.submit(
            run_batch, self._job_payload(batch.job), self._payload(batch.specs),
            Task(batch.map_id, batch.first_index, process_id(), batch.marker, batch.keys),
            *self._chunk_futures(batch.keys),
            key=f"parallel_analysis-map{batch.map_id}-chunk{batch.first_index}-"
                f"{uuid.uuid4().hex}",
            pure=False,
        )
        batch.current = future
        with self._lock:
            self._inflight.setdefault(batch.map_id, set()).add(future)
        future.add_done_callback(lambda f: self._deliver(f, result, batch))

    def _deliver(self, future: Any, result: Future, batch: Batch | None) -> None:
        """Runs in a dask callback thread when a task ends: pass its outcome on, or retry it.

        A task cancelled by dask (not by us) lost its input: the worker holding a scattered
        chunk died, and dask cannot recompute data it was given. The chunk is scattered again
        from the caller and the batch resubmitted (:meth:`Batch.retry` says how often; a batch
        that only waited on workers another map's chunk killed is not to blame).
        """
        distributed = import_distributed()
        if batch is not None:
            with self._lock:
                mine = self._inflight.get(batch.map_id, set())
                mine.discard(future)
                if not mine:
                    self._inflight.pop(batch.map_id, None)
        if batch is not None:
            batch.current = None  # no cycle batch ↔ future: the result is freed once fetched
        if result.cancelled():
            future.release()
            return
        finished = future.status == "finished"  # ran; its result may still be lost below
        try:
            value = future.result()
            future.release()  # the cluster forgets the result (and the chunks it depended on)
        except (distributed.KilledWorker, CancelledError) as exc:
            if batch is None and isinstance(exc, distributed.KilledWorker):  # a submit's
                self._fail(result, call_crash_error(exc, result.submitted, self._exits))
            elif batch is None or result.done() or self._closing:
                self._fail(result, exc)
            elif batch.retry(exc, finished, self._started):
                self._relaunch(batch, result)
            else:
                self._fail(result, crash_error(exc, batch, self._exits))
        except BaseException as exc:  # delivered through the future
            self._fail(result, exc)
        else:
            if result.set_running_or_notify_cancel():
                result.set_result(value)

    def _started(self, marker: str) -> bool:
        try:
            return bool(self._client.get_metadata([marker], default=False))
        except Exception:  # no answer: count it as run, the safe side
            return True

    def _relaunch(self, batch: Batch, result: Future) -> None:
        """Resubmit after a loss (:meth:`_scatter` retries a worker that is dying too)."""
        try:
            self._launch(batch, result)
        except BaseException as exc:  # delivered through the future
            self._fail(result, exc)

    @staticmethod
    def _fail(result: Future, exc: BaseException) -> None:
        if result.set_running_or_notify_cancel():
            result.set_exception(exc)

    def abort(self, futures=(), map_id=None) -> None:
        """Cancel the map's tasks on the cluster (None: every map's); other maps go on."""
        super().abort(futures, map_id)
        with self._lock:
            inflight = [f for mid, fs in self._inflight.items() if map_id in (None, mid)
                        for f in fs]
        if inflight:
            try:
                self._client.cancel(inflight)
            except Exception:  # a cluster already gone has nothing to cancel
                pass

    # -- life cycle --------------------------------------------------------------------------
    def shutdown(self, wait: bool = True) -> None:
        self._closing = True
        lock = getattr(self, "_lock", None)
        if lock is not None:
            self.abort()
            with lock:
                live = [future for future, _ in self._live.values()]
                self._live = {}
                _, job = self._job
                self._job = (None, None)
            for future in live + ([job] if job is not None else []):
                future.release()
        if self._own_client and self._client is not None:
            self._client.close()
        self._client = None
        if self._cluster is not None:
            close_cluster(self._cluster)
            self._cluster = None

    def describe(self) -> str:
        where = "LocalCluster" if self._cluster is not None else (
            self._client.scheduler.address if self._client is not None else "closed")
        return f"dask backend ({where}), {self.workers} worker thread(s)"
