"""windows: ``par.rolling``: pandas' rolling windows, computed chunk by chunk. Layer: API
(imports pool, share, split and cpus; pandas inside the functions: the package loads numpy only).

``par.rolling(data, window, ...)`` is a :func:`~parallel_analysis.map_overlap` whose halo is the
window's reach, and whose ``func`` is pandas' own rolling method on the extended chunk:

- **the reach**: an integer window reads rows ``[i - before, i + after]``, pandas'
  ``FixedWindowIndexer`` (:func:`fixed_window_reach`); a time window (``"5min"`` on a
  DatetimeIndex) reads the rows within the window's length of the chunk's first and last label,
  found on the index (a halo in time, not in rows: a gap in the data needs none);
- **the answer**: every core row's window lies whole inside its extended chunk, so pandas
  computes it from the same values (NaN and ``min_periods`` handling, dtypes, errors: pandas');
  the halo rows are trimmed and each chunk's rows written into one float64 output.

Exactness, from pandas' algorithms: ``count``, ``min``, ``max``, ``median``, ``quantile`` and
``apply`` (a deterministic function of the window) are bit for bit pandas'. ``sum``, ``mean``,
``var`` and ``std`` keep running (Kahan, Welford) sums whose rounding depends on where the scan
started, so they agree to rounding: ``rtol=1e-10`` plus, for windows whose result is near 0, an
absolute error on the data's scale ``S`` (``1e-12·w·S`` for a sum, ``1e-12·S`` for a mean,
``1e-12·S²`` for a variance). pandas' own variance of a constant window is 0 or rounding noise
depending on its scan's history; a chunk's may land on the other.
"""

from __future__ import annotations

import datetime
import functools
import math
from typing import Any

import numpy as np

from .cpus import available_cpus
from .maps import map_overlap
from .share import local_value
from .split import choose_n_chunks, rows_and_row_nbytes

#: pandas' rolling allocates about 33 bytes per row of a chunk besides the data (the window
#: bounds, the inf mask, the result): chunks of at most this many rows keep two workers'
#: temporaries near 70 MB, where one call on 20 million rows takes 640 MB of bounds alone.
MAX_CHUNK_ROWS = 1 << 20

#: ``apply`` costs some 10 µs per row (a Python call per window): chunks of an eighth of a
#: CPU's share let the other workers take over the rest from one slowed by other work, and
#: each adds only its halo.
APPLY_CHUNKS_PER_CPU = 8


def fixed_window_reach(window: int, center: bool = False, closed: str | None = None
                       ) -> tuple[int, int]:
    """``(before, after)``: the rows an integer window of row ``i`` reaches, from pandas'
    ``FixedWindowIndexer``: ``offset = (w - 1) // 2`` if centered, ``end = i + 1 + offset``,
    ``start = end - w``; ``closed`` "left"/"both" start a row earlier, "left"/"neither" end a
    row earlier. ``min_periods`` changes which windows are NaN, never the rows they read.

    >>> fixed_window_reach(5), fixed_window_reach(4, True), fixed_window_reach(3, closed="both")
    ((4, 0), (2, 1), (3, 0))
    """
    offset = (window - 1) // 2 if (center or window == 0) else 0
    closed = closed or "right"
    before = window - 1 - offset + (closed in ("left", "both"))
    after = offset - (closed in ("left", "neither"))
    return max(0, before), max(0, after)


def _as_pandas(data: Any) -> Any:
    """A zero-copy pandas view of an array chunk (1-d: a Series, 2-d: a DataFrame)."""
    import pandas as pd

    if not isinstance(data, np.ndarray):
        return data
    if data.ndim == 1:
        return pd.Series(data, copy=False)
    if data.ndim == 2:
        return pd.DataFrame(data, copy=False)
    raise ValueError(f"rolling takes 1-d or 2-d arrays, got a {data.ndim}-d array; reshape it "
                     "or use map_overlap with your own function")


