"""The caller's multiprocessing resource tracker killed mid-session (SIGKILL).

Maps go on working; the user sees one clear warning (not a KeyError traceback per name from the
relaunched tracker); and nothing is left in /dev/shm, neither ``par_`` segments nor ``sem.mp-*``
semaphores, whether the caller then exits normally or is killed in turn (the new tracker was
told everything the caller still owned).
"""

from __future__ import annotations

import faultlib
import pytest

CHILD = """
import json, os, signal, threading, time, warnings
import numpy as np
import faultlib, parallel_analysis as par
from multiprocessing import resource_tracker
Sum = par.reducers.Sum
faultlib.register_by_value()
warnings.simplefilter("always")
x = np.arange(2**18, dtype=np.float64)  # 2 MiB: maps go through segments
pool = par.Pool(2, "process", start_method={method!r})
handle = par.share(x)
assert pool.map_reduce(None, handle, Sum(), n=4) == x.sum()
first = resource_tracker._resource_tracker._pid
ok = []
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    if {during_map!r}:  # killed while a map runs
        threading.Timer(0.3, os.kill, (first, signal.SIGKILL)).start()
        ok.append(pool.map_chunks(faultlib.slow_sum, x, n=4, args=(0.3,)) ==
                  [int(c.sum()) for c in np.array_split(x, 4)])
    else:
        os.kill(first, signal.SIGKILL)
        time.sleep(0.3)
    ok.append(pool.map_reduce(None, x, Sum(), n=4) == x.sum())
    ok.append(pool.map_reduce(None, handle, Sum(), n=4) == x.sum())
    second = par.share(2 * x)  # a segment made after the tracker died
    ok.append(pool.map_reduce(None, second, Sum(), n=4) == 2 * x.sum())
    other = par.Pool(2, "process", start_method={method!r})  # a new executor's semaphores
    ok.append(other.map_reduce(None, second, Sum(), n=4) == 2 * x.sum())
    ok.append(par.map_reduce(None, x, Sum(), workers=2) == x.sum())  # the default pool
    handle.close()  # unregistered with the new tracker: no KeyError there
    other.close()
    kept = par.share(3 * x)  # left for the exit (or the new tracker) to remove
print(json.dumps(dict(
    ok=[bool(v) for v in ok], pid=os.getpid(), first=first,
    second=resource_tracker._resource_tracker._pid,
    warnings=[[w.category.__name__, str(w.message)] for w in caught],
    segments=sorted(faultlib.my_segments()), semaphores=sorted(faultlib.semaphores_of(os.getpid())),
)))
{ending}
"""


@pytest.mark.timeout(90)
@pytest.mark.parametrize(("during_map", "ending"), [(False, "exit"), (True, "SIGKILL")],
                         ids=["between-maps-then-exit", "during-a-map-then-SIGKILL"])
def test_a_killed_resource_tracker_is_replaced_and_nothing_leaks(start_method, during_map,
                                                                 ending):
    code = CHILD.format(method=start_method, during_map=during_map,
                        ending="os.kill(os.getpid(), signal.SIGKILL)" if ending == "SIGKILL"
                        else "")
    status, info, err = faultlib.run_child(code, timeout=80)
    assert info, err[-3000:]
    assert status == (-9 if ending == "SIGKILL" else 0), err[-3000:]
    assert info["ok"] and all(info["ok"]), info
    assert info["second"] not in (None, info["first"]), "no new tracker was started"
    assert faultlib.gone([info["first"]])
    tracker_warnings = [w for w in info["warnings"] if "resource tracker" in w[1]
                        or "resource_tracker" in w[1]]
    assert [w[0] for w in tracker_warnings] == ["ResourceTrackerWarning"], info["warnings"]
    assert "KeyError" not in err and "Traceback" not in err, err[-3000:]
    assert info["segments"] and info["semaphores"], info  # it owned some when it ended
    assert faultlib.wait_until(lambda: not faultlib.my_segments(info["pid"]), 5.0), (
        f"segments left: {faultlib.my_segments(info['pid'])}")
    left = lambda: set(info["semaphores"]) & faultlib.semaphores()  # noqa: E731
    assert faultlib.wait_until(lambda: not left(), 5.0), f"semaphores left: {left()}"
    assert faultlib.wait_until(lambda: faultlib.gone([info["second"]]), 5.0)
