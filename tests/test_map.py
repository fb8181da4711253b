"""map_chunks, map_reduce, map_array on every backend, with numpy as the oracle."""

from __future__ import annotations

import functools
import operator
import pickle
import traceback
import warnings

import numpy as np
import pytest

import parallel_analysis as par
from parallel_analysis.errors import (
    ChunkTimeoutError,
    PickleFallbackWarning,
    PicklingError,
    WorkerCrashedError,
)
from parallel_analysis.reducers import Concat, Mean, Sum, Var

X = np.random.default_rng(1).normal(size=(20_000, 3))


def module_level_square(c):
    return c * c


class Boom(ValueError):
    pass


def test_map_chunks_in_chunk_order(pool):
    out = pool.map_chunks(lambda c: (c[0, 0], len(c)), X, n=7)
    assert [n for _, n in out] == [len(c) for c in par.split(X, 7)]
    assert [first for first, _ in out] == [c[0, 0] for c in par.split(X, 7)]


def test_closures_lambdas_and_module_functions_work(pool):
    offset = 3.0
    assert np.isclose(pool.map_reduce(lambda c: c + offset, X, Sum()), (X + offset).sum())
    assert np.isclose(pool.map_reduce(module_level_square, X, Sum()), (X * X).sum())


def test_map_reduce_matches_numpy(pool):
    assert np.isclose(pool.map_reduce(None, X, Sum()), X.sum())
    assert np.isclose(pool.map_reduce(None, X, Mean()), X.mean())
    assert np.isclose(pool.map_reduce(None, X, Var()), X.var())
    np.testing.assert_allclose(pool.map_reduce(None, X, Sum(axis=0)), X.sum(axis=0))


def test_binary_callable_reducer_and_concat(pool):
    ints = np.arange(10_000)
    assert pool.map_reduce(lambda c: int(c.sum()), ints, operator.add, n=9) == ints.sum()
    np.testing.assert_array_equal(pool.map_reduce(None, ints, Concat(), n=5), ints)


def test_args_and_kwargs_reach_func(pool):
    def scaled(c, factor, *, shift):
        return c * factor + shift

    out = pool.map_reduce(scaled, np.ones(100), Sum(), args=(2,), kwargs={"shift": 1})
    assert out == 300


def test_map_array_assembles_rows_like_numpy(pool):
    np.testing.assert_allclose(pool.map_array(np.sqrt, np.abs(X)), np.sqrt(np.abs(X)))
    rowsum = pool.map_array(lambda c: c.sum(axis=1), X, n=6)
    np.testing.assert_allclose(rowsum, X.sum(axis=1))
    typed = pool.map_array(lambda c: c[:, 0], X, dtype=np.float32)
    assert typed.dtype == np.float32
    np.testing.assert_allclose(typed, X[:, 0].astype(np.float32))


def test_map_array_of_python_objects_on_every_backend(pool):
    """Shared memory cannot hold objects: on processes their rows come back pickled."""
    labels = pool.map_array(lambda c: np.array([f"r{v:.0f}" for v in c[:, 0]], dtype=object),
                            X, n=5)
    assert labels.dtype == object and labels.tolist() == [f"r{v:.0f}" for v in X[:, 0]]
    boxed = pool.map_array(lambda c: c.astype(object), X[:7], n=3)
    assert boxed.dtype == object and boxed.shape == X[:7].shape and (boxed == X[:7]).all()


def test_map_array_of_no_rows_has_funcs_dtype_and_row_shape(pool):
    """As numpy gives func(empty): func is tried on the empty input (float64 when it cannot
    say, e.g. it needs a row); dtype= wins."""
    empty = np.array([], dtype=np.int16)
    for func, want in [(lambda c: c, (np.int16, (0,))), (lambda c: c * 1.5, (np.float64, (0,))),
                       (lambda c: np.stack([c, c], 1), (np.int16, (0, 2))),
                       (lambda c: c - c[0], (np.float64, (0,)))]:
        got = pool.map_array(func, empty)
        assert (got.dtype, got.shape) == (np.dtype(want[0]), want[1])
    assert pool.map_array(lambda c: c, empty, dtype=np.float32).dtype == np.float32


def test_map_array_rejects_wrong_row_counts(pool):
    with pytest.raises(ValueError, match="one output row per input row"):
        pool.map_array(lambda c: c[:1], X, n=4)


