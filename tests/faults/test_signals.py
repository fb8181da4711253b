"""Signals to the caller: Ctrl-C mid-map, the caller SIGKILLed mid-map, the caller exiting
without closing anything. Each runs in a child interpreter with SIGINT at its default handler
(a child started without job control inherits SIGINT ignored, and would test nothing)."""

from __future__ import annotations

import signal
import time

import faultlib
import pytest

CTRL_C = """
import json, os, signal, threading, time
import numpy as np, psutil
import faultlib, parallel_analysis as par
assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
pool = par.Pool(2, "process", start_method={method!r})
x = np.arange(2**18, dtype=np.float64)  # 2 MiB: a transient segment for the map
assert pool.map_reduce(None, x, par.reducers.Sum(), n=4) == x.sum()
workers = pool.worker_pids()
threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
started = time.monotonic()
try:
    pool.map_chunks(lambda c: time.sleep(30), x, n=8)
    outcome = "no interrupt"
except KeyboardInterrupt:
    outcome = "KeyboardInterrupt"
elapsed = time.monotonic() - started
left = sorted(faultlib.my_segments())
workers_gone = faultlib.wait_until(lambda: faultlib.gone(workers), 3.0)
again = bool(float(pool.map_reduce(None, x, par.reducers.Sum(), n=4)) == x.sum())
with par.Pool(2, "process", start_method={method!r}) as fresh:
    fresh_ok = bool(float(fresh.map_reduce(None, x, par.reducers.Sum(), n=4)) == x.sum())
kids = [p.pid for p in psutil.Process().children(recursive=True)]
print(json.dumps(dict(outcome=outcome, elapsed=elapsed, left=left, workers_gone=workers_gone,
                      again=again, fresh_ok=fresh_ok, kids=kids, pid=os.getpid())))
"""


@pytest.mark.timeout(60)
def test_ctrl_c_mid_map(start_method):
    code, info, err = faultlib.run_child(CTRL_C.format(method=start_method))
    assert code == 0 and info, err[-3000:]
    assert info["outcome"] == "KeyboardInterrupt"
    assert info["elapsed"] < 3.0, info  # the interrupt came at 0.5 s; chunks sleep 30 s
    assert info["left"] == [], "segments left after Ctrl-C"
    assert info["workers_gone"], "workers kept running after Ctrl-C"
    assert info["again"] and info["fresh_ok"]
    assert faultlib.wait_until(lambda: faultlib.gone(info["kids"]), 5.0)
    assert not faultlib.my_segments(info["pid"])


CTRL_C_SUBMITTING = """
import json, os, signal, threading, time
import numpy as np
import faultlib, parallel_analysis as par
faultlib.register_by_value()
pool = par.Pool(2, "process", start_method={method!r})
x = np.arange(40)
assert pool.map_reduce(None, x, par.reducers.Sum(), n=4) == x.sum()
workers = pool.worker_pids()
# two 9 s chunks go out, then the caller spends 3 s pickling the third: Ctrl-C comes then
data = [np.arange(10), np.arange(10), faultlib.SlowToPickle(3.0), 3]
threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
started = time.monotonic()
try:
    pool.map_chunks(faultlib.slow_sum, data, args=(9,))
    outcome = "no interrupt"
except KeyboardInterrupt:
    outcome = "KeyboardInterrupt"
interrupted = time.monotonic() - started
started = time.monotonic()
again = bool(pool.map_reduce(None, x, par.reducers.Sum(), n=4) == x.sum())
print(json.dumps(dict(outcome=outcome, interrupted=interrupted, again=again,
                      next_call=time.monotonic() - started,
                      workers_gone=faultlib.wait_until(lambda: faultlib.gone(workers), 3.0))))
"""


