"""backend="auto": the GIL probe picks processes for GIL-bound work and threads for work that
releases the GIL, on a quiet machine and beside a busy loop (the machine's load must not change
the answer)."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

from parallel_analysis import auto
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


def test_the_held_share_tells_python_from_numpy():
    python = watch(work.collatz_steps, CASES["pure Python"][1][:2000])
    numpy = watch(work.trig_norm, CASES["numpy ufuncs"][1][:500_000])
    assert python.ran > 0 and numpy.ran > 0
    assert python.held / python.ran > auto.HELD_SHARE > numpy.held / numpy.ran


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
