"""backends.oom: was a dead worker killed for memory? Layer: backends (imports cpus and
errors).

A SIGKILL that nobody sent on purpose is most often the kernel's out-of-memory killer: the
machine ran out of memory, or the container's memory limit (a cgroup) was reached. The kernel
counts those kills, per cgroup (``oom_kill`` in ``memory.events`` under cgroup v2, in
``memory.oom_control`` under v1) and for the whole machine (``oom_kill`` in ``/proc/vmstat``).
A :class:`MemoryWatch` reads the counters of each worker's cgroups when the worker starts;
:meth:`MemoryWatch.explain` reads them again once it died, and adds the worker's last RSS
reading (its watchdog writes it on the board) to the message.
"""

from __future__ import annotations

import os
import signal

from ..cpus import cgroup_folders
from ..errors import format_bytes

VMSTAT = "/proc/vmstat"


def read_counter(path: str, key: str = "oom_kill") -> int | None:
    """The ``key N`` line of a kernel counters file (None: no such file or line)."""
    try:
        with open(path) as f:
            for line in f:
                name, _, value = line.partition(" ")
                if name == key:
                    return int(value)
    except (OSError, ValueError):
        pass
    return None


def counter_files(pid: int) -> list[str]:
    """The files counting OOM kills in the cgroups of process ``pid`` (those that exist)."""
    files = []
    for kind, folder, _ in cgroup_folders("memory", pid):
        name = os.path.join(folder, "memory.events" if kind == "v2" else "memory.oom_control")
        if os.path.exists(name):
            files.append(name)
    return files


class MemoryWatch:
    """OOM-kill counters of a pool's workers, read when each started, compared when one dies."""

    def __init__(self) -> None:
        self.files: dict[int, list[str]] = {}
        self.baseline: dict[str, int] = {}
        self.machine = read_counter(VMSTAT)

    def watch(self, pid: int) -> None:
        """Read the counters of a new worker's cgroups (a few small files)."""
        files = self.files[pid] = counter_files(pid)
        for path in files:
            if path not in self.baseline:
                self.baseline[path] = read_counter(path) or 0

    def explain(self, pid: int, exitcode: int | None, rss: int = 0) -> str:
        """Words to add to "killed by SIGKILL" when the kernel's OOM killer may have done it."""
        if exitcode != -signal.SIGKILL:
            return ""
        size = f"its last RSS reading was {format_bytes(rss)}" if rss else ""
        rose = [p for p in self.files.get(pid, ())
                if (read_counter(p) or 0) > self.baseline.get(p, 0)]
        if rose:
            text = (f"; the container's memory limit was reached (oom_kill count rose in "
                    f"{rose[0]})")
            return text + (f"; {size}" if size else "")
        machine = read_counter(VMSTAT)
        if self.machine is not None and machine is not None and machine > self.machine:
            text = ("; the kernel's out-of-memory killer ran meanwhile (oom_kill rose in "
                    f"{VMSTAT}): the worker most likely ran out of memory")
        else:
            text = ("; SIGKILL is often the kernel's out-of-memory killer or a container's "
                    "memory limit")
        return text + (f" ({size})" if size else "")
