"""What differs between the supported Pythons: shared-memory tracking.

Python 3.13 has ``SharedMemory(track=False)``; on 3.11 and 3.12 attaching through
``multiprocessing.shared_memory`` registers the segment with the resource tracker, which then
unlinks it (with a "leaked shared_memory" warning) when a worker exits, under the owner's feet.
Workers here attach without any tracker on every version; these tests check that a worker's exit
never removes a segment and that no tracker warns, whatever the Python.
"""

from __future__ import annotations

import inspect
import sys
from multiprocessing import shared_memory

import pytest

CHILD = """
import os
import numpy as np
import parallel_analysis as par
x = np.arange(2**17, dtype=np.float64)
handle = par.share(x)
name = handle.segment_name
for method in ("forkserver", "spawn"):
    with par.Pool(2, "process", start_method=method) as pool:
        assert pool.map_reduce(None, handle, par.reducers.Sum(), n=4) == x.sum()
        assert pool.map_reduce(None, x, par.reducers.Sum(), n=4) == x.sum()
    # the pool's workers have exited: the segment must still be there, intact
    assert os.path.exists("/dev/shm/" + name), "a worker's exit removed the segment"
    assert np.array_equal(handle.value, x)
handle.close()
assert not os.path.exists("/dev/shm/" + name)
print("ok")
"""


def test_worker_exit_never_unlinks_and_no_tracker_warns():
    import subprocess

    proc = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("ok")
    assert "leaked" not in proc.stderr and "resource_tracker" not in proc.stderr, proc.stderr


@pytest.mark.skipif(sys.version_info < (3, 13), reason="track= exists from Python 3.13")
def test_track_false_exists_on_313():
    assert "track" in inspect.signature(shared_memory.SharedMemory).parameters


def test_supported_python():
    assert sys.version_info >= (3, 11)
