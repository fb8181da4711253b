"""A worker killed for memory: WorkerCrashedError says so.

With a real cgroup memory limit (cgroup v1's memory hierarchy, or v2 with its memory controller
delegated; needs root), the kernel OOM-kills a worker and the message says the container's
limit was reached (its ``oom_kill`` count rose). Everywhere, a worker that grows and is then
SIGKILLed gets a hint that SIGKILL is often the OOM killer, with its last RSS reading.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets

import faultlib
import numpy as np
import pytest

from parallel_analysis.errors import WorkerCrashedError

MiB = 2**20


@pytest.mark.timeout(60)
def test_a_sigkilled_worker_gets_a_memory_hint_with_its_rss(fpool):
    with pytest.raises(WorkerCrashedError) as info:
        fpool.map_chunks(faultlib.eat_memory, np.arange(4), n=4, args=(160, True))
    message = str(info.value)
    assert info.value.chunk == 1 and info.value.exitcode == -9, message
    assert "SIGKILL" in message and "out-of-memory" in message, message
    rss = re.search(r"last RSS reading was ([\d.]+) MiB", message)
    assert rss and float(rss.group(1)) >= 150, message  # 160 MiB touched, plus the interpreter
    assert fpool.map_chunks(faultlib.eat_memory, np.arange(4), n=4, args=(0,)) == [0, 0, 2, 3]
    faultlib.assert_no_leaks()


def _memory_cgroup() -> tuple[str, str]:
    """(folder of this process's memory cgroup, the limit file's name), or skip."""
    if os.geteuid() != 0:
        pytest.skip("making a cgroup with a memory limit needs root")
    with open("/proc/self/cgroup") as f:
        lines = [line.strip().split(":", 2) for line in f]
    for _, controllers, path in lines:
        if "memory" in controllers.split(","):
            folder = "/sys/fs/cgroup/memory" + path
            if os.path.exists(os.path.join(folder, "memory.limit_in_bytes")):
                return folder, "memory.limit_in_bytes"
    for _, controllers, path in lines:
        if controllers == "":
            folder = "/sys/fs/cgroup" + path
            with contextlib.suppress(OSError), open(f"{folder}/cgroup.subtree_control") as f:
                if "memory" in f.read().split():
                    return folder, "memory.max"
    pytest.skip("no cgroup memory controller to use here (cgroup v2 without memory, no v1)")


@contextlib.contextmanager
def limited_cgroup(limit: int):
    """A new child cgroup of ours with a memory limit; yields its cgroup.procs."""
    parent, limit_file = _memory_cgroup()
    folder = os.path.join(parent, f"par-test-{secrets.token_hex(4)}")
    try:
        os.mkdir(folder)
        with open(os.path.join(folder, limit_file), "w") as f:
            f.write(str(limit))
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.rmdir(folder)
        pytest.skip(f"cannot make a memory-limited cgroup here: {exc}")
    try:
        yield os.path.join(folder, "cgroup.procs")
    finally:
        assert faultlib.wait_until(lambda: _empty(folder), 10.0), "processes left in the cgroup"
        os.rmdir(folder)


def _empty(folder: str) -> bool:
    with open(os.path.join(folder, "cgroup.procs")) as f:
        return not f.read().strip()


OOM_CHILD = """
import json
import numpy as np
import faultlib, parallel_analysis as par
from parallel_analysis.errors import WorkerCrashedError
faultlib.register_by_value()
with par.Pool(2, "process", start_method={method!r}) as pool:
    try:
        pool.map_chunks(faultlib.eat_memory, np.arange(4), n=4, args=(1024,))
        out = dict(error=None)
    except WorkerCrashedError as exc:
        out = dict(error=str(exc), chunk=exc.chunk, exitcode=exc.exitcode)
    out["again"] = pool.map_chunks(faultlib.eat_memory, np.arange(4), n=4, args=(0,))
print(json.dumps(out))
"""


@pytest.mark.timeout(90)
def test_a_cgroup_memory_limit_is_named(start_method):
    """The caller runs in a cgroup limited to 300 MiB; chunk 1 touches 1 GiB."""
    with limited_cgroup(300 * MiB) as procs:
        def enter():
            faultlib._default_sigint()
            with open(procs, "w") as f:
                f.write(str(os.getpid()))

        proc = faultlib.subprocess.Popen(
            [faultlib.sys.executable, "-c", OOM_CHILD.format(method=start_method)],
            stdout=faultlib.subprocess.PIPE, stderr=faultlib.subprocess.PIPE, text=True,
            preexec_fn=enter, cwd=os.path.dirname(os.path.abspath(faultlib.__file__)),
            env=dict(os.environ, PYTHONUNBUFFERED="1"))
        out, err = proc.communicate(timeout=80)
    info = faultlib.last_json(out)
    assert proc.returncode == 0 and info, err[-3000:]
    assert info["error"], info
    assert info["chunk"] == 1 and info["exitcode"] == -9, info
    assert "killed by SIGKILL" in info["error"], info
    assert "the container's memory limit was reached (oom_kill count rose" in info["error"], info
    assert info["again"] == [0, 0, 2, 3]
    print(info["error"])
