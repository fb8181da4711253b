"""reducers.base: what a reducer is, and the one merge of partial moments. Layer: core (imports
nothing of the package).

Each reducer has three parts, as dask's reductions do (chunk → combine → aggregate), with small
typed state::

    partial(chunk) -> state        one chunk, in the worker, next to the data
    combine(a, b) -> state         two neighbouring states, in the caller, in a fixed tree
    finalize(state) -> result      once, at the end

A new reducer is one file in this package that subclasses :class:`Reducer`, listed in
``reducers/__init__.py``. Means and variances of every reducer (``Var``, ``GroupBy``,
``Describe``) merge through :func:`merge_moments`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np


def is_pandas(x: Any) -> bool:
    """A pandas object (checked without importing pandas)."""
    return type(x).__module__.startswith("pandas")


def check_axis(axis: Any) -> Any:
    """``axis`` if a reducer supports it (None: all elements; 0: per column)."""
    if axis not in (None, 0):
        raise ValueError(
            f"axis must be None (all elements) or 0 (per column, across rows), got {axis!r}; "
            "for row-wise results use par.map_array"
        )
    return axis


class Reducer:
    """Base of mergeable reducers; subclasses define ``partial``, ``combine`` and ``finalize``."""

    #: True when ``partial`` spends its time in kernels that release the GIL (measured, not
    #: hoped): ``backend="auto"`` then runs the map on threads without probing, since a probe
    #: on small pieces sees mostly the Python glue around the kernels. False: probe.
    releases_gil: bool = False

    #: True for reducers that follow pandas' conventions (NA skipped, per column): Arrow data
    #: (a Table, an array) reaches their ``partial`` as its pandas conversion. False (Concat,
    #: binary callables, users' reducers): as it is.
    arrow_as_pandas: bool = False

    def partial(self, chunk: Any) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def combine(self, a: Any, b: Any) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def finalize(self, state: Any) -> Any:
        return state

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"


class Fold(Reducer):
    """A binary callable used as a reducer: workers return ``func(chunk)``, the caller folds."""

    def __init__(self, function):
        if not callable(function):
            raise TypeError(f"reducer must be a Reducer or a binary callable, got {function!r}")
        self.function = function

    def partial(self, chunk):
        return chunk

    def combine(self, a, b):
        return self.function(a, b)


def as_reducer(reducer: Any) -> Reducer:
    """A :class:`Reducer` as it is; a binary callable wrapped in :class:`Fold`."""
    if isinstance(reducer, Reducer):
        return reducer
    if isinstance(reducer, type) and issubclass(reducer, Reducer):
        return reducer()
    if all(hasattr(reducer, m) for m in ("partial", "combine", "finalize")):
        return reducer  # duck-typed reducer
    return Fold(reducer)


# -- moments --------------------------------------------------------------------------------------

class Moments(NamedTuple):
    """Count, mean and M2 (sum of squared deviations from the mean) of some values.

    ``lo`` carries the low part of the mean (the mean is ``mean + lo`` exactly), so merged means
    keep their digits on data with a large offset (1e9 + noise); 0 where not tracked.
    """

    n: Any
    mean: Any
    m2: Any
    lo: Any = 0.0


def two_sum(a: Any, b: Any) -> tuple[Any, Any]:
    """(s, e) with s = fl(a + b) and s + e == a + b exactly (Knuth's TwoSum)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def merge_moments(parts: Moments, group: np.ndarray | None = None, groups: int = 0
                  ) -> Moments:
    """Chan et al.'s merge of partial moments stacked along axis 0, into one per group.

    ``parts`` holds k partials (arrays whose first axis has length k; further axes are merged
    elementwise, e.g. one per column). ``group`` gives each partial's group (0..groups-1); None
    merges all k into one. With N = Σnᵢ and dᵢ = mᵢ - r the deviations from a reference r (one of
    each group's partials with values): mean = r + Σnᵢdᵢ/N, M2 = ΣM2ᵢ + Σnᵢ(dᵢ - Σnⱼdⱼ/N)².
    Partials with nᵢ = 0 contribute nothing (their mean may be NaN); a group with none has
    N = 0, mean NaN and M2 0. Exact in exact arithmetic; with the reference and the two-float
    mean, no digit is lost to a large offset.
    """
    real = _real_type(parts.mean)
    n = np.asarray(parts.n, dtype=real)
    hi = np.asarray(parts.mean, dtype=real)
    lo = np.broadcast_to(np.asarray(parts.lo, dtype=real), hi.shape)
    m2 = np.asarray(parts.m2, dtype=real)
    has = n > 0
    if group is None:
        first = np.argmax(has, axis=0)  # the first partial with values (0 when none has any)
        ref_hi = np.take_along_axis(hi, first[None], 0)[0]
        ref_lo = np.take_along_axis(lo, first[None], 0)[0]
        total = _sum_axis0
        spread = _identity
    else:
        # one partial with values per group (the last: numpy assigns repeated indices in
        # order) is the reference; any would do, a sort to find the first costs more than the
        # whole merge
        ref_hi, ref_lo, where = np.zeros(groups), np.zeros(groups), group[has]
        ref_hi[where], ref_lo[where] = hi[has], lo[has]

        def total(x):
            return np.bincount(group, weights=x, minlength=groups)

        def spread(x):
            return x[group]
    with np.errstate(all="ignore"):  # empty groups and infinities, handled below
        d = np.where(has, (hi - spread(ref_hi)) + (lo - spread(ref_lo)), 0.0)
        count = total(n)
        shift = total(n * d) / count
        dev = np.where(has, d - spread(shift), 0.0)
        merged_m2 = total(np.where(has, m2, 0.0) + n * dev * dev)
        mean, mean_lo = two_sum(ref_hi, ref_lo + shift)
        # A partial with an infinite (or NaN) mean has no deviations to merge: the mean is the
        # plain weighted one (inf, -inf, or NaN for both), M2 NaN, as numpy and pandas give.
        infinite = total(np.where(has, ~np.isfinite(hi), False).astype(np.float64)) > 0
        plain = total(np.where(has, n * hi, 0.0)) / count
    empty = count == 0
    mean, mean_lo = np.where(infinite, plain, mean), np.where(infinite, 0.0, mean_lo)
    merged_m2 = np.where(infinite, np.nan, merged_m2)
    return Moments(count, np.where(empty, np.nan, mean), np.where(empty, 0.0, merged_m2),
                   np.where(empty, 0.0, mean_lo))


def _sum_axis0(x: np.ndarray) -> np.ndarray:
    return x.sum(axis=0)


def _identity(x: np.ndarray) -> np.ndarray:
    return x


def _real_type(*means: Any) -> np.dtype:
    """float64, or longdouble when a mean is one (moments of longdouble data keep its digits)."""
    return np.result_type(np.float64, *(np.asarray(m).dtype for m in means))


def combine_moments(a: Moments, b: Moments) -> Moments:
    """Two partial moments merged (Chan et al.'s pairwise update, via :func:`merge_moments`)."""
    real = _real_type(a.mean, b.mean)
    pair = [np.broadcast_arrays(*(np.asarray(x, real) for x in s)) for s in (a, b)]
    return merge_moments(Moments(*(np.stack(x) for x in zip(*pair))))
