"""The dask backend: chunks run on a dask.distributed cluster, one machine or many.

::

    caller (the client)                                 dask workers (any machine)
    ───────────────────                                 ──────────────────────────
    place() + chunk_specs(): scatter the chunks, ───────▶ one piece of data per chunk, held
        once per call; specs carry only their keys        by the workers until the map ends
    submit_batch(): client.submit(_run_batch,  ─────────▶ the chunks' data arrive as arguments
        job, specs, *the chunks' futures)                 → run_batch_pickled → run_chunks
    concurrent.futures.Future ◀── bytes of outcomes ──── (as on the process backend)
    map driver: feedback, errors, fixed-tree reduction in the caller, as for every backend

Shared memory is a single-machine optimisation and is skipped here: data reaches the workers by
``Client.scatter``, each chunk once per call (never once per chunk *and* per batch, never the
whole data per chunk), and a scattered chunk lives on one worker, whose task runs next to it.
Lists of chunks and lazy sources (``par.from_parquet``) need no scatter: their specs are small
or carry their own chunk. Partials come back to the caller and meet in the same fixed tree as on
the local backends, so results are bit-for-bit the same for the same chunking.

A worker that dies mid-map: dask reruns its tasks elsewhere, but it cannot recreate the chunks
it was given by scatter, so the batches that lost theirs are scattered again from the caller
and resubmitted (RESUBMITS times). A chunk that keeps killing workers raises a
WorkerCrashedError naming it; the cluster's nannies restart the workers, so the pool keeps
working. Exceptions raised by ``func`` keep their type, as on every backend, because they
travel inside the outcomes rather than as task failures.

Dask is imported only when this backend is built; without it, an ImportError says what to
install.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import WorkerCrashedError
from ..plan import Spec
from . import Backend

#: Seconds to wait for a cluster to have at least one worker before giving up: long enough for
#: a LocalCluster to spawn its processes on a loaded machine, short enough to report a scheduler
#: with no workers instead of hanging the first map.
WAIT_FOR_WORKERS = 60.0

#: Payloads (the job, a batch of specs) above this many bytes are scattered to the workers
#: instead of riding inside the task: dask sends task arguments through the scheduler and warns
#: about large graphs, whereas scattered data goes straight to a worker.
SCATTER_PAYLOAD_BYTES = 1 * 2**20

#: Times a batch is resubmitted after its worker died while running it (dask itself retries a
#: task whose worker dies, but cannot recreate the scattered data it was given).
RESUBMITS = 3

#: Times a batch is resubmitted after a dead worker took its input or its result with it while
#: it was not running: not its fault, so a budget of its own.
REQUEUES = 10

#: Tries, and seconds between them, to resubmit a batch while workers come and go.
RELAUNCH_TRIES = 5
RELAUNCH_PAUSE = 0.5

#: Seconds to wait for a LocalCluster we started to close.
CLOSE_TIMEOUT = 20.0

INSTALL_HINT = "pip install 'parallel_analysis[dask]'"


def _import_distributed():
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(
            "the dask backend needs dask.distributed, which is not installed. Install it with: "
            f"{INSTALL_HINT}  (or use backend='process' on one machine)"
        ) from exc
    return distributed


# -- specs: what a worker needs to find its chunk ---------------------------------------------

@dataclass
class Scattered(Spec):
    """A chunk scattered to the cluster: the spec carries its key, the task carries its data."""

    key: str = ""
    align: int = -1  # an array chunk's address modulo ALIGNMENT in the caller

    def load(self) -> Any:
        values = getattr(_received, "values", {})
        if self.key not in values:
            raise RuntimeError(
                f"chunk {self.index}: its scattered data ({self.key}) did not reach this task; "
                "this is a bug in parallel_analysis's dask backend"
            )
        value = values[self.key]
        if isinstance(value, np.ndarray):
            value = _aligned_like(value, self.align)
            if value.flags.writeable:
                value = value.view()
                value.flags.writeable = False  # inputs are read-only, as on the other backends
        elif _has_unaligned_columns(value):
            value = value.copy(deep=True)
        return value


#: numpy's SIMD reductions peel a few elements until the data is aligned, so a float sum can
#: differ in the last bit between two copies of the same numbers at different addresses. Chunks
#: are rebuilt at the caller's address modulo this, so results match the local backends bit for
#: bit (64: the widest vector, AVX-512).
ALIGNMENT = 64


def _has_unaligned_columns(value: Any) -> bool:
    """A DataFrame or Series with a numpy column whose data is not aligned to its item size.

    Dask's wire format may leave a column at any byte offset; numpy then takes its unaligned
    loops, whose float sums differ in the last bits from the aligned ones the local backends
    use. A deep copy realigns every column.
    """
    if not type(value).__module__.startswith("pandas"):
        return False
    columns = [value] if value.ndim == 1 else [value.iloc[:, j] for j in range(value.shape[1])]
    return any(isinstance(c.dtype, np.dtype) and not c.to_numpy(copy=False).flags.aligned
               for c in columns)


def _address(array: np.ndarray) -> int:
    return array.__array_interface__["data"][0]


def _aligned_like(value: np.ndarray, align: int) -> np.ndarray:
    """``value`` itself, or a copy placed at ``align`` modulo ALIGNMENT when it is not there."""
    if align < 0 or not value.flags.c_contiguous or value.nbytes == 0 or \
            _address(value) % ALIGNMENT == align:
        return value
    raw = np.empty(value.nbytes + ALIGNMENT, np.uint8)
    start = (align - _address(raw)) % ALIGNMENT
    out = raw[start: start + value.nbytes].view(value.dtype).reshape(value.shape)
    np.copyto(out, value)
    return out


@dataclass
class _ToScatter:
    """Data placed for a map: scattered chunk by chunk once the map knows its slices."""

    value: Any
    keys: list


@dataclass
class _Batch:
    """A batch of chunks as submitted, kept until it ends so that it can be resubmitted."""

    job: bytes
    specs: bytes
    map_id: int
    first_index: int
    keys: list
    attempts: int = 0  # times its worker died while it ran
    requeues: int = 0  # times it was lost before it started, or its result before we had it
    marker: str | None = None  # set on the scheduler when a resubmitted run starts
    current: Any = None  # the dask future running it now

    @property
    def lost(self) -> int:
        return self.attempts + self.requeues

    def cancel(self) -> None:
        if self.current is not None:
            self.current.cancel()


# -- worker side: private and module-level so that it pickles ----------------------------------

_received = threading.local()  # .values: key → data of the scattered chunks of this task


def _run_batch(job: bytes, specs: bytes, map_id: int, first_index: int, caller: str,
               marker: str | None, keys: list, *values: Any) -> bytes:
    """Dask task: make the batch's chunks visible to its specs, then run it as a process would."""
    from .. import worker

    if marker is not None:
        _mark_started(marker)
    if _process_id() != caller:
        # A worker process of its own: nested maps run serially, and (with one thread per
        # worker, so that swapping sys.stdout cannot race) prints and logs go back to the caller.
        worker._process_state["in_worker"] = _single_threaded()
    _received.values = dict(zip(keys, values))
    try:
        return worker.run_batch_pickled(job, specs, map_id, first_index)
    finally:
        _received.values = {}


