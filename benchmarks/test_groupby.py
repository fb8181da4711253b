"""Benchmark ``groupby``: mean and var by an int key with a string column along, against pandas.

``conftest.py`` parametrises ``case`` over our backends × workers (1, 2, twice the CPUs) and
the peers installed; each case checks its answer against serial. See
:mod:`parallel_analysis.bench`.
"""

from parallel_analysis.bench.runner import workloads
from parallel_analysis.bench.suite import run_case

WORKLOAD = workloads()["groupby"]


def test_groupby(benchmark, case, runners, store):
    run_case(benchmark, WORKLOAD, case, runners, store)
