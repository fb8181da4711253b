"""The crash matrix: {exception, sys.exit, os._exit, SIGSEGV, SIGKILL, SIGTERM} × the five
stages of a chunk's round trip, under forkserver and spawn (after CPython's test_deadlock.py and
loky's tests).

Each case asserts the caller gets the right error within seconds, that no segment and no worker
is left, and that the next map on the same pool and on a new pool works. A crash in a stage that
runs in the caller (pickling the task, unpickling the result) kills the caller by definition:
those cases run in a child interpreter, and only "nothing outlives it" is asserted.
"""

from __future__ import annotations

import signal
import time

import faultlib
import numpy as np
import pytest
from faultlib import CALLER_STAGES, CRASHES, FAULTS, STAGES, InjectedError

import parallel_analysis as par
from parallel_analysis.errors import PicklingError, WorkerCrashedError

X = np.arange(40, dtype=np.int64)  # n=4: chunk 3 (30..39) is the faulty one
EXIT_CODES = {"sys.exit": 7, "os._exit": 7, "SIGSEGV": -11, "SIGKILL": -9, "SIGTERM": -15}

# What the caller must get, per (fault, stage) run in the workers or survivable in the caller.
# "crash": WorkerCrashedError naming the chunk and the exit code / signal.
EXPECTED = {
    ("exception", "pickle-task"): PicklingError,
    ("sys.exit", "pickle-task"): PicklingError,
    ("exception", "unpickle-task"): InjectedError,
    ("sys.exit", "unpickle-task"): "crash",
    ("exception", "run"): InjectedError,
    ("sys.exit", "run"): "crash",
    ("exception", "pickle-result"): PicklingError,
    ("sys.exit", "pickle-result"): PicklingError,
    ("exception", "unpickle-result"): PicklingError,
    ("sys.exit", "unpickle-result"): PicklingError,
}
for _fault in CRASHES:
    for _stage in ("unpickle-task", "run", "pickle-result"):
        EXPECTED[(_fault, _stage)] = "crash"

CASES = []
for _fault in FAULTS:
    for _stage in STAGES:
        if _fault in CRASHES and _stage in CALLER_STAGES:
            continue  # test_crash_in_caller below
        CASES.append(pytest.param(_fault, _stage, id=f"{_fault}-{_stage}"))


def _check_pool_works(pool, start_method):
    assert pool.map_reduce(None, X, par.reducers.Sum(), n=4) == X.sum()
    with par.Pool(1, "process", start_method=start_method) as fresh:
        assert fresh.map_chunks(faultlib._with_arg, X, n=2, args=(0,)) == [190, 590]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("fault", "stage"), CASES)
def test_crash_matrix(fpool, start_method, fault, stage):
    func, args = faultlib.func_for(fault, stage)
    expected = EXPECTED[(fault, stage)]
    started = time.monotonic()
    with pytest.raises(BaseException) as info:
        fpool.map_chunks(func, X, n=4, args=args)
    elapsed = time.monotonic() - started
    exc = info.value
    assert elapsed < 10, f"the error took {elapsed:.1f} s"
    if expected == "crash":
        assert type(exc) is WorkerCrashedError, repr(exc)
        assert exc.exitcode == EXIT_CODES[fault], (exc.exitcode, str(exc))
        if stage == "unpickle-task":  # every chunk shares the bad task: any of them may die first
            assert exc.chunk in (0, 1, 2, 3), str(exc)  # never "chunk None"
        else:
            assert exc.chunk == 3, str(exc)
            assert "chunk 3" in str(exc)
        if fault in ("SIGSEGV", "SIGKILL", "SIGTERM"):
            assert fault in str(exc)
    else:
        assert isinstance(exc, expected), repr(exc)
        if expected is InjectedError:
            assert exc.chunk_index in range(4)
            if stage == "run":
                assert exc.chunk_index == 3
                assert any("chunk 3 of 4" in note for note in exc.__notes__)
            assert "InjectedError" in str(exc.__cause__), "remote traceback missing"
            assert "Traceback" in str(exc.__cause__)
        if stage == "pickle-result":
            assert "chunk 3" in str(exc)
    _check_pool_works(fpool, start_method)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fault", ["os._exit", "SIGKILL"])
def test_crash_while_submitting(fpool, start_method, fault):
    """A worker dies while the caller still submits the map's later batches.

    The caller then replaces the broken executor mid-map; the crash is still told from the
    board and processes of the executor that broke (each future keeps its own): chunk 0, and
    its exit code.
    """
    assert fpool.map_reduce(None, X, par.reducers.Sum(), n=4) == X.sum()  # workers are up
    data = [np.arange(10), faultlib.SlowToPickle(0.5), 2, 3]
    with pytest.raises(WorkerCrashedError) as info:
        fpool.map_chunks(faultlib.crash_on_array, data, args=(fault,))
    assert info.value.chunk == 0, str(info.value)
    assert info.value.exitcode == EXIT_CODES[fault], str(info.value)
    _check_pool_works(fpool, start_method)


