"""cpus: how many CPUs this process may really use, and how many BLAS threads each worker
gets. Layer: leaves.

``os.cpu_count()`` counts the machine; a container or ``taskset`` gives less. We take the minimum
of the affinity mask and the cgroup CPU quota, as loky does, so ``workers=None`` never
oversubscribes.
"""

from __future__ import annotations

import math
import os
from functools import cache, lru_cache


@cache
def cgroup_mounts(controller: str) -> tuple[tuple[str, str, str], ...]:
    """(kind, root, mount point) of the cgroup hierarchies that hold ``controller``: "v2" (the
    unified one holds every controller) and "v1" (the one mounted with it), from
    ``/proc/self/mountinfo``."""
    try:
        with open("/proc/self/mountinfo") as f:
            lines = f.read().splitlines()
    except OSError:
        return ()
    found = []
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, kinds = left.split(), right.split()
        if len(fields) < 5 or len(kinds) < 3:
            continue
        if kinds[0] == "cgroup2":
            found.append(("v2", fields[3], fields[4]))
        elif kinds[0] == "cgroup" and controller in kinds[2].split(","):
            found.append(("v1", fields[3], fields[4]))
    return tuple(found)


def cgroup_folders(controller: str, pid: int | str = "self") -> list[tuple[str, str, str]]:
    """(kind, folder, mount point) of each cgroup of process ``pid`` that ``controller``
    governs: where ``/proc/<pid>/cgroup`` places it in each mounted hierarchy."""
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        kind = "v2" if controllers == "" else "v1" if controller in controllers.split(",") \
            else ""
        for mount_kind, root, point in cgroup_mounts(controller):
            if mount_kind == kind:
                rel = os.path.relpath(path, root) if path.startswith(root) else path.lstrip("/")
                found.append((kind, os.path.normpath(os.path.join(point, rel)), point))
    return found


@lru_cache(maxsize=1)
def cgroup_quota() -> float | None:
    """The tightest CPU quota of this process's cgroups and their parents, from cgroup v2
    (``cpu.max``) or v1 (``cpu.cfs_quota_us``), None when unlimited; read once (a container's
    quota is fixed at its start). A nested cgroup (a systemd slice, a job scheduler's) holds
    its quota in its own folder, not at the hierarchy's root."""
    quotas = []
    for kind, folder, point in cgroup_folders("cpu"):
        while True:  # the cgroup, then each parent up to the hierarchy's mount point
            quota = _quota_in(kind, folder)
            if quota is not None:
                quotas.append(quota)
            if os.path.normpath(folder) == os.path.normpath(point) or len(folder) <= 1:
                break
            folder = os.path.dirname(folder)
    return min(quotas) if quotas else None


def _quota_in(kind: str, folder: str) -> float | None:
    """CPUs the quota in one cgroup folder allows, None when it sets none."""
    try:
        if kind == "v2":
            with open(os.path.join(folder, "cpu.max")) as f:
                quota, period = f.read().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        with open(os.path.join(folder, "cpu.cfs_quota_us")) as f:
            quota_us = int(f.read())
        with open(os.path.join(folder, "cpu.cfs_period_us")) as f:
            period_us = int(f.read())
        return quota_us / period_us if quota_us > 0 and period_us > 0 else None
    except (OSError, ValueError):
        return None


def available_cpus() -> int:
    """CPUs this process may use: affinity mask and cgroup quota, at least 1. The mask is read
    at every call (a microsecond): ``os.sched_setaffinity`` after the first map counts."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    quota = cgroup_quota()
    if quota is not None:
        count = min(count, max(1, math.ceil(quota)))
    return max(1, count)


def threads_per_worker(workers: int) -> int:
    """BLAS/OpenMP threads each worker may run so that workers × threads ≤ CPUs."""
    return max(1, available_cpus() // max(1, workers))
