"""backend="auto": the GIL probe picks processes for GIL-bound work and threads for work that
releases the GIL, on a quiet machine and beside a busy loop (the machine's load must not change
the answer)."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

import parallel_analysis as par
from parallel_analysis import auto, auto_memory
from parallel_analysis.backends import make_backend
from parallel_analysis.bench import work
from parallel_analysis.gil import watch
from parallel_analysis.plan import make_plan
from parallel_analysis.split import Chunking
from parallel_analysis.worker import Job

PROBES = 5
SPIN = "import time\nend = time.time() + 120\nwhile time.time() < end:\n    pass\n"


def _specs(data):
    return make_plan(data, make_backend("thread", 2), Chunking(n=16)).specs


CASES = {
    "pure Python": (Job(work.collatz_steps, "map"),
                    np.random.default_rng(1).integers(1, 10**6, 40_000), "process"),
    "numpy ufuncs": (Job(work.trig_norm, "map"), np.random.default_rng(2).random(8_000_000),
                     "thread"),
}


@pytest.fixture(params=["quiet", "busy loop"])
def load(request):
    if request.param == "quiet":
        yield request.param
        return
    spinner = subprocess.Popen([sys.executable, "-c", SPIN])
    time.sleep(0.3)
    try:
        yield request.param
    finally:
        spinner.kill()
        spinner.wait()


@pytest.mark.parametrize("name", CASES)
def test_the_probe_answer_does_not_depend_on_load(name, load):
    job, data, right = CASES[name]
    specs = _specs(data)
    picks = [auto.decide(job, specs, 2) for _ in range(PROBES)]
    wrong = [reason for choice, reason in picks if choice != right]
    assert not wrong, f"{name} ({load}): {len(wrong)}/{PROBES} wrong: {wrong[0]}"


def _median_share(func, data, pieces: int = 3) -> float:
    """The held share over several watched pieces, as the probe takes it (a median): one piece
    on a busy machine can read a ufunc's wait for a CPU as the GIL held."""
    shares = []
    for _ in range(pieces):
        piece = watch(func, data)
        assert piece.ran > 0
        shares.append(piece.held / piece.ran)
    return float(np.median(shares))


def test_the_held_share_tells_python_from_numpy():
    python = _median_share(work.collatz_steps, CASES["pure Python"][1][:2000])
    numpy = _median_share(work.trig_norm, CASES["numpy ufuncs"][1][:500_000])
    assert python > auto.HELD_SHARE > numpy


def test_only_a_piece_that_plainly_releases_the_gil_settles_the_probe_alone():
    """A GIL holder lets the watcher nap about once per 5 ms switch interval: no piece of it
    can settle alone; a ufunc piece with the watcher fed can, and then the probe stops."""
    holder = [watch(work.collatz_steps, CASES["pure Python"][1][:1500]) for _ in range(5)]
    assert not any(auto.plainly_released(piece) for piece in holder), holder
    releaser = []
    for _ in range(20):  # a busy machine can starve the watcher of a CPU in some pieces
        releaser.append(watch(work.trig_norm, CASES["numpy ufuncs"][1][:200_000]))
        if auto.plainly_released(releaser[-1]):
            break
    assert auto.plainly_released(releaser[-1]), releaser
    starved = releaser[-1]._replace(starved=releaser[-1].seconds)  # the watcher got no CPU
    assert not auto.plainly_released(starved)
    assert auto._settled([0.02], True) and not auto._settled([0.02], False)
    assert auto._settled([0.02, 0.05], False) and not auto._settled([0.9, 0.05], False)


def test_small_work_one_chunk_and_one_worker_stay_in_process():
    job, data, _ = CASES["pure Python"]
    assert auto.decide(job, _specs(data[:64]), 2)[0] == "thread"  # a chunk of 4 numbers
    assert auto.decide(job, _specs(data)[:1], 2)[0] == "thread"
    assert auto.decide(job, _specs(data), 1)[0] == "serial"


