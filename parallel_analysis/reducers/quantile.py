"""reducers.quantile: quantiles, approximate by default and exact on request, with numpy's and
pandas' result types. Layer: core (imports reducers.base; pandas on first use).

The last step is always numpy's or pandas' own: exact mode hands every value to
``np.quantile`` / ``Series.quantile``; the sketch selects, for each requested ``q``, the two
order statistics numpy would interpolate between (ranks ``floor(q(N - 1))`` and the next one)
and lets numpy (or pandas) interpolate between them, so its arithmetic (``a + (b - a)t`` or
``b - (b - a)(1 - t)``, NaN next to an infinity, timedelta truncation, integer overflow) and
its result dtype are theirs bit for bit whenever the two selected values are exact, which they
are whenever every chunk holds at most ``sketch_size`` values.

numpy and pandas are not consistent here, and this module follows each:

- numpy's result dtype depends on the type of ``q`` (NEP 50): a Python float keeps float16 and
  float32 data in their dtype, a list or an ``np.float64`` gives float64; integer data gives
  float64, datetimes their own dtype; complex data raises TypeError.
- ``Series.quantile`` (pandas input): a Series indexed by ``q`` for a list, a pandas scalar
  otherwise; NA skipped, NaN (or ``<NA>``) when nothing is left. Its dtype depends on whether
  the data held a missing value (float32 data gives float32 with one, float64 without) and, for
  nullable integers, on whether the answer is integral (``np.int64(3)``, else a float64; a
  list gives a Float64 Series): the state keeps one missing value when a chunk had one, so
  pandas sees what it would have seen.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .base import Reducer, is_pandas


class QuantileState(NamedTuple):
    points: Any  # values kept: an ndarray (numpy) or a Series in the input's dtype (pandas)
    weights: np.ndarray  # how many values each point stands for
    count: int
    has_nan: bool  # numpy: a NaN or NaT was seen, so the answer is NaN (NaT)
    na: Any = None  # pandas: one missing value of the input's dtype, if a chunk had one


class FrameQuantiles(NamedTuple):
    columns: list  # a QuantileState per column of a DataFrame
    template: Any  # the frame with no rows: its labels and dtypes


class Quantile(Reducer):
    """Quantile(s) ``q`` in [0, 1]; approximate by default, exact with ``exact=True``.

    Approximate mode keeps, per chunk, at most ``sketch_size`` (K) evenly ranked values of the
    sorted chunk, each weighted by the number of values it stands for. Merging is concatenation.
    **Bound:** for N values in total, the returned value's rank differs from the requested rank
    ``q * (N - 1)`` by at most ``N / K + 1``, however the data is chunked. A chunk with at most K
    values is kept whole, so small data gives numpy's (pandas') exact answer. State is K points
    per chunk. ``exact=True`` keeps all values and returns ``np.quantile``'s answer, or
    ``Series.quantile``'s for a Series (see the module docstring for both's types), by
    ``method`` (numpy's name; pandas calls it ``interpolation``; the sketch knows ``"linear"``
    only). NaN: arrays give NaN (as numpy), pandas skips it.
    """

    arrow_as_pandas = True

    def __init__(self, q: Any = 0.5, exact: bool = False, sketch_size: int = 4096,
                 method: str = "linear", blocks: list | None = None):
        q_arr = np.asarray(q, dtype=float)
        if np.any((q_arr < 0) | (q_arr > 1)) or np.any(np.isnan(q_arr)):
            raise ValueError(f"quantiles must be in the range [0, 1], got {q!r}")
        if int(sketch_size) < 2:
            raise ValueError(f"sketch_size must be at least 2, got {sketch_size}")
        if method != "linear" and not exact:
            raise ValueError(f"method={method!r} needs exact=True: the approximate quantile "
                             "interpolates linearly")
        self.q = q
        self.exact = bool(exact)
        self.sketch_size = int(sketch_size)
        self.method = method
        self.blocks = blocks  # a frame's column positions per block (its dtypes follow them)

    def partial(self, chunk) -> QuantileState | FrameQuantiles:
        if is_pandas(chunk):
            if chunk.ndim == 1:
                return self._series(chunk)
            return FrameQuantiles([self._series(chunk.iloc[:, i]) for i in range(chunk.shape[1])],
                                  chunk.iloc[:0])
        values = np.asarray(chunk).ravel()
        if values.dtype.kind == "c":
            raise TypeError("a must be an array of real numbers (numpy has no quantile of "
                            "complex values); take the quantiles of x.real and x.imag")
        kind = values.dtype.kind
        has_nan = bool((kind == "f" and np.isnan(values).any()) or
                       (kind in "mM" and np.isnat(values).any()))
        if self.exact or values.size <= self.sketch_size:
            return QuantileState(values.copy(), np.ones(values.size), values.size, has_nan)
        ranks, weight = self._ranks(values.size)
        return QuantileState(np.sort(values)[ranks], np.full(ranks.size, weight), values.size,
                             has_nan)

    def _series(self, chunk: Any) -> QuantileState:
        valid = chunk.dropna().reset_index(drop=True)
        na = chunk[chunk.isna()].iloc[:1].reset_index(drop=True) if len(valid) < len(chunk) \
            else None
        n = len(valid)
        if not self.exact and n > self.sketch_size:
            ranks, weight = self._ranks(n)
            ordered = valid.sort_values(kind="stable", ignore_index=True)
            return QuantileState(ordered.iloc[ranks].reset_index(drop=True),
                                 np.full(ranks.size, weight), n, False, na)
        return QuantileState(valid, np.ones(n), n, False, na)

    def _ranks(self, n: int) -> tuple[np.ndarray, float]:
        k = self.sketch_size
        return ((np.arange(k) + 0.5) * (n / k)).astype(np.int64), n / k

    def combine(self, a: QuantileState, b: QuantileState) -> QuantileState:
        if isinstance(a, FrameQuantiles):
            return a._replace(columns=[self.combine(x, y) for x, y in zip(a.columns, b.columns)])
        if is_pandas(a.points):
            import pandas as pd

            kept = [p for p in (a.points, b.points) if len(p)] or [a.points]
            points = pd.concat(kept, ignore_index=True) if len(kept) > 1 else kept[0]
        else:
            points = np.concatenate([a.points, b.points])
        return QuantileState(points, np.concatenate([a.weights, b.weights]), a.count + b.count,
                             a.has_nan or b.has_nan, a.na if a.na is not None else b.na)

    def finalize(self, state: QuantileState):
        if isinstance(state, FrameQuantiles):
            return self._frame(state)
        if is_pandas(state.points):
            return self._pandas(state)
        if state.count == 0:  # numpy's error type, saying what was wrong
            raise IndexError("cannot compute a quantile of empty data (np.quantile raises "
                             "IndexError for it)")
        if self.exact:
            return np.quantile(state.points, self.q, overwrite_input=True, method=self.method)
        if state.has_nan:  # numpy's NaN (NaT) of numpy's result dtype
            return np.quantile(np.array([np.nan if state.points.dtype.kind == "f" else "NaT"],
                                        state.points.dtype), self.q)
        points = state.points
        low, high, gamma = self._neighbours(state, np.argsort(points, kind="stable"))
        shape = np.shape(self.q)
        if np.asarray(self.q).dtype.kind in "iub":  # q of 0 and 1: numpy takes, no interpolation
            return points[low][0] if not shape else points[low].reshape(shape)
        # numpy's own interpolation between the two neighbours, at q = gamma (in q's dtype)
        if not shape:  # numpy's NEP 50 rule: a Python float q is weak
            g = float(gamma[0]) if type(self.q) in (int, float) else gamma[0]
            return np.quantile(points[[low[0], high[0]]], g)
        # q as an array: numpy's arithmetic on arrays (integers wrap silently, unlike scalars)
        out = [np.quantile(points[[i, j]], gamma[k:k + 1])[0]
               for k, (i, j) in enumerate(zip(low, high))]
        return np.array(out).reshape(shape)

    def _neighbours(self, state: QuantileState, order: np.ndarray, in_q_dtype: bool = True
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Positions in ``state.points`` (sorted by ``order``) of the order statistics numpy
        interpolates between for each q, flattened (ranks floor(q(N - 1)) and the next; the last
        one twice at the top), and the interpolation weight, computed as numpy computes it: in
        q's own float dtype (float32, longdouble; ``in_q_dtype``), else float64 (as pandas)."""
        cum = np.cumsum(state.weights[order])
        q = np.asanyarray(self.q)
        # numpy's arithmetic in q's float dtype; a float16 q's where N - 1 fits in float16
        # (beyond, N - 1 overflows to inf in it: float64 then)
        own = q.dtype.kind == "f" and (
            q.dtype.itemsize >= 4 or state.count - 1 <= float(np.finfo(np.float16).max))
        q = q if own and in_q_dtype else q.astype(np.float64)
        virtual = np.ravel((state.count - 1) * q)
        previous = np.floor(virtual)
        top = virtual >= state.count - 1
        gamma = np.where(top, 0.0, virtual - previous)
        upper = np.where(top, previous, previous + 1)

        def at(rank):
            return order[np.clip(np.searchsorted(cum, rank, side="right"), 0, order.size - 1)]

        return at(previous), at(upper), gamma

    def _pandas(self, state: QuantileState) -> Any:
        import pandas as pd

        points = state.points
        if self.exact or np.all(state.weights == 1):  # every value: pandas' own answer
            kept = [p for p in (points, state.na) if p is not None and len(p)] or [points]
            return (pd.concat(kept, ignore_index=True) if len(kept) > 1 else kept[0]) \
                .quantile(self.q, interpolation=self.method)
        low, high, gamma = self._neighbours(state, points.argsort(kind="stable").to_numpy(),
                                            in_q_dtype=False)
        parts = []
        for i, j, g in zip(low, high, gamma):
            pair = points.iloc[[i, j]] if state.na is None else \
                pd.concat([points.iloc[[i, j]], state.na], ignore_index=True)
            parts.append(pair.quantile(float(g) if np.ndim(self.q) == 0 else [float(g)]))
        if np.ndim(self.q) == 0:
            return parts[0]
        return pd.Series(pd.concat(parts).array, index=pd.Index(self.q, dtype=np.float64),
                         name=points.name)

    def _frame(self, state: FrameQuantiles) -> Any:
        """``DataFrame.quantile``: each column's ``Series.quantile`` of the list of q, joined as
        pandas joins them (a frame indexed by q; its row for a scalar q)."""
        import pandas as pd

        if not state.template.shape[1]:
            return state.template.quantile(self.q, interpolation=self.method)
        qs = list(np.atleast_1d(np.asarray(self.q, dtype=np.float64)))
        listed = Quantile(qs, self.exact, self.sketch_size, self.method)
        out = pd.DataFrame({i: listed._pandas(column).array
                            for i, column in enumerate(state.columns)},
                           index=pd.Index(qs, dtype=np.float64))
        _as_blocks(out, state, self.blocks)
        out.columns = state.template.columns
        return out.iloc[0] if np.ndim(self.q) == 0 else out


def _as_blocks(out: Any, state: FrameQuantiles, blocks: list | None) -> None:
    """pandas takes the quantiles of a frame's block of columns together: a missing value in
    any column of a float32 (float16) block makes all its columns float32 (float16); without
    one numpy's float64 stays. ``blocks``: the frame's column positions per block (None: one
    block per dtype, as pandas' constructors consolidate them)."""
    dtypes = list(state.template.dtypes)
    if blocks is None or sum(map(len, blocks)) != len(dtypes):
        by_dtype: dict = {}
        for i, dtype in enumerate(dtypes):
            by_dtype.setdefault(str(dtype), []).append(i)
        blocks = list(by_dtype.values())
    for block in blocks:
        dtype = dtypes[block[0]]
        if isinstance(dtype, np.dtype) and dtype.kind == "f" and \
                any(state.columns[i].na is not None for i in block):
            for i in block:
                out[i] = out[i].astype(dtype)
