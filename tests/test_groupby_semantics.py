"""groupby_agg's corner semantics against pandas: result dtypes that must not depend on the
chunking, NaN that a merge must not drop, object columns, and the aggregations pandas computes
itself because they are not one value per group.

pandas is the oracle (``df.groupby(by).agg(agg)``), on every local backend and chunking.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pandas.errors import SpecificationError
from pandas.testing import assert_frame_equal

import parallel_analysis as par
from parallel_analysis.reducers import GroupBy

CHUNKINGS = (1, 2, 3, 4, 7)


def _same_for_every_chunking(pool, df, by, agg, rtol=1e-12):
    want = df.groupby(by).agg(agg)
    for n in CHUNKINGS:
        got = par.groupby_agg(df, by, agg, n=n, backend=pool.backend, workers=2)
        assert_frame_equal(got, want, check_exact=False, rtol=rtol, obj=f"n={n}")


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "uint16", "int32", "Int8",
                                   "UInt8", "Int16"])
def test_integer_sums_and_products_have_pandas_dtype_whatever_the_chunking(pool, dtype):
    """pandas sums in int64 and narrows back to the column's dtype when every group's total
    fits; partials of some chunks may not fit while the totals do."""
    rng = np.random.default_rng(abs(hash(dtype)) % 2**32)
    low = 0 if "u" in dtype.lower() else -128
    for _ in range(6):
        rows = int(rng.integers(1, 25))
        df = pd.DataFrame({"k": rng.integers(0, 3, rows),
                           "v": pd.array(rng.integers(low, 127, rows)).astype(dtype)})
        _same_for_every_chunking(pool, df, "k", ["sum", "prod"])
    fits = pd.DataFrame({"k": [0] * 4, "v": np.array([-121, -128, 79, 53], dtype=np.int8)})
    if dtype == "int8":  # the probe's case: -249 and 132 per half, -117 in all
        _same_for_every_chunking(pool, fits, "k", "sum")


@pytest.mark.parametrize("key", ["int", "str", "category"])
def test_a_sum_of_inf_and_minus_inf_is_nan_as_pandas(pool, key):
    keys = {"int": [1, 1, 2, 2, 3, 3], "str": list("aabbcc"),
            "category": pd.Categorical(list("aabbcc"))}[key]
    values = [np.inf, -np.inf, np.inf, 1.0, np.nan, -np.inf]
    for dtype in ("float64", "Float64", "float32"):
        df = pd.DataFrame({"k": keys, "v": pd.array(values, dtype=dtype)})
        _same_for_every_chunking(pool, df, "k", ["sum", "prod", "mean"], rtol=1e-6)


def test_object_columns_stay_object_as_pandas_frame_agg_keeps_them(pool):
    df = pd.DataFrame({"k": [1, 1, 2, 2, 3],
                       "v": pd.Series(["b", "a", "c", "d", "e"], dtype=object)})
    for agg in ("min", "max", "first", ["min", "max", "first", "last", "nunique"],
                {"v": "min"}):  # pandas: object for a string agg, str for min/max otherwise
        _same_for_every_chunking(pool, df, "k", agg)


@pytest.mark.parametrize("agg", ["head", "tail", "value_counts", "describe", "corr", "cov",
                                 "ohlc", "cumsum", "rank"])
def test_aggregations_that_are_not_one_value_per_group_are_pandas_own(pool, agg):
    df = pd.DataFrame({"k": [1, 1, 1, 2, 2, 3, 3], "v": [1.0, 2, 3, 4, 5, 6, 8],
                       "w": [6, 5, 4, 3, 2, 1, 0]})
    want = df.groupby("k").agg(agg)
    got = par.groupby_agg(df, "k", agg, n=2, backend=pool.backend, workers=2)
    (assert_frame_equal if isinstance(want, pd.DataFrame) else pd.testing.assert_series_equal)(
        got, want)


def test_pandas_errors_and_forms_it_alone_reads_are_pandas_own():
    df = pd.DataFrame({"k": [1, 1, 2], "v": [1.0, 2.0, 3.0]})
    with pytest.raises(SpecificationError):
        par.groupby_agg(df, "k", ["min", "min"])
    with pytest.raises(AttributeError, match="nlargest"):
        par.groupby_agg(df, "k", "nlargest")
    assert_frame_equal(par.groupby_agg(df, ["k", "k"], "sum"), df.groupby(["k", "k"]).sum())


def test_the_groupby_reducer_refuses_what_it_cannot_merge():
    df = pd.DataFrame({"k": [1, 1, 2], "v": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match="'head' does not give one value per group"):
        par.map_reduce(None, df, GroupBy("k", "head"), backend="serial")


def test_lists_of_functions_stay_parallel_unless_pandas_would_refuse_them():
    from parallel_analysis.frames import _pandas_only

    df = pd.DataFrame({"k": [1, 1, 2], "v": [1.0, 2.0, 3.0]})
    spread, total = (lambda s: s.max() - s.min()), (lambda s: s.sum())
    for agg in ([spread, total], {"v": [spread, total]}, [np.sum, "sum"], [np.mean, "mean"]):
        assert not _pandas_only(df, "k", agg, None), agg
        assert_frame_equal(par.groupby_agg(df, "k", agg, n=2), df.groupby("k").agg(agg))
    for agg in (["min", "min"], [spread, spread], [np.sum, np.sum]):  # pandas raises
        assert _pandas_only(df, "k", agg, None), agg


@pytest.mark.parametrize("by", ["k", "s", ["k", "s"]])
def test_mean_of_integer_columns_is_exactly_pandas_for_every_chunking(by):
    """pandas' mean of ints is their exact sum over the count; merged two-float means were a
    last bit off (14/3 as 4.666666666666666) once a group spanned chunks. ints, bools, Int64
    (with NA) and uint8, on dense, factorized and pandas-grouped keys."""
    rng = np.random.default_rng(5)
    for _ in range(25):
        n_rows = int(rng.integers(1, 200))
        df = pd.DataFrame({
            "k": rng.integers(0, int(rng.integers(1, 15)), n_rows),
            "s": rng.choice(["a", "b", "c"], n_rows),
            "i": rng.integers(-10 ** int(rng.integers(1, 12)), 10**9, n_rows),
            "b": rng.random(n_rows) < 0.5,
            "I": pd.array(np.where(rng.random(n_rows) < 0.2, None,
                                   rng.integers(0, 100, n_rows)), dtype="Int64"),
            "u8": rng.integers(0, 255, n_rows).astype(np.uint8)})
        df = df.drop(columns=[] if by != "k" else ["s"])
        want = df.groupby(by).agg("mean")
        for n in (2, 5, 17):
            got = par.groupby_agg(df, by, "mean", n=n, backend="serial")
            assert_frame_equal(got, want, check_exact=True)
    three = pd.DataFrame({"k": [1, 1, 1], "s": "a", "v": [2, 4, 8]})
    assert par.groupby_agg(three[[*([by] if isinstance(by, str) else by), "v"]], by, "mean",
                           n=3, backend="serial")["v"].iloc[0] == 14 / 3
