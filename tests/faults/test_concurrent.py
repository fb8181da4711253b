"""Several maps at once on one pool: threads and asyncio tasks sharing a ``Pool`` and the
default pool, each mapping its own data.

Every result must be right. A crash, a timeout, a cancellation or Ctrl-C reaches only the map
it belongs to, naming that map's own chunk; the other maps finish with correct results (their
batches lost with a broken executor are resubmitted): never a blame for a worker they did not
lose, never "pool was closed", never "cannot schedule new futures after shutdown" on a later
map, and every script exits.
"""

from __future__ import annotations

import asyncio
import threading

import faultlib
import numpy as np
import pytest

import parallel_analysis as par
from parallel_analysis.errors import ChunkTimeoutError, WorkerCrashedError

N = 8  # chunks per map: chunks of 10 rows of arange(80); chunk 4 holds the value 40
EXIT_CODES = {"os._exit": 7, "SIGSEGV": -11, "SIGKILL": -9}


def data_for(i: int) -> np.ndarray:
    """Map i's own data: only map 0's holds the value 40 (the faulty chunk)."""
    return np.arange(80, dtype=np.int64) + 1000 * i


def expected(data: np.ndarray) -> list[int]:
    return [int(c.sum()) for c in np.array_split(data, N)]


def clean_maps(pool, data, until: threading.Event, **options) -> list:
    """Maps of ``data`` on ``pool`` (a Pool, or None: the default pool) until ``until`` is set
    (three at least), in every flavour; what each returned or raised."""
    run = pool if pool is not None else par
    extra = {} if pool is not None else {"workers": 2}
    out, i = [], 0
    while i < 3 or not until.is_set():
        kind = ("chunks", "reduce", "array")[i % 3]
        try:
            if kind == "chunks":
                got = run.map_chunks(faultlib.fault_at, data, n=N, args=(-1, None), **extra,
                                     **options)
                out.append(got == expected(data) or got)
            elif kind == "reduce":
                got = run.map_reduce(faultlib.fault_at, data, par.reducers.Sum(), n=N,
                                     args=(-1, None), **extra, **options)
                out.append(bool(got == data.sum()) or got)
            else:
                got = run.map_array(np.negative, data, n=N, **extra, **options)
                out.append(np.array_equal(got, -data) or got)
        except BaseException as exc:  # the test shows it
            out.append(exc)
        i += 1
    return out


def faulty_maps(pool, fault: str, done: threading.Event, **options) -> list:
    """A clean map, one whose chunk 4 hits ``fault``, then a clean one again."""
    data = data_for(0)
    out = []
    try:
        for value, this in ((-1, None), (40, fault), (-1, None)):
            try:
                got = pool.map_chunks(faultlib.fault_at, data, n=N, args=(value, this),
                                      **options)
                out.append(got == expected(data) or got)
            except Exception as exc:  # the test looks at it
                out.append(exc)
    finally:
        done.set()
    return out


def assert_all_right(results: dict, skip=()) -> None:
    for name, got in results.items():
        if name in skip:
            continue
        assert not isinstance(got, BaseException), f"{name}: {got!r}"
        wrong = [g for g in got if g is not True]
        assert not wrong, f"{name} got {wrong!r}"


@pytest.mark.timeout(90)
@pytest.mark.parametrize("threads", [2, 8])
def test_threads_share_a_pool_and_the_default_pool(fpool, threads):
    done = threading.Event()
    done.set()
    calls = {f"map{i}": (lambda i=i: clean_maps(fpool if i % 2 else None, data_for(i), done))
             for i in range(threads)}
    assert_all_right(faultlib.run_in_threads(calls))
    faultlib.assert_no_leaks()


@pytest.mark.timeout(90)
@pytest.mark.parametrize("fault", ["SIGKILL", "SIGSEGV", "os._exit"])
def test_a_crash_reaches_only_its_own_map(fpool, fault):
    done = threading.Event()
    calls = {"A": lambda: faulty_maps(fpool, fault, done),
             "B": lambda: clean_maps(fpool, data_for(1), done),
             "C": lambda: clean_maps(fpool, data_for(2), done),
             "D": lambda: clean_maps(None, data_for(3), done)}
    results = faultlib.run_in_threads(calls)
    first, error, last = results["A"]
    assert first is True and last is True, results["A"]
    assert type(error) is WorkerCrashedError, repr(error)
    assert error.chunk == 4 and "chunk 4" in str(error), str(error)
    assert error.exitcode == EXIT_CODES[fault], str(error)
    assert "SIGTERM" not in str(error)
    assert_all_right(results, skip="A")
    faultlib.assert_no_leaks()


