"""The public namespace is listed once, sorted, and importing it costs numpy only."""

from __future__ import annotations

import subprocess
import sys

import parallel_analysis as par


def test_all_is_sorted_and_every_name_resolves():
    assert par.__all__ == sorted(par.__all__)
    for name in par.__all__:
        assert getattr(par, name) is not None, name


def test_design_names_are_public():
    for name in ("split", "share", "shared_array", "Shared", "Pool", "map_chunks", "map_reduce",
                 "map_array", "map_reduce_async", "reducers", "errors", "sum", "mean", "var",
                 "std", "min", "max", "histogram", "quantile", "describe", "groupby_agg",
                 "apply", "groupby_apply", "from_parquet"):
        assert name in par.__all__, name
    for name in ("Sum", "Count", "Mean", "Var", "Std", "Min", "Max", "Histogram", "Quantile",
                 "ValueCounts", "GroupBy", "Concat"):
        assert hasattr(par.reducers, name), name
    for name in ("WorkerCrashedError", "SharedMemoryError", "ChunkTimeoutError"):
        assert issubclass(getattr(par.errors, name), Exception)


def test_import_loads_numpy_only():
    code = (
        "import sys, parallel_analysis\n"
        "heavy = [m for m in ('pandas', 'pyarrow', 'dask', 'matplotlib', 'tqdm', 'asyncio')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
