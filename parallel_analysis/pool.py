"""pool: a persistent set of workers with the map methods, the default pools, and the
module-level maps. Layer: pool (imports pipeline, auto, backends, split, worker, replay, insights,
cpus).

``par.Pool(workers, backend)`` builds its backends lazily and rebuilds them only for named
reasons (a worker crashed, a chunk timed out, Ctrl-C: the backend itself restarts its workers).
The module-level ``par.map_*`` functions use a default pool per (backend, workers), created on
first use, reused across calls and notebook cells, and shut down at exit. Inside a worker (a
nested map) every map runs serially: never a pool inside a pool, never a deadlock.
"""

from __future__ import annotations

import functools
import threading
import weakref
from concurrent.futures import Future
from typing import Any

import numpy as np

from . import auto, insights, overlap, pipeline, replay
from .backends import AUTO, Backend, check_name, make_backend, planned_workers
from .backends.dask_cluster import local_workers
from .map import check_timeout
from .progress import check_mode
from .reducers import as_reducer
from .split import Chunking
from .worker import Job, call_without_exit, in_worker

#: The options every map accepts (besides backend=, and workers= and pool= at module level).
MAP_OPTIONS = ("n", "size", "nbytes", "by", "progress", "timeout", "args", "kwargs", "desc",
               "_cancel")


def _pool_from_recipe(workers: int | None, backend: str, options: dict, closed: bool) -> Pool:
    pool = Pool(workers, backend, **options)
    pool._closed = closed
    return pool


#: Options a Pool of a local backend takes (a dask pool passes the rest to its LocalCluster).
LOCAL_OPTIONS = ("start_method",)


def _check_options(backend: str, options: dict) -> None:
    """A clear error for an option no backend of this pool reads (a typo like ``timout=``
    would otherwise be ignored: maps refuse theirs)."""
    if backend == "dask":
        return
    unknown = sorted(set(options) - set(LOCAL_OPTIONS))
    if unknown:
        raise TypeError(
            f"Pool got unexpected option(s) {', '.join(unknown)}: a {backend!r} pool takes "
            f"workers, backend, progress, timeout and {', '.join(LOCAL_OPTIONS)} (dask pools "
            "also address, client and LocalCluster's options)")


def _call_arguments(options: dict) -> tuple[tuple, dict]:
    """``args=`` and ``kwargs=`` of a map as a tuple and a dict, or an error naming them."""
    args, kwargs = options.get("args", ()), options.get("kwargs") or {}
    if isinstance(args, (str, bytes)) or not hasattr(args, "__iter__"):
        raise TypeError(f"args= must be a tuple (or list) of extra arguments for func, got "
                        f"{args!r}; a single one is args=({args!r},)")
    if not hasattr(kwargs, "keys"):
        raise TypeError(f"kwargs= must be a dict of keyword arguments for func, got {kwargs!r}")
    return tuple(args), dict(kwargs)


def _check_workers(workers: Any) -> int | None:
    if workers is None:
        return None
    if isinstance(workers, bool) or not isinstance(workers, int | np.integer):
        raise TypeError(f"workers must be a positive integer or None, got {workers!r}")
    if workers <= 0:
        raise ValueError(
            f"workers must be a positive integer (or None for every CPU this process may use), "
            f"got {workers}"
        )
    return int(workers)


