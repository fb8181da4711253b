"""backends.oom: was a dead worker killed for memory? Layer: backends (imports errors).

A SIGKILL that nobody sent on purpose is most often the kernel's out-of-memory killer: the
machine ran out of memory, or the container's memory limit (a cgroup) was reached. The kernel
counts those kills, per cgroup (``oom_kill`` in ``memory.events`` under cgroup v2, in
``memory.oom_control`` under v1) and for the whole machine (``oom_kill`` in ``/proc/vmstat``).
A :class:`MemoryWatch` reads the counters of each worker's cgroups when the worker starts;
:meth:`MemoryWatch.explain` reads them again once it died, and adds the worker's last RSS
reading (its watchdog writes it on the board) to the message.
"""

from __future__ import annotations

import functools
import os
import signal

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


@functools.lru_cache(maxsize=1)
def _mounts() -> tuple[tuple[str, str, str], ...]:
    """(kind, root, mount point) of the cgroup hierarchies that count OOM kills: "v1" (the
    memory controller's) and "v2"."""
    found = []
    try:
        with open("/proc/self/mountinfo") as f:
            lines = f.read().splitlines()
    except OSError:
        return ()
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, kinds = left.split(), right.split()
        if len(fields) < 5 or len(kinds) < 3:
            continue
        if kinds[0] == "cgroup2":
            found.append(("v2", fields[3], fields[4]))
        elif kinds[0] == "cgroup" and "memory" in kinds[2].split(","):
            found.append(("v1", fields[3], fields[4]))
    return tuple(found)


def counter_files(pid: int) -> list[str]:
    """The files counting OOM kills in the cgroups of process ``pid`` (those that exist)."""
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    files = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        kind = "v2" if controllers == "" else "v1" if "memory" in controllers.split(",") else ""
        for mount_kind, root, point in _mounts():
            if mount_kind != kind or not kind:
                continue
            rel = os.path.relpath(path, root) if path.startswith(root) else path.lstrip("/")
            folder = os.path.normpath(os.path.join(point, rel))
            name = "memory.events" if kind == "v2" else "memory.oom_control"
            if os.path.exists(os.path.join(folder, name)):
                files.append(os.path.join(folder, name))
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
