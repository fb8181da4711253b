"""Shared fixtures: one parametrised pool per backend, and leak checks around every test.

After each test no ``par_`` segment and no multiprocessing semaphore (``sem.mp-*``) may remain
in /dev/shm; at the end of the session no worker process may outlive its pool. All are
asserted here, so every test checks them for free.
"""

from __future__ import annotations

import os
import sys
import time

import psutil
import pytest
from hypothesis import settings

import parallel_analysis as par

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "faults"))
import faultlib  # noqa: E402  (the semaphore leak check, shared with the fault tests)

LOCAL_BACKENDS = ["serial", "thread", "process"]

# No time limit per generated example: these tests check results, and a first example that
# pays a lazy import (pandas' groupby, pyarrow) on a busy shared machine is not a failure.
# Speed is measured by the benchmarks, never asserted here.
settings.register_profile("parallel_analysis", deadline=None)
settings.load_profile("parallel_analysis")


def par_segments(all_owners: bool = False) -> set[str]:
    """par_ segments in /dev/shm made by this test process (names carry the owner's pid)."""
    mine = f"par_{os.getpid()}_"
    try:
        return {n for n in os.listdir("/dev/shm")
                if n.startswith(mine if not all_owners else "par_")}
    except FileNotFoundError:
        return set()


def worker_processes() -> list[psutil.Process]:
    """Our live descendants that are pool workers (not the forkserver or resource tracker)."""
    out = []
    for child in psutil.Process().children(recursive=True):
        try:
            cmd = " ".join(child.cmdline())
            if child.status() == psutil.STATUS_ZOMBIE:
                continue
        except psutil.Error:
            continue
        if "resource_tracker" in cmd:
            continue
        # The forkserver is our direct child; the workers it forks share its command line.
        if "forkserver" in cmd and "main(" in cmd and child.ppid() == os.getpid():
            continue
        if "ipykernel" in cmd or "dask" in cmd or "distributed" in cmd:
            continue
        out.append(child)
    return out


def wait_until(predicate, timeout: float = 5.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


@pytest.fixture(autouse=True)
def no_leaked_segments():
    before, sems = par_segments(), faultlib.semaphores()
    yield
    assert wait_until(lambda: not (par_segments() - before), timeout=3.0), (
        f"segments left in /dev/shm: {sorted(par_segments() - before)}"
    )
    assert wait_until(lambda: not faultlib.leaked_semaphores(sems), timeout=3.0), (
        f"semaphores left in /dev/shm: {sorted(faultlib.leaked_semaphores(sems))}"
    )


@pytest.fixture(scope="session", autouse=True)
def no_orphan_workers():
    yield
    par.shutdown_default_pools()
    for pool in list(_pools):
        pool.close()
    assert wait_until(lambda: not worker_processes(), timeout=10.0), (
        f"worker processes outlived their pools: {[p.pid for p in worker_processes()]}"
    )
    assert wait_until(lambda: not faultlib.leaked_semaphores(faultlib.SESSION_SEMAPHORES),
                      timeout=10.0), (
        f"semaphores left: {sorted(faultlib.leaked_semaphores(faultlib.SESSION_SEMAPHORES))}")


_pools: list = []


@pytest.fixture(scope="session")
def pools():
    """One 2-worker pool per local backend, shared by the whole session (startup is paid once)."""
    made = {name: par.Pool(2, name) for name in LOCAL_BACKENDS}
    _pools.extend(made.values())
    yield made
    for pool in made.values():
        pool.close()


@pytest.fixture(params=LOCAL_BACKENDS)
def pool(request, pools):
    """Every behaviour test runs on every local backend through this one fixture."""
    return pools[request.param]


@pytest.fixture(params=LOCAL_BACKENDS)
def backend(request):
    return request.param
