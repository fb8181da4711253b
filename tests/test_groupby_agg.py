"""groupby_agg, GroupBy, ValueCounts, describe and the pandas-convention reducers, against pandas.

pandas is the oracle: ``par.groupby_agg(df, by, agg)`` must return what
``df.groupby(by).agg(agg)`` returns (values to 1e-9 relative, dtypes, index, column order, sort
order, ``dropna`` and ``observed``) on every backend, for every chunking.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal, assert_series_equal

import parallel_analysis as par
from parallel_analysis import reducers as R
from parallel_analysis.errors import PickleFallbackWarning
from parallel_analysis.reduce import tree_reduce
from parallel_analysis.reducers import Describe, GroupBy, ValueCounts

RTOL = 1e-9
AGGS = ["sum", "count", "size", "mean", "var", "std", "min", "max", "first", "last", "nunique"]


def assert_same(got, expected, rtol=RTOL):
    if isinstance(expected, pd.Series):
        assert_series_equal(got, expected, check_exact=False, rtol=rtol)
    else:
        assert_frame_equal(got, expected, check_exact=False, rtol=rtol)


def reduce_chunks(reducer, data, n_chunks: int):
    """The reducer over ``n_chunks`` row chunks of ``data``, without a pool."""
    bounds = np.linspace(0, len(data), n_chunks + 1).astype(int)
    parts = [reducer.partial(data.iloc[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
    return reducer.finalize(tree_reduce(parts, reducer.combine))


def keyed_frame(n: int = 4000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    miss = rng.random(n) < 0.15
    return pd.DataFrame({
        "s": pd.Series(np.where(rng.random(n) < 0.05, None, rng.choice(["b", "a", "c"], n)),
                       dtype="str"),
        "i": rng.integers(0, 4, n),
        "c": pd.Categorical(rng.choice(["x", "y"], n), categories=["z", "y", "x"]),
        "n": pd.array(np.where(rng.random(n) < 0.05, None, rng.integers(0, 3, n)),
                      dtype="Int64"),
        "f": np.where(miss, np.nan, rng.normal(10, 3, n)),
        "v": rng.integers(-100, 100, n),
        "b": rng.random(n) < 0.3,
        "N": pd.array(np.where(miss, None, rng.integers(0, 50, n)), dtype="Int64"),
        "t": pd.Series(np.where(miss, None, rng.choice(["p", "q", "r", "s"], n)), dtype="str"),
    })


VALUES = ["f", "v", "b", "N"]


ALL = {"sort": False, "dropna": False, "observed": False}
KEY_CASES = [  # a string, int, categorical and nullable key, alone and together
    ("s", {}), ("s", {"sort": False}), ("s", {"dropna": False}), ("s", ALL),
    ("i", {"sort": False}), ("c", {}), ("c", {"observed": False}), ("c", ALL),
    ("n", {"dropna": False}), ("n", ALL), (["s", "i"], {}), (["s", "i"], ALL),
    (["c", "s"], {"observed": False}), (["c", "s"], ALL), (["n", "c"], ALL),
]


@pytest.mark.parametrize("by, options", KEY_CASES,
                         ids=[f"{b}-{'-'.join(o) or 'default'}" for b, o in KEY_CASES])
def test_every_agg_matches_pandas_for_every_key_kind(by, options):
    keys = by if isinstance(by, list) else [by]
    df = keyed_frame()[keys + VALUES]
    for agg in [AGGS, "mean", {"f": ["mean", "std"], "v": "nunique"}, {"f": "var", "N": "max"}]:
        expected = df.groupby(by, **options).agg(agg)
        assert_same(reduce_chunks(GroupBy(by, agg, **options), df, 5), expected)


def test_every_single_agg_string_matches_pandas():
    df = keyed_frame()[["s", *VALUES]]
    for agg in AGGS:
        assert_same(reduce_chunks(GroupBy("s", agg), df, 5), df.groupby("s").agg(agg))


def test_size_string_gives_a_series_and_strings_aggregate():
    df = keyed_frame()
    assert_same(reduce_chunks(GroupBy("s", "size"), df[["s", "f"]], 5),
                df[["s", "f"]].groupby("s").agg("size"))
    agg = {"t": ["min", "max", "first", "last", "nunique", "count", "sum"]}
    assert_same(reduce_chunks(GroupBy("i", agg), df, 6), df.groupby("i").agg(agg))


def test_groupby_agg_on_every_backend(pool):
    df = keyed_frame(20_000)
    for by, agg in [("s", {"f": ["mean", "var", "count", "size"], "t": "last"}),
                    (["c", "i"], {"v": "sum", "N": "sum"}),
                    ("n", {"f": ["min", "max", "std"], "t": "nunique"})]:
        got = par.groupby_agg(df, by, agg, n=6, backend=pool.backend, workers=2)
        assert_same(got, df.groupby(by).agg(agg))


def test_keys_given_as_arrays_and_series_as_pandas_takes_them(pool):
    """Derived Series, bare arrays, an Index, a categorical, a Series with another index order
    (aligned), a column's own Series (not aggregated) and a copy of it (aggregated), mixed with
    labels: what pandas returns, index names included."""
    df = keyed_frame(6_000).set_index(pd.Index(np.arange(6_000) * 2, name="row"))
    hour = pd.Series(df["v"].to_numpy() % 24, index=df.index, name="hour")
    keys = [df["v"] // 40, df["v"].to_numpy() % 3, pd.Index(df["i"].to_numpy(), name="ix"),
            pd.Categorical(df["c"].astype(str)), hour.sample(frac=1.0, random_state=1),
            df["i"], df["i"].copy(), ["s", df["v"] > 0], [hour, "c"]]
    for by, agg in itertools.product(keys, ["count", {"f": ["mean", "var"], "t": "nunique"}]):
        for options in ({}, ALL):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # observed=False on categoricals
                want = df.groupby(by, **options).agg(agg)
                got = par.groupby_agg(df, by, agg, n=5, backend=pool.backend, workers=2,
                                      **options)
            assert_same(got, want)
    with pytest.raises(ValueError, match="same length"):
        par.groupby_agg(df, df["v"].to_numpy()[:10], "sum", backend=pool.backend)


def test_the_columns_keep_their_name_and_label_dtype(pool):
    """The input's column axis name (and a MultiIndex's names) stays on the result, and labels
    of object dtype stay object for string and list aggregations; a dict's keys are labels anew,
    as pandas makes them (found by an independent probe: the name was dropped, object became
    str)."""
    df = keyed_frame(600)[["i", "f", "v"]]
    df.columns = df.columns.astype(object).rename("cols")
    for agg in ["sum", "max", "mean", ["max", "var"], {"f": "max"}, {"f": ["max"], "v": "sum"},
                {"v": "nunique"}]:
        got = par.groupby_agg(df, "i", agg, n=4, backend=pool.backend, workers=2)
        assert_same(got, df.groupby("i").agg(agg))
        assert got.columns.names == df.groupby("i").agg(agg).columns.names


def test_a_tuple_is_one_key_as_in_pandas(pool):
    """A tuple is one label (a MultiIndex column), not a list of keys, as pandas 2 reads it:
    grouping by it, aggregating MultiIndex columns (labels and their levels' dtypes as pandas
    gives them), and pandas' KeyError when no column has that label."""
    rng = np.random.default_rng(3)
    df = pd.DataFrame(rng.standard_normal((3_000, 3)),
                      columns=pd.MultiIndex.from_tuples([("t", 1), ("t", 2), ("u", 1)]))
    df[("t", 1)] = rng.integers(0, 7, len(df))
    df[("s", "x")] = rng.choice(["p", "q", "r"], len(df))
    for by in [("t", 1), [("t", 1), ("s", "x")], ("s", "x")]:
        for agg in ["sum", {("t", 2): ["mean", "var"], ("u", 1): "sum"}, {("t", 2): "max"},
                    {("u", 1): ["nunique", "median", "std"]}, "count", "first"]:
            got = par.groupby_agg(df, by, agg, n=4, backend=pool.backend, workers=2)
            assert_same(got, df.groupby(by).agg(agg))
    flat = keyed_frame()
    with pytest.raises(KeyError):
        flat.groupby(("s", "i"))
    with pytest.raises(KeyError):
        par.groupby_agg(flat, ("s", "i"), "sum", backend=pool.backend)
    with pytest.raises(KeyError, match="give several keys as a list"):
        par.split(flat, 3, by=("s", "i"))


