"""A soak: a seeded random schedule of maps of every kind, with faults drawn at random, run by
three threads at once on shared pools (a process pool, a thread pool, the default pool).

Maps: arrays, frames (pandas, through Arrow), parquet row groups, reducers, ``map_array``,
``_async`` twins. Faults: exceptions, SIGKILL, segfaults, ``os._exit``, timeouts, Ctrl-C, handles
collected mid-map, pools closed mid-map. ``PAR_SOAK_SECONDS`` sets the length (60 s by default,
what ``make test`` runs; ``PAR_SOAK_SECONDS=1800 make test`` for a long one), ``PAR_SOAK_SEED``
the schedule.

It runs in a child interpreter (Ctrl-C is one of the faults). At the end every result must be
right, every error of the expected type naming the expected chunk, and nothing left: no segment,
no semaphore, no worker process, file descriptors and RSS back where they started (± a bound).
The counts are printed (``pytest -s``).
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sys
import threading
import time
from collections import Counter
from concurrent.futures import CancelledError

import numpy as np
import psutil
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "faults"))
import faultlib  # noqa: E402

import parallel_analysis as par  # noqa: E402
from parallel_analysis.errors import ChunkTimeoutError, WorkerCrashedError  # noqa: E402

SECONDS = float(os.environ.get("PAR_SOAK_SECONDS", "60"))
SEED = int(os.environ.get("PAR_SOAK_SEED", "14"))
MiB = 2**20
CRASHES = {"SIGKILL": -9, "SIGSEGV": -11, "os._exit": 7}
#: (operation, weight); "ctrl_c" runs in the main thread only.
OPERATIONS = [("array", 8), ("reducer", 4), ("frame", 3), ("parquet", 2), ("async", 3),
              ("gc_handle", 1), ("close_pool", 1), ("ctrl_c", 1)]


def rows_at(chunk, value, fault):
    """map_array's func: the chunk negated; the chunk holding ``value`` hits ``fault``."""
    faultlib.fault_at(chunk, value, fault, 0.0)
    return -chunk


def frame_len(df, fail_at):
    if fail_at is not None and fail_at in set(df["i"].tolist()):
        raise faultlib.InjectedError("injected fault")
    return len(df)


def column_sum(table):
    return int(np.asarray(table["v"]).sum())


