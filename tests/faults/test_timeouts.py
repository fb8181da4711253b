"""A chunk that hangs: with ``timeout=`` the caller gets ChunkTimeoutError within seconds, the
worker running it is stopped (process backend), and the pool works afterwards."""

from __future__ import annotations

import os
import time

import faultlib
import numpy as np
import pytest

import parallel_analysis as par
from parallel_analysis.errors import ChunkTimeoutError

X = np.arange(40, dtype=np.int64)


def hang_on_chunk_2(chunk):
    if chunk[0] == 20:
        open(f"/tmp/par-hang-{os.getpid()}", "w").close()
        time.sleep(60)
    return int(chunk.sum())


def pid_of_worker(chunk):
    return os.getpid()


@pytest.mark.timeout(60)
def test_hanging_worker_is_stopped(fpool, start_method):
    before = set(fpool.map_chunks(pid_of_worker, X, n=8))
    started = time.monotonic()
    with pytest.raises(ChunkTimeoutError) as info:
        fpool.map_chunks(hang_on_chunk_2, X, n=4, timeout=1.0)
    elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 5.0, elapsed
    assert info.value.chunk == 2 and info.value.timeout == 1.0
    assert "chunk 2" in str(info.value) and "stopped" in str(info.value)
    hung = [pid for pid in before if os.path.exists(f"/tmp/par-hang-{pid}")]
    for pid in before:
        if os.path.exists(f"/tmp/par-hang-{pid}"):
            os.unlink(f"/tmp/par-hang-{pid}")
    assert hung, "the hanging chunk ran on none of the pool's workers"
    assert faultlib.wait_until(lambda: faultlib.gone(hung), 3.0), "the hung worker still runs"
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


def test_serial_backend_reports_timeout_when_chunk_returns():
    with par.Pool(1, "serial") as pool, pytest.raises(ChunkTimeoutError) as info:
        pool.map_chunks(faultlib.slow_sum, X, n=2, args=(0.3,), timeout=0.1)
    assert info.value.chunk == 0


@pytest.mark.parametrize("bad", [0, -1, float("nan")])
def test_timeout_must_be_positive(bad):
    with par.Pool(1, "serial") as pool, pytest.raises(ValueError, match="timeout"):
        pool.map_chunks(faultlib.slow_sum, X, n=2, args=(0,), timeout=bad)