@pytest.mark.timeout(90)
def test_ctrl_c_while_submitting(start_method):
    """Ctrl-C while the map still submits: the chunks already sent stop too."""
    code, info, err = faultlib.run_child(CTRL_C_SUBMITTING.format(method=start_method), 80)
    assert code == 0 and info, err[-3000:]
    assert info["outcome"] == "KeyboardInterrupt" and info["interrupted"] < 3.0, info
    assert info["again"], info
    assert info["next_call"] < 5.0, f"the next call waited for the interrupted map: {info}"
    assert info["workers_gone"], info


CTRL_C_STARTING = """
import json, os, signal, threading, time
import numpy as np, psutil
import faultlib, parallel_analysis as par
pool = par.Pool(2, "process", start_method={method!r})
x = np.arange(200_000, dtype=np.float64)
# Ctrl-C while the pool's first map starts its workers: one may be forked with its pid never
# reaching the executor (multiprocessing's launch was interrupted)
threading.Timer({delay}, os.kill, (os.getpid(), signal.SIGINT)).start()
try:
    pool.map_reduce(lambda c: (time.sleep(0.02), c)[1], x, par.reducers.Sum(), n=20)
except KeyboardInterrupt:
    pass
again = bool(pool.map_reduce(None, x, par.reducers.Sum(), n=4) == x.sum())
pool.close()
gone = faultlib.wait_until(lambda: not faultlib.stray_workers(), 12.0)
print(json.dumps(dict(again=again, gone=gone, left=faultlib.stray_workers())))
"""


@pytest.mark.timeout(120)
@pytest.mark.parametrize("delay", [0.03, 0.1])
def test_ctrl_c_while_the_first_workers_start(start_method, delay):
    """No worker outlives close() after a Ctrl-C in the pool's start-up, even one whose pid
    the interrupted launch never handed to the executor (it exits, finding no slot)."""
    code, info, err = faultlib.run_child(CTRL_C_STARTING.format(method=start_method,
                                                                delay=delay), 100)
    assert code == 0 and info, err[-3000:]
    assert info["again"], info
    assert info["gone"], f"workers alive 12 s after close(): {info}"


KILLED_CALLER = """
import json, os, time
import numpy as np, psutil
import faultlib, parallel_analysis as par
pool = par.Pool(2, "process", start_method={method!r})
handle = par.share(np.arange(2**18, dtype=np.float64))
assert pool.map_reduce(None, handle, par.reducers.Sum(), n=4) > 0
kids = [p.pid for p in psutil.Process().children(recursive=True)]
print(json.dumps(dict(pid=os.getpid(), kids=kids, segments=sorted(faultlib.my_segments()))))
pool.map_chunks(lambda c: open({marker!r}, "w").close() or time.sleep(60), handle, n=4)
"""


@pytest.mark.timeout(60)
def test_caller_sigkilled_mid_map(start_method, tmp_path):
    """Its workers notice the dead parent and exit; its segments disappear with them."""
    marker = tmp_path / "running"
    proc = faultlib.start_child(KILLED_CALLER.format(method=start_method, marker=str(marker)))
    try:
        info = faultlib.last_json(proc.stdout.readline())
        assert info, proc.stderr.read()[-3000:]
        assert faultlib.wait_until(marker.exists, 20.0), "the map never started"
        proc.kill()
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)  # reaps it and closes its pipes
    killed = time.monotonic()
    assert info["segments"] and info["kids"]
    assert faultlib.wait_until(lambda: faultlib.gone(info["kids"]), 3.0), (
        f"processes outlived the killed caller: {info['kids']}")
    assert faultlib.wait_until(lambda: not faultlib.my_segments(info["pid"]), 3.0), (
        f"segments outlived the killed caller: {faultlib.my_segments(info['pid'])}")
    print(f"everything gone {time.monotonic() - killed:.2f} s after the caller was killed")


