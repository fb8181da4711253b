"""A chunk that hangs: with ``timeout=`` the caller gets ChunkTimeoutError within seconds, the
worker running it is stopped (process backend), and the pool works afterwards."""

from __future__ import annotations

import os
import threading
import time

import faultlib
import numpy as np
import pytest

import parallel_analysis as par
from parallel_analysis.board import PREPARE_GRACE
from parallel_analysis.errors import ChunkTimeoutError

X = np.arange(40, dtype=np.int64)


def hang_on_chunk_2(chunk, folder):
    if chunk[0] == 20:
        open(os.path.join(folder, str(os.getpid())), "w").close()
        time.sleep(60)
    return int(chunk.sum())


@pytest.mark.timeout(60)
def test_hanging_worker_is_stopped(fpool, start_method, tmp_path):
    assert fpool.map_reduce(None, X, par.reducers.Sum(), n=8) == X.sum()  # workers up
    seen: set[int] = set()  # the pool's workers while the map runs (whichever runs chunk 2)
    watching = threading.Event()

    def watch():
        while not watching.is_set():
            seen.update(fpool.worker_pids())
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    started = time.monotonic()
    try:
        with pytest.raises(ChunkTimeoutError) as info:
            fpool.map_chunks(hang_on_chunk_2, X, n=4, args=(str(tmp_path),), timeout=1.0)
    finally:
        watching.set()
        watcher.join()
    elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 5.0, elapsed
    assert info.value.chunk == 2 and info.value.timeout == 1.0
    assert "chunk 2" in str(info.value) and "stopped" in str(info.value)
    hung = [int(name) for name in os.listdir(tmp_path)]
    assert len(hung) == 1, hung
    assert hung[0] in seen, f"the hanging chunk ran in {hung[0]}, not a worker of the pool {seen}"
    assert faultlib.wait_until(lambda: faultlib.gone(hung), 3.0), "the hung worker still runs"
    assert fpool.map_reduce(None, X, par.reducers.Sum(), n=4, timeout=5) == X.sum()
    faultlib.assert_no_leaks()


@pytest.mark.timeout(60)
def test_unpickling_a_batch_is_not_its_chunks_run_time(fpool):
    """timeout= counts a chunk's own run: a fresh worker's first imports (about a second for
    pandas and pyarrow) come while it unpickles its first batch, and tripped every short
    timeout on a fresh pool, and again on each worker that replaced a stopped one."""
    sums = [int(part.sum()) for part in np.array_split(X, 4)]
    assert fpool.map_chunks(faultlib.sum_with, X, n=4, args=(faultlib.SlowToUnpickle(1.0),),
                            timeout=0.5) == sums
    with pytest.raises(ChunkTimeoutError):
        fpool.map_chunks(faultlib.slow_sum, X, n=2, args=(30,), timeout=0.5)
    assert fpool.map_chunks(faultlib.sum_with, X, n=4, args=(faultlib.SlowToUnpickle(1.1),),
                            timeout=0.5) == sums
    started = time.monotonic()  # a phase that hangs is stopped after its grace
    with pytest.raises(ChunkTimeoutError):
        fpool.map_chunks(faultlib.sum_with, X, n=4, args=(faultlib.SlowToUnpickle(30),),
                         timeout=0.5)
    assert time.monotonic() - started < 0.5 + PREPARE_GRACE + 5
    assert fpool.map_reduce(None, X, par.reducers.Sum(), n=4, timeout=5) == X.sum()
    faultlib.assert_no_leaks()


@pytest.mark.timeout(60)
def test_pool_default_timeout(start_method):
    with par.Pool(1, "process", start_method=start_method, timeout=0.5) as pool:
        with pytest.raises(ChunkTimeoutError):
            pool.map_chunks(faultlib.slow_sum, X, n=2, args=(30,))
        assert pool.map_chunks(faultlib.slow_sum, X, n=2, args=(0,)) == [190, 590]
    faultlib.assert_no_leaks()


@pytest.mark.timeout(60)
def test_thread_backend_timeout_raises_and_thread_finishes():
    with par.Pool(2, "thread") as pool:
        started = time.monotonic()
        with pytest.raises(ChunkTimeoutError) as info:
            pool.map_chunks(faultlib.slow_sum, X, n=2, args=(1.5,), timeout=0.3)
        assert time.monotonic() - started < 1.4
        assert "background" in str(info.value)
        assert pool.map_chunks(faultlib.slow_sum, X, n=2, args=(0,)) == [190, 590]


@pytest.mark.timeout(60)
def test_after_a_thread_timeout_the_next_map_does_not_wait_for_the_runaway_chunks():
    """Both threads hold a chunk that will not return: the next map runs on fresh threads."""
    release = threading.Event()

    def block(chunk):
        release.wait(30)
        return int(chunk.sum())

    with par.Pool(2, "thread") as pool:
        releaser = threading.Timer(15, release.set)  # without fresh threads: 15 s, then a fail
        releaser.start()
        try:
            with pytest.raises(ChunkTimeoutError):
                pool.map_chunks(block, X, n=2, timeout=0.3)
            assert pool.map_chunks(faultlib.slow_sum, X, n=2, args=(0,), timeout=5) == [190, 590]
            assert not release.is_set(), "the next map waited for the timed-out chunks"
        finally:
            release.set()
            releaser.cancel()


def test_serial_backend_reports_timeout_when_chunk_returns():
    with par.Pool(1, "serial") as pool, pytest.raises(ChunkTimeoutError) as info:
        pool.map_chunks(faultlib.slow_sum, X, n=2, args=(0.3,), timeout=0.1)
    assert info.value.chunk == 0


@pytest.mark.parametrize("bad", [0, -1, float("nan")])
def test_timeout_must_be_positive(bad):
    with par.Pool(1, "serial") as pool, pytest.raises(ValueError, match="timeout"):
        pool.map_chunks(faultlib.slow_sum, X, n=2, args=(0,), timeout=bad)