class Pool:
    """A persistent pool of workers; use as a context manager or call :meth:`close`.

    ``backend`` is ``"process"`` (default), ``"thread"``, ``"serial"``, ``"auto"`` (threads or
    processes, chosen per map by timing a probe chunk) or ``"dask"``. ``workers=None`` uses every
    CPU this process may use (affinity and cgroup quota). Options: ``start_method``,
    ``progress``, ``timeout`` (defaults for every map), and for dask ``address`` or ``client``.
    """

    def __init__(self, workers: int | None = None, backend: str = "process", **options: Any):
        self.backend = check_name(backend)
        self._requested = _check_workers(workers)
        self.progress = check_mode(options.pop("progress", None))
        self.timeout = options.pop("timeout", None)
        check_timeout(self.timeout)
        _check_options(self.backend, options)
        self._options = options
        self._backends: dict[str, Backend] = {}
        self._lock = threading.Lock()
        self._closed = False
        self.last_reason = ""
        self._decisions = auto.Memory()  # backend="auto": the GIL votes' answers, per function
        self._finalizer = weakref.finalize(self, _shutdown_backends, self._backends)

    def __reduce__(self):
        """A pool travels as its recipe (workers, backend, options, closed or not), never its
        workers: a func that closes over its pool runs on processes too, where every map
        inside a worker runs serially (nested maps). A dask ``client`` stays behind: the copy
        connects by the options it has (``address``) or starts its own cluster."""
        options = {k: v for k, v in self._options.items() if k != "client"}
        options.update(progress=self.progress, timeout=self.timeout)
        return (_pool_from_recipe, (self._requested, self.backend, options, self._closed))

    @property
    def workers(self) -> int:
        """Workers of this pool. A dask pool: the cluster's worker threads (a cluster given by
        ``client=`` or ``address=`` is asked; one the pool will start, planned from
        ``workers`` and ``threads_per_worker``)."""
        built = self._backends.get(self.backend)
        if built is None and self.backend == "dask" and not self._closed:
            if "client" in self._options or "address" in self._options:
                built = self._backend(self.backend)  # connecting starts nothing
            else:
                threads = int(self._options.get("threads_per_worker", 1))
                return threads * local_workers(self._requested, threads)
        return built.workers if built is not None else planned_workers(self.backend,
                                                                      self._requested)

    # -- backends -------------------------------------------------------------------------
    def _backend(self, name: str) -> Backend:
        if self._closed:
            raise RuntimeError("this Pool is closed; create a new one")
        if in_worker():
            name = "serial"
        with self._lock:
            backend = self._backends.get(name)
            if backend is None:
                workers = self._requested or (planned_workers(self.backend, None) or None)
                backend = self._backends[name] = make_backend(name, workers, **self._options)
            return backend

    def _resolve(self, backend: str | None) -> str:
        name = check_name(backend) if backend is not None else self.backend
        return "serial" if in_worker() else name

    def worker_pids(self) -> list[int]:
        """Pids of this pool's live worker processes (for monitoring; none for threads)."""
        return [pid for b in list(self._backends.values()) for pid in b.worker_pids()]

    # -- maps -----------------------------------------------------------------------------
    def map_chunks(self, func, data, *, backend: str | None = None, **options: Any) -> list:
        """``[func(chunk) for chunk in split(data)]``, computed on the pool, in chunk order."""
        return self._run(self._call(func, data, "map", None, options), backend)

    def map_reduce(self, func, data, reducer, *, backend: str | None = None, **options: Any):
        """Reduce ``func(chunk)`` over all chunks with ``reducer`` (a Reducer or binary callable).

        ``func=None`` reduces the chunks themselves: ``map_reduce(None, x, Mean())``.
        """
        return self._run(self._call(func, data, "reduce", as_reducer(reducer), options), backend)

    def map_array(self, func, data, *, dtype: Any = None, shape: tuple | None = None,
                  backend: str | None = None, **options: Any) -> np.ndarray:
        """An ndarray of ``func(chunk)`` for every chunk, stacked along axis 0.

        Workers write straight into one shared output buffer (nothing is pickled back).
        ``func`` must return one output row per input row; the output's dtype and per-row
        ``shape`` come from the first chunk unless given.
        """
        call = self._call(func, data, "array", None, options)
        call.out_dtype, call.out_shape = pipeline.output_layout(dtype, shape)
        return self._run(call, backend)

    def map_overlap(self, func, data, depth, *, boundary: Any = None,
                    backend: str | None = None, **options: Any):
        """``func`` on each chunk extended by ``depth`` rows of its neighbours (an int or
        ``(before, after)``), the halo trimmed, the pieces joined like the input (an ndarray
        written into one shared output, or a frame with the input's index). ``boundary``:
        None (no halo beyond the edges), a scalar, "reflect", "nearest" or "periodic".
        ``dtype=`` and ``shape=`` (of one output row) work as for :meth:`map_array`."""
        dtype, shape = options.pop("dtype", None), options.pop("shape", None)
        call = self._call(func, data, "array", None, options)
        call.out_dtype, call.out_shape = pipeline.output_layout(dtype, shape)
        name = self._resolve(backend)
        parallelism = self._backend("thread" if name == AUTO else name).parallelism
        return overlap.run(call, depth, boundary, lambda c: self._run(c, backend), parallelism)

    def submit(self, func, /, *args: Any, **kwargs: Any) -> Future:
        """Run ``func(*args, **kwargs)`` on one worker; returns a ``concurrent.futures.Future``."""
        if not callable(func):
            raise TypeError(f"submit needs a callable to run, got {func!r}")
        name = self._resolve(None)
        return self._backend("thread" if name == AUTO else name).submit(
            call_without_exit, func, *args, **kwargs)

    # -- async twins ----------------------------------------------------------------------
    async def map_chunks_async(self, func, data, **options: Any) -> list:
        """:meth:`map_chunks` without blocking the event loop; cancelling it stops the map."""
        return await _run_async(self.map_chunks, func, data, **options)

    async def map_reduce_async(self, func, data, reducer, **options: Any):
        """:meth:`map_reduce` without blocking the event loop; cancelling it stops the map."""
        return await _run_async(self.map_reduce, func, data, reducer, **options)

    async def map_array_async(self, func, data, **options: Any) -> np.ndarray:
        """:meth:`map_array` without blocking the event loop; cancelling it stops the map."""
        return await _run_async(self.map_array, func, data, **options)

    async def map_overlap_async(self, func, data, depth, **options: Any):
        """:meth:`map_overlap` without blocking the event loop; cancelling it stops the map."""
        return await _run_async(self.map_overlap, func, data, depth, **options)

    # -- the driver -----------------------------------------------------------------------
    def _call(self, func, data, mode: str, reducer, options: dict) -> pipeline.MapCall:
        """The map's options, checked once, as one typed object."""
        unknown = set(options) - set(MAP_OPTIONS)
        if unknown:
            hint = (" (a Pool's size is fixed: create it with Pool(workers=...))"
                    if "workers" in unknown else "")
            raise TypeError(f"unexpected option(s): {', '.join(sorted(unknown))}{hint}")
        if func is not None and not callable(func):
            raise TypeError(f"func must be callable or None, got {func!r}")
        if func is None and (options.get("args") or options.get("kwargs")):
            raise TypeError("args= and kwargs= go to func; with func=None there is no call to "
                            "pass them to (give a func, or drop them)")
        job = Job(func, mode, reducer, *_call_arguments(options), log_level=replay.caller_level())
        # The bar's name: the function, else the reducer (par.sum(x, progress=True) shows "Sum").
        desc = (options.get("desc") or getattr(func, "__name__", None)
                or (type(reducer).__name__ if reducer is not None else "map"))
        chunking = Chunking(*(options.get(k) for k in ("n", "size", "nbytes", "by")))
        return pipeline.MapCall(job, data, chunking, options.get("progress", self.progress),
                                desc, options.get("timeout", self.timeout),
                                options.get("_cancel"))

    def _run(self, call: pipeline.MapCall, backend: str | None) -> Any:
        name = self._resolve(backend)
        result, stats, ran_on = pipeline.run(call, self._backend, name, self._decisions)
        if name == AUTO:
            self.last_reason = f"{ran_on}: {stats.reason}"
        return result

    # -- life cycle -----------------------------------------------------------------------
    def close(self) -> None:
        """Stop the workers (waiting for running chunks) and release everything."""
        self._closed = True
        self._finalizer()

    shutdown = close

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<parallel_analysis.Pool backend={self.backend!r} workers={self.workers} {state}>"


def _shutdown_backends(backends: dict) -> None:
    for backend in list(backends.values()):
        try:
            backend.shutdown(wait=True)
        except Exception:  # shutting down must not raise at exit
            pass
    backends.clear()


async def _run_async(method, *args, **options):
    """Run a blocking map in a thread; cancelling the awaiting task cancels the map."""
    import asyncio

    loop = asyncio.get_running_loop()
    cancel = threading.Event()
    future = loop.run_in_executor(None, functools.partial(_with_stats, method, *args,
                                                          _cancel=cancel, **options))
    try:
        value, stats = await asyncio.shield(future)
    except asyncio.CancelledError:
        cancel.set()
        # the map's own CancelledError, when it comes, is read here: else asyncio logs
        # "Future exception was never retrieved" for it (a second cancel cut the wait below)
        future.add_done_callback(lambda done: done.cancelled() or done.exception())
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout=10)
        except BaseException:  # the map's own CancelledError, expected
            pass
        raise
    if stats is not None:  # the map ran in a pool thread; it belongs to the awaiting thread
        insights.record(stats)
    return value


def _with_stats(method, *args, **options):
    """``method(...)`` and the RunStats it recorded (in the executor thread that ran it)."""
    return method(*args, **options), insights.last_run()
