"""cpus: how many CPUs this process may really use, and how many BLAS threads each worker
gets. Layer: leaves.

``os.cpu_count()`` counts the machine; a container or ``taskset`` gives less. We take the minimum
of the affinity mask and the cgroup CPU quota, as loky does, so ``workers=None`` never
oversubscribes.
"""

from __future__ import annotations

import math
import os
from functools import lru_cache

CGROUP_ROOT = "/sys/fs/cgroup"


@lru_cache(maxsize=1)
def cgroup_quota() -> float | None:
    """The tightest CPU quota of this process's cgroup and its parents, from cgroup v2
    (``cpu.max``) or v1 (``cpu.cfs_quota_us``), None when unlimited; read once (a container's
    quota is fixed at its start). The folders come from ``/proc/self/cgroup``: a nested cgroup
    (a systemd slice, a job scheduler's) has its quota in its own folder, not at the root."""
    quotas = [q for q in (_quota_in(kind, folder) for kind, folder in _cgroup_folders())
              if q is not None]
    return min(quotas) if quotas else None


def _cgroup_folders() -> list[tuple[str, str]]:
    """("v2" or "v1", folder) of this process's cpu cgroup and of each parent up to the root;
    the roots alone where ``/proc/self/cgroup`` cannot be read."""
    try:
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        lines = []
    found = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":
            kind, bases = "v2", [CGROUP_ROOT, os.path.join(CGROUP_ROOT, "unified")]
        elif "cpu" in controllers.split(","):
            kind, bases = "v1", [os.path.join(CGROUP_ROOT, controllers),
                                 os.path.join(CGROUP_ROOT, "cpu")]
        else:
            continue
        base = next((b for b in bases if os.path.isdir(b)), bases[0])
        parts_of_path = [p for p in path.split("/") if p]
        for depth in range(len(parts_of_path), -1, -1):
            found.append((kind, os.path.join(base, *parts_of_path[:depth])))
    return found or [("v2", CGROUP_ROOT), ("v1", os.path.join(CGROUP_ROOT, "cpu"))]


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