def test_bit_for_bit_identical_across_backends_and_workers(pools):
    data = np.random.default_rng(7).normal(1e9, 3, size=200_001)
    results = {name: p.map_reduce(None, data, Var(), n=13) for name, p in pools.items()}
    with par.Pool(1, "process") as one:
        results["process-1"] = one.map_reduce(None, data, Var(), n=13)
    assert len({r.tobytes() for r in map(np.float64, results.values())}) == 1, results


def test_list_of_chunks_is_data(pool):
    chunks = [np.arange(5), np.arange(5, 12)]
    assert pool.map_reduce(None, chunks, Sum()) == 66
    np.testing.assert_array_equal(pool.map_array(lambda c: c * 2, chunks), np.arange(12) * 2)


def test_empty_input(pool):
    empty = np.empty((0,))
    assert pool.map_chunks(len, empty) == []
    assert pool.map_reduce(None, empty, Sum()) == 0
    assert pool.map_array(lambda c: c, empty).shape == (0,)
    with pytest.raises(ValueError):
        pool.map_reduce(None, empty, par.reducers.Min())
    with pytest.raises(TypeError, match="empty"):
        pool.map_reduce(None, empty, operator.add)


def test_worker_exception_keeps_type_chunk_and_remote_traceback(pool):
    def fail_on_third(c):
        if c[0, 0] == X[par.split(X, 5)[0].shape[0] * 2, 0]:
            raise Boom("third chunk is bad")
        return c

    with pytest.raises(Boom, match="third chunk is bad") as info:
        pool.map_chunks(fail_on_third, X, n=5)
    exc = info.value
    assert exc.chunk_index == 2
    assert any("chunk 2 of 5" in note for note in exc.__notes__)
    assert "fail_on_third" in str(exc.__cause__)
    assert "fail_on_third" in "".join(traceback.format_exception(exc))


def test_a_keyboard_interrupt_raised_by_func_keeps_its_chunk(pool):
    """func's own BaseException (not a Ctrl-C of the caller: workers ignore SIGINT) comes back
    with its chunk index and remote traceback; the map stops as on a Ctrl-C (a process pool
    replaces the workers that ran it), and the pool works on."""
    def interrupt_on_third(c):
        if c[0, 0] == X[par.split(X, 5)[0].shape[0] * 2, 0]:
            raise KeyboardInterrupt("func gave up")
        return len(c)

    with pytest.raises(KeyboardInterrupt, match="func gave up") as info:
        pool.map_chunks(interrupt_on_third, X, n=5)
    assert info.value.chunk_index == 2
    assert any("chunk 2 of 5" in note for note in info.value.__notes__)
    assert isinstance(info.value.__cause__, par.errors.RemoteTraceback)
    with pytest.raises(KeyboardInterrupt, match="in a call"):
        pool.submit(_interrupt, "in a call").result(timeout=30)
    assert pool.map_chunks(len, X, n=2) == [10_000, 10_000]


def _interrupt(message):
    raise KeyboardInterrupt(message)


def test_sys_exit_in_func_is_an_error_not_an_exit(pool):
    import sys

    with pytest.raises(WorkerCrashedError, match="sys.exit"):
        pool.map_chunks(lambda c: sys.exit(3), X, n=2)
    assert pool.map_reduce(None, X, Sum(), n=2) == pytest.approx(X.sum())


def test_read_only_input_cannot_be_corrupted(pool):
    data = np.arange(100.0)

    def write(c):
        c[0] = -1
        return c

    with pytest.raises(ValueError, match="read-only"):
        pool.map_chunks(write, data, n=2)
    assert data[0] == 0.0


def test_frame_chunks_are_copy_on_write_on_every_backend(pools):
    """A func that writes into its frame chunk, as pandas lets it write into a view of a frame,
    works alike everywhere (process chunks over read-only shared buffers raised), and the
    caller's frame, a Shared handle's bytes included, stays as it was."""
    import pandas as pd

    frame = pd.DataFrame({"x": np.arange(8.0), "y": np.arange(8)})

    def write(c):
        c.loc[c["x"] > 2, "x"] = 0.0
        c.iloc[0, 1] = -1
        c.fillna(0, inplace=True)
        return c["x"].sum() + c["y"].sum()

    def negate(s):
        s.iloc[1] = -s.iloc[1]
        return float(s.iloc[1])

    expected = [write(frame.iloc[:4].copy()), write(frame.iloc[4:].copy())]
    with par.share(frame) as handle, par.share(frame["x"]) as column:
        for name, pool in pools.items():
            for data in (frame, handle):
                assert pool.map_chunks(write, data, n=2) == expected, name
            for data in (frame["x"], column):
                assert pool.map_chunks(negate, data, n=2) == [-1.0, -5.0], name
        pd.testing.assert_frame_equal(handle.value, frame)
        pd.testing.assert_series_equal(column.value, frame["x"])
    pd.testing.assert_frame_equal(frame, pd.DataFrame({"x": np.arange(8.0), "y": np.arange(8)}))


