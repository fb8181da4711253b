"""backends: where chunks run. One small interface, one module per implementation, and this
registry: the only place that knows backends by name. Layer: backends.

=========  ==================================  ============================================
backend    runs chunks                         data reaches the chunk by
=========  ==================================  ============================================
serial     in the calling thread               a view of the caller's data
thread     on a ThreadPoolExecutor             a view of the caller's data
process    on a ProcessPoolExecutor            shared memory (Arrow buffers for frames)
dask       on a dask.distributed cluster       scatter, once per call
=========  ==================================  ============================================

``"auto"`` is not a backend but a choice between thread and process per map
(:mod:`parallel_analysis.auto`). The interface is :class:`~.base.Backend`; a new backend is a
module here with a subclass of it, and a line in :data:`FACTORIES`.
"""

from __future__ import annotations

import multiprocessing
import warnings
from collections.abc import Callable
from typing import Any

from ..cpus import available_cpus
from .base import Backend, Delivery, Output, Placement
from .dask import DaskBackend
from .process import ProcessBackend
from .serial import SerialBackend
from .thread import ThreadBackend

#: The choice between thread and process made per map by a probe.
AUTO = "auto"


def _process(workers: int | None, options: dict) -> Backend:
    if multiprocessing.current_process().daemon:
        # A multiprocessing.Pool's worker may not start processes ("daemonic processes are not
        # allowed to have children"): run its maps serially, as joblib does there.
        warnings.warn("a map inside a daemonic process (a multiprocessing.Pool worker) cannot "
                      "start worker processes: it runs serially in this process; give the "
                      "outer pool's work to par instead, or use backend='thread'",
                      RuntimeWarning, stacklevel=2)
        return SerialBackend(1)
    return ProcessBackend(workers or available_cpus(), start_method=options.get("start_method"))


def _dask(workers: int | None, options: dict) -> Backend:
    return DaskBackend(workers, **{k: v for k, v in options.items() if k != "start_method"})


#: name → factory(workers or None, pool options) → Backend.
FACTORIES: dict[str, Callable[[int | None, dict], Backend]] = {
    "serial": lambda workers, options: SerialBackend(1),
    "thread": lambda workers, options: ThreadBackend(workers or available_cpus()),
    "process": _process,
    "dask": _dask,
}

#: Every name a pool accepts, in the order error messages list them.
NAMES = ("serial", "thread", "process", AUTO, "dask")


def check_name(name: Any) -> str:
    """``name`` if a pool accepts it; a clear error otherwise."""
    if name not in NAMES:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(map(repr, NAMES))}")
    return name


def make_backend(name: str, workers: int | None = None, **options: Any) -> Backend:
    """Build the backend called ``name``; ``workers=None``: every usable CPU (dask: the
    cluster's own size, or a LocalCluster sized to the CPUs)."""
    if name not in FACTORIES:
        raise ValueError(f"{check_name(name)!r} is a choice between backends, not a backend")
    return FACTORIES[name](workers, options)


def planned_workers(name: str, workers: int | None) -> int:
    """The workers a pool of ``name`` has before its backend is built (0: the cluster decides)."""
    if workers is not None:
        return workers
    return {"serial": 1, "dask": 0}.get(name, available_cpus())


__all__ = ["AUTO", "Backend", "Delivery", "FACTORIES", "NAMES", "Output", "Placement",
           "check_name", "make_backend", "planned_workers"]
