"""groupby_agg on a 20-million-row frame: wall time and peak memory against pandas and pickling.

Not collected by pytest: a standalone measurement (issue 3, item 6). The frame has an int64 key
with 10,000 values, a float64 value column and a ``str`` column. Each method runs in a fresh
child process (so no method inherits another's memory) that builds the frame, warms up, then
times ``--runs`` calls; a thread samples the proportional set size (PSS: shared pages split
between the processes that map them, so a segment is counted once) of that process and all its
descendants every 10 ms. Methods:

``pandas``      ``df.groupby("key").agg({"value": agg})`` in one process.
``thread``      ``par.groupby_agg(df, "key", {"value": agg}, backend="thread", workers=2)``.
``process``     the same on the process backend: the key and value columns go to shared memory
                once, workers read them in place.
``mp-pickle``   a ``multiprocessing.Pool(2)``, the frame's chunks pickled to the workers (what
                pandarallel and hand-written pools do), the same partial aggregation as ours.

Reported per method: the median wall time of the runs, the median CPU seconds of the whole
process tree per run (a figure that other load on the machine disturbs less), the peak PSS of
all processes above what they held once the frame existed ("extra": pool start-up, shared
segments, pickled copies, temporaries), and the peak as a multiple of the frame's own size
(``memory_usage(deep=True)``), i.e. ``(frame + extra) / frame``::

    .venv/bin/python benchmarks/groupby_memory.py --rows 20000000 --runs 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import numpy as np

from parallel_analysis.bench.measure import MemorySampler, tree_memory

N_KEYS = 10_000
METHODS = ("pandas", "thread", "process", "mp-pickle")


def make_frame(rows: int, seed: int = 0):
    """key: int64 with N_KEYS values; value: float64; label: ``str`` built in Arrow (fast)."""
    import pandas as pd
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    words = pa.array([f"label-{i:04d}" for i in range(1000)], type=pa.large_string())
    codes = pa.array(rng.integers(0, 1000, rows, dtype=np.int32))
    labels = pa.DictionaryArray.from_arrays(codes, words).cast(pa.large_string())
    label = pd.StringDtype("pyarrow", na_value=np.nan).__from_arrow__(labels)
    return pd.DataFrame({
        "key": rng.integers(0, N_KEYS, rows),
        "value": rng.normal(1e3, 3.0, rows),
        "label": label,
    })


def _pickled_partial(args):
    from parallel_analysis.reducers import GroupBy

    chunk, agg = args
    return GroupBy("key", agg).partial(chunk)


def _tree_cpu() -> float:
    """CPU seconds (user + system) used so far by this process and its live descendants."""
    import psutil

    me = psutil.Process()
    total = 0.0
    for proc in [me, *me.children(recursive=True)]:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


def _run_one(method: str, rows: int, agg: str, runs: int, workers: int) -> dict:
    """In a fresh process: build the frame, then time and measure ``runs`` calls of ``method``.

    Memory: ``before`` is the PSS once the frame exists (and the allocators gave back what
    building it took); the peak is sampled from then on, over pool start-up, a warm-up call
    and the timed calls, so it includes worker interpreters, shared segments and every copy.
    """
    import gc
    import multiprocessing as mp

    import pandas as pd
    import pyarrow as pa

    import parallel_analysis as par
    from parallel_analysis.reduce import tree_reduce
    from parallel_analysis.reducers import GroupBy

    df = make_frame(rows)
    frame_bytes = int(df.memory_usage(deep=True).sum())
    spec = {"value": agg}
    expected = df.groupby("key").agg(spec)
    gc.collect()
    pa.default_memory_pool().release_unused()
    before = tree_memory()
    pool = None

    def call():
        if method == "pandas":
            return df.groupby("key").agg(spec)
        if method == "mp-pickle":
            bounds = np.linspace(0, len(df), 4 * workers + 1).astype(int)
            chunks = [(df.iloc[a:b], spec) for a, b in zip(bounds[:-1], bounds[1:])]
            reducer = GroupBy("key", spec)
            return reducer.finalize(tree_reduce(pool.map(_pickled_partial, chunks),
                                                reducer.combine))
        return par.groupby_agg(df, "key", spec, backend=method, workers=workers)

    seconds, cpu = [], []
    with MemorySampler() as peak:
        pool = mp.Pool(workers) if method == "mp-pickle" else None
        pd.testing.assert_frame_equal(call(), expected, check_exact=False, rtol=1e-9)
        for _ in range(runs):
            cpu_started, started = _tree_cpu(), time.perf_counter()
            call()
            seconds.append(time.perf_counter() - started)
            cpu.append(_tree_cpu() - cpu_started)
    if pool is not None:
        pool.close()
    par.shutdown_default_pools()
    extra = peak.peak - before
    return {
        "method": method, "agg": agg, "rows": rows, "frame_mb": frame_bytes / 2**20,
        "seconds": seconds, "median_s": statistics.median(seconds),
        "median_cpu_s": statistics.median(cpu), "extra_mb": extra / 2**20,
        "peak_x_frame": (frame_bytes + extra) / frame_bytes,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--aggs", default="mean,var,count")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--one", nargs=2, metavar=("METHOD", "AGG"), help=argparse.SUPPRESS)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    if args.one:
        result = _run_one(args.one[0], args.rows, args.one[1], args.runs, args.workers)
        print(json.dumps(result))
        return 0
    results = []
    print(f"{'agg':<6} {'method':<10} {'median s':>9} {'runs (s)':<34} {'cpu s':>6} "
          f"{'extra MB':>8} {'peak/frame':>10}")
    for agg in args.aggs.split(","):
        for method in args.methods.split(","):
            out = subprocess.run(
                [sys.executable, __file__, "--rows", str(args.rows), "--runs", str(args.runs),
                 "--workers", str(args.workers), "--one", method, agg],
                capture_output=True, text=True, check=False)
            if out.returncode:
                print(out.stderr, file=sys.stderr)
                return out.returncode
            r = json.loads(out.stdout.strip().splitlines()[-1])
            results.append(r)
            runs = " ".join(f"{s:.2f}" for s in r["seconds"])
            print(f"{agg:<6} {method:<10} {r['median_s']:>9.3f} {runs:<34} "
                  f"{r['median_cpu_s']:>6.2f} {r['extra_mb']:>8.0f} {r['peak_x_frame']:>10.2f}",
                  flush=True)
    print(f"frame: {results[0]['rows']:,} rows, {results[0]['frame_mb']:.0f} MB")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