def test_functions_dicts_and_levels_as_keys_and_pandas_own_forms(pool):
    """A function or dict key is applied to the index labels; level= groups by index levels;
    idxmax answers with index labels; lambdas in a list are <lambda_0>...; time bins
    (pd.Grouper), repeated column labels, ohlc and transformations are pandas' own answers."""
    df = keyed_frame(3_000).set_index(pd.Index(np.arange(3_000) * 3 + 7, name="row"))
    t = pd.DataFrame({"t": pd.date_range("2024-01-01", periods=500, freq="37min"),
                      "v": np.arange(500.0)})
    mi = df.set_index(["s", "c"], append=True)
    cases = [(df, {"by": lambda i: i % 5}, {"f": ["sum", "mean"]}),
             (df, {"by": {i: i % 4 for i in df.index[::2]}}, "count"),
             (df, {"by": ["s", lambda i: i % 2]}, {"f": "max"}),
             (df, {"by": "s"}, {"f": ["idxmax", "idxmin"], "v": "idxmax"}),
             (mi, {"by": "s"}, {"f": "idxmax"}),
             (mi, {"by": None, "level": "c"}, {"f": "sum"}),
             (mi, {"by": None, "level": [1, "row"]}, {"v": ["min", "max"]}),
             (df, {"by": "s"}, {"f": ["mean", lambda c: c.max(), lambda c: c.min()]}),
             (t, {"by": pd.Grouper(key="t", freq="D")}, {"v": "sum"}),
             (t.set_index("t"), {"by": pd.Grouper(freq="6h")}, {"v": ["mean", "size"]}),
             (df, {"by": "s"}, {"f": "cumsum"}),
             (df, {"by": "s"}, {"f": ("sum", "cumsum")}),
             (df[["s", "f"]], {"by": "s"}, ("cumsum",)),
             (df[["s", "f"]], {"by": "s"}, "ohlc"),
             (df[["s", "f", "v"]].set_axis(["s", "f", "f"], axis=1), {"by": "s"}, "sum")]
    for frame, keys, agg in cases:
        by, level = keys["by"], keys.get("level")
        want = frame.groupby(by, level=level).agg(agg)
        got = par.groupby_agg(frame, by, agg, level=level, n=4, backend=pool.backend,
                              workers=2)
        assert_same(got, want)
    with par.share(mi) as shared:  # levels of a shared frame's index too
        assert_same(par.groupby_agg(shared, None, {"f": "sum"}, level="c", n=4,
                                    backend=pool.backend, workers=2),
                    mi.groupby(level="c").agg({"f": "sum"}))


