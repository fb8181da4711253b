"""Benchmark ``rowapply``: ``df.par`` against pandas' own call (see bench.accessor).

``conftest.py`` parametrises ``case`` over our backends × workers (1, 2, twice the CPUs) and
the peers installed; each case checks its answer against serial. See
:mod:`parallel_analysis.bench`.
"""

from parallel_analysis.bench.runner import workloads
from parallel_analysis.bench.suite import run_case

WORKLOAD = workloads()["rowapply"]


def test_rowapply(benchmark, case, runners, store):
    run_case(benchmark, WORKLOAD, case, runners, store)
