"""Benchmark ``ceiling``: the same units of bare work on 1 and 2 workers of multiprocessing.Pool
(pure Python) and of a ThreadPoolExecutor (GIL-free numpy), beside the one call.

What this machine's CPUs give in this run, whatever the library: the bound the scaling figures
of the other suites are read against. See :mod:`parallel_analysis.bench.ceiling`.
"""

from parallel_analysis.bench.runner import workloads
from parallel_analysis.bench.suite import run_case

WORKLOAD = workloads()["ceiling"]


def test_ceiling(benchmark, case, runners, store):
    run_case(benchmark, WORKLOAD, case, runners, store)
