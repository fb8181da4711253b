"""exact.describe: ``DataFrame.describe()`` with the columns split across workers, exactly
pandas' result. Layer: API (imports exact.running, exact.assembly; pandas at import).

pandas describes each selected column on its own (``describe_1d``) and only then joins them
(``concat(axis=1)``, the rows put in :func:`reorder_columns` order), so each worker describes
whole columns and the caller runs that join: the same floating-point operations on the same
values, bit for bit. (:func:`parallel_analysis.describe` splits rows instead, for frames too tall
for one worker, and merges moments: equal to rounding.)
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .running import Runner, column_chunks, job


def _w_describe(chunk: pd.DataFrame, percentiles: Any) -> list:
    return [chunk.iloc[:, j].describe(percentiles=percentiles) for j in range(chunk.shape[1])]


def frame_describe(df: pd.DataFrame, runner: Runner, percentiles: Any = None,
                   include: Any = None, exclude: Any = None) -> pd.DataFrame:
    """``df.describe(percentiles, include, exclude)``; exactly pandas' result."""
    if not runner.routes.use_hooks or df.shape[1] < 2:
        return df.describe(percentiles=percentiles, include=include, exclude=exclude)
    from pandas.core.methods.describe import DataFrameDescriber, reorder_columns

    data = DataFrameDescriber(obj=df, include=include, exclude=exclude)._select_data()
    if data.shape[1] < 2:
        return df.describe(percentiles=percentiles, include=include, exclude=exclude)
    chunks = column_chunks(data, runner.count(data.shape[1], "columns"))
    parts = runner.map(job(_w_describe, df, percentiles=percentiles), chunks, "describe")
    described = [s for part in parts for s in part]
    out = pd.concat(described, axis=1, ignore_index=True, sort=False).reindex(
        reorder_columns(described))
    out.columns = data.columns.copy()
    return out.__finalize__(df, method="describe")