def _time_reach(value: Any, window: Any, center: bool) -> tuple[Any, Any]:
    """The halo of a time window: its length before each chunk (and after, centered). A time
    window without a time index is pandas' ValueError, with what to do."""
    import pandas as pd

    if isinstance(value, np.ndarray):
        raise ValueError(f"a time window ({window!r}) needs a Series or DataFrame with a "
                        "DatetimeIndex; an array takes an integer window of rows")
    if not isinstance(value.index, (pd.DatetimeIndex, pd.TimedeltaIndex)):
        hint = " (convert it with .to_timestamp())" if isinstance(value.index,
                                                                  pd.PeriodIndex) else ""
        raise ValueError(f"a time window ({window!r}) needs a DatetimeIndex or TimedeltaIndex, "
                        f"not a {type(value.index).__name__}{hint}; or give the window in rows")
    length = pd.Timedelta(pd.tseries.frequencies.to_offset(window) if isinstance(window, str)
                          else window)
    return (length, length) if center else (length, 0)


class Rolling:
    """``data.rolling(window, min_periods=, center=, closed=)`` computed in parallel; each
    method returns what pandas returns (an ndarray for an array). Build it with
    :func:`rolling`."""

    def __init__(self, data: Any, window: Any, min_periods: int | None, center: bool,
                 closed: str | None, options: dict):
        import pandas as pd

        value = local_value(data)
        if not isinstance(value, (np.ndarray, pd.Series, pd.DataFrame)):
            raise TypeError(f"rolling takes a Series, DataFrame, 1-d or 2-d array or a Shared "
                            f"handle of one, got {type(value).__name__}: wrap it first "
                            "(np.asarray(data) or pd.Series(data))")
        if isinstance(window, pd.api.indexers.BaseIndexer):
            raise TypeError("custom BaseIndexer windows are not supported: give a number of "
                            "rows or a time window such as '5min'")
        timed = isinstance(window, (str, datetime.timedelta, np.timedelta64,
                                    pd.offsets.BaseOffset))
        depth = _time_reach(value, window, bool(center)) if timed else None
        # pandas' own checks and messages, on the values as given ("center must be a boolean")
        _as_pandas(value).rolling(window, min_periods=min_periods, center=center, closed=closed)
        self._kw = dict(min_periods=min_periods, center=bool(center), closed=closed)
        if depth is None:  # pandas took it: a number of rows
            depth = fixed_window_reach(int(window), bool(center), closed)
        self._data, self._value, self._window, self._depth = data, value, window, depth
        self._options = dict(options)

    def count(self, **kwargs: Any) -> Any:
        return self._run("count", (), kwargs)

    def sum(self, **kwargs: Any) -> Any:
        return self._run("sum", (), kwargs)

    def mean(self, **kwargs: Any) -> Any:
        return self._run("mean", (), kwargs)

    def var(self, ddof: int = 1, **kwargs: Any) -> Any:
        return self._run("var", (), dict(kwargs, ddof=ddof))

    def std(self, ddof: int = 1, **kwargs: Any) -> Any:
        return self._run("std", (), dict(kwargs, ddof=ddof))

    def min(self, **kwargs: Any) -> Any:
        return self._run("min", (), kwargs)

    def max(self, **kwargs: Any) -> Any:
        return self._run("max", (), kwargs)

    def median(self, **kwargs: Any) -> Any:
        return self._run("median", (), kwargs)

    def quantile(self, q: float, interpolation: str = "linear", **kwargs: Any) -> Any:
        return self._run("quantile", (q,), dict(kwargs, interpolation=interpolation))

    #: What ``apply`` passes ``func`` when not told: ndarrays here (DESIGN.md's
    #: ``.apply(func, raw=True)``, and the only kind an array has); the accessor's windows
    #: (``s.par.rolling``) take pandas' default, Series.
    RAW_DEFAULT = True

    def apply(self, func: Any, raw: bool | None = None, **kwargs: Any) -> Any:
        """``func`` on each window: an ndarray (``raw=True``) or a Series with the data's labels
        (``raw=False``); unset, :attr:`RAW_DEFAULT`. Runs on processes unless told otherwise: a
        Python function per window holds the GIL."""
        raw = self.RAW_DEFAULT if raw is None else raw
        return self._run("apply", (func,), dict(kwargs, raw=raw))

    def __repr__(self) -> str:
        return f"<parallel_analysis.Rolling window={self._window!r} {self._kw}>"

    def _run(self, method: str, args: tuple, kwargs: dict) -> Any:
        data, value = self._data, self._value
        array = isinstance(value, np.ndarray)
        if method == "apply" and not kwargs.get("raw") and array:
            data = value = _as_pandas(value)  # windows as Series labelled by global position
        # pandas on the first row: the result's columns, name and row shape, and pandas' own
        # error for a column it cannot take (an empty str column converts to floats); no row
        # for apply, whose func must not run in the caller
        rows = 0 if method == "apply" else 1
        first = value.iloc[:rows] if hasattr(value, "iloc") else value[:rows]
        head = getattr(_as_pandas(first).rolling(self._window, **self._kw), method)(
            *args, **kwargs)
        if not len(value):
            return head.to_numpy() if array else head
        task = functools.partial(_rolling_chunk, window=self._window, kw=self._kw,
                                 method=method, args=args, kwargs=kwargs,
                                 kind=type(_as_pandas(first)))
        values = map_overlap(task, data, self._depth, dtype=np.float64, shape=head.shape[1:],
                             **_map_options(self._options, value, method, self._depth))
        if array:
            return values
        import pandas as pd

        if head.ndim == 1:
            return pd.Series(values, index=value.index, name=head.name, copy=False)
        return pd.DataFrame(values, index=value.index, columns=head.columns, copy=False)


