"""The dask backend on a real LocalCluster with worker processes.

One cluster serves the whole module (starting one costs seconds); the pool under test connects
to it with ``client=``, as a user with a cluster would. Tests that kill workers wait for the
nannies to bring them back, and allow few retries, since each restart costs a second or more.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
import warnings

import cloudpickle
import dask
import distributed
import numpy as np
import pandas as pd
import psutil
import pytest

import parallel_analysis as par
from parallel_analysis.backends.dask import DaskBackend
from parallel_analysis.backends.dask_specs import Scattered
from parallel_analysis.errors import WorkerCrashedError
from parallel_analysis.plan import make_plan
from parallel_analysis.split import Chunking

N_WORKERS = 2


@pytest.fixture(scope="module")
def cluster():
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        cluster = distributed.LocalCluster(n_workers=N_WORKERS, threads_per_worker=1,
                                           processes=True, dashboard_address=":0")
    client = distributed.Client(cluster, set_as_default=False)
    yield cluster, client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def dpool(cluster):
    _, client = cluster
    pool = par.Pool(backend="dask", client=client)
    yield pool
    pool.close()


@pytest.fixture
def client(cluster):
    return cluster[1]


@pytest.fixture
def backend(dpool):
    dpool.map_chunks(len, [np.zeros(1)])  # the backend is built on first use
    return dpool._backends["dask"]


def _healthy(client) -> None:
    """Wait until every worker is back (after a test killed some)."""
    client.wait_for_workers(N_WORKERS, timeout=60)


# -- the backend and its cluster -------------------------------------------------------------

def test_workers_are_the_threads_of_the_cluster(dpool, backend):
    assert dpool.workers == backend.workers == N_WORKERS
    assert "dask backend" in backend.describe()


def test_a_pool_on_a_client_knows_its_workers_before_its_first_map(client):
    """pool.workers is the cluster's threads from the start (it said 0, or the workers asked
    for, until a map had run: found by the pool probe); a cluster the pool will start is
    planned from workers and threads_per_worker."""
    with par.Pool(backend="dask", client=client) as pool, \
            par.Pool(5, backend="dask", client=client) as asked:
        assert pool.workers == asked.workers == N_WORKERS
    with par.Pool(3, backend="dask", threads_per_worker=2) as planned:
        assert planned.workers == 6 and "dask" not in planned._backends  # nothing started


def test_a_pool_without_address_starts_and_closes_its_own_cluster():
    with par.Pool(1, backend="dask") as pool:
        assert pool.map_reduce(None, np.arange(100), par.reducers.Sum(), n=3) == 4950
        backend = pool._backends["dask"]
        cluster = backend._cluster
        assert cluster is not None and len(cluster.workers) == 1
        pids = list(backend.client.run(os.getpid).values())
    assert cluster.status.name == "closed"
    assert wait_until(lambda: not any(_alive(pid) for pid in pids), timeout=10)


def test_address_connects_to_a_running_scheduler_and_leaves_it_running(cluster):
    local, client = cluster
    with par.Pool(backend="dask", address=local.scheduler_address) as pool:
        assert pool.map_chunks(len, np.arange(10), n=2) == [5, 5]
    assert local.status.name == "running" and client.submit(len, [1]).result() == 1


def test_missing_dask_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r"pip install 'parallel_analysis\[dask\]'"):
        DaskBackend(1)


# -- the same results as the local backends ----------------------------------------------------

REDUCERS = [par.reducers.Sum, par.reducers.Mean, par.reducers.Var, par.reducers.Std,
            par.reducers.Min, par.reducers.Max]


@pytest.mark.parametrize("reducer", REDUCERS, ids=lambda r: r.__name__)
def test_reductions_are_bit_for_bit_those_of_the_process_backend(dpool, pools, reducer):
    x = np.random.default_rng(1).standard_normal((20_001, 3)) * 1e6 + 1e9
    for axis, n in ((None, 7), (0, 13)):
        got = dpool.map_reduce(None, x, reducer(axis=axis), n=n)
        expected = pools["process"].map_reduce(None, x, reducer(axis=axis), n=n)
        np.testing.assert_array_equal(got, expected)


def test_strided_arrays_reduce_bit_for_bit_as_on_the_process_backend(dpool, pools):
    """A strided chunk travels as a C-order copy: placed where a process worker reads it in
    its segment's copy, its float sum is the process backend's (and the serial one's)."""
    x = np.random.default_rng(5).normal(size=100_003)
    for offset in range(9):
        for values in (x[offset:][::3], x.astype(np.float32)[offset:][::3]):
            got = dpool.map_reduce(None, values, par.reducers.Sum(), n=3)
            assert got == pools["process"].map_reduce(None, values, par.reducers.Sum(), n=3)


def test_ndarray_subclasses_reach_func_as_on_the_local_backends(dpool, pools):
    records = np.rec.fromarrays([np.arange(6), np.arange(6.0)], names="a,b")
    with warnings.catch_warnings():  # numpy's advice against np.matrix
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        matrix = np.asmatrix(np.arange(12.0).reshape(6, 2))
    for data in (records, matrix, matrix[::2]):
        expected = pools["process"].map_chunks(type, data, n=2)
        assert dpool.map_chunks(type, data, n=2) == expected == [type(data)] * 2
    assert dpool.map_chunks(lambda c: int(c.a.sum()), records, n=2) == [3, 12]


@pytest.mark.parametrize("reduce", [par.sum, par.mean, par.var, par.std],
                         ids=lambda f: f.__name__)
def test_frame_reductions_are_bit_for_bit_those_of_the_process_backend(dpool, pools, reduce):
    rng = np.random.default_rng(0)  # data whose sums differ in the last bit when unaligned
    df = pd.DataFrame({"a": rng.standard_normal(100_001) * 1e6 + 1e9,
                       "b": rng.standard_normal(100_001)})
    got = reduce(df, pool=dpool, n=7)
    pd.testing.assert_series_equal(got, reduce(df, pool=pools["process"], n=7), check_exact=True)


def test_integer_sum_and_histogram_are_exact(dpool):
    x = np.random.default_rng(2).integers(-10**6, 10**6, 50_000)
    assert dpool.map_reduce(None, x, par.reducers.Sum(), n=5) == x.sum()
    assert par.sum(x, pool=dpool) == x.sum() and par.max(x, pool=dpool) == x.max()
    assert par.quantile(x, 0.5, exact=True, pool=dpool) == np.quantile(x, 0.5)
    counts, edges = par.histogram(x, 10, (-10**6, 10**6), pool=dpool, n=5)
    expected_counts, expected_edges = np.histogram(x, 10, (-10**6, 10**6))
    np.testing.assert_array_equal(counts, expected_counts)
    np.testing.assert_array_equal(edges, expected_edges)


def test_map_chunks_keeps_order_and_closures_travel(dpool):
    offset = 10
    got = dpool.map_chunks(lambda c: int(c[0]) + offset, np.arange(100), n=9)
    assert got == [int(c[0]) + offset for c in par.split(np.arange(100), 9)]


def test_map_array_assembles_rows_without_shared_memory(dpool, monkeypatch):
    from parallel_analysis import segment

    def no_shared_memory(*args, **kwargs):
        raise AssertionError("map_array on dask must not allocate shared memory")

    monkeypatch.setattr(segment, "create", no_shared_memory)
    x = np.random.default_rng(3).random((10_000, 2))
    got = dpool.map_array(lambda c: c * 2 + 1, x, n=6)
    np.testing.assert_array_equal(got, x * 2 + 1)
    with pytest.raises(ValueError, match="one output row per input row"):
        dpool.map_array(lambda c: c[:1], x, n=3, dtype=float, shape=(2,))


def test_submit_runs_one_call_on_the_cluster(dpool):
    assert dpool.submit(lambda a, b=0: a * 2 + b, 20, b=2).result(timeout=30) == 42


def test_lists_of_chunks_and_shared_handles(dpool):
    chunks = [np.arange(3), np.arange(5), np.arange(7)]
    assert dpool.map_chunks(len, chunks) == [3, 5, 7]
    x = np.arange(300_000, dtype=np.int64)
    with par.share(x) as handle:
        assert dpool.map_reduce(None, handle, par.reducers.Sum(), n=4) == x.sum()


def test_groupby_and_apply_on_dataframes(dpool):
    rng = np.random.default_rng(4)
    df = pd.DataFrame({"k": rng.integers(0, 9, 5_000), "v": rng.standard_normal(5_000),
                       "s": rng.choice(["a", "b"], 5_000)})
    agg = {"v": ["sum", "mean", "max"], "s": "count"}
    got = par.groupby_agg(df, "k", agg, pool=dpool, n=4)
    pd.testing.assert_frame_equal(got, df.groupby("k").agg(agg), check_exact=False, rtol=1e-12)
    applied = par.apply(df, lambda c: c.assign(w=c["v"] * 2), pool=dpool, n=3)
    pd.testing.assert_frame_equal(applied, df.assign(w=df["v"] * 2))
    assert par.last_run().backend.startswith("dask backend")


def test_module_functions_with_backend_dask(monkeypatch):
    """par.groupby_agg / par.apply with backend="dask" use a default pool on a LocalCluster
    with one worker process per usable CPU."""
    from parallel_analysis.cpus import available_cpus

    df = pd.DataFrame({"k": np.arange(600) % 5, "v": np.arange(600.0)})
    try:
        got = par.groupby_agg(df, "k", {"v": "sum"}, backend="dask")
        pd.testing.assert_frame_equal(got, df.groupby("k").agg({"v": "sum"}))
        applied = par.apply(df, lambda c: c["v"] + 1, backend="dask")
        pd.testing.assert_series_equal(applied, df["v"] + 1)
        pool = par.default_pool("dask")
        cluster = pool._backends["dask"]._cluster
        assert len(cluster.workers) == pool.workers == available_cpus()
    finally:
        par.shutdown_default_pools()
    assert cluster.status.name == "closed"


def test_parquet_source_on_the_cluster(dpool, tmp_path):
    rng = np.random.default_rng(5)
    df = pd.DataFrame({"k": rng.integers(0, 4, 8_000), "v": rng.standard_normal(8_000)})
    df.to_parquet(tmp_path / "d.parquet", row_group_size=1_000)
    source = par.from_parquet(tmp_path / "d.parquet")
    got = par.groupby_agg(source, "k", {"v": ["sum", "count"]}, pool=dpool)
    pd.testing.assert_frame_equal(got, df.groupby("k").agg({"v": ["sum", "count"]}),
                                  check_exact=False, rtol=1e-12)
    assert sum(dpool.map_chunks(len, source, n=3)) == 8_000


# -- data movement -------------------------------------------------------------------------------

def test_data_is_scattered_once_per_call_and_tasks_carry_keys_only(dpool, backend, monkeypatch):
    scatters, payloads = [], []
    real_scatter, real_submit = backend._client.scatter, backend.submit_batch
    monkeypatch.setattr(backend._client, "scatter",
                        lambda data, **kw: scatters.append(len(data)) or real_scatter(data, **kw))
    monkeypatch.setattr(backend, "submit_batch",
                        lambda job, specs, *a: payloads.append(len(cloudpickle.dumps(specs))) or
                        real_submit(job, specs, *a))
    x = np.random.default_rng(6).random(1_000_000)  # 8 MB
    assert dpool.map_reduce(None, x, par.reducers.Sum(), n=16) == pytest.approx(x.sum())
    assert scatters == [16]  # one call, one piece per chunk
    assert len(payloads) >= 2 and max(payloads) < 4_000


def test_shared_memory_is_not_used(backend):
    def ours():  # other programs on the machine may come and go in /dev/shm meanwhile
        return {n for n in os.listdir("/dev/shm") if n.startswith(f"par_{os.getpid()}_")}

    x = np.zeros(1_000_000)
    before = ours()
    plan = make_plan(x, backend, Chunking(n=4))
    try:
        assert all(isinstance(spec, Scattered) for spec in plan.specs)
        assert ours() == before
    finally:
        plan.close()
    assert not backend._live  # released when the map ends


# -- errors and lost workers ---------------------------------------------------------------------

class CustomError(ValueError):
    pass


def test_worker_exceptions_keep_their_type_and_name_the_chunk(dpool):
    def fail(chunk):
        if chunk[0] >= 50:
            raise CustomError(f"bad chunk starting at {chunk[0]}")
        return len(chunk)

    with pytest.raises(CustomError, match="bad chunk") as info:
        dpool.map_chunks(fail, np.arange(100), n=4)
    assert info.value.chunk_index in (2, 3)
    assert any("on the dask backend" in note for note in info.value.__notes__)
    assert "CustomError" in str(info.value.__cause__)  # the remote traceback
    with pytest.raises(KeyError):
        dpool.map_chunks(lambda c: {}["missing"], np.arange(10), n=2)


def test_logs_from_workers_reach_the_caller(dpool, caplog):
    def noisy(chunk):
        logging.getLogger("par.test.dask").warning("chunk of %d rows", len(chunk))
        return len(chunk)

    with caplog.at_level(logging.WARNING, logger="par.test.dask"):
        assert dpool.map_chunks(noisy, np.arange(10), n=2) == [5, 5]
    records = [r for r in caplog.records if r.name == "par.test.dask"]
    assert len(records) == 2
    assert all(r.getMessage().startswith("chunk of 5 rows") for r in records)
    assert sorted(r.chunk for r in records) == [0, 1]


def test_a_worker_lost_mid_map_is_retried_by_dask(dpool, client, tmp_path):
    marker = tmp_path / "died-once"

    def dies_once(chunk):
        if chunk[0] == 0 and not marker.exists():
            marker.touch()
            os._exit(3)
        return int(chunk.sum())

    x = np.arange(1_000)
    assert dpool.map_reduce(dies_once, x, lambda a, b: a + b, n=4) == x.sum()
    assert marker.exists()
    _healthy(client)


def test_a_chunk_that_keeps_killing_workers_is_reported(dpool, client, monkeypatch):
    import parallel_analysis.backends.dask_batches as dask_batches

    monkeypatch.setattr(dask_batches, "RESUBMITS", 1)  # two deaths, not four: restarts are slow

    def always_dies(chunk):
        if chunk[0] == 0:
            os._exit(3)
        return len(chunk)

    try:
        # One chunk: no other chunk shares the dying worker, so the blame is unambiguous even
        # on a loaded machine (with several, one that only waited on the worker may be named).
        with pytest.raises(WorkerCrashedError, match="running chunk 0 died 2 times") as info:
            dpool.map_chunks(always_dies, np.arange(100), n=1)
        assert info.value.chunk == 0
        assert info.value.exitcode == 3 and "exited with code 3" in str(info.value)  # named
    finally:
        _healthy(client)
    assert dpool.map_chunks(len, np.arange(100), n=4) == [25] * 4  # the pool works afterwards


def test_a_submitted_call_that_kills_its_workers_is_a_worker_crash(dpool, client):
    """As a process pool's submit says it (dask's own KilledWorker is its cause)."""

    def dies():
        os.kill(os.getpid(), signal.SIGKILL)

    try:
        with pytest.raises(WorkerCrashedError, match="submitted call") as info:
            dpool.submit(dies).result(timeout=120)
        assert type(info.value.__cause__).__name__ == "KilledWorker"
        assert info.value.exitcode in (-signal.SIGKILL, None)
    finally:
        _healthy(client)
    assert dpool.submit(sum, [1, 2]).result(timeout=60) == 3


def test_a_cluster_left_without_workers_ends_the_map_with_an_error(monkeypatch):
    """Dask queues tasks for workers that may never come: a map on a cluster scaled to zero
    (under it, or before it) is a WorkerCrashedError that says what to do, not a hang; and the
    pool works once the cluster has workers again."""
    import parallel_analysis.backends.dask_cluster as dask_cluster

    monkeypatch.setattr(dask_cluster, "WAIT_FOR_WORKERS", 3.0)
    monkeypatch.setattr(dask_cluster, "VACANCY_CHECK", 0.5)

    def waits(chunk):
        time.sleep(30)  # its worker is retired long before
        return len(chunk)

    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as local, \
            distributed.Client(local, set_as_default=False, timeout=4) as own, \
            par.Pool(backend="dask", client=own) as pool:
        assert pool.map_chunks(len, np.arange(10), n=2) == [5, 5]
        threading.Timer(1.0, lambda: local.scale(0)).start()
        with pytest.raises(WorkerCrashedError, match=r"no workers for \d+ s.*scale the cluster"):
            pool.map_chunks(waits, np.arange(10), n=2)  # workers lost under the map
        assert wait_until(lambda: not own.scheduler_info(n_workers=-1)["workers"], timeout=10)
        with pytest.raises(WorkerCrashedError, match="no workers"):
            pool.map_chunks(len, np.arange(10), n=2)  # no worker takes its data
        local.scale(1)
        own.wait_for_workers(1, timeout=60)
        assert pool.map_chunks(len, np.arange(10), n=2) == [5, 5]


def test_a_maps_wait_for_workers_counts_from_its_own_start(monkeypatch):
    """An emptiness an earlier map met is not the next map's: after a scale-up the next map
    waits its own WAIT_FOR_WORKERS before it gives up (a fake client and clock)."""
    import parallel_analysis.backends.dask_cluster as dask_cluster

    clock = [1000.0]
    monkeypatch.setattr(dask_cluster.time, "monotonic", lambda: clock[0])

    class EmptyCluster:
        def scheduler_info(self, n_workers=-1):
            return {"workers": {}}

    vacancy = dask_cluster.Vacancy(EmptyCluster())
    with pytest.raises(WorkerCrashedError, match="no workers for 60 s"):
        for step in range(0, 80, 2):
            clock[0] = 1000.0 + step
            vacancy.check(since=1000.0)
    clock[0] += 10
    second = clock[0]
    for step in range(0, 60, 2):  # its own minute: no error yet
        clock[0] = second + step
        vacancy.check(since=second)
    clock[0] = second + 62
    with pytest.raises(WorkerCrashedError, match="no workers for 62 s"):
        vacancy.check(since=second)


def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():
        time.sleep(0.05)
    return predicate()


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_chunks_are_rebuilt_at_the_callers_alignment():
    from parallel_analysis.backends.dask_specs import ALIGNMENT, _address, _aligned_like

    raw = np.arange(1_000, dtype=np.float64)
    for start in range(8):
        view = raw[start:]
        moved = _aligned_like(view.copy(), _address(view) % ALIGNMENT)
        assert _address(moved) % ALIGNMENT == _address(view) % ALIGNMENT
        np.testing.assert_array_equal(moved, view)


def test_big_jobs_and_big_chunk_lists_travel_scattered(dpool, backend, monkeypatch):
    import parallel_analysis.backends.dask_placing as dask_backend

    monkeypatch.setattr(dask_backend, "SCATTER_PAYLOAD_BYTES", 1_000)
    scattered = []
    real_scatter = backend._client.scatter
    monkeypatch.setattr(backend._client, "scatter",
                        lambda data, **kw: scattered.append(type(data)) or real_scatter(data, **kw))
    table = np.arange(10_000)  # captured by the closure: an 80 kB job
    assert dpool.map_chunks(lambda c: int(table[c].sum()), np.arange(100), n=4) == \
        [int(c.sum()) for c in np.array_split(np.arange(100), 4)]
    chunks = [np.full(1_000, i) for i in range(4)]  # a list: the chunks ride in the specs
    assert dpool.map_chunks(lambda c: int(c[0]), chunks) == [0, 1, 2, 3]
    # the first map's job once (not once per batch of its 4), then each list chunk's specs
    assert scattered == [list, bytes] + [bytes] * 4


def test_cancelling_an_async_map_stops_its_tasks(dpool):
    import asyncio

    def slow(chunk):
        time.sleep(0.5)
        return len(chunk)

    async def cancel_soon():
        task = asyncio.ensure_future(dpool.map_chunks_async(slow, np.arange(40), n=40))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    started = time.monotonic()
    asyncio.run(cancel_soon())
    assert time.monotonic() - started < 8  # not the 10 s that 40 chunks on 2 workers take
    assert dpool.map_chunks(len, np.arange(10), n=2) == [5, 5]


def test_the_cluster_forgets_a_map_once_it_returns(dpool, client):
    def our_tasks():
        keys = client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.tasks))
        return [k for k in map(str, keys) if k.startswith(("parallel_analysis-", "ndarray-"))]

    import gc

    x = np.arange(100_000, dtype=np.float64)
    gc.disable()  # released at once, not whenever the garbage collector finds a cycle
    try:
        assert dpool.map_reduce(None, x, par.reducers.Sum(), n=8) == x.sum()
        assert wait_until(lambda: not our_tasks(), timeout=5), our_tasks()
    finally:
        gc.enable()


