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

from ..replay import caller_level
from .base import Backend, Delivery
from .dask_batches import Batch, call_crash_error, crash_error
from .dask_cluster import (
    Vacancy,
    close_cluster,
    connect,
    import_distributed,
    wait_for_workers,
    watch_exits,
)
from .dask_placing import DaskPlacing
from .dask_specs import (
    Scattered,
    Task,
    process_id,
    run_batch,
    run_call,
)
from .pickling import deliver_call, dumps_call, dumps_job, dumps_specs, loads_outcomes


class DaskBackend(DaskPlacing, Backend):
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

    # -- running -----------------------------------------------------------------------------
    def submit(self, fn, /, *args, **kwargs) -> Future:
        """As the process backend's: the call travels as one cloudpickle and runs in
        :func:`.remote.call_pickled` (by :func:`.dask_specs.run_call`), whose reply (value or
        error, and what the call logged and warned) :func:`.pickling.deliver_call` unpacks
        into the caller's future."""
        payload = dumps_call(fn, args, kwargs)
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
