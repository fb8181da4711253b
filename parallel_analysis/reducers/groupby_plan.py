"""reducers.groupby_plan: which columns ``df.groupby(keys).agg(agg)`` has, in pandas' order,
and how the partial columns are named. Layer: core (pandas at import).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .kinds import pandas_version

#: Aggregations merged from small per-group partials; the key is the merge function.
SIMPLE = {"sum": "sum", "count": "sum", "size": "sum", "min": "min", "max": "max",
           "first": "first", "last": "last", "prod": "prod"}
MOMENTS = ("mean", "var", "std")
#: The aggregations named by a string that give one value per group and column, which
#: :class:`~.groupby.GroupBy` computes; any other string (``ohlc``, ``head``, ``describe``,
#: ``value_counts``, pandas' transformations) is refused there and left to pandas by
#: ``par.groupby_agg``.
ONE_PER_GROUP = frozenset([*SIMPLE, *MOMENTS, "nunique", "median", "sem", "skew", "kurt",
                           "any", "all", "idxmax", "idxmin", "quantile"])
PREFIX = "\x00"  # partial columns are named so that they cannot collide with a user's key


@dataclass(frozen=True)
class Output:
    """One column of the result: its label, the input column, the aggregation."""

    label: Any
    column: Any
    func: Any


@dataclass
class AggPlan:
    outputs: list
    flat: bool  # column labels are the input columns (else (column, func) tuples)
    series: bool  # agg="size" returns a Series
    moments: dict = field(default_factory=dict)  # column -> "mean" or "var"


def plan_outputs(agg: Any, keys: list, columns: pd.Index) -> AggPlan:
    """Which output columns ``df.groupby(keys).agg(agg)`` has, in pandas' order."""
    values = [c for c in columns if c not in keys]
    if isinstance(agg, str) or callable(agg):
        name = agg if isinstance(agg, str) else None
        plan = AggPlan([Output(c, c, agg) for c in values], True, name == "size")
    elif isinstance(agg, (list, tuple)):
        plan = AggPlan([Output((c, n), c, f) for c in values for f, n in zip(agg, fnames(agg))],
                       False, False)
    elif isinstance(agg, dict):
        flat = not any(isinstance(f, (list, tuple)) for f in agg.values())
        missing = [c for c in agg if c not in columns]
        if missing:  # pandas' own message (pandas 2 said "Column(s)")
            what = "Label" if pandas_version() >= (3, 0) else "Column"
            raise KeyError(f"{what}(s) {missing!r} do not exist")
        outs = []
        for c, funcs in agg.items():
            funcs = [funcs] if flat or not isinstance(funcs, (list, tuple)) else funcs
            for f, n in zip(funcs, fnames(funcs)):
                outs.append(Output(c if flat else (c, n), c, f))
        plan = AggPlan(outs, flat, False)
    else:
        raise TypeError(f"agg must be a string, a list of strings or a dict, got {agg!r}")
    for out in plan.outputs:
        if isinstance(out.func, str) and out.func not in ONE_PER_GROUP:
            raise ValueError(
                f"agg {out.func!r} does not give one value per group and column, which the "
                "GroupBy reducer merges: use par.groupby_agg (which hands it to pandas) or "
                "par.groupby_apply")
        if out.func in MOMENTS:
            plan.moments[out.column] = "var" if out.func != "mean" or \
                plan.moments.get(out.column) == "var" else "mean"
    return plan


def fname(func: Any) -> str:
    return func if isinstance(func, str) else getattr(func, "__name__", repr(func))


def fnames(funcs: list) -> list[str]:
    """The output names of a list of aggregations, as pandas gives them: lambdas in a list of
    more than one are ``<lambda_0>``, ``<lambda_1>``..."""
    names = [fname(f) for f in funcs]
    if len(funcs) > 1:
        lambdas = iter(range(len(funcs)))
        names = [f"<lambda_{next(lambdas)}>" if n == "<lambda>" else n for n in names]
    return names


def on_column(grouped: Any, column: Any, how: str, *args: Any, **kwargs: Any) -> pd.Series:
    """``getattr(grouped[column], how)(*args, **kwargs)``, also for a tuple label (a MultiIndex
    column), which pandas' ``grouped[...]`` refuses as a list written as a tuple. Sums and
    products of ``inf`` and ``-inf`` are NaN without a warning, as in pandas' one groupby
    (whose kernel for sorted groups is silent where the one for unsorted groups warns)."""
    with np.errstate(invalid="ignore") if how in ("sum", "prod") else contextlib.nullcontext():
        if isinstance(column, tuple):
            return getattr(grouped[[column]], how)(*args, **kwargs).iloc[:, 0]
        return getattr(grouped[column], how)(*args, **kwargs)


def result_columns(labels: list, flat: bool, source: pd.Index, from_dict: bool) -> pd.Index:
    """The result's columns as pandas labels them: for one aggregation per column the input's
    own labels (``source``: their dtype, name, a MultiIndex's levels), else (column, function)
    pairs, a MultiIndex column's label extended by the function; the names of ``source`` kept.
    A dict's keys are labels anew (their dtype inferred), as pandas makes them."""
    columns = labels if flat else [c for c, _ in labels]
    where = source.get_indexer(columns) if source.is_unique and not from_dict else None
    if where is not None and (where >= 0).all():
        base = source.take(where)
    elif isinstance(source, pd.MultiIndex) and columns:
        base = pd.MultiIndex.from_tuples(columns, names=source.names)
    else:
        base = pd.Index(columns, name=source.name, tupleize_cols=False)
    if flat:
        return base
    levels = [base.get_level_values(i) for i in range(base.nlevels)]
    return pd.MultiIndex.from_arrays([*levels, [f for _, f in labels]],
                                     names=[*source.names, None])


def comp(kind: str, column: Any = None) -> str:
    return f"{PREFIX}{kind}{PREFIX}{column!r}"


def kind_of(name: str) -> str:
    """The kind (size, sum, n, mean, lo, m2, ...) of partial column ``name``."""
    return name.split(PREFIX, 2)[1]


def moment_names(name: str) -> dict:
    """kind (n, mean, lo, m2) → the partial's column of that kind for the same input column
    as partial column ``name``."""
    column = name.split(PREFIX, 2)[2]
    return {kind: f"{PREFIX}{kind}{PREFIX}{column}" for kind in ("n", "mean", "lo", "m2")}


def moment_dtype(dtype: Any) -> Any:
    """The dtype of pandas' groupby mean/var/std of a column, or None if not numeric here
    (float16 gives float16, except its std: float64, pandas' own inconsistency)."""
    if isinstance(dtype, np.dtype):
        if dtype.kind == "f":
            return dtype
        return np.dtype(np.float64) if dtype.kind in "iub" else None
    if isinstance(dtype, pd.core.dtypes.dtypes.BaseMaskedDtype):
        return pd.Float32Dtype() if dtype == pd.Float32Dtype() else pd.Float64Dtype()
    return None
