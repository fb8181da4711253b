"""Pools: a persistent set of workers with the map methods, and the default pool.

``par.Pool(workers, backend)`` builds its backend lazily and rebuilds it only for named reasons
(a worker crashed, a chunk timed out, Ctrl-C). The module-level ``par.map_*`` functions use a
default pool per (backend, workers), created on first use, reused across calls and notebook
cells, and shut down at exit. Inside a worker (a nested map) every map runs serially: never a
pool inside a pool, never a deadlock.
"""

from __future__ import annotations

import atexit
import functools
import os
import threading
import weakref
from concurrent.futures import Future
from typing import Any

import numpy as np

from . import feedback
from . import insights as _insights
from . import map as _map
from .backends import BACKENDS, Backend, make_backend
from .cpus import available_cpus
from .plan import make_plan
from .progress import progress_bar
from .reducers import Fold, as_reducer
from .share import ArrayMeta, Shared, shared_array
from .worker import Job, _write_rows, in_worker

_CHUNKING = ("n", "size", "nbytes", "by")


def _check_workers(workers: Any) -> int:
    if workers is None:
        return available_cpus()
    if isinstance(workers, bool) or not isinstance(workers, int | np.integer):
        raise TypeError(f"workers must be a positive integer or None, got {workers!r}")
    if workers <= 0:
        raise ValueError(
            f"workers must be a positive integer (or None for every CPU this process may use), "
            f"got {workers}"
        )
    return int(workers)


def _check_backend(backend: Any) -> str:
    if backend not in BACKENDS:
        raise ValueError(
            f"unknown backend {backend!r}; choose one of {', '.join(map(repr, BACKENDS))}"
        )
    return backend


