"""backends.dask_placing: where a map's data goes on a dask cluster. Layer: backends (imports
share, split and its sibling modules).

Each chunk is scattered once per call (``Client.scatter``: straight to a worker, never through
the scheduler), and a spec keeps only its key; the chunk itself stays referenced here until
the map ends, to be scattered again should the worker holding it die (dask cannot recompute
data it was given). A big job or batch of specs travels scattered too.
:class:`~.dask.DaskBackend` mixes this in; it holds ``_client``, ``_lock``, ``_live`` and
``_job``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..share import local_value
from ..split import take_rows
from .base import Output, Placement
from .dask_cluster import no_workers_error, worker_count
from .dask_specs import Scattered, alignment, subclass_of

#: Payloads (the job, a batch of specs) above this many bytes are scattered to the workers
#: instead of riding inside the task: dask sends task arguments through the scheduler and warns
#: about large graphs, whereas scattered data goes straight to a worker.
SCATTER_PAYLOAD_BYTES = 1 * 2**20

#: Tries, and seconds between them, to scatter data while workers come and go.
RELAUNCH_TRIES = 5
RELAUNCH_PAUSE = 0.5


class DaskPlacing:
    """The placing half of :class:`~.dask.DaskBackend`."""

    _client: Any
    _lock: Any
    _live: dict
    _job: tuple

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
