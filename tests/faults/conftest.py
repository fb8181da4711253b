"""Fixtures of the fault tests: one process pool per start method, leak checks after each case."""

from __future__ import annotations

import faultlib
import pytest

import parallel_analysis as par

faultlib.register_by_value()


@pytest.fixture(scope="session")
def fault_pools():
    """A 2-worker process pool per start method, reused across cases (each crash restarts it)."""
    made = {m: par.Pool(2, "process", start_method=m) for m in faultlib.START_METHODS}
    yield made
    for pool in made.values():
        pool.close()
    faultlib.assert_no_leaks()


@pytest.fixture(params=faultlib.START_METHODS)
def start_method(request):
    return request.param


@pytest.fixture
def fpool(fault_pools, start_method):
    """The shared pool of this case's start method; checked for leaks after the case."""
    pool = fault_pools[start_method]
    yield pool
    faultlib.assert_no_leaks()