class Pool:
    """A persistent pool of workers; use as a context manager or call :meth:`close`.

    ``backend`` is ``"process"`` (default), ``"thread"``, ``"serial"``, ``"auto"`` (threads or
    processes, chosen per map by timing a probe chunk) or ``"dask"``. ``workers=None`` uses every
    CPU this process may use (affinity and cgroup quota). Options: ``start_method``,
    ``progress``, ``timeout`` (defaults for every map), and for dask ``address`` or ``client``.
    """

    def __init__(self, workers: int | None = None, backend: str = "process", **options: Any):
        self.backend = _check_backend(backend)
        if backend == "serial" and workers is None:
            workers = 1
        self.workers = _check_workers(workers) if backend != "dask" or workers else 0
        self.progress = options.pop("progress", None)
        self.timeout = options.pop("timeout", None)
        self._options = options
        self._backends: dict[str, Backend] = {}
        self._lock = threading.Lock()
        self._closed = False
        self.last_reason = ""
        self._finalizer = weakref.finalize(self, _shutdown_backends, self._backends)

    # -- backends -------------------------------------------------------------------------
    def _backend(self, name: str) -> Backend:
        if self._closed:
            raise RuntimeError("this Pool is closed; create a new one")
        if in_worker():
            name = "serial"
        with self._lock:
            backend = self._backends.get(name)
            if backend is None:
                # dask with no workers given: 0, so that the cluster (or a LocalCluster sized
                # to the CPUs) decides, rather than a LocalCluster of one worker.
                workers = self.workers or (0 if name == "dask" else 1)
                backend = make_backend(name, workers, **self._options)
                self._backends[name] = backend
                if name == "dask":
                    self.workers = backend.workers
            return backend

    def _resolve(self, backend: str | None) -> str:
        name = _check_backend(backend) if backend is not None else self.backend
        return "serial" if in_worker() else name

    # -- maps -----------------------------------------------------------------------------
    def map_chunks(self, func, data, *, backend: str | None = None, **options: Any) -> list:
        """``[func(chunk) for chunk in split(data)]``, computed on the pool, in chunk order."""
        results: dict[int, Any] = {}
        n = self._run(func, data, "map", None, backend, options, results.__setitem__)
        return [results[i] for i in range(n)]

    def map_reduce(self, func, data, reducer, *, backend: str | None = None, **options: Any):
        """Reduce ``func(chunk)`` over all chunks with ``reducer`` (a Reducer or binary callable).

        ``func=None`` reduces the chunks themselves: ``map_reduce(None, x, Mean())``.
        """
        red = as_reducer(reducer)
        tree: dict[str, Any] = {}

        def collect(index, value):
            tree["tree"].add(index, value)

        def start(n_chunks):
            from .reduce import TreeReduction

            tree["tree"] = TreeReduction(n_chunks, red.combine)

        n = self._run(func, data, "reduce", red, backend, options, collect, start=start)
        if n == 0:
            return _reduce_empty(func, data, red, options)
        return red.finalize(tree["tree"].result)

    def map_array(self, func, data, *, dtype: Any = None, shape: tuple | None = None,
                  backend: str | None = None, **options: Any) -> np.ndarray:
        """An ndarray of ``func(chunk)`` for every chunk, stacked along axis 0.

        Workers write straight into one shared output buffer (nothing is pickled back).
        ``func`` must return one output row per input row; the output's dtype and per-row
        ``shape`` come from the first chunk unless given.
        """
        out_spec = (None if dtype is None else np.dtype(dtype),
                    None if shape is None else tuple(shape))
        return self._run(func, data, "array", None, backend, options, None, out=out_spec)

    def submit(self, func, /, *args: Any, **kwargs: Any) -> Future:
        """Run ``func(*args, **kwargs)`` on one worker; returns a ``concurrent.futures.Future``."""
        name = self._resolve(None)
        return self._backend("thread" if name == "auto" else name).submit(func, *args, **kwargs)

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

    # -- the driver -----------------------------------------------------------------------
    def _run(self, func, data, mode, reducer, backend, options, collect, start=None, out=None):
        unknown = set(options) - {*_CHUNKING, "progress", "timeout", "args", "kwargs", "desc",
                                  "_cancel"}
        if unknown:
            hint = (" (a Pool's size is fixed: create it with Pool(workers=...))"
                    if "workers" in unknown else "")
            raise TypeError(f"unexpected option(s): {', '.join(sorted(unknown))}{hint}")
        if func is not None and not callable(func):
            raise TypeError(f"func must be callable or None, got {func!r}")
        chunking = {k: options.get(k) for k in _CHUNKING}
        progress = options.get("progress", self.progress)
        timeout = options.get("timeout", self.timeout)
        args = tuple(options.get("args", ()))
        kwargs = dict(options.get("kwargs") or {})
        name = self._resolve(backend)
        job = Job(func, mode, reducer, args, kwargs, log_level=feedback.caller_level())
        # The bar's name: the function, else the reducer (par.sum(x, progress=True) shows "Sum").
        desc = (options.get("desc") or getattr(func, "__name__", None)
                or (type(reducer).__name__ if reducer is not None else "map"))
        run_kw = dict(timeout=timeout, progress=progress, desc=desc, cancel=options.get("_cancel"))

        if name == "auto":
            from .auto import run_auto

            return run_auto(self, job, data, chunking, collect, start, out, run_kw)

        be = self._backend(name)
        stats = _map.timed_run(be.describe(), be.workers)
        plan = make_plan(data, be, parallelism=self._parallelism(be), **chunking)
        try:
            n = len(plan.specs)
            if mode == "array":
                return self._run_array(be, job, plan, out, run_kw, stats)
            if start is not None and n:
                start(n)
            with be.limits():
                _map.execute(be, job, plan.specs, collect, n_total=n, stats=stats, **run_kw)
            return n
        finally:
            plan.close()
            _map.finish_run(stats, len(plan.specs))

    def _parallelism(self, backend: Backend) -> int:
        """The CPU count chunking is planned for: the machine's, never the pool's size."""
        return backend.workers if backend.name == "dask" else available_cpus()

    def _run_array(self, be, job, plan, out_spec, run_kw, stats) -> np.ndarray:
        """map_array: learn the output's dtype and row shape, allocate it, let workers fill it.

        One progress bar covers both steps (the first chunk alone, then the rest).
        """
        bar = progress_bar(len(plan.specs), run_kw.get("desc", ""), run_kw.get("progress"))
        try:
            return self._fill_array(be, job, plan, out_spec, dict(run_kw, bar=bar), stats)
        finally:
            bar.close()

    def _fill_array(self, be, job, plan, out_spec, run_kw, stats) -> np.ndarray:
        dtype, row_shape = out_spec
        specs = plan.specs
        if not specs:
            return np.empty((0,) + tuple(row_shape or ()), dtype or np.float64)
        first = None
        if dtype is None or row_shape is None:
            values: dict[int, Any] = {}
            probe = Job(job.func, "map", None, job.args, job.kwargs)
            _map.execute(be, probe, specs[:1], values.__setitem__, n_total=len(specs),
                         stats=stats, **run_kw)
            first = np.asarray(values[specs[0].index])
            rows = specs[0].out_stop - specs[0].out_start
            if first.ndim == 0 or first.shape[0] != rows:
                raise ValueError(
                    f"map_array: func returned shape {first.shape} for chunk 0 of {rows} rows; "
                    "map_array needs one output row per input row (use map_chunks otherwise)"
                )
            dtype = first.dtype if dtype is None else dtype
            row_shape = first.shape[1:] if row_shape is None else row_shape
        shape = (plan.n_rows,) + tuple(row_shape)
        # Dask workers may run on other machines, which cannot write into our memory: there
        # each chunk's rows come back with its outcome and the caller writes them.
        rows_back = be.name == "dask"
        job.out = allocate_output(shape, dtype, shared=be.remote and not rows_back)
        try:
            if first is not None:
                target = job.out.value if isinstance(job.out, Shared) else job.out
                np.copyto(target[specs[0].out_start: specs[0].out_stop], first,
                          casting="same_kind")
                specs = specs[1:]
            run_job, collect = job, lambda i, v: None
            if rows_back:
                by_index = {spec.index: spec for spec in specs}
                run_job = Job(job.func, "map", None, job.args, job.kwargs)
                collect = lambda i, v: _write_rows(job, by_index[i], v)  # noqa: E731
            _map.execute(be, run_job, specs, collect, n_total=len(plan.specs),
                         stats=stats, **run_kw)
            return _finish_output(job)
        except BaseException:
            _discard_output(job)
            raise

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
        except Exception:  # noqa: BLE001 - shutting down must not raise at exit
            pass
    backends.clear()


