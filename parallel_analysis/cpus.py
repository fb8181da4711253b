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


@lru_cache(maxsize=1)
def cgroup_quota() -> float | None:
    """CPU quota from cgroup v2 (``cpu.max``) or v1 (``cfs_quota_us``), None when unlimited;
    read once (a container's quota is fixed at its start)."""
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            return int(quota) / int(period)
        return None
    except (OSError, ValueError):
        pass
    try:
        with open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") as f:
            quota_us = int(f.read())
        with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as f:
            period_us = int(f.read())
        if quota_us > 0 and period_us > 0:
            return quota_us / period_us
    except (OSError, ValueError):
        pass
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