@pytest.mark.timeout(90)
@pytest.mark.parametrize("killer", ["submit", "map"])
def test_submitted_calls_lost_with_anothers_worker_are_sent_again(fpool, killer):
    """A call or a map's chunk kills its worker while other submitted calls wait or run: only
    the guilty one gets WorkerCrashedError; the others are sent again and return their own
    value (they were all failed, their message blaming the killer's worker as theirs)."""
    innocents = [fpool.submit(faultlib.fault_at, np.arange(10) + 100 * i, -1, None, 0.3)
                 for i in range(3)]
    if killer == "submit":
        with pytest.raises(WorkerCrashedError, match="submitted call") as info:
            fpool.submit(faultlib.trigger, "SIGKILL").result(timeout=30)
    else:
        with pytest.raises(WorkerCrashedError, match="chunk 4") as info:
            fpool.map_chunks(faultlib.fault_at, data_for(0), n=N, args=(40, "SIGKILL"))
    assert info.value.exitcode == -9
    assert [f.result(timeout=60) for f in innocents] == [45 + 1000 * i for i in range(3)]
    assert fpool.submit(sum, [1, 2]).result(timeout=30) == 3
    faultlib.assert_no_leaks()


@pytest.mark.timeout(60)
def test_a_lost_call_cancels_until_resent_and_a_closed_pool_cancels_it(start_method, monkeypatch):
    """Between its loss and its resend a call is waiting again: cancel() works, and it does not
    run; a pool closed meanwhile cancels it (CancelledError), never a crash of its own. The
    loss handler is held on an event so the window is certain."""
    from concurrent.futures import CancelledError

    from parallel_analysis.backends import process

    gate, entered, held = threading.Event(), threading.Event(), []
    original = process.ProcessBackend._call_lost

    def hold(self, sent, call, result, exc):
        if result in held:
            entered.set()
            gate.wait(30)
        return original(self, sent, call, result, exc)

    monkeypatch.setattr(process.ProcessBackend, "_call_lost", hold)
    for then in ("cancel", "close"):
        gate.clear()
        entered.clear()
        pool = par.Pool(2, "process", start_method=start_method)
        try:
            warm = [pool.submit(faultlib.fault_at, np.arange(3), -1, None, 0.5) for _ in "ab"]
            assert [f.result(timeout=30) for f in warm] == [3, 3]  # both workers up
            lost = pool.submit(faultlib.fault_at, np.arange(3), -1, None, 2.0)
            held[:] = [lost]
            pool.submit(faultlib.trigger, "SIGKILL")
            assert entered.wait(30)
            assert not lost.running() and not lost.done()
            if then == "cancel":
                assert lost.cancel() and lost.cancelled()
            else:
                pool.close()
            gate.set()
            if then == "close":
                with pytest.raises(CancelledError, match="pool was closed"):
                    lost.result(timeout=30)
            else:
                assert pool.submit(sum, [1, 2]).result(timeout=30) == 3
        finally:
            gate.set()
            pool.close()
    faultlib.assert_no_leaks()


@pytest.mark.timeout(60)
def test_a_handle_made_for_a_submitted_call_lives_until_the_call_ends(fpool):
    """``submit(f, par.share(x))`` with no other reference to the handle: the call's arguments
    are kept until it ends, as concurrent.futures keeps them (the handle was collected and
    its segment unlinked before the worker attached it)."""
    x = np.arange(100_000, dtype=np.int64)
    futures = [fpool.submit(faultlib.shared_sum, par.share(x)) for _ in range(4)]
    assert [f.result(timeout=30) for f in futures] == [int(x.sum())] * 4
    del futures
    faultlib.assert_no_leaks()


@pytest.mark.timeout(90)
def test_a_timeout_reaches_only_its_own_map(fpool):
    done = threading.Event()
    calls = {"A": lambda: faulty_maps(fpool, "hang", done, timeout=1.0),
             "B": lambda: clean_maps(fpool, data_for(1), done, timeout=30),
             "C": lambda: clean_maps(fpool, data_for(2), done)}
    results = faultlib.run_in_threads(calls)
    first, error, last = results["A"]
    assert first is True and last is True, results["A"]  # never "cannot schedule new futures"
    assert type(error) is ChunkTimeoutError and error.chunk == 4, repr(error)
    assert_all_right(results, skip="A")
    faultlib.assert_no_leaks()