class Soak:
    """The shared pools, the data, and what happened."""

    def __init__(self, folder: str):
        self.pools = {"process": par.Pool(2, "process"), "thread": par.Pool(2, "thread")}
        self.counts: Counter = Counter()
        self.problems: list[str] = []
        self.lock = threading.Lock()
        self.parquet, self.parquet_total = _write_parquet(folder)

    def note(self, what: str, ok: bool = True, detail: object = "") -> None:
        with self.lock:
            self.counts[what] += 1
            if not ok:
                self.problems.append(f"{what}: {detail!r}"[:500])

    def pool(self, rng, kinds=("process", "thread", "default")):
        kind = kinds[rng.integers(len(kinds))]
        return kind, (None if kind == "default" else self.pools[kind])

    # -- the schedule ---------------------------------------------------------------------
    def schedule(self, seed: int, deadline: float, main: bool) -> None:
        rng = np.random.default_rng(seed)
        ops = [(o, w) for o, w in OPERATIONS if main or o != "ctrl_c"]
        weights = np.array([w for _, w in ops], dtype=float)
        while time.monotonic() < deadline:
            op = ops[rng.choice(len(ops), p=weights / weights.sum())][0]
            try:
                getattr(self, "op_" + op)(rng)
            except BaseException as exc:  # anything unexpected is a problem to report
                self.note(f"{op} raised", False, exc)

    def op_array(self, rng) -> None:
        kind, pool = self.pool(rng)
        size, n = int(rng.integers(200, 200_000)), int(rng.integers(1, 13))
        x = np.arange(size, dtype=np.int64) + int(rng.integers(0, 1000))
        faults = ["exception", "hang"] + (list(CRASHES) if kind != "thread" else [])
        fault = faults[rng.integers(len(faults))] if rng.random() < 0.35 else None
        k = int(rng.integers(n))
        value = int(np.array_split(x, n)[k][0])
        if fault == "hang" and kind == "thread":
            fault = "stall"  # a thread cannot be stopped: it sleeps 2 s, then returns
        # Generous timeouts: a clean chunk must never be late, even on a loaded machine.
        options = {"timeout": 2.0 if fault == "hang" else 1.0} if fault in ("hang", "stall") \
            else {}
        self._array_map(pool, x, n, (value, fault), options, rng, f"{kind}:{fault}", k)

    def _array_map(self, pool, x, n, fault, options, rng, label, k) -> None:
        run = pool if pool is not None else par
        extra = {} if pool is not None else {"workers": 2}
        flavour = ("chunks", "reduce", "array")[rng.integers(3)]
        try:
            if flavour == "chunks":
                got = run.map_chunks(faultlib.fault_at, x, n=n, args=(*fault, 0.0), **extra,
                                     **options)
                ok = got == [int(c.sum()) for c in np.array_split(x, n)]
            elif flavour == "reduce":
                got = run.map_reduce(faultlib.fault_at, x, par.reducers.Sum(), n=n,
                                     args=(*fault, 0.0), **extra, **options)
                ok = bool(got == x.sum())
            else:
                got = run.map_array(rows_at, x, n=n, args=fault, **extra, **options)
                ok = np.array_equal(got, -x)
            self.note(f"map {flavour}", ok and fault[1] is None, (label, "returned"))
        except BaseException as exc:  # checked against the fault drawn
            self._expect(exc, fault[1], k, f"map {flavour} {label}")

    def _expect(self, exc: BaseException, fault, k: int, label: str) -> None:
        """An error must be the drawn fault's, naming chunk ``k``."""
        if fault == "exception":
            ok = isinstance(exc, faultlib.InjectedError) and exc.chunk_index == k
        elif fault in CRASHES:
            ok = (type(exc) is WorkerCrashedError and exc.chunk == k
                  and exc.exitcode == CRASHES[fault] and "SIGTERM" not in str(exc))
        elif fault in ("hang", "stall"):
            ok = type(exc) is ChunkTimeoutError and exc.chunk == k
        else:
            ok = False
        self.note(f"fault {fault}", ok, (label, k, exc))

    def op_reducer(self, rng) -> None:
        kind, pool = self.pool(rng)
        size = int(rng.integers(10, 50_000))
        x = np.random.default_rng(int(rng.integers(2**31))).normal(size=size)
        name = ("Mean", "Var", "Std", "Min", "Max", "Histogram")[rng.integers(6)]
        reducer = par.reducers.Histogram(10, (-4, 4)) if name == "Histogram" else \
            getattr(par.reducers, name)()
        run, extra = (pool, {}) if pool is not None else (par, {"workers": 2})
        got = run.map_reduce(None, x, reducer, n=int(rng.integers(1, 9)), **extra)
        want = np.histogram(x, 10, (-4, 4)) if name == "Histogram" else \
            getattr(np, name.lower())(x)
        ok = (np.array_equal(got[0], want[0]) if name == "Histogram"
              else bool(np.allclose(got, want, rtol=1e-10)))
        self.note(f"reducer {name}", ok, (kind, got, want))

    def op_frame(self, rng) -> None:
        import pandas as pd

        kind, pool = self.pool(rng, ("process", "thread"))
        size = int(rng.integers(50, 20_000))
        df = pd.DataFrame({"i": np.arange(size), "k": rng.integers(0, 9, size),
                           "v": rng.normal(size=size)})
        if rng.random() < 0.5:
            got = par.groupby_agg(df, "k", {"v": "sum"}, pool=pool)
            want = df.groupby("k").agg({"v": "sum"})
            ok = got.index.equals(want.index) and np.allclose(got["v"], want["v"], rtol=1e-10)
            self.note("frame groupby_agg", ok, (kind, got, want))
            return
        n = int(rng.integers(1, 9))
        k = int(rng.integers(n)) if rng.random() < 0.3 else None
        at = None if k is None else int(np.array_split(np.arange(size), n)[k][0])
        try:
            got = pool.map_chunks(frame_len, df, n=n, args=(at,))
            self.note("frame map_chunks", sum(got) == size and k is None, (kind, got))
        except BaseException as exc:  # checked against the fault drawn
            self._expect(exc, "exception" if k is not None else None, k, f"frame {kind}")

    def op_parquet(self, rng) -> None:
        kind, pool = self.pool(rng)
        run, extra = (pool, {}) if pool is not None else (par, {"workers": 2})
        got = run.map_reduce(column_sum, par.from_parquet(self.parquet), par.reducers.Sum(),
                             **extra)
        self.note("parquet", got == self.parquet_total, (kind, got))

    def op_async(self, rng) -> None:
        kind, pool = self.pool(rng, ("process", "thread"))
        datas = [np.arange(int(rng.integers(100, 20_000))) + 7 * i for i in range(3)]
        cancel = rng.random() < 0.4

        async def main():
            tasks = [asyncio.create_task(pool.map_chunks_async(
                faultlib.fault_at, x, n=6, args=(-1, None, 0.01))) for x in datas]
            victim = asyncio.create_task(pool.map_reduce_async(
                faultlib.fault_at, datas[0], par.reducers.Sum(), n=12, args=(-1, None, 0.2)))
            if cancel:
                await asyncio.sleep(0.15)
                victim.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            try:
                last = await victim
            except asyncio.CancelledError:
                last = "cancelled"
            return results, last

        results, last = asyncio.run(main())
        ok = all(r == [int(c.sum()) for c in np.array_split(x, 6)]
                 for r, x in zip(results, datas))
        ok = ok and (last == "cancelled" if cancel else last == datas[0].sum())
        self.note(f"async {'cancelled' if cancel else 'plain'}", bool(ok), (kind, results, last))

    def op_gc_handle(self, rng) -> None:
        x = np.arange(2**17, dtype=np.float64) * float(rng.integers(1, 5))
        handle = par.share(x)
        view, result = handle.value, {}

        def run():
            result["value"] = self.pools["process"].map_reduce(
                faultlib.slow_sum, view, par.reducers.Sum(), n=8, args=(0.02,))

        thread = threading.Thread(target=run)
        thread.start()
        time.sleep(0.05)
        del handle
        gc.collect()
        thread.join(60)
        self.note("gc of a handle mid-map", result.get("value") == x.sum(), result)

    def op_close_pool(self, rng) -> None:
        kind = ("process", "thread")[rng.integers(2)]
        pool = par.Pool(2, kind, **({"start_method": "spawn"} if rng.random() < 0.3 and
                                    kind == "process" else {}))
        x = np.arange(400)
        result: dict = {}

        def run():
            try:
                result["value"] = pool.map_chunks(faultlib.fault_at, x, n=40,
                                                  args=(-1, None, 0.05))
            except BaseException as exc:  # checked below
                result["error"] = exc

        thread = threading.Thread(target=run)
        thread.start()
        time.sleep(float(rng.uniform(0.1, 0.5)))
        pool.close()
        thread.join(60)
        error = result.get("error")
        ok = (result.get("value") == [int(c.sum()) for c in np.array_split(x, 40)]
              if error is None else isinstance(error, CancelledError) and "closed" in str(error))
        self.note(f"close a {kind} pool mid-map", ok and not thread.is_alive(), result)

    def op_ctrl_c(self, rng) -> None:
        kind = ("process", "thread")[rng.integers(2)]
        fault = "hang" if kind == "process" else "stall"
        timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
        started = time.monotonic()
        try:
            timer.start()
            self.pools[kind].map_chunks(faultlib.fault_at, np.arange(40), n=4, args=(0, fault))
            self.note("ctrl-c", False, "the map was not interrupted")
        except KeyboardInterrupt:
            self.note(f"ctrl-c {kind}", time.monotonic() - started < 5.0,
                      time.monotonic() - started)
        finally:
            timer.join()