def test_aggregations_that_do_not_merge_use_the_rows(pool):
    df = keyed_frame()
    agg = {"f": ["median", "sum"], "v": "prod"}
    got = par.groupby_agg(df, "s", agg, n=4, backend=pool.backend, workers=2)
    assert_same(got, df.groupby("s").agg(agg))


def test_errors_are_pandas_errors():
    df = keyed_frame()
    with pytest.raises(TypeError):
        reduce_chunks(GroupBy("i", {"t": "mean"}), df, 3)
    with pytest.raises(KeyError):
        par.groupby_agg(df, "i", {"missing": "sum"}, backend="serial")


def test_state_is_one_row_per_group_not_the_rows():
    df = keyed_frame(50_000)
    state = GroupBy("i", ["mean", "var", "max"]).partial(df[["i", "f", "v"]])
    assert [len(t) for t in state.tables] == [4]
    assert not state.rows and not state.pairs


def test_only_the_columns_the_aggregation_reads_are_shared():
    df = keyed_frame(2000).assign(obj=[{"a": i} for i in range(2000)])
    with warnings.catch_warnings():
        warnings.simplefilter("error", PickleFallbackWarning)  # obj is never shipped
        got = par.groupby_agg(df, "s", {"f": "mean"}, n=3, backend="process", workers=2)
    assert_same(got, df.groupby("s").agg({"f": "mean"}))


