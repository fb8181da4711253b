"""df.par against pandas' own calls, wall time and CPU time, in interleaved rounds.

Not collected by pytest: a standalone measurement (issue 15). For each workload of
:mod:`parallel_analysis.bench.accessor` (``rowapply``, ``seriesmap``, ``groupapply``) at the
goal's size, on a warm 2-process pool: one checked warm-up call each, then ``ROUNDS`` rounds
alternating the order (pandas, df.par, df.par, pandas, ...). Per call it records the wall time,
the caller's CPU time (``time.process_time``) and the workers' (``/proc/<pid>/schedstat``, else
``psutil``). On a machine shared with other work the wall times say how much CPU the
neighbours left; "on 2 free CPUs" divides pandas' CPU time by our caller's plus half our
workers', what the code itself costs.

    PYTHONPATH=. python benchmarks/accessor_cpu.py [ROUNDS] [WORKLOAD ...]
"""

from __future__ import annotations

import os
import statistics
import sys
import time

import psutil

import parallel_analysis as par
from parallel_analysis.bench.accessor import GroupApply, RowApply, SeriesMap

SIZES = ((RowApply(), 400_000), (SeriesMap(), 400_000), (GroupApply(), 200_000))


def _cpu_seconds(worker) -> float:
    """A worker's CPU time: from /proc/<pid>/schedstat in nanoseconds where Linux has it (the
    clock-tick counts psutil reads are 10 ms coarse: a whole seriesmap call is 60 ms)."""
    try:
        with open(f"/proc/{worker.pid}/schedstat") as f:
            return int(f.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return sum(worker.cpu_times()[:2])


def _worker_cpu(workers: list) -> float:
    return sum(_cpu_seconds(w) for w in workers)


def measure(workload, size: int, pool, rounds: int) -> dict:
    data = workload.make_data(size)
    runs = {"pandas": lambda: workload.run_plain(data, None),
            "df.par": lambda: workload.run_ours(pool, data, None)}
    workload.check(runs["df.par"](), runs["pandas"]())
    workers = [psutil.Process(pid) for pid in pool.worker_pids()]
    rec = {k: {"wall": [], "caller": [], "workers": []} for k in runs}
    load = [os.getloadavg()[0]]
    for r in range(rounds):
        for name in list(runs) if r % 2 == 0 else list(runs)[::-1]:
            w0, c0, t0 = _worker_cpu(workers), time.process_time(), time.perf_counter()
            runs[name]()
            rec[name]["wall"].append(time.perf_counter() - t0)
            rec[name]["caller"].append(time.process_time() - c0)
            rec[name]["workers"].append(_worker_cpu(workers) - w0)
    return {"rec": rec, "load": load + [os.getloadavg()[0]]}


def report(name: str, out: dict) -> str:
    pandas, ours = out["rec"]["pandas"], out["rec"]["df.par"]
    med = statistics.median
    frees = [p / (c + w / 2) for p, c, w in zip(pandas["caller"], ours["caller"],
                                                ours["workers"])]
    ms = {k: {m: med(v) * 1e3 for m, v in rec.items()} for k, rec in out["rec"].items()}
    return (f"{name}: pandas {med(pandas['wall']):.3f} s [{min(pandas['wall']):.3f}-"
            f"{max(pandas['wall']):.3f}], df.par {med(ours['wall']):.3f} s "
            f"[{min(ours['wall']):.3f}-{max(ours['wall']):.3f}]; wall ratio "
            f"{med(pandas['wall']) / med(ours['wall']):.2f}x; CPU ms pandas "
            f"{ms['pandas']['caller']:.1f}, ours caller {ms['df.par']['caller']:.1f} + workers "
            f"{ms['df.par']['workers']:.1f} -> {med(frees):.2f}x [{min(frees):.2f}-"
            f"{max(frees):.2f}] on 2 free CPUs; load {out['load'][0]:.1f}->{out['load'][1]:.1f}")


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 9
    names = set(sys.argv[2:])  # workload names; all when none are given
    with par.Pool(2, "process") as pool:
        pool.map_chunks(abs, [1, 2])  # start the workers
        for workload, size in SIZES:
            if not names or workload.name in names:
                print(report(workload.name, measure(workload, size, pool, rounds)), flush=True)


if __name__ == "__main__":
    main()
