"""Faults of the surroundings: handles collected or shared across pools, nested maps, a worker
killed while it maps a segment, reducers that fail in the caller, a fork of the caller,
/dev/shm too small (a private tmpfs in a mount namespace), and memory pressure."""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import threading

import faultlib
import numpy as np
import pytest

import parallel_analysis as par
from parallel_analysis.errors import WorkerCrashedError

SUM = par.reducers.Sum


# -- handles, pools and segments ------------------------------------------------------------------

@pytest.mark.timeout(60)
def test_gc_of_handle_while_map_runs(fpool):
    """A handle collected mid-map (only a view of it is passed) must not break the map."""
    x = np.arange(2**18, dtype=np.float64)
    handle = par.share(x)
    view = handle.value
    name = handle.segment_name
    result: dict = {}

    def run(data):
        try:
            result["value"] = fpool.map_reduce(faultlib.slow_sum, data, SUM(), n=8,
                                               args=(0.15,))
        except BaseException as exc:  # reported below
            result["error"] = exc

    thread = threading.Thread(target=run, args=(view,))
    thread.start()
    assert faultlib.wait_until(lambda: par.last_run() is not None, 5)
    del handle
    gc.collect()
    thread.join(30)
    assert "error" not in result, repr(result.get("error"))
    assert result["value"] == x.sum()
    del view
    gc.collect()
    assert faultlib.wait_until(lambda: name not in faultlib.my_segments(), 3)


def test_gc_of_unrelated_handles_while_map_runs(fpool):
    x = np.arange(2**17, dtype=np.float64)
    keep = par.share(x)
    for _ in range(5):
        par.share(x)  # collected at once: finalizers unlink while other maps run
        assert fpool.map_reduce(None, keep, SUM(), n=4) == x.sum()
    gc.collect()
    keep.close()


def kill_on_first_chunk(chunk):
    if chunk[0] == 0:
        os.kill(os.getpid(), 9)
    return float(chunk.sum())


@pytest.mark.timeout(60)
def test_worker_killed_while_it_maps_a_segment(fpool):
    """The segment belongs to the caller: a worker's death neither removes nor corrupts it."""
    x = np.arange(2**17, dtype=np.float64)
    with par.share(x) as handle:
        assert fpool.map_reduce(None, handle, SUM(), n=4) == x.sum()  # workers attach (cached)
        with pytest.raises(WorkerCrashedError) as info:
            fpool.map_chunks(kill_on_first_chunk, handle, n=4)
        assert info.value.chunk == 0 and info.value.exitcode == -9
        assert handle.segment_name in faultlib.my_segments()
        np.testing.assert_array_equal(handle.value, x)
        assert fpool.map_reduce(None, handle, SUM(), n=4) == x.sum()
    faultlib.assert_no_leaks()


def nested_sum(chunk):
    inner = par.map_reduce(None, chunk, SUM(), backend="process", n=4)
    with par.Pool(2, "process") as pool:  # a pool inside a worker runs serially too
        again = pool.map_reduce(None, chunk, SUM(), n=2)
    assert inner == again
    return float(inner)


@pytest.mark.timeout(60)
def test_nested_maps_run_serially(fpool):
    x = np.arange(1000, dtype=np.float64)
    assert sum(fpool.map_chunks(nested_sum, x, n=4)) == x.sum()


@pytest.mark.timeout(60)
def test_nested_maps_on_threads():
    x = np.arange(1000, dtype=np.float64)
    with par.Pool(2, "thread") as pool:
        assert sum(pool.map_chunks(nested_sum, x, n=4)) == x.sum()


@pytest.mark.timeout(60)
def test_two_pools_and_many_handles(fault_pools):
    forkserver, spawn = fault_pools["forkserver"], fault_pools["spawn"]
    arrays = [np.full(2**15 + i, i, dtype=np.float64) for i in range(20)]
    handles = [par.share(a) for a in arrays]
    assert len(faultlib.my_segments()) >= 20
    for i, (a, h) in enumerate(zip(arrays, handles)):
        pool = forkserver if i % 2 else spawn
        assert pool.map_reduce(None, h, SUM(), n=3) == a.sum()
    for h in handles[::2]:
        h.close()
    for a, h in zip(arrays[1::2], handles[1::2]):
        assert spawn.map_reduce(None, h, SUM(), n=2) == forkserver.map_reduce(None, h, SUM()) \
            == a.sum()
    for h in handles:
        h.close()
    faultlib.assert_no_leaks()