def test_variance_is_stable_with_a_large_offset():
    """Chan's update on 1e9 + N(0, 3): the naive sum of squares would lose every digit."""
    rng = np.random.default_rng(7)
    n = 200_000
    df = pd.DataFrame({"k": rng.integers(0, 5, n), "x": 1e9 + rng.normal(0, 3, n)})
    exact = (df.assign(x=df["x"] - 1e9).groupby("k")["x"]).agg(["var", "std"])
    exact_mean = df.assign(x=df["x"] - 1e9).groupby("k")["x"].mean() + 1e9
    for chunks in (1, 3, 16):
        got = reduce_chunks(GroupBy("k", {"x": ["var", "std", "mean"]}), df, chunks)
        np.testing.assert_allclose(got[("x", "var")], exact["var"], rtol=1e-12)
        np.testing.assert_allclose(got[("x", "std")], exact["std"], rtol=1e-12)
        np.testing.assert_allclose(got[("x", "mean")], exact_mean, rtol=1e-15)


def test_empty_frame():
    df = keyed_frame(0)[["s", "f", "v"]]
    got = par.groupby_agg(df, "s", {"f": "sum", "v": "max"}, backend="serial")
    assert len(got) == 0 and list(got.columns) == ["f", "v"]


# -- a real-world-shaped data set ------------------------------------------------------------------


@pytest.fixture(scope="module")
def sales() -> pd.DataFrame:
    """200,000 orders: regions and products as strings, a categorical channel, nullable
    quantities, prices with missing values, a skewed customer key (one customer holds 20%)."""
    rng = np.random.default_rng(2024)
    n = 200_000
    cities = np.array(["Lyon", "Paris", "Nantes", "Lille", "Nice", "Brest", "Metz", "Pau"])
    products = np.array([f"SKU-{i:03d}" for i in range(300)])
    customer = np.where(rng.random(n) < 0.2, 0, rng.integers(1, 20_000, n))
    return pd.DataFrame({
        "city": pd.Series(np.where(rng.random(n) < 0.01, None, rng.choice(cities, n)),
                          dtype="str"),
        "product": pd.Series(rng.choice(products, n, p=np.r_[0.3, np.full(299, 0.7 / 299)]),
                             dtype="str"),
        "channel": pd.Categorical(rng.choice(["web", "shop", "phone"], n, p=[.6, .3, .1]),
                                  categories=["shop", "web", "phone", "fax"]),
        "year": rng.integers(2019, 2025, n),
        "customer": customer,
        "quantity": pd.array(np.where(rng.random(n) < 0.05, None, rng.integers(1, 20, n)),
                             dtype="Int64"),
        "price": np.where(rng.random(n) < 0.08, np.nan, rng.lognormal(3, 1, n).round(2)),
        "returned": rng.random(n) < 0.04,
        "note": pd.Series(np.where(rng.random(n) < 0.7, None,
                                   rng.choice(["gift", "urgent", "fragile"], n)), dtype="str"),
    })


@pytest.mark.parametrize("by, agg, options", [
    (["city", "year"], {"price": ["sum", "mean", "std", "min", "max"], "quantity": "sum",
                        "returned": "mean", "note": ["count", "nunique"]}, {}),
    ("product", {"price": ["median", "var"], "customer": "nunique", "city": ["first", "last"]},
     {"sort": False}),
    (["channel", "city"], ["count", "size"], {"dropna": False, "observed": False}),
    ("customer", {"price": ["mean", "count"], "quantity": ["max", "mean"]}, {}),
])
def test_real_world_shaped_data_on_every_backend(pool, sales, by, agg, options):
    data = sales if isinstance(agg, dict) else sales[[*by, "price", "quantity"]]
    expected = data.groupby(by, **options).agg(agg)
    got = par.groupby_agg(data, by, agg, backend=pool.backend, workers=2, **options)
    assert_same(got, expected)


def test_real_world_value_counts_and_describe(pool, sales):
    got = pool.map_reduce(None, sales["product"], ValueCounts(), n=7)
    assert_series_equal(got, sales["product"].value_counts())
    got = pool.map_reduce(None, sales[["city", "channel"]], ValueCounts(dropna=False), n=5)
    assert_series_equal(got, sales[["city", "channel"]].value_counts(dropna=False))
    got = par.describe(sales, exact=True, n=6, backend=pool.backend, workers=2)
    assert_same(got, sales.describe())