def _write_parquet(folder: str) -> tuple[str, int]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    values = np.arange(30_000, dtype=np.int64)
    path = os.path.join(folder, "soak.parquet")
    pq.write_table(pa.table({"v": values}), path, row_group_size=2_500)
    return path, int(values.sum())


class _Fixed:
    """A stand-in for a random generator whose ``integers`` always gives ``value``."""

    def __init__(self, value: int):
        self.value = value

    def integers(self, *args, **kwargs) -> int:
        return self.value


def usage() -> dict:
    from parallel_analysis import segment

    segment.arena.clear()  # kept transient segments hold a file descriptor each for 10 s
    gc.collect()
    me = psutil.Process()
    kinds: Counter = Counter()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # the fd of listdir itself
            continue
        kinds[target.split("/")[1] if target.startswith("/") else target.split(":")[0]] += 1
    return dict(rss=me.memory_info().rss, fds=sum(kinds.values()), fd_kinds=dict(kinds))


def soak(seconds: float, seed: int, folder: str) -> dict:
    """Warm up, run the schedules, close everything; what happened and what was left."""
    state = Soak(folder)
    for kind in ("process", "thread", "default"):  # every pool, every map: imports, workers
        pool = state.pools.get(kind)
        for flavour in range(3):
            state._array_map(pool, np.arange(1000), 4, (-1, None), {}, _Fixed(flavour), kind, 0)
        state.op_parquet(_Fixed(("process", "thread", "default").index(kind)))
    for op in ("reducer", "frame", "async", "gc_handle"):
        getattr(state, "op_" + op)(np.random.default_rng(0))
    before = usage()
    started = time.monotonic()
    deadline = started + seconds
    threads = [threading.Thread(target=state.schedule, args=(seed + i, deadline, False))
               for i in (1, 2)]
    for thread in threads:
        thread.start()
    state.schedule(seed, deadline, True)
    for thread in threads:
        thread.join()
    ran = time.monotonic() - started
    during = usage()
    stray = faultlib.stray_workers()
    for pool in state.pools.values():
        pool.close()
    par.shutdown_default_pools()
    gc.collect()
    children = faultlib.wait_until(lambda: not faultlib.stray_workers(), 10)
    return dict(seconds=ran, counts=dict(sorted(state.counts.items())),
                problems=state.problems, before=before, after=during, stray=stray,
                children_gone=children, segments=sorted(faultlib.my_segments()),
                semaphores=sorted(faultlib.semaphores_of(os.getpid())), pid=os.getpid())