class FailingReducer(par.reducers.Sum):
    def __init__(self, where):
        super().__init__()
        self.where = where

    def combine(self, a, b):
        if self.where == "combine":
            raise ArithmeticError("combine failed")
        return a + b

    def finalize(self, state):
        if self.where == "finalize":
            raise LookupError("finalize failed")
        return state


@pytest.mark.parametrize(("where", "error"), [("combine", ArithmeticError),
                                              ("finalize", LookupError)])
def test_reducer_fails_in_caller(fpool, where, error):
    x = np.arange(2**16, dtype=np.float64)  # 512 KiB: a transient segment
    with pytest.raises(error):
        fpool.map_reduce(None, x, FailingReducer(where), n=8)
    with pytest.raises(error), par.share(x) as handle:
        fpool.map_reduce(None, handle, FailingReducer(where), n=8)
    with pytest.raises(ZeroDivisionError):
        fpool.map_reduce(None, x, lambda a, b: 1 / 0, n=4)  # a binary callable
    assert fpool.map_reduce(None, x, SUM(), n=8) == x.sum()
    faultlib.assert_no_leaks()


FORK = """
import json, os, sys
import numpy as np
import faultlib, parallel_analysis as par
pool = par.Pool(2, "process")
x = np.arange(2**17, dtype=np.float64)
handle = par.share(x)
assert pool.map_reduce(None, handle, par.reducers.Sum(), n=4) == x.sum()
pid = os.fork()
if pid == 0:  # the child uses par (its own default pool) and exits normally (atexit runs)
    ok = par.map_reduce(None, handle.value, par.reducers.Sum(), n=4) == x.sum()
    try:
        pool.map_reduce(None, x, par.reducers.Sum())
        parent_pool = "usable"
    except RuntimeError as exc:
        parent_pool = "refused: " + str(exc)[:40]
    print(json.dumps(dict(child_ok=bool(ok), parent_pool=parent_pool)), flush=True)
    sys.exit(0)
_, status = os.waitpid(pid, 0)
after = dict(child_status=status, segment_kept=handle.segment_name in faultlib.my_segments(),
             same=bool(np.array_equal(handle.value, x)),
             pool_ok=bool(pool.map_reduce(None, handle, par.reducers.Sum(), n=4) == x.sum()))
handle.close()
pool.close()
after["left"] = sorted(faultlib.my_segments())
print(json.dumps(after))
"""


@pytest.mark.timeout(60)
def test_fork_of_the_caller_while_a_pool_is_alive():
    proc = faultlib.start_child(FORK)
    out, err = proc.communicate(timeout=50)
    lines = [faultlib.last_json(line) for line in out.splitlines() if line.startswith("{")]
    assert proc.returncode == 0 and len(lines) == 2, (out, err[-3000:])
    child, parent = lines
    assert child["child_ok"], child
    assert child["parent_pool"].startswith("refused"), child
    assert parent == dict(child_status=0, segment_kept=True, same=True, pool_ok=True, left=[])
    assert "Error" not in err, err[-3000:]


# -- /dev/shm too small -----------------------------------------------------------------------

def _can_unshare() -> bool:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c",
                            "mount -t tmpfs -o size=1m tmpfs /dev/shm"], capture_output=True)
    return probe.returncode == 0


needs_mount_ns = pytest.mark.skipif(
    not _can_unshare(), reason="needs root and unshare -m to mount a private tmpfs")