def test_object_arrays_are_read_only_in_workers_too(pool):
    """An object array travels by pickle; unpickled in a process it would be writable again."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PickleFallbackWarning)
        flags = pool.map_chunks(lambda c: c.flags.writeable, np.arange(10, dtype=object), n=2)
    assert flags == [False, False]


def test_unpicklable_function_names_pickling(pools):
    import threading

    lock = threading.Lock()
    with pytest.raises(PicklingError, match="pickle"):
        pools["process"].map_chunks(lambda c: lock, X, n=2)


def test_nested_maps_run_serially_in_the_worker(pool):
    def inner(c):
        return par.map_reduce(None, c, Sum(), n=2)

    assert np.isclose(pool.map_reduce(inner, X, operator.add, n=3), X.sum())


@pytest.mark.timeout(60)
def test_an_auto_map_nested_in_an_auto_maps_probe_runs_serially():
    """auto's probe runs func in the caller: a map func starts there runs serially, as in any
    chunk (the inner auto map's probe waited forever on the outer probe's lock)."""
    x = np.arange(1000.0)
    with par.Pool(2, "auto") as auto_pool:
        got = auto_pool.map_chunks(lambda c: auto_pool.map_reduce(None, c, Sum()), x, n=2)
        assert got == [x[:500].sum(), x[500:].sum()]
    assert par.map_chunks(lambda c: par.map_reduce(None, c, Sum(), backend="auto"), x, n=2,
                          backend="auto", workers=2) == [x[:500].sum(), x[500:].sum()]


def test_a_func_that_closes_over_its_own_pool_runs_serially_inside(pool):
    """The pool travels to process workers as its recipe; inside, its maps run serially
    (in the worker's own process, on the serial backend)."""
    import os

    def inner(c):
        sums = pool.map_chunks(lambda part: (os.getpid(), float(part.sum())), c, n=2)
        return {pid for pid, _ in sums}, sum(s for _, s in sums)

    outer = pool.map_chunks(lambda c: (os.getpid(), inner(c)), X, n=3)
    assert np.isclose(sum(total for _, (_, total) in outer), X.sum())
    for pid, (inner_pids, _) in outer:
        assert inner_pids == {pid}  # never a pool inside a pool
    copy = pickle.loads(pickle.dumps(par.Pool(2, pool.backend, timeout=9, start_method="spawn")))
    assert (copy.backend, copy._requested, copy.timeout) == (pool.backend, 2, 9)
    assert copy._options == {"start_method": "spawn"}
    closed = par.Pool(2, "thread")
    closed.close()
    with pytest.raises(RuntimeError, match="closed"):
        pickle.loads(pickle.dumps(closed)).map_chunks(len, X)
    copy.close()


def test_timeout_stops_a_stuck_process_worker_and_the_pool_recovers(pools):
    import time

    pool = pools["process"]
    with pytest.raises(ChunkTimeoutError) as info:
        pool.map_chunks(lambda c: time.sleep(30) if c[0] == 0 else 1, np.arange(4), n=4,
                        timeout=0.5)
    assert info.value.chunk == 0
    assert pool.map_reduce(None, np.arange(10), Sum()) == 45


def test_killed_worker_names_chunk_and_signal_and_pool_recovers(pools):
    import os
    import signal

    pool = pools["process"]

    def die(c):
        if c[0] == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        return c

    with pytest.raises(WorkerCrashedError, match="SIGKILL") as info:
        pool.map_chunks(die, np.arange(6), n=6)
    assert info.value.chunk == 3 and info.value.exitcode == -signal.SIGKILL
    assert pool.map_reduce(None, np.arange(10), Sum()) == 45


def test_submit_returns_a_future(pool):
    assert pool.submit(functools.partial(operator.mul, 6), 7).result(timeout=30) == 42


def _sleep_then_mark(path, seconds):
    import time

    time.sleep(seconds)
    with open(path, "a") as f:
        f.write("ran\n")
    return seconds


def test_a_submitted_call_cancels_as_concurrent_futures_does(tmp_path):
    """cancel() of a call a worker already runs returns False and the call completes (it did
    return True and the call ran anyway); a call still waiting behind busy workers cancels,
    and never runs (found by an independent pool probe)."""
    import time

    with par.Pool(2, backend="process") as pool:
        assert pool.submit(operator.add, 1, 1).result(timeout=30) == 2  # workers are up
        mark = tmp_path / "ran"
        running = pool.submit(_sleep_then_mark, mark, 1.0)
        deadline = time.monotonic() + 10
        while not running.running() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert running.running() and not running.cancel() and not running.cancelled()
        busy = [pool.submit(time.sleep, 1.0) for _ in range(2)]
        waiting = [pool.submit(_sleep_then_mark, mark, 0.0) for _ in range(6)]
        cancelled = [f for f in waiting if f.cancel()]
        assert cancelled and all(f.cancelled() for f in cancelled)
        assert running.result(timeout=30) == 1.0
        for f in busy + [f for f in waiting if not f.cancelled()]:
            f.result(timeout=30)
        ran = mark.read_text().count("ran")
        assert ran == 1 + len(waiting) - len(cancelled)


def test_a_submitted_sys_exit_is_an_error_of_the_call_not_of_the_caller(pool):
    """As a map's chunk: WorkerCrashedError with the exit code, and the pool works on."""
    import sys

    with pytest.raises(WorkerCrashedError, match=r"sys.exit\(2\)") as info:
        pool.submit(sys.exit, 2).result(timeout=30)
    assert info.value.exitcode == 2
    assert pool.submit(operator.add, 2, 3).result(timeout=30) == 5


def test_module_level_functions_reuse_the_default_pool():
    assert par.map_reduce(None, np.arange(10), Sum()) == 45
    first = par.default_pool()
    assert par.map_chunks(len, np.arange(10), n=2) == [5, 5]
    assert par.default_pool() is first
    usable = par.info()["cpus"]["usable"]  # spelt out, workers=None is the same pool
    assert par.default_pool(workers=usable) is first
    assert par.map_chunks(len, np.arange(4), n=4, workers=usable) == [1, 1, 1, 1]
    assert par.default_pool("process", usable) is first


def test_bad_options_are_clear_errors():
    with pytest.raises(ValueError, match="workers"):
        par.Pool(0)
    with pytest.raises(ValueError, match="unknown backend"):
        par.Pool(2, "gpu")
    with pytest.raises(TypeError, match="unexpected option"):
        par.map_chunks(len, np.arange(3), chunks=2)
    with pytest.raises(ValueError, match="positive"):
        par.map_chunks(len, np.arange(3), n=-1)


def test_last_run_records_the_map():
    par.map_reduce(None, np.arange(1000), Sum(), backend="thread", n=4)
    stats = par.last_run()
    assert stats.chunks == 4 and "thread" in stats.backend
    assert "4 chunks" in stats.summary()


@pytest.mark.parametrize("name", ["serial", "thread"])
def test_timeout_on_in_process_backends(pools, name):
    import time

    with pytest.raises(ChunkTimeoutError) as info:
        pools[name].map_chunks(lambda c: time.sleep(0.6), np.arange(2), n=2, timeout=0.2)
    assert info.value.chunk in (0, 1) and info.value.timeout == 0.2
    assert pools[name].map_reduce(None, np.arange(10), Sum()) == 45


def test_data_already_in_shared_memory_is_not_copied(pools, monkeypatch):
    from parallel_analysis import segment

    created = []
    real_create = segment.create
    monkeypatch.setattr(segment, "create",
                        lambda *a, **k: created.append(a) or real_create(*a, **k))
    with par.shared_array((300_000,), np.float64, fill=2.0) as h:
        created.clear()
        assert pools["process"].map_reduce(None, h, Sum()) == 600_000
        assert pools["process"].map_reduce(None, h.value[::3], Sum()) == 200_000
        assert created == []


def test_map_array_output_is_an_ordinary_writable_array(pools):
    out = pools["process"].map_array(lambda c: c + 1, np.arange(500_000.0))
    assert isinstance(out, np.ndarray) and out.flags.writeable
    out[0] = -5
    np.testing.assert_array_equal(out[1:], np.arange(2, 500_001.0))
