"""maps: the default pools and the module-level maps (``par.map_chunks`` ...). Layer: pool
(imports pool and backends).

The module-level functions run on a default pool per (backend, workers; None is the usable
CPUs), created on first use, reused across calls and notebook cells, and shut down at exit; or
on ``pool=`` when given (a pool on a dask cluster, say), so that every function built on them
(``groupby_agg``, ``apply``, ``rolling``...) runs there.
"""

from __future__ import annotations

import atexit
import os
from typing import Any

import numpy as np

from .backends import check_name, planned_workers
from .forks import fork_safe_lock
from .pool import Pool

_default_pools: dict[tuple, Pool] = {}
_default_owner = [os.getpid()]
_default_lock = fork_safe_lock()


def default_pool(backend: str | None = None, workers: int | None = None) -> Pool:
    """The shared pool for (backend, workers): created on first use, reused, closed at exit."""
    backend = check_name("process" if backend is None else backend)
    # workers=None is the usable CPUs: spelt out, it is the same pool (not a second one)
    key = (backend, planned_workers(backend, workers))
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


def pool_for(pool: Pool | None, backend: str | None, workers: int | None) -> Pool:
    """``pool=`` when given (e.g. a pool on a dask cluster), so that functions built on the
    module-level maps (``groupby_agg``, ``apply``...) run there; else the default pool."""
    if pool is None:
        return default_pool(backend, workers)
    if backend is not None or workers is not None:
        raise TypeError("give pool= or backend=/workers=, not both: a pool has its own")
    if not isinstance(pool, Pool):
        raise TypeError(f"pool= takes a par.Pool (e.g. par.Pool(backend='dask')), not "
                        f"{type(pool).__name__} {pool!r}")
    return pool


def map_chunks(func, data, *, backend: str | None = None, workers: int | None = None,
               pool: Pool | None = None, **options: Any) -> list:
    """``[func(chunk) for chunk in split(data)]`` on the default pool, in chunk order."""
    return pool_for(pool, backend, workers).map_chunks(func, data, **options)


def map_reduce(func, data, reducer, *, backend: str | None = None, workers: int | None = None,
               pool: Pool | None = None, **options: Any):
    """Reduce ``func(chunk)`` (or the chunks, with ``func=None``) with ``reducer``."""
    return pool_for(pool, backend, workers).map_reduce(func, data, reducer, **options)


def map_array(func, data, *, backend: str | None = None, workers: int | None = None,
              pool: Pool | None = None, **options: Any) -> np.ndarray:
    """An ndarray assembled from ``func(chunk)`` of each chunk, written into shared memory."""
    return pool_for(pool, backend, workers).map_array(func, data, **options)


def map_overlap(func, data, depth, *, backend: str | None = None, workers: int | None = None,
                pool: Pool | None = None, **options: Any):
    """``func`` on chunks extended by ``depth`` rows of their neighbours, halos trimmed."""
    return pool_for(pool, backend, workers).map_overlap(func, data, depth, **options)


async def map_chunks_async(func, data, *, backend: str | None = None,
                           workers: int | None = None, pool: Pool | None = None,
                           **options: Any) -> list:
    """:func:`map_chunks` without blocking the event loop."""
    return await pool_for(pool, backend, workers).map_chunks_async(func, data, **options)


async def map_reduce_async(func, data, reducer, *, backend: str | None = None,
                           workers: int | None = None, pool: Pool | None = None,
                           **options: Any):
    """:func:`map_reduce` without blocking the event loop."""
    return await pool_for(pool, backend, workers).map_reduce_async(func, data, reducer, **options)


async def map_array_async(func, data, *, backend: str | None = None,
                          workers: int | None = None, pool: Pool | None = None,
                          **options: Any) -> np.ndarray:
    """:func:`map_array` without blocking the event loop."""
    return await pool_for(pool, backend, workers).map_array_async(func, data, **options)


async def map_overlap_async(func, data, depth, *, backend: str | None = None,
                            workers: int | None = None, pool: Pool | None = None,
                            **options: Any):
    """:func:`map_overlap` without blocking the event loop."""
    return await pool_for(pool, backend, workers).map_overlap_async(func, data, depth,
                                                                     **options)