# -- property tests -----------------------------------------------------------------------------


@st.composite
def frames(draw):
    n = draw(st.integers(0, 40))
    key = st.one_of(st.none(), st.sampled_from(["a", "b", "c"]))
    value = st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False))
    return pd.DataFrame({
        "k": pd.Series(draw(st.lists(key, min_size=n, max_size=n)), dtype="str"),
        "j": draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)),
        "x": pd.Series(draw(st.lists(value, min_size=n, max_size=n)), dtype="float64"),
        "y": pd.array(draw(st.lists(st.one_of(st.none(), st.integers(-50, 50)),
                                    min_size=n, max_size=n)), dtype="Int64"),
    })


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames(), st.integers(1, 6), st.sampled_from([AGGS, ["mean", "var"], "first"]),
       st.sampled_from(["k", ["k", "j"]]), st.booleans(), st.booleans())
def test_any_chunking_gives_pandas_result(df, chunks, agg, by, sort, dropna):
    expected = df.groupby(by, sort=sort, dropna=dropna).agg(agg)
    got = reduce_chunks(GroupBy(by, agg, sort=sort, dropna=dropna), df, min(chunks, len(df)) or 1)
    assert_same(got, expected, rtol=1e-7)


@settings(max_examples=20, deadline=None)
@given(frames(), st.integers(1, 39), st.integers(1, 39))
def test_combine_is_associative(df, cut1, cut2):
    lo, hi = sorted((min(cut1, len(df)), min(cut2, len(df))))
    reducer = GroupBy("k", {"x": ["sum", "std", "first"], "y": ["mean", "nunique"]})
    a, b, c = (reducer.partial(df.iloc[s]) for s in (slice(0, lo), slice(lo, hi),
                                                     slice(hi, None)))
    left = reducer.finalize(reducer.combine(reducer.combine(a, b), c))
    right = reducer.finalize(reducer.combine(a, reducer.combine(b, c)))
    assert_same(left, right, rtol=1e-12)


# -- ValueCounts, Concat, describe, pandas-convention reducers ------------------------------------


def test_value_counts_ties_keep_first_appearance():
    s = pd.Series(["b", "a", "b", "c", "a", None, "c"], dtype="str")
    for chunks in (1, 2, 3, 7):
        assert_series_equal(reduce_chunks(ValueCounts(), s, chunks), s.value_counts())
        assert_series_equal(reduce_chunks(ValueCounts(dropna=False, normalize=True), s, chunks),
                            s.value_counts(dropna=False, normalize=True))


def test_value_counts_of_frames_and_object_missing_values_as_pandas():
    """A one-column frame keeps pandas' one-level MultiIndex; None, NaN and pd.NA count apart
    in an object Series; categorical frames get pandas' zero counts of the unseen category
    combinations (observed=False), after the rows seen, ties in pandas' order."""
    ordered = pd.Categorical(["lo", "hi", "mid", "lo"], categories=["lo", "mid", "hi"],
                             ordered=True)
    cases = [
        pd.DataFrame({"i": [3, 1, 3, 2, 1, 3]}),
        pd.DataFrame({"f": [0.5, None, 0.5, 2.0]}),
        pd.Series(["x", None, "y", None, "x", np.nan], dtype=object),
        pd.Series([np.nan, None, pd.NA, np.nan, "z"], dtype=object),
        pd.DataFrame({"c": pd.Categorical(["lo", "hi", None], categories=["lo", "hi"]),
                      "f": [1.0, 2.0, 3.0]}),
        pd.DataFrame({"c": ordered, "c2": ordered}),
        pd.DataFrame({"c": pd.Categorical(["a", "b", "a", None, "b"], categories=["b", "a", "u"]),
                      "k": [1, 2, 1, 2, 2]}),
        pd.DataFrame({0: [1, 2, 1], 1: [10, 20, 10]})[[1, 0]],  # int labels, not positions
    ]
    for data in cases:
        for chunks in (1, 2, 3, len(data)):
            for dropna, normalize in ((True, False), (False, False), (False, True)):
                assert_series_equal(
                    reduce_chunks(ValueCounts(dropna=dropna, normalize=normalize), data, chunks),
                    data.value_counts(dropna=dropna, normalize=normalize), check_exact=True)


