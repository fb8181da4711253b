"""Reducers against numpy (and pandas), and the merge laws that make parallel answers exact."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import parallel_analysis as par
from parallel_analysis.reduce import tree_reduce
from parallel_analysis.reducers import Count, Histogram, Max, Mean, Min, Quantile, Std, Sum, Var


def reduce_chunks(reducer, chunks):
    return reducer.finalize(tree_reduce([reducer.partial(c) for c in chunks], reducer.combine))


NUMPY = {
    "sum": (Sum, np.sum),
    "mean": (Mean, np.mean),
    "var": (Var, np.var),
    "std": (Std, np.std),
    "min": (Min, np.min),
    "max": (Max, np.max),
}


CASES = [(np.int64, False), (np.int32, False), (np.uint8, False), (np.float64, False),
         (np.float32, False), (np.float64, True), (np.float32, True)]


@pytest.mark.parametrize("name", sorted(NUMPY))
@pytest.mark.parametrize(("dtype", "with_nan"), CASES)
def test_reducers_match_numpy(name, dtype, with_nan):
    make, oracle = NUMPY[name]
    x = (np.random.default_rng(3).normal(50, 10, size=(1001, 2)) ** 2).astype(dtype)
    if with_nan:
        x[17, 1] = np.nan
    got = reduce_chunks(make(), par.split(x, 7))
    want = oracle(x)
    assert np.asarray(got).dtype == np.asarray(want).dtype or name in ("sum",)
    np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_integer_sums_are_exact_and_overflow_like_numpy():
    x = np.full(1000, 2**62, dtype=np.int64)
    with np.errstate(over="ignore"):
        assert par.sum(x, n=10) == np.sum(x)
    big = np.arange(10**6, dtype=np.int64) * 10**9
    assert par.sum(big, n=37) == big.sum()


def test_variance_is_stable_with_a_large_offset():
    x = np.random.default_rng(0).normal(1e9, 3, size=1_000_003)
    for n in (1, 3, 64, 1000):
        assert abs(reduce_chunks(Var(), par.split(x, n)) - x.var()) / x.var() < 1e-9
        assert abs(reduce_chunks(Std(ddof=1), par.split(x, n)) - x.std(ddof=1)) < 1e-9 * x.std()


def test_axis_zero_reduces_per_column():
    x = np.random.default_rng(2).normal(size=(500, 4))
    for make, oracle in NUMPY.values():
        np.testing.assert_allclose(reduce_chunks(make(axis=0), par.split(x, 6)), oracle(x, axis=0))
    assert reduce_chunks(Count(), par.split(x, 6)) == x.size
    assert reduce_chunks(Count(axis=0), par.split(x, 6)) == 500


def test_shortcuts_take_numpys_and_pandas_other_spellings_of_the_axis():
    """-1 of a 1-d array, -2 / (0,) / (0, 1) / (-1, -2) of a 2-d one, "index" / "rows" of
    pandas objects: what numpy and pandas give; the axes no reducer has still raise."""
    x = np.random.default_rng(3).normal(size=(40, 3))
    df = pd.DataFrame(x, columns=list("abc"))
    for data, axis in [(x[:, 0], -1), (x[:, 0], (0,)), (x, -2), (x, (0,)), (x, (0, 1)),
                       (x, (-1, -2))]:
        for name in ("sum", "mean", "var", "std", "min", "max"):
            want = getattr(np, name)(data, axis=axis)
            got = getattr(par, name)(data, axis=axis, n=3, backend="serial")
            assert type(got) is type(want) and np.shape(got) == np.shape(want), (name, axis)
            np.testing.assert_allclose(got, want, rtol=1e-12)
    for axis in ("index", "rows"):
        for name in ("sum", "mean", "std", "max"):
            pd.testing.assert_series_equal(getattr(par, name)(df, axis=axis, n=3),
                                           getattr(df, name)(axis=axis))
            assert getattr(par, name)(df["a"], axis=axis, n=3) == pytest.approx(
                getattr(df["a"], name)(), rel=1e-12)
    for data, axis in [(x, 1), (x, -1), (x, "index")]:
        with pytest.raises(ValueError, match="axis must be None"):
            par.sum(data, axis=axis, backend="serial")
    with pytest.raises(ValueError, match="duplicate"):
        par.sum(x, axis=(0, 0), backend="serial")


@pytest.mark.parametrize("frame", [
    pd.DataFrame({"a": [1, 2, np.nan, 7], "b": [3.0, 4, 5, -1]}),
    pd.DataFrame({"a": [1, 2, 9], "b": [3, 4, -5]}),
    pd.DataFrame({"a": pd.array([1, None, 3], dtype="Int64"), "b": [1.5, 2.0, 3.0]}),
    pd.DataFrame({"a": np.arange(10, dtype=np.float32), "b": np.ones(10, np.float32)}),
    pd.DataFrame({"a": [], "b": []})])
def test_axis_none_reduces_a_frame_to_one_value_as_pandas(frame):
    """An explicit axis=None: every value of the frame (pandas 2); no axis: per column."""
    for name in ("sum", "mean", "var", "std", "min", "max"):
        want = getattr(frame, name)(axis=None)
        got = getattr(par, name)(frame, axis=None, n=2, backend="serial")
        assert type(got) is type(want), (name, got, want)
        assert got is want or np.isclose(got, want, rtol=1e-12, equal_nan=True), name
        if len(frame):
            pd.testing.assert_series_equal(getattr(par, name)(frame, n=2, backend="serial"),
                                           getattr(frame, name)())


def test_histogram_matches_numpy_exactly():
    x = np.random.default_rng(4).normal(size=100_000)
    counts, edges = par.histogram(x, bins=20, n=9)
    want_counts, want_edges = np.histogram(x, bins=20)
    np.testing.assert_array_equal(counts, want_counts)
    np.testing.assert_array_equal(edges, want_edges)
    counts, _ = reduce_chunks(Histogram(5, (-1, 1)), par.split(x, 4))
    np.testing.assert_array_equal(counts, np.histogram(x, 5, (-1, 1))[0])
    with pytest.raises(ValueError, match="range"):
        Histogram(10)


def test_exact_quantile_equals_numpy():
    x = np.random.default_rng(5).normal(size=50_001)
    q = [0.0, 0.1, 0.5, 0.99, 1.0]
    np.testing.assert_array_equal(par.quantile(x, q, exact=True, n=7), np.quantile(x, q))


def test_exact_quantile_takes_numpys_method_and_pandas_interpolation():
    rng = np.random.default_rng(8)
    x = rng.integers(0, 50, 1_001).astype(float)
    s = pd.Series(x).where(x > 3)
    frame = pd.DataFrame({"a": s, "b": rng.standard_normal(1_001)})
    q = [0.1, 0.33, 0.5, 0.99]
    for method in ("lower", "higher", "nearest", "midpoint", "linear", "median_unbiased"):
        np.testing.assert_array_equal(par.quantile(x, q, exact=True, method=method, n=7),
                                      np.quantile(x, q, method=method))
    for how in ("lower", "higher", "nearest", "midpoint"):
        pd.testing.assert_series_equal(par.quantile(s, q, exact=True, interpolation=how, n=5),
                                       s.quantile(q, interpolation=how))
        pd.testing.assert_frame_equal(
            par.quantile(frame, 0.3, exact=True, method=how, n=3).to_frame(),
            frame.quantile(0.3, interpolation=how).to_frame())
    with pytest.raises(ValueError, match="needs exact=True"):
        par.quantile(x, 0.5, method="lower")
    with pytest.raises(TypeError, match="not both"):
        par.quantile(x, 0.5, exact=True, method="lower", interpolation="lower")


@pytest.mark.parametrize("rows", [0, 1, 50])
def test_skipna_false_and_min_count_give_pandas_missing_values(rows):
    rng = np.random.default_rng(10)
    frame = pd.DataFrame({
        "f": rng.standard_normal(50), "i": rng.integers(0, 9, 50),
        "I": pd.array(rng.integers(0, 9, 50), dtype="Int64"),
        "F": pd.array(rng.random(50), dtype="Float64"),
        "t": pd.date_range("2020", periods=50), "s": rng.choice(["a", "b"], 50),
        "td": pd.to_timedelta(rng.integers(0, 9, 50), "s")})
    for column in ("f", "I", "F", "t", "s", "td"):
        frame.loc[min(3, rows - 1) if rows else 3, column] = None
    frame = frame.iloc[:rows] if rows else frame.iloc[:0]
    cases = [(op, {"skipna": False}) for op in ("sum", "mean", "var", "std", "min", "max")]
    cases += [("sum", {"min_count": 1}), ("sum", {"min_count": 60}),
              ("sum", {"skipna": False, "min_count": 2}), ("std", {"skipna": False, "ddof": 0})]
    for op, options in cases:
        for name in frame.columns:
            column = frame[name]
            try:
                want = getattr(column, op)(**options)
            except TypeError:
                with pytest.raises(TypeError):
                    getattr(par, op)(column, n=3, **options)
                continue
            got = getattr(par, op)(column, n=3, **options)
            assert type(got) is type(want), (op, name, options, got, want)
            if pd.isna(want):
                assert pd.isna(got), (op, name, options, got, want)
            else:
                close = got == want or (isinstance(want, float) and got == pytest.approx(want))
                assert close, (op, name, options, got, want)
        numbers = frame[["f", "i", "I", "F"]]
        pd.testing.assert_series_equal(getattr(par, op)(numbers, n=3, **options),
                                       getattr(numbers, op)(**options))
    mixed = pd.DataFrame({"o": pd.Series(["a", 1, None, "b"], dtype=object),
                          "f": [1.0, 2.0, 3.0, 4.0], "i": [1, 2, 3, 4]})
    for op in ("sum", "min", "max", "mean", "std"):  # pandas' own answer (or error) on them
        for n in (1, 2):
            if op in ("mean", "std"):
                with pytest.raises(TypeError):
                    getattr(mixed["o"], op)(skipna=False)
                with pytest.raises(TypeError):
                    getattr(par, op)(mixed, n=n, skipna=False, backend="thread")
                continue
            got, want = getattr(par, op)(mixed["o"], n=n, skipna=False, backend="thread"), \
                getattr(mixed["o"], op)(skipna=False)
            assert type(got) is type(want) and pd.isna(got) and pd.isna(want), (op, got, want)
            got = getattr(par, op)(mixed, n=n, skipna=False, backend="thread")
            want = getattr(mixed, op)(skipna=False)
            assert got.dtype == want.dtype and got.index.equals(want.index), (op, got, want)
            pd.testing.assert_series_equal(got, want)
            assert [type(v) for v in got] == [type(v) for v in want]
    with pytest.raises(TypeError, match="pandas' options"):
        par.sum(np.arange(3.0), skipna=False)
    with pytest.raises(TypeError, match="min_count= is an option of sum"):
        par.mean(frame["f"], min_count=1)


def test_numpys_dtype_and_keepdims_are_numpys():
    x = np.arange(12, dtype=np.int8).reshape(4, 3) * 20  # sums past int8: they wrap in it
    for op in ("sum", "mean", "var", "std", "min", "max"):
        for options in ({"keepdims": True}, {"axis": 0, "keepdims": True},
                        {"dtype": np.float32}, {"axis": 0, "dtype": "f8", "keepdims": True}):
            if "dtype" in options and op in ("min", "max"):
                with pytest.raises(TypeError, match="no dtype"):
                    getattr(par, op)(x, n=2, **options)
                continue
            got, want = getattr(par, op)(x, n=2, **options), getattr(np, op)(x, **options)
            assert np.asarray(got).dtype == np.asarray(want).dtype, (op, options)
            assert np.shape(got) == np.shape(want), (op, options)
            np.testing.assert_allclose(got, want, rtol=1e-6)
    for dtype in (np.int8, np.int64):
        assert par.sum(x, dtype=dtype, n=3) == np.sum(x, dtype=dtype)
        assert type(par.sum(x, dtype=dtype, n=3)) is type(np.sum(x, dtype=dtype))
    with pytest.raises(TypeError, match="give a float dtype"):
        par.mean(x, dtype=np.int64)
    with pytest.raises(TypeError, match="numpy's options"):
        par.sum(pd.Series([1, 2]), keepdims=True)


def test_histogram_density_is_numpys():
    x = np.random.default_rng(9).normal(size=10_001)
    for bins, range_ in ((20, None), ("fd", None), (np.array([-3, -1, 0, 2, 5]), None),
                         (7, (-1.0, 1.0))):
        got = par.histogram(x, bins=bins, range=range_, density=True, n=6)
        want = np.histogram(x, bins=bins, range=range_, density=True)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


@pytest.mark.parametrize("chunks", [1, 7, 100])
def test_approximate_quantile_meets_its_rank_bound(chunks):
    x = np.random.default_rng(6).exponential(size=300_000)
    k = 256
    ordered = np.sort(x)
    for q in (0.01, 0.25, 0.5, 0.9, 0.999):
        got = reduce_chunks(Quantile(q, sketch_size=k), par.split(x, chunks))
        target = q * (x.size - 1)
        low = np.searchsorted(ordered, got, side="left")
        high = np.searchsorted(ordered, got, side="right")
        bound = x.size / k + 1
        assert low - bound <= target <= high + bound, (q, low, high, target, bound)


def test_quantile_nan_and_bad_q():
    assert np.isnan(par.quantile(np.array([1.0, np.nan, 2.0]), 0.5))
    with pytest.raises(ValueError, match="range"):
        Quantile(1.5)


def test_pandas_conventions_skip_nan_and_default_ddof_one():
    s = pd.Series([1.0, np.nan, 3.0, 4.0, np.nan, 10.0])
    chunks = [s.iloc[:2], s.iloc[2:4], s.iloc[4:]]
    assert reduce_chunks(Sum(), chunks) == s.sum()
    assert reduce_chunks(Count(), chunks) == s.count()
    assert reduce_chunks(Mean(), chunks) == pytest.approx(s.mean())
    assert reduce_chunks(Var(), chunks) == pytest.approx(s.var())
    assert reduce_chunks(Min(), chunks) == s.min()
    assert reduce_chunks(Max(), chunks) == s.max()
    df = pd.DataFrame({"a": [1, 2, None, 4], "b": [0.5, None, 1.5, 2.5]}, dtype="Float64")
    parts = [df.iloc[:1], df.iloc[1:3], df.iloc[3:]]
    pd.testing.assert_series_equal(reduce_chunks(Mean(), parts), df.mean(), check_dtype=False)
    pd.testing.assert_series_equal(reduce_chunks(Var(), parts), df.var(), check_dtype=False)


ARROW_AND_SPARSE = [(dtype, values) for dtype in ("int64[pyarrow]", "uint8[pyarrow]",
                                                  "double[pyarrow]", "bool[pyarrow]",
                                                  "Sparse[float64]", "Sparse[int64]")
                    for values in ([1, 0, 3, 7, 2], [1, None, 3, 6], [None, None], [], [5])
                    if not (dtype == "Sparse[int64]" and None in values)]  # int: no NA


@pytest.mark.parametrize(("dtype", "values"), ARROW_AND_SPARSE)
@pytest.mark.parametrize("op", ["mean", "var", "std"])
def test_moments_of_pyarrow_and_sparse_columns_are_pandas(dtype, values, op):
    """pandas' answer and its type (a Python float, NA where nothing is left, its TypeError
    for the variance of bools) for pyarrow-backed and sparse columns, over chunks."""
    s = pd.Series(values, dtype=dtype)
    for ddof in (1, 0, 3):
        try:
            want = getattr(s, op)() if op == "mean" else getattr(s, op)(ddof=ddof)
        except TypeError:
            with pytest.raises(TypeError):
                getattr(par, op)(s, backend="serial", n=2, **({} if op == "mean" else
                                                                {"ddof": ddof}))
            continue
        got = getattr(par, op)(s, backend="serial", n=2, **({} if op == "mean" else
                                                             {"ddof": ddof}))
        assert type(got) is type(want)
        if want is not pd.NA and not np.isnan(want):
            assert got == pytest.approx(want, rel=1e-12)


def test_numeric_only_selects_the_columns_pandas_does():
    """numbers, booleans (nullable and pyarrow too), complex; not strings, datetimes,
    timedeltas or categoricals: per column and with axis=None, as pandas."""
    df = pd.DataFrame({"i": [1, 2, 5], "f": [1.5, 2.0, np.nan], "b": [True, False, True],
                       "B": pd.array([True, None, False], dtype="boolean"),
                       "I": pd.array([1, None, 3], dtype="Int64"), "s": ["a", "b", "c"],
                       "t": pd.to_datetime(["2020", "2021", "2022"]),
                       "c": pd.Categorical(["x", "y", "x"]),
                       "td": pd.to_timedelta([1, 2, 3], "s")})
    for name in ("sum", "mean", "var", "std", "min", "max"):
        pd.testing.assert_series_equal(
            getattr(par, name)(df, numeric_only=True, n=2, backend="serial"),
            getattr(df, name)(numeric_only=True))
        assert getattr(par, name)(df, axis=None, numeric_only=True, n=2, backend="serial") \
            == pytest.approx(getattr(df, name)(axis=None, numeric_only=True), rel=1e-12)


def test_numeric_only_of_a_series_is_ignored_and_of_quantile_picks_columns_as_pandas():
    s = pd.Series([1.0, 4.0, 2.5])
    for name in ("sum", "mean", "var", "std", "min", "max"):
        assert getattr(par, name)(s, numeric_only=True, n=2, backend="serial") == \
            pytest.approx(getattr(s, name)(numeric_only=True), rel=1e-12)
    words = pd.Series(["b", "a"], dtype=object)  # refused there, as pandas refuses it
    with pytest.raises(TypeError, match="does not allow numeric_only=True"):
        par.min(words, numeric_only=True, backend="serial")
    df = pd.DataFrame({"a": [1, 2, 3, 4], "f": [1.5, 2.0, 3.0, np.nan], "s": list("wxyz"),
                       "n": pd.array([1, None, 3, 4], dtype="Int64"),
                       "t": pd.to_datetime(["2020", "2021", "2022", "2023"])})
    for q in (0.5, [0.25, 0.7]):
        got = par.quantile(df, q, numeric_only=True, exact=True, n=2, backend="serial")
        want = df.quantile(q, numeric_only=True)
        if isinstance(want, pd.Series):
            pd.testing.assert_series_equal(got, want)
        else:
            pd.testing.assert_frame_equal(got, want)


def test_a_frames_histogram_skips_each_missing_value_not_its_row():
    """pandas skips NA value by value; a row with one NA had lost its other values too (and
    the range found from the rest)."""
    df = pd.DataFrame({"a": [1.0, 2.0, np.nan, 7.0], "b": [3.0, 4.0, 100.0, np.nan],
                       "n": pd.array([5, None, 6, 8], dtype="Int64")})
    values = np.array([1.0, 2.0, 7.0, 3.0, 4.0, 100.0, 5.0, 6.0, 8.0])
    for bins, range_ in ((5, (0, 101)), (4, None)):
        counts, edges = par.histogram(df, bins, range_, n=2, backend="serial")
        want_counts, want_edges = np.histogram(values, bins, range_)
        np.testing.assert_array_equal(counts, want_counts)
        np.testing.assert_array_equal(edges, want_edges)


def test_describe_checks_its_percentiles_as_pandas_does():
    s = pd.Series([1.0, 2.0, 3.0, 10.0])
    for bad in ([0.5, 0.5], [1.5], [-0.1]):
        with pytest.raises(ValueError) as theirs:
            s.describe(percentiles=bad)
        with pytest.raises(ValueError, match=re.escape(str(theirs.value))):
            par.describe(s, percentiles=bad, backend="serial")
    for fine in (None, [], [0.75, 0.25], [0.1]):
        pd.testing.assert_series_equal(par.describe(s, percentiles=fine, backend="serial",
                                                    exact=True),
                                       s.describe(percentiles=fine))


def test_describe_of_array_chunks_or_none_is_describe_of_their_values():
    parts = [np.arange(3.0), np.arange(4.0) * 2]
    pd.testing.assert_series_equal(par.describe(parts, backend="serial"),
                                   pd.Series(np.concatenate(parts)).describe())
    pd.testing.assert_series_equal(par.describe([], backend="serial"),
                                   pd.Series([], dtype=float).describe())


def test_object_and_big_endian_arrays_reduce_as_numpy():
    """Object arrays compare and add as Python objects (strings, ints past int64, Decimal);
    a big-endian array's mean is native float64, as numpy's."""
    from decimal import Decimal

    cases = [("min", np.array(["b", "a", "c", "d"], dtype=object)),
             ("max", np.array(["b", "a", "c", "d"], dtype=object)),
             ("max", np.array([2**70, 3, -(2**80), 5], dtype=object)),
             ("sum", np.array([2**70, 3, 1, 5], dtype=object)),
             ("mean", np.array([Decimal("1.1"), Decimal("2.2"), Decimal("0.3")], dtype=object)),
             ("mean", np.array([1, 2, 4], dtype=object)),
             ("mean", np.arange(12, dtype=">f8").reshape(4, 3)),
             ("var", np.arange(12, dtype=">f4"))]
    for name, x in cases:
        want = getattr(np, name)(x, axis=0)
        got = getattr(par, name)(x, axis=0, n=2, backend="serial")
        assert type(got) is type(want) and np.all(got == want), (name, x.dtype, got, want)
        assert getattr(got, "dtype", None) == getattr(want, "dtype", None)


finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.integers(1, 200), elements=finite), st.integers(1, 20),
       st.integers(1, 20))
def test_results_do_not_depend_on_chunking(x, n1, n2):
    for make, oracle in NUMPY.values():
        a = reduce_chunks(make(), par.split(x, n1))
        b = reduce_chunks(make(), par.split(x, n2))
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-6)
        np.testing.assert_allclose(a, oracle(x), rtol=1e-9, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.integers(3, 60), elements=finite))
def test_combine_is_associative(x):
    a, b, c = (Var().partial(part) for part in np.array_split(x, 3))
    r = Var()
    left = r.finalize(r.combine(r.combine(a, b), c))
    right = r.finalize(r.combine(a, r.combine(b, c)))
    assert left == pytest.approx(right, rel=1e-9, abs=1e-6)


@pytest.mark.parametrize("n", [1, 3, 7])
def test_float16_series_variance_is_float16_as_pandas_gives_it(n):
    """pandas computes a float16 Series' var/std in float64 and casts it back to float16 (its
    mean stays float64); describe's std is that float16 value, widened."""
    cases = [np.arange(300), [np.nan, np.nan], [1.0], np.linspace(-3, 5, 41)]
    for values in cases:
        s = pd.Series(np.asarray(values, dtype=np.float16))
        for op in ("var", "std"):
            for ddof in (0, 1):
                want = getattr(s, op)(ddof=ddof)
                got = getattr(par, op)(s, ddof=ddof, n=n, backend="serial")
                assert type(got) is type(want) and (got == want or np.isnan(want)), (op, got)
        pd.testing.assert_series_equal(par.describe(s, n=n, backend="serial"), s.describe())