EXIT_WITHOUT_CLOSING = """
import json, os, sys
import numpy as np, psutil
import faultlib, parallel_analysis as par
pool = par.Pool(2, "process", start_method={method!r})
handles = [par.share(np.full(2**16, i, dtype=np.float64)) for i in range(5)]
total = sum(pool.map_reduce(None, h, par.reducers.Sum(), n=2) for h in handles)
assert total == sum(i * 2**16 for i in range(5))
assert float(par.map_reduce(None, handles[1], par.reducers.Sum())) == 2**16  # the default pool
out = par.shared_array(2**16)
kids = [p.pid for p in psutil.Process().children(recursive=True)]
print(json.dumps(dict(pid=os.getpid(), kids=kids, segments=sorted(faultlib.my_segments()))))
{ending}
"""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("ending", ["pass", "raise RuntimeError('unhandled')", "sys.exit(3)"])
def test_caller_exits_without_closing(start_method, ending):
    code, info, err = faultlib.run_child(
        EXIT_WITHOUT_CLOSING.format(method=start_method, ending=ending))
    assert info, err[-3000:]
    assert code == {"pass": 0, "sys.exit(3)": 3}.get(ending, 1), err[-3000:]
    assert len(info["segments"]) == 6
    assert "leaked" not in err, err[-3000:]  # no resource-tracker warning: all unlinked in time
    assert faultlib.wait_until(lambda: faultlib.gone(info["kids"]), 3.0)
    assert not faultlib.my_segments(info["pid"])


def test_child_sigint_is_default():
    """The helper really gives children a default SIGINT handler (else the Ctrl-C test is void)."""
    code, _, err = faultlib.run_child(
        "import signal; assert signal.getsignal(signal.SIGINT) is signal.default_int_handler")
    assert code == 0, err
    assert signal.getsignal(signal.SIGINT) is not None


AFTER_THE_EXIT_SWEEP = """
import json, os
import parallel_analysis as par
from parallel_analysis import segment
segment._unlink_all_owned()  # what the interpreter's exit runs
try:
    par.shared_array(2**16)
    said = "created"
except par.errors.SharedMemoryError as exc:
    said = str(exc)
print(json.dumps(dict(pid=os.getpid(), said=said)))
"""


@pytest.mark.timeout(60)
def test_no_segment_is_created_after_the_exit_sweep():
    """The exit's sweep had raced a map in a daemon thread, which went on to create
    map_array's output (2 runs in 6 left it in /dev/shm): a segment is refused once the sweep
    began."""
    code, info, err = faultlib.run_child(AFTER_THE_EXIT_SWEEP)
    assert code == 0, err[-3000:]
    assert "interpreter is exiting" in info["said"]
    assert not faultlib.my_segments(info["pid"])


CTRL_C_AWAITING = """
import asyncio, gc, json, os, signal, threading, time
import numpy as np
import faultlib, parallel_analysis as par
pool = par.Pool(2, "process", start_method={method!r})
y = np.arange(2**18, dtype=np.float64)
async def main():
    threading.Timer(0.8, os.kill, (os.getpid(), signal.SIGINT)).start()
    return await asyncio.gather(pool.map_array_async(lambda c: time.sleep(30) or c, y, n=4),
                                pool.map_chunks_async(lambda c: time.sleep(30), y, n=4))
try:
    asyncio.run(main())
    outcome = "no interrupt"
except KeyboardInterrupt:
    outcome = "KeyboardInterrupt"
gc.collect()
again = bool(float(pool.map_reduce(None, y, par.reducers.Sum(), n=4)) == y.sum())
pool.close()
print(json.dumps(dict(outcome=outcome, again=again, pid=os.getpid())))
"""


@pytest.mark.timeout(60)
def test_ctrl_c_while_awaiting_maps_stops_them_quietly(start_method):
    """asyncio.run cancels the tasks twice; the maps' own CancelledError, set after the second
    cancel cut the wait for it, was logged as "Future exception was never retrieved"."""
    code, info, err = faultlib.run_child(CTRL_C_AWAITING.format(method=start_method))
    assert code == 0 and info, err[-3000:]
    assert info["outcome"] == "KeyboardInterrupt" and info["again"]
    assert "never retrieved" not in err, err[-3000:]
    assert not faultlib.my_segments(info["pid"])