class BaseTrouble(BaseException):
    """Not an Exception: dask's callback thread had choked on it (the pool hung for good)."""


class LockHolder(Exception):
    def __init__(self, message):
        super().__init__(message)
        self.lock = threading.Lock()
        self.code = 42


def _raises(kind):
    if kind == "base":
        raise BaseTrouble("base")
    if kind == "lock":
        raise LockHolder("locked")
    if kind == "interrupt":
        raise KeyboardInterrupt("in the call")
    if kind == "result":
        return threading.Lock()
    logging.getLogger("par.test.dask").warning("said by a submitted call")
    return "fine"


def test_submitted_calls_fail_and_log_as_on_the_process_backend(dpool, caplog):
    """submit on dask ran func bare: errors lost their type (or hung the pool), pickling
    failures were dask's TypeError, and logs stayed on the worker's stderr."""
    with pytest.raises(BaseTrouble):
        dpool.submit(_raises, "base").result(timeout=60)
    with pytest.raises(LockHolder) as info:
        dpool.submit(_raises, "lock").result(timeout=60)
    assert info.value.code == 42 and isinstance(info.value.__cause__, par.errors.RemoteTraceback)
    with pytest.raises(KeyboardInterrupt, match="in the call"):
        dpool.submit(_raises, "interrupt").result(timeout=60)
    with pytest.raises(par.errors.PicklingError, match="the result of the call"):
        dpool.submit(_raises, "result").result(timeout=60)
    with pytest.raises(par.errors.PicklingError, match="function: <function _raises"):
        dpool.submit(_raises, threading.Lock())
    with caplog.at_level(logging.WARNING, logger="par.test.dask"):
        assert dpool.submit(_raises, "log").result(timeout=60) == "fine"
    said = [r.getMessage() for r in caplog.records if r.name == "par.test.dask"]
    assert len(said) == 1 and said[0].startswith("said by a submitted call [submitted call, ")
    assert said[0].count("[submitted call") == 1
    assert dpool.map_chunks(len, np.arange(10), n=2) == [5, 5]
