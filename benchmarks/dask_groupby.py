"""The same groupby three ways: par on a Dask LocalCluster, par on processes, dask.dataframe.

Not collected by pytest: a standalone measurement. On one Parquet dataset (generated like
``parquet_outofcore.py``'s, ``--gb`` gigabytes) it times
``df.groupby("key").agg({"a": "sum", "b": "mean", "c": "max"})`` computed by

- ``par.groupby_agg(par.from_parquet(...))`` on the dask backend (a LocalCluster of ``--workers``
  worker processes, one thread each),
- the same on the process backend (``--workers`` processes),
- ``dask.dataframe.read_parquet(...).groupby("key").agg(...)`` on the same LocalCluster,

and samples the summed PSS of this process and its children (the LocalCluster's workers are
children too) for the peak memory of each run. Every answer is checked against the first::

    .venv/bin/python benchmarks/dask_groupby.py --dir /tmp/par_dask_groupby --gb 2 --runs 3
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from parquet_outofcore import AGG, dataset_size, generate  # noqa: E402

from parallel_analysis.bench.measure import MemorySampler  # noqa: E402


def _par(pool):
    import parallel_analysis as par

    def run(folder: Path) -> pd.DataFrame:
        source = par.from_parquet(folder, columns=["key", *AGG])
        return par.groupby_agg(source, "key", AGG, pool=pool)

    return run


def _dask_dataframe(client):
    import dask.dataframe as dd

    def run(folder: Path) -> pd.DataFrame:
        frame = dd.read_parquet(str(folder), columns=["key", *AGG])
        return client.compute(frame.groupby("key").agg(AGG)).result().sort_index()

    return run


def measure(name: str, run, folder: Path, runs: int, expected: pd.DataFrame | None):
    """Median seconds and peak PSS of ``runs`` runs (after one warm-up run, not counted)."""
    result = run(folder)  # warm-up: workers started, modules imported, page cache as for all
    times, peaks = [], []
    for _ in range(runs):
        with MemorySampler(interval=0.2) as mem:
            started = time.perf_counter()
            result = run(folder)
            times.append(time.perf_counter() - started)
        peaks.append(mem.peak)
    if expected is not None:
        pd.testing.assert_frame_equal(result, expected, check_exact=False, rtol=1e-9,
                                      check_dtype=False)
    row = (name, statistics.median(times), min(times), max(times),
           statistics.median(peaks), max(peaks))
    print(f"{name:<34} median {row[1]:6.1f} s (min {row[2]:.1f}, max {row[3]:.1f})   peak PSS "
          f"median {row[4] / 2**30:.2f} GiB (max {row[5] / 2**30:.2f})", flush=True)
    return row, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/par_dask_groupby"))
    parser.add_argument("--gb", type=float, default=2.0, help="size of the dataset on disk")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the dataset afterwards")
    args = parser.parse_args(argv)

    import distributed

    import parallel_analysis as par

    size, files = dataset_size(args.dir) if args.dir.exists() else (0, 0)
    if size < args.gb * 1e9 * 0.95:
        generate(args.dir, args.gb)
        size, files = dataset_size(args.dir)
    rows = len(par.from_parquet(args.dir))
    print(f"dataset: {size / 1e9:.2f} GB on disk, {files} files, {rows:,} rows; "
          f"{args.workers} workers, {args.runs} runs each")
    try:
        cluster = distributed.LocalCluster(n_workers=args.workers, threads_per_worker=1,
                                           processes=True, dashboard_address=":0")
        client = distributed.Client(cluster)
        with MemorySampler(interval=0.2) as idle:
            time.sleep(1)
        print(f"idle LocalCluster (scheduler + {args.workers} workers + this process): "
              f"{idle.peak / 2**30:.2f} GiB PSS")
        with par.Pool(backend="dask", client=client) as on_dask:
            _, expected = measure("par, dask backend (LocalCluster)", _par(on_dask), args.dir,
                                  args.runs, None)
        measure("dask.dataframe groupby", _dask_dataframe(client), args.dir, args.runs,
                expected)
        client.close()
        cluster.close()
        with par.Pool(args.workers, "process") as on_processes:
            measure("par, process backend", _par(on_processes), args.dir, args.runs, expected)
    finally:
        if not args.keep:
            shutil.rmtree(args.dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
