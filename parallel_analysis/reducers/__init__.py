"""reducers: mergeable reducers, ``partial`` in the worker, ``combine`` and ``finalize`` in the
caller. Layer: core (the package's modules import only each other).

=====================  ============================================================
module                 reducers
=====================  ============================================================
:mod:`.base`           ``Reducer``, ``Fold`` (a binary callable), ``merge_moments``
:mod:`.numeric`        ``Sum, Count, Mean, Concat``
:mod:`.moments`        ``Var, Std``
:mod:`.extremes`       ``Min, Max``
:mod:`.histogram`      ``Histogram`` (and numpy's bin-count estimators)
:mod:`.quantile`       ``Quantile``
:mod:`.groupby`        ``GroupBy`` (pandas)
:mod:`.frames`         ``ValueCounts, Describe`` (pandas)
=====================  ============================================================

The pandas reducers load on first use, so ``import parallel_analysis`` needs numpy only. A new
reducer is one new module here, listed below (in ``__getattr__`` if it imports
pandas).
"""

from __future__ import annotations

from typing import Any

from .base import Fold, Reducer, as_reducer
from .extremes import Max, Min
from .histogram import Histogram
from .moments import Std, Var
from .numeric import Concat, Count, Mean, Sum
from .quantile import Quantile

__all__ = [  # noqa: F822 - GroupBy, ValueCounts and Describe are served by __getattr__
    "Concat", "Count", "Describe", "Fold", "GroupBy", "Histogram", "Max", "Mean", "Min",
    "Quantile", "Reducer", "Std", "Sum", "ValueCounts", "Var", "as_reducer",
]


def __getattr__(name: str) -> Any:
    # The reducers whose modules import pandas, loaded on first use (pandas costs ~0.3 s).
    if name == "GroupBy":
        from .groupby import GroupBy

        return GroupBy
    if name in ("ValueCounts", "Describe"):
        from . import frames

        return getattr(frames, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