@pytest.mark.timeout(60)
def test_next_call_after_crash_mid_submission(fpool, start_method):
    """The failed map's leftover batches, sent to a fresh executor mid-submission, crash it too:
    the next call must not be the one that pays."""
    assert fpool.map_reduce(None, X, par.reducers.Sum(), n=4) == X.sum()  # workers are up
    data = [np.arange(10), faultlib.SlowToPickle(0.5, "os._exit"), faultlib.SlowToPickle(0.2), 3]
    with pytest.raises(WorkerCrashedError):
        fpool.map_chunks(faultlib.crash_on_array, data, args=("os._exit",))
    # The next call's chunks run while the leftover chunk crashes (0.3 s in).
    assert fpool.map_chunks(faultlib.slow_sum, X, n=4, args=(0.6,)) == [45, 145, 245, 345]
    _check_pool_works(fpool, start_method)


def test_unpicklable_exception_keeps_its_type(fpool, start_method):
    """func raises an exception that carries a lock: its type, message and chunk survive."""
    with pytest.raises(faultlib.CarryingError, match="bad chunk") as info:
        fpool.map_chunks(faultlib.raise_carrying, X, n=4)
    assert info.value.chunk_index == 0
    assert "raise_carrying" in str(info.value.__cause__), "remote traceback missing"
    _check_pool_works(fpool, start_method)


def test_an_exception_pickle_cannot_rebuild_arrives_as_itself(fpool, start_method):
    """func raises exceptions that pickle in the worker but that pickle would rebuild wrong in
    the caller (it calls the class with the exception's args): one whose __init__ takes other
    arguments, one that formats its message. Both arrive with their type, message, attributes,
    chunk and traceback, and the batch's other results are not lost."""
    with pytest.raises(faultlib.TwoPartError, match="^chunk failed with code 7") as info:
        fpool.map_chunks(faultlib.raise_two_part, X, n=4)
    assert str(info.value) == "chunk failed with code 7" and info.value.chunk_index == 0
    assert "raise_two_part" in str(info.value.__cause__), "remote traceback missing"
    with pytest.raises(faultlib.CodedError, match="^code 7") as info:
        fpool.map_chunks(faultlib.raise_coded, X, n=4)
    assert str(info.value) == "code 7" and info.value.code == 7
    with pytest.raises(faultlib.TwoPartError, match="^chunk failed with code 7") as info:
        fpool.submit(faultlib.raise_two_part, X).result(timeout=30)
    assert "raise_two_part" in str(info.value.__cause__)
    assert fpool.submit(faultlib.raise_two_part, X[10:]).result(timeout=30) == X[10:].sum()
    _check_pool_works(fpool, start_method)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fault", ["os._exit", "SIGKILL"])
def test_a_submitted_call_that_kills_its_worker_is_a_worker_crash(fpool, start_method, fault):
    with pytest.raises(WorkerCrashedError, match="submitted call") as info:
        fpool.submit(faultlib.trigger, fault).result(timeout=30)
    # how it died, as a map's chunk says it
    assert info.value.exitcode == (7 if fault == "os._exit" else -signal.SIGKILL)
    assert ("exited with code 7" if fault == "os._exit" else "SIGKILL") in str(info.value)
    assert fpool.submit(sum, [1, 2]).result(timeout=30) == 3
    _check_pool_works(fpool, start_method)


CALLER_CRASH = """
import json, os, sys
import numpy as np, psutil
import faultlib, parallel_analysis as par
faultlib.register_by_value()
pool = par.Pool(2, "process", start_method={method!r})
x = np.arange(2**17, dtype=np.int64)  # 1 MiB: travels through a segment
handle = par.share(x)
assert pool.map_reduce(None, handle, par.reducers.Sum(), n=4) == x.sum()
kids = [p.pid for p in psutil.Process().children(recursive=True)]
print(json.dumps({{"pid": os.getpid(), "kids": kids, "segments": sorted(faultlib.my_segments())}}))
func, args = faultlib.func_for({fault!r}, {stage!r})
pool.map_chunks(func, handle, n=4, args=args)
print("survived")
"""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("stage", CALLER_STAGES)
@pytest.mark.parametrize("fault", CRASHES)
def test_crash_in_caller(start_method, fault, stage):
    """The caller dies while it pickles a task or unpickles a result: nothing outlives it."""
    code, info, err = faultlib.run_child(
        CALLER_CRASH.format(method=start_method, fault=fault, stage=stage))
    assert info, err[-3000:]
    assert code == EXIT_CODES[fault], (code, err[-3000:])
    assert info["segments"], "the child should have owned a segment"
    assert info["kids"], "the child should have had workers"
    assert faultlib.wait_until(lambda: faultlib.gone(info["kids"]), 5.0), (
        f"processes outlived the crashed caller: {info['kids']}")
    assert faultlib.wait_until(lambda: not faultlib.my_segments(info["pid"]), 5.0), (
        f"segments outlived the crashed caller: {faultlib.my_segments(info['pid'])}")
