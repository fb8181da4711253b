"""The async twins: same results, the event loop keeps running, cancellation stops the map.

``await pool.map_chunks_async(...)`` runs the blocking map in a thread; cancelling the awaiting
task sets the map's cancel flag, which stops it like Ctrl-C (process workers are killed and
replaced, shared segments released) before the CancelledError reaches the awaiter.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np
import psutil
import pytest

import parallel_analysis as par


def _slow_sum(chunk, delay=0.1):
    time.sleep(delay)
    return int(chunk.sum())


def test_async_twins_match_the_blocking_maps(pool):
    x = np.arange(10_000)

    async def main():
        total = await pool.map_reduce_async(None, x, par.reducers.Sum(), n=4)
        parts = await pool.map_chunks_async(lambda c: int(c.max()), x, n=4)
        doubled = await pool.map_array_async(lambda c: c * 2, x, n=4)
        return total, parts, doubled

    total, parts, doubled = asyncio.run(main())
    assert total == x.sum()
    assert parts == pool.map_chunks(lambda c: int(c.max()), x, n=4)
    np.testing.assert_array_equal(doubled, x * 2)


def test_module_level_async_uses_the_default_pool():
    x = np.arange(1000)
    result = asyncio.run(par.map_reduce_async(lambda c: c * 3, x, par.reducers.Sum(),
                                              backend="thread", n=3))
    assert result == 3 * x.sum()


@pytest.mark.parametrize("name", ["thread", "process"])
def test_the_event_loop_keeps_running_during_a_map(pools, name):
    ticks = []

    async def ticker():
        while True:
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.01)

    async def main():
        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        started = time.perf_counter()
        result = await pools[name].map_chunks_async(_slow_sum, np.arange(100), n=6,
                                                    kwargs={"delay": 0.2})
        elapsed = time.perf_counter() - started
        task.cancel()
        return result, elapsed

    result, elapsed = asyncio.run(main())
    assert sum(result) == sum(range(100))
    # The ticker ran throughout: no gap anywhere near the map's length (>= 0.6 s); a blocked
    # loop would show one gap as long as the map. Loose bounds: the machine may be busy.
    gaps = np.diff(ticks)
    assert elapsed >= 0.5
    assert len(ticks) >= 10
    assert gaps.max() < elapsed / 2


def test_cancelling_the_task_stops_a_process_map_and_the_pool_recovers():
    x = np.arange(200_000, dtype=np.float64)  # big enough to travel in shared memory
    with par.Pool(2, "process") as pool:
        pool.map_chunks(len, x, n=2)  # workers up
        before = set(pool.worker_pids())

        async def main():
            task = asyncio.create_task(
                pool.map_chunks_async(_slow_sum, x, n=20, kwargs={"delay": 1.0}))
            await asyncio.sleep(0.4)
            started = time.perf_counter()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return time.perf_counter() - started

        waited = asyncio.run(main())
        assert waited < 2.0, f"cancellation took {waited:.2f} s"
        # The chunks still running were stopped with their workers, not left to finish.
        assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"
                       for pid in before)
        assert pool.map_reduce(None, x, par.reducers.Sum(), n=4) == x.sum()


@pytest.mark.parametrize("backend", ["thread", "serial"])
def test_cancelling_a_thread_map_cancels_its_pending_chunks(backend):
    """Also on serial, whose chunks run while the map submits them: it ran all 20 (the pool
    probe found it)."""
    done = []

    def record(chunk):
        time.sleep(0.2)
        done.append(int(chunk[0]))
        return len(chunk)

    with par.Pool(2, backend) as pool:
        async def main():
            task = asyncio.create_task(pool.map_chunks_async(record, np.arange(40), n=20))
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(main())
        time.sleep(0.5)  # running chunks (at most two) finish; the other 18 never start
        assert len(done) <= 4
        assert pool.map_chunks(len, np.arange(10), n=2) == [5, 5]


def test_last_run_after_await_describes_the_awaited_map(pools):
    pool = pools["thread"]
    pool.map_chunks(len, np.arange(30), n=3)  # a map in this thread first

    async def main():
        return await pool.map_chunks_async(len, np.arange(50), n=5)

    assert asyncio.run(main()) == [10] * 5
    assert par.last_run().chunks == 5
