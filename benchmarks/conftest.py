"""Fixtures of the benchmark suites: warm pools and data built once per module.

Sizes come from :func:`parallel_analysis.bench.suite.mode`: tiny ("smoke") under
``--benchmark-disable`` (``make test``), so the whole folder runs in well under a minute;
``PAR_BENCH_MODE=quick|full pytest benchmarks --benchmark-enable`` for real figures. For the
report with plots, goals and peers side by side, use ``parallel-analysis bench``.
"""

from __future__ import annotations

import pytest

from parallel_analysis.bench.measure import Runners
from parallel_analysis.bench.suite import DataStore, mode


def pytest_configure(config):
    disabled = config.getoption("benchmark_disable", default=True)
    config.par_bench_mode = mode(bool(disabled))


@pytest.fixture(scope="module")
def runners():
    """Warm pools per suite, closed when the suite ends (so no worker outlives its module,
    whatever order pytest runs the folders in)."""
    pools = Runners()
    yield pools
    pools.close()


@pytest.fixture(scope="module")
def store():
    data = DataStore()
    yield data
    data.close()


def pytest_generate_tests(metafunc):
    """``case``: the workload's grid (named after the test) at the session's size mode."""
    if "case" in metafunc.fixturenames:
        from parallel_analysis.bench.suite import cases

        name = metafunc.function.__name__.removeprefix("test_")
        grid = cases(name, metafunc.config.par_bench_mode)
        metafunc.parametrize("case", grid, ids=[c.id for c in grid])
