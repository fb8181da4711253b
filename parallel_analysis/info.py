"""info: what this machine and process give a map, in one call (``par.info()``). Layer: API
(imports cpus, segment, errors and backends.spawning; starts nothing).

When a map is slower than expected the cause is usually outside the code: a container quota
smaller than the CPU count, a 64 MB ``/dev/shm``, a BLAS that starts one thread per core in every
worker, an old pyarrow. :func:`info` gathers those facts as a dict (for reports and bug
reports), :func:`format_info` as text (``parallel-analysis info``, a notebook cell).

Nothing here starts a pool or imports pandas, pyarrow or dask: versions are read from package
metadata, so asking costs milliseconds.
"""

from __future__ import annotations

import os
import platform
import sys
from typing import Any

from .backends.spawning import default_start_method
from .cpus import available_cpus, cgroup_quota, threads_per_worker
from .errors import format_bytes
from .segment import SHM_DIR

#: Libraries whose versions matter to a map; ``None`` in the result when not installed.
LIBRARIES = ("parallel_analysis", "numpy", "pandas", "pyarrow", "cloudpickle", "threadpoolctl",
             "psutil", "tqdm", "dask", "distributed")

#: /dev/shm smaller than this is a container default (64 MB) and worth a hint.
SMALL_SHM = 256 * 2**20


def _version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _cpus() -> dict[str, Any]:
    try:
        affinity: int | None = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    return {
        "usable": available_cpus(),
        "present": os.cpu_count(),
        "affinity": affinity,
        "cgroup_quota": cgroup_quota(),
    }


def _shm() -> dict[str, Any]:
    try:
        st = os.statvfs(SHM_DIR)
    except OSError:
        return {"path": SHM_DIR, "size": None, "free": None}
    return {"path": SHM_DIR, "size": st.f_blocks * st.f_frsize,
            "free": st.f_bavail * st.f_frsize}


def _blas() -> list[dict[str, Any]]:
    """The BLAS/OpenMP libraries numpy loaded, with their thread counts (threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keys = ("user_api", "internal_api", "version", "num_threads", "threading_layer",
            "filepath")
    return [{k: lib.get(k) for k in keys} for lib in threadpool_info()]


def _memory() -> dict[str, Any]:
    try:
        import psutil
    except ImportError:
        return {"total": None, "available": None}
    vm = psutil.virtual_memory()
    return {"total": vm.total, "available": vm.available}


class Info(dict):
    """The dict :func:`info` returns; prints (and shows in a notebook) as :func:`format_info`."""

    def __str__(self) -> str:
        return format_info(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(format_info(self))


def info() -> Info:
    """Facts about this process that decide how fast and how safely maps run.

    Keys: ``cpus`` (``usable`` = what ``workers=None`` gives: affinity and cgroup quota;
    ``present`` = ``os.cpu_count()``), ``threads_per_worker`` (the BLAS cap each process worker
    gets), ``start_method``, ``shm`` (``size`` and ``free`` bytes of /dev/shm), ``memory``,
    ``blas`` (one dict per loaded BLAS/OpenMP library, with ``num_threads``), ``versions``
    (``None`` for a library that is not installed), ``python``, ``platform``, ``notes``
    (hints for anything that will slow maps down).
    """
    cpus = _cpus()
    result = Info({
        "cpus": cpus,
        "threads_per_worker": threads_per_worker(cpus["usable"]),
        "start_method": default_start_method(),
        "shm": _shm(),
        "memory": _memory(),
        "blas": _blas(),
        "versions": {name: _version(name) for name in LIBRARIES},
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "executable": sys.executable,
        "platform": platform.platform(),
    })
    result["notes"] = _notes(result)
    return result


def _notes(facts: dict[str, Any]) -> list[str]:
    notes = []
    cpus, shm = facts["cpus"], facts["shm"]
    if cpus["present"] and cpus["usable"] < cpus["present"]:
        why = "a cgroup CPU quota" if cpus["cgroup_quota"] else "the CPU affinity mask"
        notes.append(f"only {cpus['usable']} of {cpus['present']} CPUs are usable here ({why}); "
                     "workers=None uses the usable ones")
    if shm["size"] is not None and shm["size"] < SMALL_SHM:
        notes.append(f"{shm['path']} is only {format_bytes(shm['size'])}: large data will go to "
                     "file-backed mappings (docker run --shm-size=2g gives more)")
    if cpus["usable"] > 1 and any((lib.get("num_threads") or 0) > cpus["usable"]
                                  for lib in facts["blas"]):
        notes.append("a BLAS library runs more threads than usable CPUs; process workers cap "
                     "it, but thread-backend maps and your own numpy calls may oversubscribe")
    return notes


def format_info(facts: dict[str, Any] | None = None) -> str:
    """:func:`info` as aligned text, one fact per line (what ``parallel-analysis info`` prints)."""
    facts = facts or info()
    cpus, shm, mem = facts["cpus"], facts["shm"], facts["memory"]
    quota = cpus["cgroup_quota"]
    cpu_line = (f"{cpus['usable']} usable of {cpus['present']} present (affinity "
                f"{cpus['affinity'] if cpus['affinity'] is not None else 'n/a'}, cgroup quota "
                f"{f'{quota:g}' if quota else 'none'})")
    blas = "; ".join(
        f"{lib.get('internal_api') or lib.get('user_api')} {lib.get('version') or ''}".strip()
        + f" ({lib.get('num_threads')} thread{'' if lib.get('num_threads') == 1 else 's'})"
        for lib in facts["blas"]
    ) or "none loaded"
    rows = [
        ("CPUs", cpu_line),
        ("BLAS threads/worker", f"{facts['threads_per_worker']} (process workers, workers=None)"),
        ("start method", facts["start_method"]),
        ("/dev/shm", f"{format_bytes(shm['free'])} free of {format_bytes(shm['size'])}"
         if shm["size"] is not None else "not available"),
        ("memory", f"{format_bytes(mem['available'])} available of {format_bytes(mem['total'])}"),
        ("BLAS", blas),
        ("python", f"{facts['python']} ({facts['executable']})"),
        ("platform", facts["platform"]),
    ]
    rows += [(name, version or "not installed") for name, version in facts["versions"].items()]
    width = max(len(key) for key, _ in rows)
    lines = [f"{key:<{width}}  {value}" for key, value in rows]
    lines += [f"note: {note}" for note in facts["notes"]]
    return "\n".join(lines)