def _rolling_chunk(chunk: Any, window: Any, kw: dict, method: str, args: tuple,
                   kwargs: dict, kind: type) -> np.ndarray:
    """One extended chunk's rolling result, by pandas itself (the worker trims the halo).

    ``kind`` (pd.Series or pd.DataFrame: an array chunk's view) travels with the job, so a
    fresh process worker imports pandas while it unpickles the job, in the grace the board
    gives that phase, not in the chunk's own ``timeout=`` (about a second here)."""
    frame = kind(chunk, copy=False) if isinstance(chunk, np.ndarray) else chunk
    out = getattr(frame.rolling(window, **kw), method)(*args, **kwargs)
    return out.to_numpy(dtype=np.float64, na_value=np.nan)


def chunk_count(n_rows: int, row_nbytes: int, method: str, depth: tuple) -> int:
    """How many chunks rolling cuts ``n_rows`` rows into when the caller does not say.

    The usual count (:func:`~parallel_analysis.split.choose_n_chunks`), chunks of at most
    :data:`MAX_CHUNK_ROWS` rows (memory), :data:`APPLY_CHUNKS_PER_CPU` per CPU for ``apply``,
    but no chunk shorter than its halo of rows (the halo is computed twice).
    """
    cpus = available_cpus()
    n = max(1, choose_n_chunks(n_rows, row_nbytes, cpus), math.ceil(n_rows / MAX_CHUNK_ROWS))
    if method == "apply":
        n = max(n, APPLY_CHUNKS_PER_CPU * cpus)
    if all(isinstance(d, int) for d in depth):
        n = min(n, max(1, n_rows // max(1, sum(depth))))
    return min(n, max(1, n_rows))


def _map_options(options: dict, value: Any, method: str, depth: tuple) -> dict:
    """The map's options: the caller's, with rolling's defaults for the chunking and backend.

    pandas' window kernels release the GIL, so threads run them in parallel on views of the
    caller's data (no copy); ``apply`` calls Python per window, so it goes to processes.
    """
    options = dict(options)
    if all(options.get(k) is None for k in ("n", "size", "nbytes")):
        options["n"] = chunk_count(*rows_and_row_nbytes(value), method, depth)
    options.setdefault("desc", f"rolling {method}")
    if options.get("pool") is None and options.get("backend") is None:
        options["backend"] = "process" if method == "apply" else "thread"
    return options


def rolling(data: Any, window: Any, *, min_periods: int | None = None, center: bool = False,
            closed: str | None = None, **options: Any) -> Rolling:
    """Rolling windows over ``data`` (a Series, DataFrame, 1-d or 2-d array, or a Shared
    handle of one), computed in parallel: ``par.rolling(s, 1000).mean()`` equals
    ``s.rolling(1000).mean()``.

    ``window`` is a number of rows or, on a DatetimeIndex, a time span (``"5min"``). Options
    are those of :func:`~parallel_analysis.map_chunks` (``n``/``size``/``nbytes``, ``backend``,
    ``workers``, ``pool``, ``progress``, ``timeout``); see the module docstring for exactness.
    """
    return Rolling(data, window, min_periods, center, closed, options)