@pytest.mark.parametrize("n", [1, 3, 7])
def test_variance_of_python_objects_is_numpys_in_their_own_arithmetic(pool, n):
    """np.var of Decimal, Fraction or int objects computes in the objects' arithmetic (a
    Decimal result, an exact Fraction); the partial moments merge the same way."""
    from decimal import Decimal
    from fractions import Fraction

    cases = [np.array([Decimal(k) / 4 for k in range(60)], dtype=object),
             np.array([Fraction(k, 7) for k in range(40)], dtype=object),
             np.arange(30).astype(object),
             np.array([1.0, 2, 3, 4.5], dtype=object),
             np.array([1j, 2, 3 + 1j, 4 - 2j, 0, 2.5j], dtype=object)]  # numpy: E|z - m|²
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", par.errors.PickleFallbackWarning)
        for values in cases:
            for ddof in (0, 1):
                want = np.var(values, ddof=ddof)
                got = pool.map_reduce(None, values, Var(ddof=ddof), n=n)
                assert type(got) is type(want)
                rtol = 1e-20 if isinstance(want, Decimal) else 1e-12  # floats: merge rounding
                assert got == want or float(abs(got - want)) <= float(abs(want)) * rtol, got
            if not isinstance(values[0], Fraction):  # numpy: a Fraction has no sqrt
                want, got = np.std(values), pool.map_reduce(None, values, Std(), n=n)
                assert type(got) is type(want)
                assert float(abs(got - want)) <= float(abs(want)) * 1e-12
        columns = np.array([[Decimal(v) for v in row] for row in ((1, 2), (3, 5), (7, 1))],
                           dtype=object)
        np.testing.assert_array_equal(pool.map_reduce(None, columns, Var(axis=0), n=2),
                                      np.var(columns, axis=0))