def allocate_output(shape: tuple, dtype: Any, shared: bool) -> Any:
    """The map_array output: a shared buffer workers write into, or a plain array in-process."""
    if not shared:
        return np.empty(shape, dtype)
    handle = shared_array(shape, dtype)
    handle.meta = ArrayMeta(handle.meta.ref, handle.meta.shape, handle.meta.dtype, cache=False,
                            writable=True)
    return handle


def _finish_output(job: Job) -> np.ndarray:
    out = job.out
    if isinstance(out, Shared):
        array = out.value  # the owner's view; stays valid after the name is unlinked
        out.close(wait=False)
        return array
    return out


def _discard_output(job: Job) -> None:
    if isinstance(job.out, Shared):
        job.out.close(wait=False)


def _reduce_empty(func, data, reducer, options):
    """Reduce data with no rows: numpy's (or pandas') own answer for an empty input."""
    if isinstance(reducer, Fold):
        raise TypeError("reduce() of empty data with no initial value")
    if isinstance(data, Shared):
        data = data.value
    if isinstance(data, (list, tuple)) or hasattr(data, "chunk_specs"):
        if hasattr(reducer, "identity"):
            return reducer.finalize(reducer.identity())
        raise ValueError("cannot reduce no chunks: the data is empty")
    value = data if func is None else func(data, *options.get("args", ()),
                                           **(options.get("kwargs") or {}))
    return reducer.finalize(reducer.partial(value))


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
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout=10)
        except BaseException:  # noqa: BLE001 - the map's own CancelledError, expected
            pass
        raise
    if stats is not None:  # the map ran in a pool thread; it belongs to the awaiting thread
        _insights._record(stats)
    return value