def test_a_probe_that_raises_leaves_the_error_to_the_map():
    def boom(chunk):
        raise KeyError("bad")

    choice, reason = auto.decide(Job(boom, "map"), _specs(np.arange(1000)), 2)
    assert choice == "thread" and "KeyError" in reason


def test_sys_exit_in_the_probe_is_a_crash_of_the_chunk_not_of_the_caller():
    import sys

    import parallel_analysis as par
    from parallel_analysis.errors import WorkerCrashedError

    choice, reason = auto.decide(Job(lambda c: sys.exit(3), "map"), _specs(np.arange(1000)), 2)
    assert choice == "thread" and "SystemExit" in reason
    with pytest.raises(WorkerCrashedError, match="sys.exit"):
        par.map_chunks(lambda c: sys.exit(3), np.arange(1000), n=4, backend="auto", workers=2)


def test_a_map_with_a_timeout_goes_to_processes_unprobed_and_is_stopped_in_time():
    """The probe runs func in the calling thread, where an overrun cannot be stopped: a map
    with timeout= that no earlier probe decided goes to processes, which stop it."""
    import parallel_analysis as par
    from parallel_analysis.errors import ChunkTimeoutError

    calls = []
    choice, reason = auto.decide(Job(lambda c: calls.append(1), "map"),
                                 _specs(np.arange(1000)), 2, timeout=0.5)
    assert (choice, calls) == ("process", []) and "timeout=0.5" in reason
    with par.Pool(workers=2, backend="auto") as pool:
        started = time.perf_counter()
        with pytest.raises(ChunkTimeoutError):
            pool.map_chunks(lambda c: time.sleep(30), np.arange(1000), n=4, timeout=0.5)
        assert time.perf_counter() - started < 15  # not the 30 s a probe would have slept
        assert pool.map_chunks(len, np.arange(1000), n=4, timeout=5) == [250] * 4


class _Declared:
    """A reducer that says its partials release the GIL, and counts calls to them."""

    releases_gil = True
    calls = 0

    def partial(self, chunk):
        type(self).calls += 1
        return np.sum(chunk)


def test_a_reducer_that_releases_the_gil_goes_to_threads_unprobed():
    data = CASES["pure Python"][1]
    choice, reason = auto.decide(Job(None, "reduce", _Declared()), _specs(data), 2)
    assert (choice, _Declared.calls) == ("thread", 0) and "release the GIL" in reason
    # with a func of its own the map is probed as usual: here pure Python, so processes
    choice, _ = auto.decide(Job(work.collatz_steps, "reduce", _Declared()), _specs(data), 2)
    assert choice == "process"


def test_groupby_partials_go_to_threads():
    import pandas as pd

    from parallel_analysis.reducers import GroupBy

    rows = 200_000
    frame = pd.DataFrame({"k": np.arange(rows) % 1000, "x": np.random.default_rng(0).random(rows)})
    choice, reason = auto.decide(Job(None, "reduce", GroupBy("k", {"x": ["mean", "var"]})),
                                 _specs(frame), 2)
    assert choice == "thread", reason


def _pure_python(chunk):
    return sum(v * v % 7 for v in chunk.tolist())