@pytest.mark.timeout(90)
@pytest.mark.parametrize("tasks", [2, 6])
def test_asyncio_tasks_share_a_pool_and_one_is_cancelled(fpool, tasks):
    async def main():
        jobs = [fpool.map_chunks_async(faultlib.fault_at, data_for(i), n=N,
                                       args=(-1, None, 0.05)) for i in range(1, tasks)]
        jobs.append(par.map_reduce_async(None, data_for(tasks), par.reducers.Sum(), workers=2))
        running = [asyncio.create_task(job) for job in jobs]
        victim = asyncio.create_task(fpool.map_chunks_async(
            faultlib.fault_at, data_for(0), n=16, args=(-1, None, 0.5)))
        await asyncio.sleep(0.4)
        victim.cancel()
        results = await asyncio.gather(*running, return_exceptions=True)
        with pytest.raises(asyncio.CancelledError):
            await victim
        return results

    results = asyncio.run(main())
    for i, got in enumerate(results[:-1], start=1):
        assert got == expected(data_for(i)), got
    assert results[-1] == data_for(tasks).sum()
    assert fpool.map_chunks(faultlib.fault_at, data_for(0), n=N, args=(-1, None)) == \
        expected(data_for(0))
    faultlib.assert_no_leaks()


@pytest.mark.timeout(90)
def test_asyncio_tasks_one_crashes(fpool):
    async def main():
        jobs = [fpool.map_chunks_async(faultlib.fault_at, data_for(i), n=N,
                                       args=(40 if i == 0 else -1, "SIGKILL" if i == 0 else None,
                                             0.05)) for i in range(4)]
        return await asyncio.gather(*jobs, return_exceptions=True)

    results = asyncio.run(main())
    assert type(results[0]) is WorkerCrashedError and results[0].chunk == 4, repr(results[0])
    for i, got in enumerate(results[1:], start=1):
        assert got == expected(data_for(i)), got


# -- the thread backend ---------------------------------------------------------------------------

@pytest.mark.timeout(90)
def test_thread_maps_share_a_pool(pools):
    pool = pools["thread"]
    done = threading.Event()
    calls = {"A": lambda: faulty_maps(pool, "exception", done),
             "B": lambda: clean_maps(pool, data_for(1), done),
             "C": lambda: clean_maps(pool, data_for(2), done)}
    results = faultlib.run_in_threads(calls)
    first, error, last = results["A"]
    assert first is True and last is True
    assert type(error) is faultlib.InjectedError and error.chunk_index == 4
    assert_all_right(results, skip="A")


@pytest.mark.timeout(90)
def test_thread_map_timeout_and_cancellation_stop_only_their_own(pools):
    pool = pools["thread"]
    done = threading.Event()
    calls = {"A": lambda: faulty_maps(pool, "stall", done, timeout=0.5),
             "B": lambda: clean_maps(pool, data_for(1), done, timeout=30),
             "C": lambda: clean_maps(pool, data_for(2), done)}
    results = faultlib.run_in_threads(calls)
    first, error, last = results["A"]
    assert first is True and last is True
    assert type(error) is ChunkTimeoutError and error.chunk == 4, repr(error)
    assert_all_right(results, skip="A")

    async def main():
        others = [asyncio.create_task(pool.map_chunks_async(
            faultlib.fault_at, data_for(i), n=N, args=(-1, None, 0.05))) for i in (1, 2)]
        victim = asyncio.create_task(pool.map_chunks_async(
            faultlib.fault_at, data_for(0), n=N, args=(40, "stall", 0.05)))
        await asyncio.sleep(0.3)
        victim.cancel()
        with pytest.raises(asyncio.CancelledError):
            await victim
        return await asyncio.gather(*others)

    assert asyncio.run(main()) == [expected(data_for(1)), expected(data_for(2))]


# -- Ctrl-C, and scripts that always exit ---------------------------------------------------------