@pytest.mark.parametrize("dtype", ["Float64", "Float32"])
def test_nullable_float_sum_is_na_where_the_partials_add_to_nan(dtype):
    """pandas' sum of a nullable float Series whose valid values add to NaN (inf + -inf) is
    <NA>; chunks that hold -inf and inf apart must not give nan instead."""
    cases = [[-np.inf, np.inf], [-np.inf, None, np.inf], [1.5, None, 2.0], [None, None], []]
    for values in cases:
        s = pd.Series(pd.array(values, dtype=dtype))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            want = s.sum()
            for n in (1, 2, 3):
                got = par.sum(s, n=n, backend="serial")
                assert (got is pd.NA) == (want is pd.NA), (values, n, got)
                if want is not pd.NA:
                    assert type(got) is type(want) and got == want
    frame = pd.DataFrame({"a": [-np.inf, np.nan, np.inf], "b": pd.array([None, None, 0], "Int64")})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # pandas' own, for inf + -inf
        assert all(par.sum(frame, axis=None, n=n, backend="thread") is pd.NA for n in (1, 2, 3))


def test_approximate_quantile_takes_q_of_any_shape_and_dtype_as_numpy():
    """Data within the sketch: numpy's exact answer, for a 2-d q (it was read row by row) and
    for q of float32 or longdouble (numpy interpolates in q's dtype; pandas in float64)."""
    x = np.array([3, 1, 4, 1, 5, 9, 2, 6], dtype=np.int8)
    qs = [[[0.1, 0.5], [0.6, 0.9]], np.float32(0.3), np.longdouble(0.5),
          np.array([[0.3], [0.7]], dtype=np.float32), [[0, 1]], 0.3]
    for q in qs:
        for data in (x, x.astype(np.float64) + 0.25):
            for n in (1, 3):
                got, want = par.quantile(data, q, n=n, backend="serial"), np.quantile(data, q)
                assert np.shape(got) == np.shape(want) and np.asarray(got).dtype == want.dtype
                np.testing.assert_array_equal(got, want)
    s = pd.Series(x.astype(np.int64))
    got = par.quantile(s, np.float32(0.3), n=3, backend="serial")
    assert got == s.quantile(np.float32(0.3)) and type(got) is type(s.quantile(0.3))
    big = np.random.default_rng(4).standard_normal(20_000)
    q = np.array([[0.1, 0.5], [0.6, 0.9]])
    got = par.quantile(big, q, n=4, backend="serial")
    bound = (len(big) / 4096 + 1) / len(big)  # the docstring's rank bound, as a fraction
    ranks = np.searchsorted(np.sort(big), got) / (len(big) - 1)
    assert got.shape == q.shape and (np.abs(ranks - q) <= bound + 1e-9).all()


