"""parallel_analysis: split → share → map → reduce, on every core (and more machines).

>>> import numpy as np, parallel_analysis as par
>>> x = np.arange(1_000_000, dtype=np.int64)
>>> int(par.map_reduce(lambda c: c * 2, x, par.reducers.Sum(), backend="thread"))
999999000000

The data path, one module per arrow: :mod:`.split` (chunks as views), :mod:`.share` (shared
memory handles), :mod:`.map` with :mod:`.pool` and :mod:`.backends` (where chunks run),
:mod:`.reduce` with :mod:`.reducers` (combining partials). Importing the package loads numpy only;
pandas, pyarrow, dask, matplotlib and tqdm load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from . import errors, reducers
from .info import info  # eager (stdlib only): a lazy `info` is shadowed by its own submodule
from .map import last_run
from .pool import (
    Pool,
    default_pool,
    map_array,
    map_array_async,
    map_chunks,
    map_chunks_async,
    map_reduce,
    map_reduce_async,
    shutdown_default_pools,
)
from .share import Shared, share, shared_array
from .shortcuts import histogram, max, mean, min, quantile, std, sum, var
from .split import split

__version__ = "0.1.0"

#: Public names served lazily, so that importing the package never imports pandas or pyarrow.
_LAZY = {
    "apply": "parallel_analysis.frames",
    "describe": "parallel_analysis.frames",
    "groupby_agg": "parallel_analysis.frames",
    "groupby_apply": "parallel_analysis.frames",
    "from_parquet": "parallel_analysis.parquet",
}

__all__ = [
    "Pool",
    "Shared",
    "apply",
    "default_pool",
    "describe",
    "errors",
    "from_parquet",
    "groupby_agg",
    "groupby_apply",
    "histogram",
    "info",
    "last_run",
    "map_array",
    "map_array_async",
    "map_chunks",
    "map_chunks_async",
    "map_reduce",
    "map_reduce_async",
    "max",
    "mean",
    "min",
    "quantile",
    "reducers",
    "share",
    "shared_array",
    "shutdown_default_pools",
    "split",
    "std",
    "sum",
    "var",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'parallel_analysis' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