SCRIPT = """
import json, os, signal, sys, threading, time
import numpy as np
import faultlib, parallel_analysis as par
import test_concurrent as tc
faultlib.register_by_value()
pool = par.Pool(2, "process", start_method={method!r})
done, results = threading.Event(), {{}}
def others(name, i):
    results[name] = tc.clean_maps(pool if i % 2 else None, tc.data_for(i), done)
threads = [threading.Thread(target=others, args=(f"map{{i}}", i)) for i in (1, 2, 3)]
for t in threads:
    t.start()
outcome = []
for fault in ("SIGKILL", "hang"):
    try:
        pool.map_chunks(faultlib.fault_at, tc.data_for(0), n=tc.N, args=(40, fault), timeout=1.0)
    except Exception as exc:
        outcome.append([type(exc).__name__, getattr(exc, "chunk", None)])
threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
try:
    pool.map_chunks(faultlib.fault_at, tc.data_for(0), n=tc.N, args=(40, "hang"))
except KeyboardInterrupt:
    outcome.append(["KeyboardInterrupt", None])
done.set()
for t in threads:
    t.join(60)
wrong = {{k: [repr(g) for g in v if g is not True] for k, v in results.items()}}
print(json.dumps(dict(outcome=outcome, wrong=wrong, maps=sum(map(len, results.values())))))
"""


@pytest.mark.timeout(120)
def test_scripts_with_concurrent_maps_and_faults_always_exit(start_method):
    """Crash, timeout and Ctrl-C in the main thread while three threads map: the main thread's
    errors name its chunk, the threads' maps are right, and the script exits (twice under the
    default start method)."""
    for _ in range(2 if start_method == "forkserver" else 1):
        code, info, err = faultlib.run_child(SCRIPT.format(method=start_method), timeout=90)
        assert code == 0 and info, err[-3000:]
        assert info["outcome"] == [["WorkerCrashedError", 4], ["ChunkTimeoutError", 4],
                                   ["KeyboardInterrupt", None]], info
        assert not any(info["wrong"].values()), info["wrong"]
        assert info["maps"] >= 9


# -- the dask backend -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dask_pool():
    dask = pytest.importorskip("dask")
    distributed = pytest.importorskip("distributed")
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=":0")
    client = distributed.Client(cluster, set_as_default=False)
    pool = par.Pool(backend="dask", client=client)
    yield pool, client
    pool.close()
    client.close()
    cluster.close()


@pytest.mark.timeout(120)
def test_dask_maps_share_a_pool(dask_pool):
    pool, client = dask_pool
    done = threading.Event()
    calls = {"A": lambda: faulty_maps(pool, "exception", done),
             "B": lambda: clean_maps(pool, data_for(1), done),
             "C": lambda: clean_maps(pool, data_for(2), done)}
    results = faultlib.run_in_threads(calls, timeout=100)
    first, error, last = results["A"]
    assert first is True and last is True
    assert type(error) is faultlib.InjectedError and error.chunk_index == 4
    assert_all_right(results, skip="A")


@pytest.mark.timeout(180)
def test_dask_crash_reaches_only_its_own_map(dask_pool, monkeypatch):
    import parallel_analysis.backends.dask_batches as dask_batches

    monkeypatch.setattr(dask_batches, "RESUBMITS", 1)  # restarts are slow
    pool, client = dask_pool
    done = threading.Event()
    calls = {"A": lambda: faulty_maps(pool, "os._exit", done),
             "B": lambda: clean_maps(pool, data_for(1), done),
             "C": lambda: clean_maps(pool, data_for(2), done)}
    try:
        results = faultlib.run_in_threads(calls, timeout=150)
    finally:
        client.wait_for_workers(2, timeout=60)
    first, error, last = results["A"]
    assert first is True and last is True, results["A"]
    assert type(error) is WorkerCrashedError and error.chunk == 4, repr(error)
    assert_all_right(results, skip="A")

    async def main():  # a cancelled task takes only its own tasks off the cluster
        other = asyncio.create_task(pool.map_chunks_async(
            faultlib.fault_at, data_for(1), n=N, args=(-1, None, 0.2)))
        victim = asyncio.create_task(pool.map_chunks_async(
            faultlib.fault_at, data_for(0), n=N, args=(-1, None, 0.5)))
        await asyncio.sleep(0.5)
        victim.cancel()
        with pytest.raises(asyncio.CancelledError):
            await victim
        return await other

    assert asyncio.run(main()) == expected(data_for(1))