TINY_SHM = """
import errno, json, os, sys, tempfile, warnings
import numpy as np
import faultlib, parallel_analysis as par
from parallel_analysis.errors import SharedMemoryError, SharedMemoryFallbackWarning

def fallbacks(w):
    return sum(issubclass(i.category, SharedMemoryFallbackWarning) for i in w)

res = dict(shm_free=os.statvfs("/dev/shm").f_bavail * os.statvfs("/dev/shm").f_frsize)
x = np.arange(4 * 2**20, dtype=np.float64)  # 32 MiB, twice the size of /dev/shm
with par.Pool(2, "process", start_method={method!r}) as pool:
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        try:
            handle = par.share(x)
            res["share"] = "ok"
        except SharedMemoryError as exc:
            handle = None
            res["share"] = dict(errno=exc.errno, msg=str(exc))
    res["share_warnings"] = fallbacks(w)
    if handle is not None:
        res["path"] = handle.meta.ref.path
        res["handle_sum"] = bool(pool.map_reduce(None, handle, par.reducers.Sum()) == x.sum())
        handle.close()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        try:
            res["map_sum"] = bool(pool.map_reduce(None, x, par.reducers.Sum(), n=8) == x.sum())
            res["map_array"] = bool(np.array_equal(pool.map_array(lambda c: c * 2, x), x * 2))
        except SharedMemoryError as exc:
            res["map_error"] = dict(errno=exc.errno, msg=str(exc))
    res["map_warnings"] = fallbacks(w)
    small = np.arange(2**16, dtype=np.float64)  # 512 KiB fits in /dev/shm
    with par.share(small) as h:
        res["small_in_shm"] = h.meta.ref.path is None
        res["small_sum"] = bool(pool.map_reduce(None, h, par.reducers.Sum()) == small.sum())
res["left_shm"] = [n for n in os.listdir("/dev/shm") if n.startswith("par_")]
res["left_tmp"] = [n for n in os.listdir(tempfile.gettempdir()) if n.startswith("par_")]
print(json.dumps(res))
"""


def _run_in_mount_ns(code: str, tmp_path, tmpdir_size: str | None, fill_mb: int = 0):
    script = tmp_path / "child.py"
    script.write_text(code)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    mounts = "mount -t tmpfs -o size=16m tmpfs /dev/shm"
    if tmpdir_size:
        mounts += f" && mount -t tmpfs -o size={tmpdir_size} tmpfs {tmpdir}"
    if fill_mb:
        mounts += f" && head -c {fill_mb}M /dev/zero > /dev/shm/filler"
    import sys

    cmd = ["unshare", "-m", "sh", "-c", f'{mounts} && exec "$0" "$1"', sys.executable,
           str(script)]
    path = os.pathsep.join(filter(None, [os.path.dirname(faultlib.__file__),
                                         os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, TMPDIR=str(tmpdir), PYTHONPATH=path)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=90,
                          preexec_fn=faultlib._default_sigint)
    assert proc.returncode == 0, f"exit {proc.returncode} (-7 is SIGBUS): {proc.stderr[-3000:]}"
    return faultlib.last_json(proc.stdout)


@needs_mount_ns
@pytest.mark.timeout(120)
def test_small_dev_shm_falls_back_to_a_file(tmp_path, start_method):
    res = _run_in_mount_ns(TINY_SHM.format(method=start_method), tmp_path, None)
    assert res["share"] == "ok", res
    assert res["share_warnings"] == 1, res
    assert res["path"] and res["path"].startswith(str(tmp_path)), res
    assert res["handle_sum"] and res["map_sum"] and res["map_array"], res
    assert res["map_warnings"] >= 1, res
    assert res["small_in_shm"] and res["small_sum"], res
    assert res["left_shm"] == [] and res["left_tmp"] == [], res


@needs_mount_ns
@pytest.mark.timeout(120)
def test_no_room_anywhere_is_a_clear_error(tmp_path):
    res = _run_in_mount_ns(TINY_SHM.format(method="forkserver"), tmp_path, "8m")
    share = res["share"]
    assert isinstance(share, dict), res
    assert share["errno"] == 28, share  # ENOSPC
    assert "32.0 MiB needed" in share["msg"] and "free in /dev/shm" in share["msg"], share
    assert "MiB free in" in share["msg"], share
    assert res["share_warnings"] == 0
    assert res["map_error"]["errno"] == 28, res
    assert res["small_in_shm"] and res["small_sum"], res
    assert res["left_shm"] == [] and res["left_tmp"] == [], res


@needs_mount_ns
@pytest.mark.timeout(120)
def test_nearly_full_dev_shm_never_sigbus(tmp_path):
    """12 of 16 MiB used: an 8 MiB share must go elsewhere, not fault half-way through."""
    code = TINY_SHM.format(method="forkserver").replace("4 * 2**20", "2**20")
    res = _run_in_mount_ns(code, tmp_path, None, fill_mb=12)
    assert res["shm_free"] < 8 * 2**20
    assert res["share"] == "ok" and res["share_warnings"] == 1, res
    assert res["handle_sum"] and res["map_sum"] and res["map_array"], res
    assert res["left_shm"] == [] and res["left_tmp"] == [], res


# -- memory pressure ------------------------------------------------------------------------------

def private_bytes(chunk=None):
    """This process's private memory (USS): what a copy of the data would add to."""
    total = 0
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1]) * 1024
    if chunk is not None:
        chunk.sum()  # touch every page of the chunk
    return total


