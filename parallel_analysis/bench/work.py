"""The per-chunk work of each benchmark workload: small module-level functions.
Layer: faces (bench.work; imports the package and its own modules).

They live in their own module, importable by every worker (ours and the peers'), so that every
runner pickles them by reference and runs the very same code. Nothing here imports pandas at
module level: a numpy-only workload must not pay for it in a worker.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def collatz_steps(chunk: np.ndarray) -> int:
    """Total Collatz steps to reach 1 from every element: pure Python, holds the GIL."""
    total = 0
    for v in chunk.tolist():
        while v != 1:
            v = v // 2 if v % 2 == 0 else 3 * v + 1
            total += 1
    return total


def trig_norm(chunk: np.ndarray) -> float:
    """``sqrt(sin² + cos² + 1)`` summed: numpy ufuncs that release the GIL."""
    return float(np.sqrt(np.sin(chunk) ** 2 + np.cos(chunk) ** 2 + 1).sum())


def chunk_sum(chunk: np.ndarray) -> float:
    """Trivial per-chunk work (one pass), so a transfer benchmark times moving the data."""
    return float(chunk.sum())


def tiny(chunk: np.ndarray) -> int:
    """Almost no work: a dispatch-cost benchmark measures everything around it."""
    return int(chunk[0]) + 1


def add(a: Any, b: Any) -> Any:
    """The fold of every numeric workload (a module-level function pickles by name)."""
    return a + b


def groupby_partial(chunk: Any) -> Any:
    """Per-key count, mean and M2 of ``value``: the mergeable state of a mean/var groupby."""
    grouped = chunk.groupby("key", sort=False)["value"]
    count = grouped.count()
    mean = grouped.mean()
    m2 = grouped.var(ddof=0) * count
    return count.to_frame("n").assign(mean=mean, m2=m2)


def groupby_combine(parts: list) -> Any:
    """Merge :func:`groupby_partial` states (Chan et al.) into ``value``'s mean and var by key."""
    import pandas as pd

    stacked = pd.concat(parts)
    n = stacked.groupby(level=0)["n"].sum()
    total = (stacked["mean"] * stacked["n"]).groupby(level=0).sum()
    mean = total / n
    delta = stacked["mean"] - mean.reindex(stacked.index).to_numpy()
    m2 = (stacked["m2"] + stacked["n"] * delta**2).groupby(level=0).sum()
    var = m2 / (n - 1)
    out = pd.DataFrame({("value", "mean"): mean, ("value", "var"): var}).sort_index()
    out.index.name = "key"
    return out


def spin(steps: int) -> int:
    """A pure-Python loop of ``steps`` steps (holds the GIL): the ceiling's process unit."""
    total = 0
    for i in range(steps):
        total += i * i % 7
    return total


#: The ceiling's thread unit works on this many float64 (256 KiB: in a CPU's own cache).
CACHED_VALUES = 32_768


def cached_ufunc(steps: int) -> float:
    """``np.sin`` over a cache-sized array, about as long as :func:`spin` of ``steps``: numpy
    work that releases the GIL and does not measure memory bandwidth."""
    x = np.linspace(0.0, 1.0, CACHED_VALUES)
    out = np.empty_like(x)
    total = 0.0
    for _ in range(max(1, steps // 3_500)):
        total += float(np.sin(x, out=out).sum())
    return total