def _mark_started(marker: str) -> None:
    """Tell the scheduler this resubmitted batch started (a synchronous call, ~3 ms), so that a
    batch that dies with its worker can be told apart from one that only waited there."""
    try:
        from distributed import get_worker
        from distributed.utils import sync

        worker = get_worker()
        sync(worker.loop, worker.scheduler.set_metadata, keys=[marker], value=True)
    except Exception:  # noqa: BLE001 - the mark only sharpens an error message
        pass


def _process_id() -> str:
    """This process, told apart from processes on other machines."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _single_threaded() -> bool:
    try:
        from distributed import get_worker

        return get_worker().state.nthreads == 1
    except (ImportError, ValueError, AttributeError):
        return False


def _alignment(chunk: Any) -> int:
    if isinstance(chunk, np.ndarray) and chunk.flags.c_contiguous and not chunk.dtype.hasobject:
        return _address(chunk) % ALIGNMENT
    return -1


def _call(fn, args: tuple, kwargs: dict):
    return fn(*args, **kwargs)


# -- the backend ------------------------------------------------------------------------------

class DaskBackend(Backend):
    """Runs chunks on a dask.distributed cluster.

    ``client``: a ``distributed.Client`` to use (left open at shutdown). ``address``: a scheduler
    to connect to (``"tcp://host:8786"``). With neither, a ``LocalCluster`` of ``workers`` worker
    processes with ``threads_per_worker`` threads each (1: pandas and pure-Python work hold the
    GIL) is started, and closed with the pool; other options go to ``LocalCluster``.
    ``workers`` is then the cluster's total thread count, which chunking plans for.
    """

    name = "dask"
    remote = True

    def __init__(self, workers: int | None = None, *, address: str | None = None,
                 client: Any = None, threads_per_worker: int = 1, **cluster_options: Any):
        distributed = _import_distributed()
        self._cluster = None
        self._closing = False  # shutting down: cancelled tasks are not resubmitted
        self._own_client = client is None
        if client is not None:
            self._client = client
        elif address is not None:
            self._client = distributed.Client(address, set_as_default=False)
        else:
            from ..cpus import available_cpus

            n_workers = workers if workers else max(1, available_cpus() // threads_per_worker)
            cluster_options.setdefault("dashboard_address", ":0")  # any free port
            cluster_options.setdefault("processes", True)
            self._cluster = distributed.LocalCluster(
                n_workers=n_workers, threads_per_worker=threads_per_worker, **cluster_options)
            self._client = distributed.Client(self._cluster, set_as_default=False)
        try:
            self._client.wait_for_workers(1, timeout=WAIT_FOR_WORKERS)
        except Exception:
            self.shutdown()
            raise
        super().__init__(self.total_threads())
        self._lock = threading.Lock()
        self._live: dict[str, tuple] = {}  # key → (future, chunk) scattered for a running map
        self._inflight: set = set()
        self._job: tuple[bytes | None, Any] = (None, None)  # the last big job, scattered once

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` this backend submits to (its dashboard, its logs...)."""
        return self._client

    def total_threads(self) -> int:
        """Worker threads in the cluster now (what ``Pool.workers`` reports)."""
        workers = self._client.scheduler_info(n_workers=-1).get("workers", {})
        return max(1, sum(int(w.get("nthreads", 1)) for w in workers.values()))

    # -- placing data ------------------------------------------------------------------------
    def place(self, data: Any) -> tuple[Any, Any]:
        from ..share import Shared

        value = data.value if isinstance(data, Shared) else data
        placed = _ToScatter(value, [])
        return placed, lambda: self._release(placed.keys)

    def chunk_specs(self, placed: Any, slices: list) -> list | None:
        """Scatter each chunk once (one call for them all); specs keep only the keys."""
        from ..split import take_rows

        if not isinstance(placed, _ToScatter):
            return None
        if not slices:
            return []
        chunks = [take_rows(placed.value, s) for s in slices]
        futures = self._client.scatter(chunks, hash=False)
        with self._lock:
            for future, chunk in zip(futures, chunks):
                # The chunk (a view of the caller's data) is kept to scatter it again if the
                # worker holding it dies: dask cannot recompute data it was given.
                self._live[future.key] = (future, chunk)
                placed.keys.append(future.key)
        return [Scattered(i, s.start, s.stop, future.key, _alignment(chunk))
                for i, (s, future, chunk) in enumerate(zip(slices, futures, chunks))]

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
                [future] = self._client.scatter([chunk], hash=False)
                with self._lock:
                    self._live[key] = (future, chunk)
            futures.append(future)
        return futures

    def _payload(self, payload: bytes) -> Any:
        """Large bytes travel scattered (straight to a worker), small ones inside the task."""
        if len(payload) <= SCATTER_PAYLOAD_BYTES:
            return payload
        return self._client.scatter(payload, hash=False)

    def _job_payload(self, job_bytes: bytes) -> Any:
        """The job of a map, scattered once for all its batches when it is big."""
        if len(job_bytes) <= SCATTER_PAYLOAD_BYTES:
            return job_bytes
        with self._lock:
            cached_bytes, future = self._job
            if cached_bytes is not job_bytes or future.status != "finished":
                if future is not None:
                    future.release()
                future = self._client.scatter(job_bytes, hash=False)
                self._job = (job_bytes, future)
            return future

    # -- running -----------------------------------------------------------------------------
    def submit(self, fn, /, *args, **kwargs) -> Future:
        result: Future = Future()
        dask_future = self._client.submit(_call, fn, args, kwargs, pure=False)
        result.add_done_callback(lambda r: r.cancelled() and dask_future.cancel())
        dask_future.add_done_callback(lambda f: self._deliver(f, result, None))
        return result

    def submit_batch(self, job_bytes: bytes, specs_bytes: bytes, map_id: int,
                     first_index: int = 0) -> Future:
        # Specs reach us pickled; the keys of scattered chunks are unique random strings stored
        # verbatim in the pickle, so a byte search finds the batch's chunks without unpickling
        # (and copying) specs that may carry data of their own.
        with self._lock:
            keys = [k for k in self._live if k.encode() in specs_bytes]
        batch = _Batch(job_bytes, specs_bytes, map_id, first_index, keys)
        result: Future = Future()
        result.add_done_callback(lambda r: r.cancelled() and batch.cancel())
        self._launch(batch, result)
        return result

    def _launch(self, batch: _Batch, result: Future) -> None:
        """Submit ``batch`` as one dask task; its outcome goes to ``result``."""
        if batch.lost:
            batch.marker = f"parallel_analysis-started-{uuid.uuid4().hex}"
        future = self._client.submit(
            _run_batch, self._job_payload(batch.job), self._payload(batch.specs), batch.map_id,
            batch.first_index, _process_id(), batch.marker, batch.keys,
            *self._chunk_futures(batch.keys),
            key=f"parallel_analysis-map{batch.map_id}-chunk{batch.first_index}-"
                f"{uuid.uuid4().hex}",
            pure=False,
        )
        batch.current = future
        with self._lock:
            self._inflight.add(future)
        future.add_done_callback(lambda f: self._deliver(f, result, batch))

    def _deliver(self, future: Any, result: Future, batch: _Batch | None) -> None:
        """Runs in a dask callback thread when a task ends: pass its outcome on, or retry it.

        A task cancelled by dask (not by us) lost its input: the worker holding a scattered
        chunk died, and dask cannot recompute data it was given. The chunk is scattered again
        from the caller and the batch resubmitted, up to RESUBMITS times.
        """
        distributed = _import_distributed()
        with self._lock:
            self._inflight.discard(future)
        if batch is not None:
            batch.current = None  # no cycle batch ↔ future: the result is freed once fetched
        if result.cancelled():
            future.release()
            return
        finished = future.status == "finished"  # ran; its result may still be lost below
        try:
            value = future.result()
            future.release()  # the cluster forgets the result (and the chunks it depended on)
        except distributed.KilledWorker as exc:
            self._fail(result, self._crashed(exc, batch) if batch is not None else exc)
        except CancelledError as exc:
            if batch is None or result.done() or self._closing:
                self._fail(result, exc)
                return
            # Only a batch that was running when its worker died is suspect. One that waited
            # there, or had finished and lost its result, says nothing against itself: it has a
            # budget of its own (the first loss counts as a run: it was not marked).
            if not finished and (batch.marker is None or self._started(batch.marker)):
                batch.attempts += 1
            else:
                batch.requeues += 1
            if batch.attempts <= RESUBMITS and batch.requeues <= REQUEUES:
                self._relaunch(batch, result)
                return
            self._fail(result, self._crashed(exc, batch))
        except BaseException as exc:  # noqa: BLE001 - delivered through the future
            self._fail(result, exc)
        else:
            if result.set_running_or_notify_cancel():
                result.set_result(value)

    def _started(self, marker: str) -> bool:
        try:
            return bool(self._client.get_metadata([marker], default=False))
        except Exception:  # noqa: BLE001 - no answer: count it as run, the safe side
            return True

    def _relaunch(self, batch: _Batch, result: Future) -> None:
        """Resubmit after a loss; the scatter may meet a worker that is dying too, so retry."""
        for attempt in range(RELAUNCH_TRIES):
            try:
                self._launch(batch, result)
                return
            except OSError as exc:  # CommClosedError and friends: a worker went away
                if attempt + 1 == RELAUNCH_TRIES:
                    self._fail(result, exc)
                    return
                time.sleep(RELAUNCH_PAUSE)
            except BaseException as exc:  # noqa: BLE001 - delivered through the future
                self._fail(result, exc)
                return

    @staticmethod
    def _fail(result: Future, exc: BaseException) -> None:
        if result.set_running_or_notify_cancel():
            result.set_exception(exc)

    def _crashed(self, exc: BaseException, batch: _Batch) -> WorkerCrashedError:
        chunk = batch.first_index
        n = len(batch.keys)  # scattered chunks: one key each; other chunks: not known here
        where = (f"chunk {chunk}" if n == 1 else f"chunks {chunk}..{chunk + n - 1}" if n else
                 f"the batch of chunks from {chunk}")
        if hasattr(exc, "allowed_failures"):  # KilledWorker: dask's own verdict
            what = (f"dask workers kept dying while running {where}: the scheduler retried it "
                    f"{exc.allowed_failures} time(s)")
        elif batch.attempts > RESUBMITS:
            what = f"the dask worker running {where} died {batch.attempts} times"
        else:
            what = (f"{where} was lost {batch.requeues} times with dask workers that died while "
                    "running other chunks")
        return WorkerCrashedError(
            f"{what}; giving up ({type(exc).__name__}: {exc}). Look for memory limits or native "
            "crashes in the worker logs (Pool._backends['dask'].client.get_worker_logs()); the "
            "cluster itself keeps working.",
            chunk=chunk,
        )

    def abort(self) -> None:
        with self._lock:
            inflight = list(self._inflight)
        if inflight:
            try:
                self._client.cancel(inflight)
            except Exception:  # noqa: BLE001 - a cluster already gone has nothing to cancel
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
            self._cluster.close(timeout=CLOSE_TIMEOUT)
            self._cluster = None

    def describe(self) -> str:
        where = "LocalCluster" if self._cluster is not None else (
            self._client.scheduler.address if self._client is not None else "closed")
        return f"dask backend ({where}), {self.workers} worker thread(s)"
