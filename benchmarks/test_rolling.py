"""Benchmark ``rolling``: rolling mean and std over 1,000 rows and apply(np.std) over 100 rows
of a float Series, against pandas' own rolling.

``conftest.py`` parametrises ``case`` over our backends × workers (1, 2, twice the CPUs), the
three variants and the peers installed; each case checks its answer against serial. See
:mod:`parallel_analysis.bench.rolling`.
"""

from parallel_analysis.bench.runner import workloads
from parallel_analysis.bench.suite import run_case

WORKLOAD = workloads()["rolling"]


def test_rolling(benchmark, case, runners, store):
    run_case(benchmark, WORKLOAD, case, runners, store)
