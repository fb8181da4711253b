"""parallel_analysis: split → share → map → reduce, on every core (and more machines).

>>> import numpy as np, parallel_analysis as par
>>> x = np.arange(1_000_000, dtype=np.int64)
>>> int(par.map_reduce(lambda c: c * 2, x, par.reducers.Sum(), backend="thread"))
999999000000

The face of the package (layer: faces): the public names, listed once in ``__all__``. The data
path, one module per arrow: :mod:`.split` (chunks as views), :mod:`.share` (shared memory
handles), :mod:`.plan`, :mod:`.map` and :mod:`.backends` (where chunks run), :mod:`.reduce` with
:mod:`.reducers` (combining partials); :mod:`.pipeline` and :mod:`.pool` put them together (the
README's "Architecture" section draws every layer). Importing the package loads numpy only;
the modules that need pandas (:mod:`.frames`, :mod:`.parquet`) load on first use of their names;
``import parallel_analysis.pandas`` (or the first DataFrame function) registers ``df.par``.
"""

from __future__ import annotations

from typing import Any

from . import errors, reducers
from .info import info  # eager (stdlib only): a lazy `info` is shadowed by its own submodule
from .insights import last_run
from .maps import (
    default_pool,
    map_array,
    map_array_async,
    map_chunks,
    map_chunks_async,
    map_overlap,
    map_overlap_async,
    map_reduce,
    map_reduce_async,
    shutdown_default_pools,
)
from .parquet_footers import from_parquet
from .pool import Pool
from .share import Shared, share, shared_array
from .shortcuts import histogram, max, mean, min, quantile, std, sum, var
from .split import split
from .windows import rolling

__version__ = "0.1.0"

#: Public names whose modules import pandas or pyarrow, served on first use by __getattr__.
_FRAMES = ("apply", "describe", "groupby_agg", "groupby_apply")

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
    "map_overlap",
    "map_overlap_async",
    "map_reduce",
    "map_reduce_async",
    "max",
    "mean",
    "min",
    "quantile",
    "reducers",
    "rolling",
    "share",
    "shared_array",
    "shutdown_default_pools",
    "split",
    "std",
    "sum",
    "var",
]


def __getattr__(name: str) -> Any:
    if name not in _FRAMES:
        raise AttributeError(f"module 'parallel_analysis' has no attribute {name!r}")
    from . import frames
    from . import pandas as _accessor  # noqa: F401  registers df.par and s.par

    value = globals()[name] = getattr(frames, name)
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
