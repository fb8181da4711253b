"""backends.dask_cluster: finding or starting the dask cluster a DaskBackend submits to. Layer:
backends (imports cpus and errors; distributed when called).

Kept apart from the backend itself: connecting (a client given, a scheduler's address, or a
LocalCluster of our own), waiting for the first worker and closing what we started are one
concern, and so is telling a cluster left with no workers from a busy one; submitting and
retrying batches are another.
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from collections import deque
from typing import Any

from ..cpus import available_cpus
from ..errors import WorkerCrashedError

#: Seconds to wait for a cluster to have at least one worker before giving up: long enough for
#: a LocalCluster to spawn its processes on a loaded machine, short enough to report a scheduler
#: with no workers instead of hanging the first map.
WAIT_FOR_WORKERS = 60.0

#: Seconds between the checks, while a map waits, that the cluster still has a worker.
VACANCY_CHECK = 2.0

#: Seconds to wait for a LocalCluster we started to close.
CLOSE_TIMEOUT = 20.0

INSTALL_HINT = "pip install 'parallel_analysis[dask]'"


def import_distributed() -> Any:
    """``dask.distributed``, or an ImportError that says how to install it."""
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(
            "the dask backend needs dask.distributed, which is not installed. Install it with: "
            f"{INSTALL_HINT}  (or use backend='process' on one machine)"
        ) from exc
    return distributed


def local_workers(workers: int | None, threads_per_worker: int) -> int:
    """The worker processes of a LocalCluster we start: ``workers``, or one per usable CPU's
    group of ``threads_per_worker``."""
    return workers if workers else max(1, available_cpus() // threads_per_worker)


def connect(workers: int | None, address: str | None, threads_per_worker: int,
            cluster_options: dict) -> tuple[Any, Any]:
    """(client, cluster we started or None) for a scheduler's ``address``, or a new
    LocalCluster of ``workers`` processes (default: one per usable CPU's thread group)."""
    distributed = import_distributed()
    if address is not None:
        return distributed.Client(address, set_as_default=False), None
    n_workers = local_workers(workers, threads_per_worker)
    cluster_options.setdefault("dashboard_address", ":0")  # any free port
    cluster_options.setdefault("processes", True)
    cluster = distributed.LocalCluster(
        n_workers=n_workers, threads_per_worker=threads_per_worker, **cluster_options)
    try:
        return distributed.Client(cluster, set_as_default=False), cluster
    except BaseException:
        cluster.close(timeout=CLOSE_TIMEOUT)
        raise


def watch_exits(cluster: Any) -> deque:
    """``(time.monotonic(), exit code)`` of a LocalCluster's worker processes as they die,
    newest last: what a crash error names (the signal). Its nannies run in this process, so
    the callback each calls when its worker process exits is wrapped (none for a remote
    cluster; nannies added later by scaling are not watched)."""
    exits: deque = deque(maxlen=32)
    for nanny in getattr(cluster, "workers", {}).values():
        sync = getattr(type(nanny), "_on_worker_exit_sync", None)
        if sync is None:  # another nanny's internals: the error names no signal
            continue

        held = weakref.ref(nanny)  # weakly: no cycle through the nanny
        # another pool's recorder on the same cluster, called in turn (replacing it would
        # leave that pool's crash errors without their signal)
        earlier = nanny.__dict__.get("_on_worker_exit_sync")

        def record(exitcode: Any, _sync: Any = sync, _held: Any = held,
                   _earlier: Any = earlier) -> None:
            exits.append((time.monotonic(), exitcode))
            if _earlier is not None:
                _earlier(exitcode)
                return
            nanny = _held()
            if nanny is not None:
                _sync(nanny, exitcode)

        nanny._on_worker_exit_sync = record  # the worker processes it starts from now on
        if getattr(nanny, "process", None) is not None:
            nanny.process.on_exit = record  # the one running now
    return exits


def wait_for_workers(client: Any) -> None:
    """Return once the cluster has a worker; TimeoutError after :data:`WAIT_FOR_WORKERS`."""
    client.wait_for_workers(1, timeout=WAIT_FOR_WORKERS)


def worker_count(client: Any) -> int:
    """Worker processes in the cluster now."""
    return len(client.scheduler_info(n_workers=-1).get("workers") or {})


def no_workers_error(seconds: float) -> WorkerCrashedError:
    """The error of a map (or a scatter) that met a cluster without workers."""
    return WorkerCrashedError(
        f"the dask cluster has had no workers for {seconds:.0f} s, so the map's chunks cannot "
        "run: start workers for its scheduler or scale the cluster up (cluster.scale(n)), then "
        "map again")


class Vacancy:
    """Ends a map that waits on a cluster left without workers (all retired, scaled to zero,
    or dead and not restarted): dask queues its tasks for workers that may never come. A
    cluster empty for less than :data:`WAIT_FOR_WORKERS` (nannies restarting their workers,
    an adaptive cluster scaling up) is waited for."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._checked = -math.inf
        self._empty_since: float | None = None

    def check(self, since: float) -> None:
        """Raise :func:`no_workers_error` once the cluster has been empty too long, counted
        from ``since`` at the earliest (when the map now waiting started: an emptiness an
        earlier map met is not this one's); asks the scheduler at most every
        :data:`VACANCY_CHECK` seconds."""
        now = time.monotonic()
        with self._lock:
            if now - self._checked < VACANCY_CHECK:
                return
            self._checked = now
        try:
            workers = worker_count(self._client)
        except Exception:  # no answer: the map's own futures will tell what went wrong
            return
        with self._lock:
            if workers:
                self._empty_since = None
                return
            if self._empty_since is None:
                self._empty_since = now
            empty_for = now - max(self._empty_since, since)
        if empty_for >= WAIT_FOR_WORKERS:
            raise no_workers_error(empty_for)


def close_cluster(cluster: Any) -> None:
    """Close a LocalCluster we started (never one we were given)."""
    cluster.close(timeout=CLOSE_TIMEOUT)
