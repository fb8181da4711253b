"""The peers we compare against, each behind one small interface: ``map(func, chunks)``.
Layer: faces (bench.peers; imports the package and its own modules).

Every peer gets the same chunks (numpy/pandas views, which it pickles or memory-maps as it
does by default) and the same module-level function, on a pool that is already warm, so the
figures measure each library's data path and dispatch, not its start-up (the ``coldstart``
workload measures that separately, in fresh interpreters).

=======================  ====================================================================
peer                     how it runs ``func`` over ``chunks``
=======================  ====================================================================
joblib                   ``Parallel(n_jobs=w)(delayed(func)(c) ...)``; loky, auto-batching,
                         large arrays memory-mapped (its defaults)
multiprocessing          ``multiprocessing.Pool(w).map(func, chunks)`` (chunks pickled)
ProcessPoolExecutor      ``concurrent.futures.ProcessPoolExecutor(w).map(func, chunks)``
dask                     ``dask.compute(*delayed, scheduler="processes", pool=...)`` on a warm
                         executor (dask's default would start a new one per call)
mpire                    ``mpire.WorkerPool(w, keep_alive=True).map(func, chunks)``
threads                  ``concurrent.futures.ThreadPoolExecutor(w).map(func, chunks)``; run by
                         the ``ceiling`` workload only (not in :data:`PEERS`)
=======================  ====================================================================
"""

from __future__ import annotations

import importlib.util
from typing import Any

#: Peer name → the module that must be importable for it to run.
PEERS = {
    "joblib": "joblib",
    "multiprocessing": "multiprocessing",
    "ProcessPoolExecutor": "concurrent.futures",
    "dask": "dask",
    "mpire": "mpire",
}


def available_peers() -> list[str]:
    """Peers installed here (the ``bench`` extra installs them all)."""
    return [name for name, module in PEERS.items() if importlib.util.find_spec(module)]


class Peer:
    """A warm pool of ``workers`` processes from another library."""

    name = "?"

    def __init__(self, workers: int):
        self.workers = workers

    def map(self, func, chunks: list, chunksize: int | None = None) -> list:
        """``[func(c) for c in chunks]`` on the peer's workers."""
        raise NotImplementedError

    def warm(self) -> None:
        """Start the workers now, so that no timed call pays for it."""
        self.map(abs, [1] * self.workers)

    def close(self) -> None:
        """Stop the workers."""


class JoblibPeer(Peer):
    name = "joblib"

    def map(self, func, chunks, chunksize=None):
        from joblib import Parallel, delayed

        return Parallel(n_jobs=self.workers)(delayed(func)(c) for c in chunks)

    def close(self):
        # joblib keeps loky's workers for reuse across calls; a benchmark's end is the end.
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor().shutdown(wait=True)


class MultiprocessingPeer(Peer):
    name = "multiprocessing"

    def __init__(self, workers: int):
        super().__init__(workers)
        import multiprocessing

        self._pool = multiprocessing.Pool(workers)

    def map(self, func, chunks, chunksize=None):
        return self._pool.map(func, chunks, chunksize=chunksize)

    def close(self):
        self._pool.terminate()
        self._pool.join()


class ExecutorPeer(Peer):
    name = "ProcessPoolExecutor"

    def __init__(self, workers: int):
        super().__init__(workers)
        from concurrent.futures import ProcessPoolExecutor

        self._pool = ProcessPoolExecutor(workers)

    def map(self, func, chunks, chunksize=None):
        return list(self._pool.map(func, chunks, chunksize=chunksize or 1))

    def close(self):
        self._pool.shutdown(wait=True, cancel_futures=True)


class ThreadsPeer(Peer):
    name = "threads"

    def __init__(self, workers: int):
        super().__init__(workers)
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(workers)

    def map(self, func, chunks, chunksize=None):
        return list(self._pool.map(func, chunks))

    def close(self):
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskPeer(Peer):
    name = "dask"

    def __init__(self, workers: int):
        super().__init__(workers)
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        import dask  # noqa: F401 - fail here, not in the first timed call

        # dask's process scheduler uses spawn by default ("multiprocessing.context").
        self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))

    def map(self, func, chunks, chunksize=None):
        import dask

        tasks = [dask.delayed(func, pure=False)(c) for c in chunks]
        return list(dask.compute(*tasks, scheduler="processes", pool=self._pool,
                                 num_workers=self.workers))

    def close(self):
        self._pool.shutdown(wait=True, cancel_futures=True)


class MpirePeer(Peer):
    name = "mpire"

    def __init__(self, workers: int):
        super().__init__(workers)
        from mpire import WorkerPool

        self._pool = WorkerPool(n_jobs=workers, keep_alive=True)

    def map(self, func, chunks, chunksize=None):
        # Items that are tuples are unpacked into arguments: wrap each chunk in one.
        return self._pool.map(func, [(c,) for c in chunks], chunk_size=chunksize)

    def close(self):
        self._pool.terminate()


_CLASSES = {cls.name: cls for cls in (JoblibPeer, MultiprocessingPeer, ExecutorPeer, DaskPeer,
                                      MpirePeer, ThreadsPeer)}


def make_peer(name: str, workers: int) -> Peer:
    """A warm pool of the peer called ``name``."""
    peer = _CLASSES[name](workers)
    peer.warm()
    return peer


def close_all(peers: dict[Any, Peer]) -> None:
    """Stop every peer pool (errors ignored: a benchmark's teardown must not hide its results)."""
    for peer in list(peers.values()):
        try:
            peer.close()
        except Exception:
            pass
    peers.clear()
