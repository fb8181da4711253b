"""Stress: many chunks, many maps, many pools, many handles, big arrays one after another.

Memory (RSS), open file descriptors and /dev/shm usage are measured before and after, printed
(run with -s to see them), and must be flat at the end.
"""

from __future__ import annotations

import gc
import os
import time

import numpy as np
import psutil
import pytest

import parallel_analysis as par
from parallel_analysis.reducers import Sum

MiB = 2**20


def usage() -> dict:
    """This process's RSS, open fds, threads, children and par_ bytes in /dev/shm."""
    gc.collect()
    me = psutil.Process()
    mine = f"par_{os.getpid()}_"
    shm = sum(os.stat(os.path.join("/dev/shm", n)).st_size
              for n in os.listdir("/dev/shm") if n.startswith(mine))
    children = [c for c in me.children(recursive=True) if c.status() != psutil.STATUS_ZOMBIE]
    return dict(rss=me.memory_info().rss, fds=len(os.listdir("/proc/self/fd")),
                threads=me.num_threads(), children=len(children), shm=shm)


def report(label: str, before: dict, after: dict) -> None:
    print(f"\n{label}: RSS {before['rss'] / MiB:.1f} -> {after['rss'] / MiB:.1f} MiB, "
          f"fds {before['fds']} -> {after['fds']}, threads {before['threads']} -> "
          f"{after['threads']}, children {before['children']} -> {after['children']}, "
          f"/dev/shm {before['shm'] / MiB:.1f} -> {after['shm'] / MiB:.1f} MiB")


def assert_flat(before: dict, after: dict, rss_slack: int = 24 * MiB) -> None:
    assert after["shm"] <= before["shm"], (before, after)
    assert after["fds"] <= before["fds"] + 2, (before, after)
    assert after["rss"] <= before["rss"] + rss_slack, (before, after)


@pytest.mark.timeout(120)
def test_ten_thousand_chunks_in_one_map(pools):
    x = np.arange(10_000, dtype=np.int64)
    for name in ("thread", "process"):
        started = time.perf_counter()
        assert pools[name].map_chunks(len, x, n=10_000) == [1] * 10_000
        assert pools[name].map_reduce(None, x, Sum(), n=10_000) == x.sum()
        print(f"\n10,000 chunks on {name}: {time.perf_counter() - started:.2f} s for two maps")


@pytest.mark.timeout(120)
def test_two_hundred_maps_on_one_pool(pools):
    pool = pools["process"]
    x = np.arange(2**16, dtype=np.float64)  # 512 KiB: each map makes a transient segment
    with par.share(x) as handle:
        for _ in range(10):  # warm up: workers, arena, caches
            pool.map_reduce(None, x, Sum(), n=4)
        before = usage()
        for i in range(200):
            data = handle if i % 2 else x
            assert pool.map_reduce(None, data, Sum(), n=4) == x.sum()
        after = usage()
    report("200 maps", before, after)
    assert_flat(before, after)
    assert after["children"] == before["children"]


@pytest.mark.timeout(120)
def test_fifty_pools_one_after_another():
    x = np.arange(2**16, dtype=np.float64)
    with par.Pool(1, "process") as warm:
        warm.map_reduce(None, x, Sum())
    before = usage()
    for _ in range(50):
        with par.Pool(1, "process") as pool:
            assert pool.map_reduce(None, x, Sum(), n=2) == x.sum()
    after = usage()
    report("50 pools", before, after)
    assert_flat(before, after, rss_slack=32 * MiB)
    assert after["threads"] <= before["threads"] + 1
    assert after["children"] <= before["children"]


def test_share_and_close_a_hundred_arrays(pools):
    x = np.arange(2**16, dtype=np.float64)
    par.share(x).close()
    before = usage()
    for i in range(100):
        with par.share(x + i) as handle:
            if i % 10 == 0:
                assert pools["process"].map_reduce(None, handle, Sum()) == (x + i).sum()
    after = usage()
    report("100 share/close", before, after)
    assert_flat(before, after)


@pytest.mark.timeout(120)
def test_maps_over_arrays_of_varying_sizes(pools):
    """One map per file of a dataset, each a little longer: the map's own copies do not pile up."""
    pool = pools["process"]
    base = 2**15  # rows of float64: 256 KiB, the smallest array that gets its own segment
    pool.map_reduce(None, np.ones(base), Sum())
    before = usage()
    for i in range(300):
        x = np.ones(base + 512 * i)
        assert pool.map_reduce(None, x, Sum(), n=2) == x.size
    after = usage()
    report("300 maps over growing arrays", before, after)
    assert after["fds"] <= before["fds"] + 16, (before, after)


def _worker_rss(pool) -> int:
    pids = pool.worker_pids()
    return sum(psutil.Process(pid).memory_info().rss for pid in pids)


@pytest.mark.timeout(120)
def test_ten_big_arrays_one_after_another():
    """Share, map over and close ten 200 MB arrays: /dev/shm and worker memory come back."""
    big = np.ones(25 * MiB, dtype=np.float64)  # 200 MiB
    with par.Pool(2, "process") as pool:
        pool.map_reduce(None, np.ones(10), Sum())
        before, workers_before = usage(), _worker_rss(pool)
        peak = 0
        for _ in range(10):
            with par.share(big) as handle:
                assert pool.map_reduce(None, handle, Sum()) == big.size
                peak = max(peak, usage()["shm"], _worker_rss(pool) - workers_before)
        after, workers_after = usage(), _worker_rss(pool)
    report("10 x 200 MiB", before, after)
    print(f"workers' RSS {workers_before / MiB:.0f} -> {workers_after / MiB:.0f} MiB "
          f"(peak /dev/shm or worker growth {peak / MiB:.0f} MiB)")
    assert peak >= 200 * MiB  # the measurement sees the data while it is shared
    assert after["shm"] == before["shm"] == 0
    assert workers_after <= workers_before + 16 * MiB
    assert after["rss"] <= before["rss"] + 32 * MiB