@pytest.mark.timeout(60)
def test_workers_do_not_copy_the_data(fpool):
    x = np.ones(16 * 2**20, dtype=np.float64)  # 128 MiB
    small = np.ones(2**15)
    base = max(fpool.map_chunks(private_bytes, small, n=4))
    with par.share(x) as handle:
        during = max(fpool.map_chunks(private_bytes, handle, n=4))
    direct = max(fpool.map_chunks(private_bytes, x, n=4))  # the map's own transient copy
    print(f"worker USS: {base / 2**20:.0f} MiB idle, {during / 2**20:.0f} MiB over a shared "
          f"128 MiB array, {direct / 2**20:.0f} MiB over a plain one")
    assert during - base < 16 * 2**20
    assert direct - base < 16 * 2**20


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["forkserver", "spawn", "thread"])
def test_close_pool_while_a_map_runs(kind, tmp_path):
    """Closing a pool under a running map ends that map with an error; it never hangs."""
    from concurrent.futures import CancelledError

    x = np.arange(40, dtype=np.int64)
    pool = (par.Pool(2, "thread") if kind == "thread"
            else par.Pool(2, "process", start_method=kind))
    pool.map_reduce(None, x, SUM(), n=4)  # workers up
    result: dict = {}

    def run():
        try:
            result["value"] = pool.map_chunks(faultlib.mark_and_sleep, x, n=40,
                                              args=(str(tmp_path), 0.2))
        except BaseException as exc:  # checked below
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)  # daemon: a hung map must not hang pytest
    thread.start()
    assert faultlib.wait_until(lambda: any(tmp_path.iterdir()), 10)  # chunks run, most pending
    pool.close()
    thread.join(5)
    assert not thread.is_alive(), "the map hung after its pool was closed"
    if "error" in result:
        assert isinstance(result["error"], CancelledError), repr(result["error"])
        assert "closed" in str(result["error"])
    else:
        assert result["value"] == list(x)
    faultlib.assert_no_leaks()


IDLE_ARENA = """
import json, os, warnings
import numpy as np
import parallel_analysis as par
from parallel_analysis.errors import SharedMemoryFallbackWarning
res = {}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    with par.Pool(2, "process") as pool:
        for i in range(10):  # maps over 1.0, 1.1, ... 1.9 MiB arrays: each one's own copy
            x = np.ones((2**20 + i * 2**17) // 8)
            assert pool.map_reduce(None, x, par.reducers.Sum(), n=2) == x.size
        with par.share(np.ones(2**20)) as handle:  # 8 MiB: /dev/shm holds no live data now
            res["in_shm"] = handle.meta.ref.path is None
            res["sum"] = bool(pool.map_reduce(None, handle, par.reducers.Sum()) == 2**20)
res["fallbacks"] = [str(w.message)[:80] for w in caught
                    if issubclass(w.category, SharedMemoryFallbackWarning)]
print(json.dumps(res))
"""


@needs_mount_ns
@pytest.mark.timeout(120)
def test_idle_arena_does_not_crowd_out_shares(tmp_path):
    """Released map copies kept for reuse must not push new data out of a small /dev/shm."""
    res = _run_in_mount_ns(IDLE_ARENA, tmp_path, None)
    assert res["sum"], res
    assert res["fallbacks"] == [] and res["in_shm"], res
