"""Out-of-core groupby: about 8 GB of Parquet, aggregated with peak memory under 2 GB.

Not collected by pytest: a standalone measurement. It writes a Parquet dataset of ``--gb``
gigabytes on disk (random keys and values, row groups of 1M rows), runs
``par.groupby_agg(par.from_parquet(folder), ...)`` on the process backend, and samples the
proportional set size (PSS: shared pages split between the processes that map them, so nothing
is counted twice) of this process and all its children every 0.2 s. The peak of that sum is the
memory the whole computation needed::

    .venv/bin/python benchmarks/parquet_outofcore.py --dir /tmp/par_outofcore --gb 8 --runs 3

The dataset is deleted at the end unless ``--keep`` is given (reuse it with the same ``--dir``).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from parallel_analysis.bench.measure import MemorySampler

#: Rows per file and per row group: 8 GB becomes ~32 files of ~250 MB, ~330 row groups of
#: ~26 MB, so a worker holds one small row group at a time.
ROWS_PER_FILE = 10_000_000
ROW_GROUP_ROWS = 1_000_000
N_KEYS = 10_000
AGG = {"a": "sum", "b": "mean", "c": "max"}


def generate(folder: Path, gigabytes: float) -> int:
    """Write random Parquet files into ``folder`` until they hold ``gigabytes`` GB; total rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    target, written, rows, i = gigabytes * 1e9, 0, 0, 0
    while written < target:
        rng = np.random.default_rng(i)
        table = pa.table({
            "key": rng.integers(0, N_KEYS, ROWS_PER_FILE, dtype=np.int32),
            "a": rng.standard_normal(ROWS_PER_FILE),
            "b": rng.random(ROWS_PER_FILE),
            "c": rng.integers(0, 1 << 40, ROWS_PER_FILE, dtype=np.int64),
        })
        path = folder / f"part-{i:04d}.parquet"
        pq.write_table(table, path, row_group_size=ROW_GROUP_ROWS)
        written += path.stat().st_size
        rows += ROWS_PER_FILE
        i += 1
        print(f"  wrote {path.name}: {written / 1e9:.2f} GB so far", file=sys.stderr)
    return rows


def dataset_size(folder: Path) -> tuple[int, int]:
    """(bytes on disk, files) of the Parquet files in ``folder``."""
    files = list(folder.glob("*.parquet"))
    return sum(f.stat().st_size for f in files), len(files)


def run_once(folder: Path, backend: str, workers: int | None) -> tuple[float, int, object]:
    """One ``par.groupby_agg`` over the dataset: (seconds, peak PSS bytes, result)."""
    import parallel_analysis as par

    source = par.from_parquet(folder, columns=["key", *AGG])
    with MemorySampler(interval=0.2) as mem:
        started = time.perf_counter()
        result = par.groupby_agg(source, "key", AGG, backend=backend, workers=workers)
        seconds = time.perf_counter() - started
    if len(result) != N_KEYS or list(result.columns) != list(AGG):
        raise AssertionError(f"unexpected result: {len(result)} groups, {list(result.columns)}")
    return seconds, mem.peak, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/par_outofcore"))
    parser.add_argument("--gb", type=float, default=8.0, help="size of the dataset on disk")
    parser.add_argument("--runs", type=int, default=3, choices=range(1, 100), metavar="RUNS")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--backend", default="process")
    parser.add_argument("--keep", action="store_true", help="keep the dataset afterwards")
    args = parser.parse_args(argv)

    import parallel_analysis as par

    size, files = dataset_size(args.dir) if args.dir.exists() else (0, 0)
    if size < args.gb * 1e9 * 0.95:
        free = shutil.disk_usage(args.dir.parent).free
        if free < args.gb * 1e9 * 1.2:
            raise SystemExit(f"not enough disk space in {args.dir.parent}: {free / 1e9:.1f} GB")
        started = time.perf_counter()
        generate(args.dir, args.gb)
        print(f"generated in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        size, files = dataset_size(args.dir)
    source = par.from_parquet(args.dir)
    print(f"dataset: {size / 1e9:.2f} GB on disk, {files} files, {source.num_row_groups} row "
          f"groups, {len(source):,} rows")
    try:
        times, peaks = [], []
        workers = par.default_pool(args.backend, args.workers).workers
        for run in range(args.runs):
            seconds, peak, result = run_once(args.dir, args.backend, args.workers)
            times.append(seconds)
            peaks.append(peak)
            print(f"run {run + 1}: {seconds:.1f} s, peak PSS {peak / 2**30:.2f} GiB "
                  f"({len(result)} groups)")
        par.shutdown_default_pools()
        print(f"groupby_agg over {size / 1e9:.2f} GB on the {args.backend} backend "
              f"({workers} workers): median {statistics.median(times):.1f} s, "
              f"peak PSS median {statistics.median(peaks) / 2**30:.2f} GiB, "
              f"max {max(peaks) / 2**30:.2f} GiB (limit 2 GiB)")
        return 0 if max(peaks) < 2 * 2**30 else 1
    finally:
        if not args.keep:
            shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