def test_a_pool_remembers_the_answer_per_function_and_data_kind():
    import parallel_analysis as par

    data = CASES["pure Python"][1]
    with par.Pool(workers=2, backend="auto") as pool:
        first = pool.map_reduce(work.collatz_steps, data, work.add, n=8)
        assert pool.last_reason.startswith("process:") and "remembered" not in pool.last_reason
        assert par.last_run().backend == "auto → process"
        pool.map_reduce(work.collatz_steps, data, work.add, n=8)  # confirms it (CONFIRMED 2)
        assert "remembered" not in pool.last_reason
        second = pool.map_reduce(work.collatz_steps, data, work.add, n=8)
        assert second == first
        assert pool.last_reason.startswith("process:") and "remembered" in pool.last_reason
        assert par.last_run().backend == "auto → process"
        # another function, or the same one on another kind of data, is probed afresh
        pool.map_reduce(_pure_python, data, work.add, n=8)
        assert "remembered" not in pool.last_reason
        pool.map_reduce(work.collatz_steps, data.astype(np.int32), work.add, n=8)
        assert "remembered" not in pool.last_reason
        # a remembered "process" does not send a tiny map to processes
        pool.map_reduce(work.collatz_steps, data[:64], work.add, n=16)
        assert pool.last_reason.startswith("thread:") and "too little work" in pool.last_reason
        numbers = np.random.default_rng(2).random(2_000_000)
        for _ in range(auto_memory.CONFIRMED + 1):
            pool.map_reduce(work.trig_norm, numbers, work.add, n=8)
        assert pool.last_reason.startswith("thread:") and "remembered" in pool.last_reason
    with par.Pool(workers=2, backend="auto") as fresh:  # each pool has its own memory
        fresh.map_reduce(work.collatz_steps, data, work.add, n=8)
        assert "remembered" not in fresh.last_reason


def test_the_key_looks_through_wrappers_to_the_users_function():
    import functools

    memory, data = auto.Memory(), np.arange(10.0)

    def wrapper(user, chunk):
        return user(chunk)

    def key(func, *args):
        return memory.key(Job(functools.partial(wrapper, func), "map", None, args), data)

    assert key(np.sin) == key(np.sin) != key(np.cos)
    assert key(work.tiny) != key(work.collatz_steps)
    assert key(work.tiny, 1) != key(work.tiny, 2)
    assert memory.key(Job(work.tiny, "map"), data) != memory.key(Job(work.tiny, "map"),
                                                                  data.astype(np.float32))
    lambdas = [lambda c, k=k: c + k for k in range(3)]  # one def: one code, one answer
    assert len({key(f) for f in lambdas}) == 1

    def make(inner):
        return lambda chunk: inner(chunk)

    # a factory's functions share their code: what they close over tells them apart
    assert key(make(np.sin)) == key(make(np.sin)) != key(make(work.collatz_steps))


def test_the_memory_forgets_the_oldest_and_survives_odd_objects():
    memory = auto.Memory(size=2)
    for name in "abc":
        memory.put(name, ("thread", name, 1e-9))
        assert memory.get(name) is None  # one probe: not yet confirmed
        memory.put(name, ("thread", name, 1e-9))
    assert len(memory) == 2 and memory.get("a") is None and memory.get("c")[1] == "c"
    memory.put("c", ("process", "other", 1e-9))  # a probe that disagrees starts over
    assert memory.get("c") is None
    assert memory.get(None) is None

    class Odd:  # unhashable argument: a key by type, still hashable
        __hash__ = None

        def __call__(self, chunk):
            return chunk

    assert memory.key(Job(work.tiny, "map", None, (Odd(),)), np.arange(3)) is not None


def test_the_data_kind_is_its_type_and_dtypes():
    import pandas as pd

    import parallel_analysis as par

    memory, job = auto.Memory(), Job(work.tiny, "map")
    ints = pd.DataFrame({"a": [1, 2], "b": [1.0, 2.0]})
    floats = ints.astype(float)
    assert memory.key(job, ints) == memory.key(job, ints.copy())
    assert memory.key(job, ints) != memory.key(job, floats)
    assert memory.key(job, ints["a"]) != memory.key(job, ints)
    assert memory.key(job, [np.arange(3)]) == memory.key(job, [np.arange(5)])
    assert memory.key(job, [np.arange(3)]) != memory.key(job, [np.arange(3.0)])
    with par.share(np.arange(10)) as shared:  # a handle keys as what it holds
        assert memory.key(job, shared) == memory.key(job, np.arange(4))


def test_the_reason_for_no_rows_says_so():
    with par.Pool(2, "auto") as pool:
        assert pool.map_chunks(len, np.arange(0)) == []
        assert "no chunk" in par.last_run().reason
        pool.map_chunks(len, np.arange(10), n=1)
        assert "one chunk" in par.last_run().reason
