"""Processes made by others around par: a fork of the caller (while a map's pages are kept, or
while another thread holds the package's locks), a multiprocessing child or a
ProcessPoolExecutor task that uses the module-level maps, and a multiprocessing.Pool worker
(daemonic: it may not start processes). Each runs in a fresh interpreter."""

from __future__ import annotations

import faultlib
import pytest

FORK_KEPT_PAGES = """
import json, os, time
import numpy as np, parallel_analysis as par
N = 200_000
def slow_sum(c):
    time.sleep(0.4)  # read after both processes placed their data
    return c.sum()
par.map_reduce(None, np.zeros(N), par.reducers.Sum(), n=2)  # leaves its pages in the arena
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    got = par.map_reduce(slow_sum, np.ones(N), par.reducers.Sum(), n=2)
    os.write(w, repr(float(got)).encode())
    os._exit(0)
time.sleep(0.2)
parent = par.map_reduce(slow_sum, np.full(N, 2.0), par.reducers.Sum(), n=2)
os.waitpid(pid, 0)
print(json.dumps(dict(child=float(os.read(r, 100)), parent=float(parent))))
"""


@pytest.mark.timeout(90)
def test_a_forked_child_does_not_reuse_the_parents_kept_pages():
    """The arena keeps a map's pages for the next map; a fork's child writing into them would
    write into the parent's next map's input (both got the parent's data)."""
    code, out, err = faultlib.run_child(FORK_KEPT_PAGES, timeout=80)
    assert code == 0, err[-3000:]
    assert out == dict(child=200_000.0, parent=400_000.0), out


FORK_HELD_LOCKS = """
import faulthandler, json, os, threading
import numpy as np, parallel_analysis as par
from parallel_analysis import attached, maps, segment
x = np.arange(10_000.0)
par.map_reduce(None, x, par.reducers.Sum(), n=2)
locks = [segment.arena._lock, attached._attach_lock, maps._default_lock]
held, forked = threading.Event(), threading.Event()
def hold():  # another thread inside the package at the moment of the fork
    for lock in locks:
        lock.acquire()
    held.set()
    forked.wait()
    for lock in locks:
        lock.release()
threading.Thread(target=hold).start()
held.wait()
pid = os.fork()
if pid == 0:
    faulthandler.dump_traceback_later(20, exit=True)  # a hang exits 1
    ok = par.map_reduce(None, x, par.reducers.Sum(), n=4) == x.sum()
    ok = ok and par.map_reduce(None, x * 2, par.reducers.Sum(), n=4) == 2 * x.sum()
    os._exit(0 if ok else 3)
forked.set()
status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
print(json.dumps(dict(child=status)))
"""


@pytest.mark.timeout(90)
def test_a_fork_while_another_thread_holds_the_packages_locks_leaves_the_child_working():
    code, out, err = faultlib.run_child(FORK_HELD_LOCKS, timeout=80)
    assert code == 0 and out == dict(child=0), (out, err[-3000:])


CHILDREN = """
import json, multiprocessing as mp, time, warnings
from concurrent.futures import ProcessPoolExecutor
import numpy as np, parallel_analysis as par
from parallel_analysis.backends.process import SHUTDOWN_GRACE

def job(_=None):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        total = sum(par.map_chunks(lambda c: int(c.sum()), np.arange(10_000), n=4))
    return total, [str(w.message) for w in caught]

res = {}
ctx = mp.get_context("fork")
start = time.monotonic()
child = ctx.Process(target=job)
child.start()
child.join(30)
res["process_exited"] = not child.is_alive()
res["process_exit_before_kill"] = time.monotonic() - start < SHUTDOWN_GRACE
if child.is_alive():
    child.kill()
executor = ProcessPoolExecutor(1, mp_context=ctx)
res["executor_result"] = executor.submit(job).result(30)[0]
start = time.monotonic()
executor.shutdown(wait=True)
res["executor_shutdown_before_kill"] = time.monotonic() - start < SHUTDOWN_GRACE
with ctx.Pool(1) as daemonic:
    total, warned = daemonic.apply(job)
res["daemonic_result"] = total
res["daemonic_warned"] = any("daemonic process" in w and "serially" in w for w in warned)
print(json.dumps(res))
"""


@pytest.mark.timeout(150)
def test_processes_of_multiprocessing_that_use_the_default_pool_exit_and_get_answers():
    """A multiprocessing child ends without atexit, joining its children: the default pool's
    workers must be stopped before (they were waited for forever; then, stopped after the
    executors' queues closed, killed after the grace). A multiprocessing.Pool worker may not
    have children: its maps run serially, with a warning, as joblib's do there."""
    code, out, err = faultlib.run_child(CHILDREN, timeout=140)
    total = sum(range(10_000))
    assert code == 0, err[-3000:]
    assert out == dict(process_exited=True, process_exit_before_kill=True,
                       executor_result=total, executor_shutdown_before_kill=True,
                       daemonic_result=total, daemonic_warned=True), out