def _with_stats(method, *args, **options):
    """``method(...)`` and the RunStats it recorded (in the executor thread that ran it)."""
    return method(*args, **options), _insights.last_run()


# -- the default pools ------------------------------------------------------------------------

_default_pools: dict[tuple, Pool] = {}
_default_owner = [os.getpid()]
_default_lock = threading.Lock()


def default_pool(backend: str | None = None, workers: int | None = None) -> Pool:
    """The shared pool for (backend, workers): created on first use, reused, closed at exit."""
    backend = _check_backend(backend or "process")
    key = (backend, workers)
    with _default_lock:
        if _default_owner[0] != os.getpid():  # a forked child: the parent's pools are not ours
            _default_pools.clear()
            _default_owner[0] = os.getpid()
        pool = _default_pools.get(key)
        if pool is None or pool._closed:
            pool = _default_pools[key] = Pool(workers, backend)
        return pool


@atexit.register
def shutdown_default_pools() -> None:
    """Close every default pool (at exit, or to free the workers now)."""
    with _default_lock:
        pools = list(_default_pools.values()) if _default_owner[0] == os.getpid() else []
        _default_pools.clear()
    for pool in pools:
        pool.close()


def _pool_for(pool: Pool | None, backend: str | None, workers: int | None) -> Pool:
    """``pool=`` when given (e.g. a pool on a dask cluster), so that functions built on the
    module-level maps (``groupby_agg``, ``apply``...) run there; else the default pool."""
    if pool is None:
        return default_pool(backend, workers)
    if backend is not None or workers is not None:
        raise TypeError("give pool= or backend=/workers=, not both: a pool has its own")
    return pool


def map_chunks(func, data, *, backend: str | None = None, workers: int | None = None,
               pool: Pool | None = None, **options: Any) -> list:
    """``[func(chunk) for chunk in split(data)]`` on the default pool, in chunk order."""
    return _pool_for(pool, backend, workers).map_chunks(func, data, **options)


def map_reduce(func, data, reducer, *, backend: str | None = None, workers: int | None = None,
               pool: Pool | None = None, **options: Any):
    """Reduce ``func(chunk)`` (or the chunks, with ``func=None``) with ``reducer``."""
    return _pool_for(pool, backend, workers).map_reduce(func, data, reducer, **options)


def map_array(func, data, *, backend: str | None = None, workers: int | None = None,
              pool: Pool | None = None, **options: Any) -> np.ndarray:
    """An ndarray assembled from ``func(chunk)`` of each chunk, written into shared memory."""
    return _pool_for(pool, backend, workers).map_array(func, data, **options)


async def map_chunks_async(func, data, *, backend=None, workers=None, pool=None,
                           **options) -> list:
    """:func:`map_chunks` without blocking the event loop."""
    return await _pool_for(pool, backend, workers).map_chunks_async(func, data, **options)


async def map_reduce_async(func, data, reducer, *, backend=None, workers=None, pool=None,
                           **options):
    """:func:`map_reduce` without blocking the event loop."""
    return await _pool_for(pool, backend, workers).map_reduce_async(func, data, reducer, **options)


async def map_array_async(func, data, *, backend=None, workers=None, pool=None,
                          **options) -> np.ndarray:
    """:func:`map_array` without blocking the event loop."""
    return await _pool_for(pool, backend, workers).map_array_async(func, data, **options)