def test_several_failing_columns_raise_pandas_error_for_the_first(pool):
    """pandas reports the first column it cannot aggregate, in column order; a chunk's other
    column may fail first here, so the error is pandas' own."""
    cases = [
        (pd.DataFrame({"k": ["a", "a", "b"], "v": [1.0, 2.0, np.nan],
                       "c": pd.Categorical(["x", "y", "x"])}), "idxmax"),
        (pd.DataFrame({"k": [1, 1, 2], "o": np.array([1, "a", 2], dtype=object),
                       "t": pd.date_range("2020", periods=3, tz="UTC")}), "sum"),
        (pd.DataFrame({"k": [1, 1, 2], "v": [1.0, 2.0, 3.0],
                       "s": pd.array(["a", "b", "c"], dtype="str"),
                       "t": pd.date_range("2020", periods=3, tz="UTC")}), ["sum", "mean"]),
    ]
    for frame, agg in cases:
        with pytest.raises(Exception) as theirs:
            frame.groupby("k").agg(agg)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", par.errors.PickleFallbackWarning)
            with pytest.raises(type(theirs.value)) as ours:
                par.groupby_agg(frame, "k", agg, pool=pool, n=3)
        assert str(ours.value) == str(theirs.value)


def test_concat_keeps_row_order(pool):
    df = keyed_frame(1000)
    got = pool.map_reduce(lambda c: c[c["v"] > 0], df, R.Concat(), n=5)
    assert_frame_equal(got, df[df["v"] > 0])


def test_describe_percentiles_within_the_sketch_bound():
    rng = np.random.default_rng(5)
    df = pd.DataFrame({"x": rng.normal(size=100_000), "y": rng.integers(0, 1000, 100_000)})
    got = reduce_chunks(Describe(sketch_size=512), df, 8)
    expected = df.describe()
    assert_same(got.drop(["25%", "50%", "75%"]), expected.drop(["25%", "50%", "75%"]))
    for col in df:
        ordered = np.sort(df[col].to_numpy())
        for label, q in (("25%", 0.25), ("50%", 0.5), ("75%", 0.75)):
            rank = np.searchsorted(ordered, got.loc[label, col])
            assert abs(rank - q * (len(df) - 1)) <= len(df) / 512 + 2


PANDAS_REDUCERS = [("sum", R.Sum), ("count", R.Count), ("mean", R.Mean), ("var", R.Var),
                   ("std", R.Std), ("min", R.Min), ("max", R.Max)]


@pytest.mark.parametrize("name, reducer", PANDAS_REDUCERS, ids=[p[0] for p in PANDAS_REDUCERS])
def test_pandas_convention_reducers(pool, name, reducer):
    df = keyed_frame(3000)[["f", "v", "b", "N"]]
    got = pool.map_reduce(None, df, reducer(), n=5)
    assert_same(got, getattr(df, name)())
    for column in ("f", "N"):
        got = pool.map_reduce(None, df[column], reducer(), n=5)
        expected = getattr(df[column], name)()
        assert got == pytest.approx(expected, rel=RTOL)


@pytest.mark.parametrize("reducer", [R.Min, R.Max])
def test_min_max_skip_a_chunk_with_no_values(reducer):
    s = pd.Series([np.nan, np.nan, 1.0, 2.0])
    expected = getattr(s, reducer.__name__.lower())()
    assert reduce_chunks(reducer(), s, 2) == expected


@pytest.mark.parametrize("key", [
    np.array([-3, 7, 0, 7, 2, -3] * 500, dtype=np.int64),
    np.arange(3000, dtype=np.uint8),
    np.array([0, 10**12] * 1500),  # too wide to count directly: pandas' hash table
], ids=["gaps", "uint8", "wide"])
def test_integer_keys_counted_directly_match_pandas(key):
    rng = np.random.default_rng(11)
    df = pd.DataFrame({"k": key, "f": np.where(rng.random(len(key)) < 0.1, np.nan,
                                               rng.normal(5, 2, len(key))),
                       "v": rng.integers(0, 9, len(key)), "b": rng.random(len(key)) < 0.5})
    for agg in (["size", "count", "mean", "var", "std"], "mean", {"f": "count", "b": "var"}):
        for chunks in (1, 4):
            assert_same(reduce_chunks(GroupBy("k", agg), df, chunks), df.groupby("k").agg(agg))