CHILD = """
import json, sys
import cloudpickle, test_soak
import faultlib
faultlib.register_by_value()
cloudpickle.register_pickle_by_value(test_soak)
print(json.dumps(test_soak.soak({seconds}, {seed}, {folder!r})))
"""


@pytest.mark.slow
@pytest.mark.timeout(SECONDS + 240)
def test_soak(tmp_path):
    code, report, err = faultlib.run_child(
        CHILD.format(seconds=SECONDS, seed=SEED, folder=str(tmp_path)),
        timeout=SECONDS + 200, cwd=os.path.dirname(os.path.abspath(__file__)))
    assert code == 0 and report, err[-5000:]
    before, after = report["before"], report["after"]
    print(f"\nsoak, {report['seconds']:.0f} s, seed {SEED}: "
          f"{sum(report['counts'].values())} operations")
    for what, count in report["counts"].items():
        print(f"  {count:5d}  {what}")
    print(f"  RSS {before['rss'] / MiB:.1f} -> {after['rss'] / MiB:.1f} MiB, fds {before['fds']}"
          f" -> {after['fds']} ({before['fd_kinds']} -> {after['fd_kinds']}); stray workers "
          f"{report['stray']}; segments {report['segments']}; semaphores {report['semaphores']}")
    assert not report["problems"], "\n".join(report["problems"])
    kinds = {what.split()[0] for what in report["counts"]}
    assert {"map", "reducer", "frame", "parquet", "async", "fault"} <= kinds, kinds
    assert report["stray"] == [] and report["children_gone"]
    assert report["segments"] == [] and report["semaphores"] == []
    assert after["fds"] <= before["fds"] + 8, (before, after)
    assert after["rss"] <= before["rss"] + 64 * MiB, (before, after)
    assert faultlib.wait_until(lambda: not faultlib.my_segments(report["pid"]), 5.0)