@pytest.mark.parametrize("bins", ["scott", "doane", "fd", "auto"])
def test_histogram_estimators_of_float16_data_count_bins_as_numpy(bins):
    """numpy's scott and doane take np.std and np.mean of float16 data in float16 (squares
    that fall to subnormals): the bin count follows numpy's values, not more exact ones."""
    rng = np.random.default_rng(7)
    cases = [np.array([7.6015625, 8.6015625, 4.0, 7.69921875, -11.203125], np.float16),
             np.array([0.000554, 0.000872, -0.0001503, 0.00077], np.float16)]
    cases += [(rng.standard_normal(int(rng.integers(3, 300))) * 10.0 ** rng.uniform(-4, 2))
              .astype(np.float16) for _ in range(40)]
    for x in cases:
        for rng_ in (None, (float(x.min()), (float(x.min()) + float(x.max())) / 2)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # float16 squares overflow
                try:
                    want = np.histogram(x, bins, range=rng_)
                except ValueError:  # numpy's own float16 rounding can put a value in bin -1
                    continue
                gots = [par.histogram(x, bins, range=rng_, n=n, backend="serial") for n in (1, 3)]
            for got in gots:
                np.testing.assert_array_equal(got[1], want[1])
                np.testing.assert_array_equal(got[0], want[0])


def test_variance_keeps_its_digits_on_a_large_offset_whatever_the_chunking():
    """Each partial's mean carries its rounding error (the mean of its deviations), so Chan's
    merge loses nothing to an offset: as accurate as numpy's one pass over the whole data."""
    rng = np.random.default_rng(3)
    for offset in (1e9, 1e12, 1e15):
        x = offset + rng.standard_normal(50_000)
        truth = np.var(x - offset)  # exact differences (Sterbenz): the variance to ~1e-16
        numpy_error = abs(np.var(x) - truth) / truth
        for n in (2, 7, 64):
            error = abs(par.var(x, n=n, backend="serial") - truth) / truth
            assert error <= 2 * numpy_error + 1e-14, (offset, n, error, numpy_error)
    ints = np.array([0, 1, 2, 3, 1, 2, 0, 3, 3, 1, 2, 2, 0, 1, 3, 2], dtype=np.int64) + 2**40
    for n in range(1, 17):  # it was 1.10936 for n=5
        assert par.var(ints, n=n, backend="serial") == pytest.approx(np.var(ints), rel=1e-15)
    s = pd.Series(1e12 + rng.standard_normal(50_000))
    truth = (s - 1e12).var()
    pandas_error = abs(s.var() - truth) / truth
    assert abs(par.var(s, n=7, backend="thread") - truth) / truth <= 2 * pandas_error + 1e-14


def test_review_edges_of_the_mean_low_part_and_q_dtype():
    """An overflowing mean keeps numpy's inf variance (its low part was inf - inf); a float16
    q on more than 65,504 values is read in float64 ((N - 1) q overflowed to the maximum)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        a = np.array([1.7e308, 1.7e308])
        assert par.var(a, n=1, backend="serial") == np.var(a) == np.inf
        assert par.var(pd.Series(a), n=1, backend="serial") == pd.Series(a).var()
    x = np.random.default_rng(0).standard_normal(100_000)
    got = par.quantile(x, np.float16(0.5), n=2, backend="serial")
    assert abs(got - np.median(x)) < 0.05


def test_ties_in_an_object_column_keep_the_first_as_pandas():
    """Of equal values pandas' min/max of an object column keep the first (1 before 1.0,
    np.float32(1.0) before np.float64(1.0)); which of 0.0 and -0.0 numpy's SIMD reduction
    keeps depends on its lanes, and is not copied (README)."""
    for values in ([1, 1.0, True], [1.0, 1], [np.float32(1.0), np.float64(1.0)],
                   [1, np.float64(1.0)]):
        s = pd.Series(values, dtype=object)
        for n in (1, 2, 3):
            for name in ("min", "max"):
                got, want = getattr(par, name)(s, n=n, backend="serial"), getattr(s, name)()
                assert type(got) is type(want) and got == want, (values, n, name, got, want)


def test_a_frame_of_times_reduced_whole_gives_numpys_scalars_as_pandas():
    """``df.sum(axis=None)`` of datetime or timedelta columns is numpy's datetime64 or
    timedelta64 in pandas, not a Timestamp or Timedelta (NaT too)."""
    spans = pd.DataFrame({"t": pd.to_timedelta(["1 days", "2 hours", None, "5s"]),
                          "u": pd.to_timedelta(["3 min", "1s", "4s", None])})
    stamps = pd.DataFrame({"a": pd.date_range("2020", periods=4),
                           "b": pd.date_range("2021", periods=4, unit="s")})
    for frame, ops in ((spans, ("sum", "mean", "std", "min", "max")),
                       (stamps, ("mean", "std", "min", "max")),
                       (stamps.iloc[:0], ("mean", "std", "min", "max"))):
        for op in ops:
            for options in ({}, {"skipna": False}):
                want = getattr(frame, op)(axis=None, **options)
                got = getattr(par, op)(frame, axis=None, n=2, backend="thread", **options)
                assert type(got) is type(want) and repr(got) == repr(want), (op, got, want)
    assert repr(par.sum(spans, axis=None, min_count=9)) == repr(spans.sum(axis=None,
                                                                          min_count=9))


def test_arrow_integer_sums_wrap_as_pyarrows_whatever_the_chunking():
    """pyarrow sums integers in 64 bits (int8 too) and wraps there; chunk sums added as
    Python ints went past the dtype's range, and differed with the chunking."""
    for dtype, values in (("uint64[pyarrow]", [2**64 - 1, 2, None, 3]),
                          ("int64[pyarrow]", [2**62] * 3 + [None]),
                          ("int8[pyarrow]", [100, 100, None, 100, 100])):
        s = pd.Series(values, dtype=dtype)
        for n in (1, 2, 4):
            got, want = par.sum(s, n=n, backend="serial"), s.sum()
            assert type(got) is type(want) and got == want, (dtype, n, got, want)