@pytest.mark.parametrize("values", [[1, 2, None, 1, 2, None], [True, None, False, True],
                                    [1.5, None, 2, np.nan]], ids=["ints", "bools", "numbers"])
@pytest.mark.parametrize("sort", [True, False])
@pytest.mark.parametrize("dropna", [True, False])
def test_object_keys_with_none_give_pandas_index_dtype(values, sort, dropna):
    """An object key holding None: pandas' one groupby drops it before it infers the index's
    dtype (ints stay int64), where a groupby that keeps the NA group would read 1, 2, None as
    floats; partials keep the key's values as they are, so the last groupby infers the same."""
    df = pd.DataFrame({"k": pd.Series(values * 6, dtype=object),
                       "j": np.arange(len(values) * 6) % 2,
                       "x": np.arange(len(values) * 6, dtype=np.float64)})
    frames = {"column": df, "index level": df.set_index("k"),
              "index levels": df.set_index(["k", "j"])}
    for (where, frame), by in itertools.product(frames.items(), ("k", ["k", "j"])):
        if where == "index levels" and by == "k":
            continue
        for agg in ({"x": ["mean", "var", "size"]}, {"x": ["mean", "first"]}):
            expected = frame.groupby(by, sort=sort, dropna=dropna).agg(agg)
            for chunks in (1, 3):
                got = reduce_chunks(GroupBy(by, agg, sort=sort, dropna=dropna), frame, chunks)
                assert_frame_equal(got, expected, check_exact=False, rtol=1e-12,
                                   obj=f"{where} {by} {agg} {chunks}")


def test_a_shared_frame_is_aggregated_without_copies(pool):
    df = keyed_frame(10_000)[["s", "f", "v"]]
    with par.share(df) as handle:
        got = par.groupby_agg(handle, "s", ["mean", "max"], n=4, backend=pool.backend,
                              workers=2)
        assert_same(got, df.groupby("s").agg(["mean", "max"]))


def test_memory_benchmark_runs(tmp_path):
    """benchmarks/groupby_memory.py in smoke mode, so the measurement script cannot rot."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).parents[1] / "benchmarks" / "groupby_memory.py"
    out = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, str(script), "--rows", "20000", "--runs", "1", "--aggs", "var",
         "--methods", "pandas,thread", "--json", str(out)],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    results = json.loads(out.read_text())
    assert [r["method"] for r in results] == ["pandas", "thread"]
    assert all(r["median_s"] > 0 and r["peak_x_frame"] > 0 for r in results)


def test_pandas_rare_forms_of_keys_only_frames_and_key_columns_in_a_dict(pool):
    """A frame of keys alone (the groups' sizes), a dict aggregating a key column, an empty
    dict: pandas' answers and errors (its own code computes them)."""
    pairs = pd.DataFrame({"a": [1, 1, 2, 2, 2], "b": ["x", "x", "y", "z", "y"]})
    on = dict(backend=pool.backend, workers=2, n=2)
    pd.testing.assert_series_equal(par.groupby_agg(pairs, ["a", "b"], "size", **on),
                                   pairs.groupby(["a", "b"]).agg("size"))
    with pytest.raises(ValueError, match="No objects to concatenate"):
        par.groupby_agg(pairs[["a"]], "a", ["sum", "count"], **on)
    df = pairs.assign(v=np.arange(5.0))
    for how in ("nunique", "median", "idxmax"):
        pd.testing.assert_frame_equal(
            par.groupby_agg(df, ["a", "b"], {"a": how, "v": "sum"}, **on),
            df.groupby(["a", "b"]).agg({"a": how, "v": "sum"}))
    pd.testing.assert_frame_equal(par.groupby_agg(df, "a", {}, **on), df.groupby("a").agg({}))
