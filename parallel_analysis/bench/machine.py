"""What the figures were measured on: the machine section of a report.
Layer: faces (bench.machine; imports the package and its own modules).

Kept in pytest-benchmark's ``machine_info`` shape (``node``, ``processor``, ``python_version``,
``cpu`` ...) plus our own keys, so that results read by either tool say where they came from.
"""

from __future__ import annotations

import os
import platform
import sys
from typing import Any

from ..backends.spawning import default_start_method
from ..cpus import available_cpus
from ..segment import SHM_DIR, free_bytes


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(module: str) -> str:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:  # not installed
        return "not installed"


def _blas() -> list[dict[str, Any]]:
    try:
        from threadpoolctl import threadpool_info

        return [{k: v for k, v in lib.items() if k in ("internal_api", "version", "num_threads",
                                                         "threading_layer", "architecture")}
                for lib in threadpool_info()]
    except Exception:  # threadpoolctl is optional here
        return []


def machine_info() -> dict[str, Any]:
    """CPUs usable, model, memory, Python and library versions, BLAS and start method."""
    import psutil


    return {
        "node": platform.node(),
        "processor": _cpu_model(),
        "machine": platform.machine(),
        "python_implementation": platform.python_implementation(),
        "python_version": platform.python_version(),
        "python_compiler": platform.python_compiler(),
        "release": platform.release(),
        "system": platform.system(),
        "cpu": {"count": os.cpu_count(), "brand_raw": _cpu_model()},
        "cpus_usable": available_cpus(),
        "memory_total": psutil.virtual_memory().total,
        "shm_free": free_bytes(SHM_DIR),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "start_method": default_start_method(),
        "versions": {m: _version(m) for m in ("parallel_analysis", "numpy", "pandas", "pyarrow",
                                              "joblib", "mpire", "dask", "pytest-benchmark")},
        "blas": _blas(),
        "env": {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OMP_NUM_THREADS",
                                           "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
                if k in os.environ},
        "executable": sys.executable,
    }


def commit_info(folder: str | None = None) -> dict[str, Any]:
    """The git commit the figures belong to (pytest-benchmark's ``commit_info``): of the
    checkout the package runs from, wherever the benchmark was started; none when the package
    is not a checkout's own (installed from a wheel, even inside someone's repository)."""
    import subprocess
    from pathlib import Path

    package = Path(__file__).resolve().parents[1]
    folder = folder or str(package)

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True,
                                  timeout=5).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    top = git("rev-parse", "--show-toplevel")
    if not top or Path(top).resolve() / package.name != package:
        return {"id": "", "branch": "", "dirty": False, "project": "parallel_analysis"}
    return {"id": git("rev-parse", "HEAD"), "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
            "project": "parallel_analysis"}