def test_describe_of_arrow_numbers_is_arrows_double_as_pandas():
    s = pd.Series([1, 2, None, 4, 5], dtype="int64[pyarrow]")
    frame = pd.DataFrame({"i": s, "f": pd.array([1.5, None, 2, 3, 4], "float64[pyarrow]")})
    for n in (1, 2):
        pd.testing.assert_series_equal(par.describe(s, n=n, backend="serial"), s.describe())
        pd.testing.assert_frame_equal(par.describe(frame, n=n, backend="serial"),
                                      frame.describe())


@pytest.mark.parametrize("dtype", ["int8", "int64", "float16", "float32", "float64"])
@pytest.mark.parametrize("q", [np.float16(0.3), np.array([0.1, 0.75], np.float16)])
def test_a_float16_q_computes_in_float16_as_numpy_does(dtype, q):
    """numpy interpolates in a float16 q's dtype (NEP 50): int8 data gives float16 and int64
    float64, each with numpy's own rounding (q was widened to float64 first)."""
    x = (np.arange(37) * 3).astype(dtype)
    for n in (1, 3):
        got, want = par.quantile(x, q, n=n, backend="serial"), np.quantile(x, q)
        assert np.asarray(got).dtype == np.asarray(want).dtype
        np.testing.assert_array_equal(got, want)


def test_describe_of_data_in_memory_is_pandas_exactly_past_the_sketch(pool):
    """Chunks of more than sketch_size values had given approximate percentiles by default
    (the median off by 0.7% on 100,000 normal values); a lazy source stays approximate."""
    rng = np.random.default_rng(4)
    df = pd.DataFrame({"x": rng.normal(size=100_000), "t": pd.to_datetime(
        rng.integers(0, 10**15, 100_000))})
    got = par.describe(df, pool=pool, n=4)
    pd.testing.assert_frame_equal(got, df.describe(), rtol=1e-12)
    pd.testing.assert_series_equal(par.describe(df["x"], pool=pool, n=4), df["x"].describe(),
                                   rtol=1e-12)
