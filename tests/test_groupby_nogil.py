"""GroupBy's partials on pandas' GIL-releasing kernels (reducers.groupby_nogil), against pandas
and against the numpy path they replace (taken when ``pandas._libs`` is unusable)."""

from __future__ import annotations

import statistics

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from test_groupby_agg import assert_same, keyed_frame, reduce_chunks

from parallel_analysis import gil
from parallel_analysis.reducers import GroupBy, groupby_kernels, groupby_nogil
from parallel_analysis.reducers.groupby_kernels import column_moments, direct_codes
from parallel_analysis.reducers.groupby_nogil import Labels
from parallel_analysis.reducers.groupby_plan import plan_outputs


def test_kernels_are_usable_on_the_supported_pandas():
    assert groupby_nogil.KERNELS is not None


def _frame(kind: str) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 30_000
    k = rng.integers(0, 300, n)
    x = rng.normal(0, 2, n)
    if kind == "offset":  # 1e9 + noise: the corrected two-pass keeps every digit
        x = 1e9 + x
    elif kind == "two offsets":  # groups near 0 and near 1e12 in the same chunk
        x = np.where(k % 2 == 0, x, 1e12 + x)
    elif kind == "na":
        x[rng.random(n) < 0.2] = np.nan
        x[k == 7] = np.nan  # a group with no value
    elif kind == "inf":
        x[k == 3] = np.inf
        x[np.flatnonzero(k == 5)[:2]] = [np.inf, -np.inf]
    return pd.DataFrame({"k": k, "x": x, "i": rng.integers(-5, 5, n), "b": rng.random(n) < 0.5})


def _offset_oracle(df: pd.DataFrame, by: str, agg: dict) -> pd.DataFrame:
    """pandas' answer on the data minus each group's offset (exact), shifted back: pandas'
    own var loses 7 digits at a 1e9 offset."""
    shift = np.where(df["x"].abs() > 1e8, np.round(df["x"], -8), 0.0)
    shifted = df.assign(x=df["x"] - shift)
    expected = shifted.groupby(by).agg(agg)
    offset = pd.Series(shift, index=df.index).groupby(df[by]).first()
    expected[("x", "mean")] += offset
    return expected


AGG = {"x": ["mean", "var", "std", "count", "size"], "i": ["mean", "var"], "b": ["mean"]}


@pytest.mark.parametrize("kind", ["plain", "offset", "two offsets", "na", "inf"])
@pytest.mark.parametrize("chunks", [1, 7])
@pytest.mark.parametrize("key", ["k", "s"])  # an int key in a small range, a string key
def test_kernels_and_numpy_path_both_give_pandas_answer(kind, chunks, key, monkeypatch):
    df = _frame(kind)
    df["s"] = pd.Series(np.where(df["k"] % 11 == 0, None, "g" + df["k"].astype(str)),
                        dtype="str")
    by = key
    frame = df.drop(columns=["s"] if key == "k" else ["k"])
    if kind in ("offset", "two offsets"):
        expected = _offset_oracle(frame, by, AGG)
        rtol = {"mean": 1e-15, "var": 1e-12}
    else:
        expected = frame.groupby(by).agg(AGG)
        rtol = {"mean": 1e-9, "var": 1e-9}
    kernels = reduce_chunks(GroupBy(by, AGG), frame, chunks)
    monkeypatch.setattr(groupby_nogil, "KERNELS", None)
    numpy = reduce_chunks(GroupBy(by, AGG), frame, chunks)
    for got in (kernels, numpy):
        assert_same(got, expected, rtol=rtol["var"])
        np.testing.assert_allclose(got[("x", "mean")], expected[("x", "mean")],
                                   rtol=rtol["mean"], atol=1e-13)  # means near 0: sum order
    assert_frame_equal(kernels[[("x", "count"), ("x", "size")]],
                       numpy[[("x", "count"), ("x", "size")]])  # counts: exact, both ways


def test_fallback_on_every_output_of_the_keyed_frame(monkeypatch):
    df = keyed_frame(3000)
    agg = {"f": ["mean", "var", "count"], "v": ["std", "size"], "N": ["mean", "var"]}
    for by in ("i", "s", ["s", "i"]):
        kernels = reduce_chunks(GroupBy(by, agg), df, 5)
        with monkeypatch.context() as m:
            m.setattr(groupby_nogil, "KERNELS", None)
            numpy = reduce_chunks(GroupBy(by, agg), df, 5)
        expected = df.groupby(by).agg(agg)
        assert_same(kernels, expected)
        assert_same(numpy, expected)


@pytest.mark.parametrize("chunks", [1, 4])
def test_several_int_keys_are_their_own_group_numbers(chunks):
    """Two or three integer keys in small ranges (of different dtypes, negative, unsigned):
    mixed-radix group numbers, no hash table; the index is pandas' MultiIndex."""
    rng = np.random.default_rng(5)
    n = 5000
    df = pd.DataFrame({"a": rng.integers(-3, 4, n).astype(np.int8),
                       "b": rng.integers(250, 256, n).astype(np.uint8),
                       "c": rng.integers(10**12, 10**12 + 40, n),
                       "x": np.where(rng.random(n) < 0.1, np.nan, rng.normal(5, 1, n)),
                       "i": rng.integers(0, 9, n)})
    agg = {"x": ["mean", "var", "count", "size"], "i": ["std"]}
    for by in (["a", "b"], ["b", "c", "a"], ["c"]):
        plan = plan_outputs(agg, by, df.columns)
        assert direct_codes(df, by, plan, True) is not None
        assert_same(reduce_chunks(GroupBy(by, agg), df, chunks), df.groupby(by).agg(agg))


def _key_columns(n: int) -> dict:
    """One key column per kind of dtype the factorized path takes, NA in each that has one."""
    rng = np.random.default_rng(8)
    k = rng.integers(0, 40, n)
    na = rng.random(n) < 0.1
    floats = np.where(na, np.nan, (k - 20) / 4.0)
    floats[k == 20] = -0.0  # -0.0 and 0.0 (k == 20 and 0 / 4) are one group, as in pandas
    return {
        "str": pd.Series(np.where(na, None, "g" + k.astype(str)), dtype="str"),
        # None and NaN: one NA group in pandas' groupby
        "object": pd.Series(np.where(na, np.where(k % 2, None, np.nan), k.astype(str)),
                            dtype=object),
        "float": floats,
        "float32": floats.astype(np.float32),
        "wide int": k * 10**9,  # too wide a span for the keys to be group numbers
        "Int64": pd.array(np.where(na, None, k), dtype="Int64"),
        "arrow int": pd.array(np.where(na, None, k), dtype="int64[pyarrow]"),
        "datetime": pd.Series(pd.to_datetime(k, unit="D")).where(~na),
        "tz datetime": pd.Series(pd.to_datetime(k, unit="h", utc=True)).where(~na),
        "bool": k % 3 == 0,
    }


_KEY_SETS = [[kind] for kind in _key_columns(10)] + [
    ["str", "float"], ["Int64", "datetime"], ["object", "bool", "tz datetime"],
    ["wide int", "arrow int"]]


@pytest.mark.parametrize("kinds", _KEY_SETS, ids="+".join)
@pytest.mark.parametrize("sort", [True, False])
@pytest.mark.parametrize("dropna", [True, False])
@pytest.mark.parametrize("chunks", [1, 5])  # one partial table is the result as it is
def test_factorized_keys_are_pandas_groupby(kinds, sort, dropna, chunks, monkeypatch):
    """Keys numbered by pandas' factorize (several combined in mixed radix) instead of a
    groupby per chunk, kernels' outputs only. Same index, order, dtypes and NA handling as
    pandas, and the same answer as the groupby path it replaces."""
    n = 6000
    rng = np.random.default_rng(9)
    columns = _key_columns(n)
    keys = [f"key {i}" for i in range(len(kinds))]
    # each key column in its own order, so that combinations are not just the one key's
    df = pd.DataFrame({key: pd.Series(columns[kind]).iloc[rng.permutation(n)].to_numpy()
                       if i else columns[kind] for i, (key, kind) in enumerate(zip(keys, kinds))})
    df = df.assign(x=rng.normal(3, 2, n), i=rng.integers(-9, 9, n).astype(np.int32))
    df.loc[rng.random(n) < 0.05, "x"] = np.nan
    agg = {"x": ["mean", "var", "count", "size"], "i": ["std", "mean"]}
    by = keys if len(keys) > 1 else keys[0]
    reducer = GroupBy(by, agg, sort=sort, dropna=dropna)
    plan = plan_outputs(agg, keys, df.columns)
    assert groupby_kernels.factorized_codes(df, keys, plan) is not None
    got = reduce_chunks(reducer, df, chunks)
    expected = df.groupby(by, sort=sort, dropna=dropna).agg(agg)
    assert_same(got, expected)
    assert_frame_equal(got[[("x", "count"), ("x", "size")]],
                       expected[[("x", "count"), ("x", "size")]])  # exact
    monkeypatch.setattr(groupby_kernels, "factorized_codes", lambda *args: None)
    assert_same(reduce_chunks(reducer, df, chunks), got)


def test_factorized_path_leaves_other_outputs_and_categories_to_groupby():
    df = pd.DataFrame({"s": pd.Series(["a", "b", "a"], dtype="str"), "x": [1.0, 2.0, 3.0],
                       "c": pd.Categorical(["u", "v", "u"])})
    plan = plan_outputs({"x": ["mean", "first"]}, ["s"], df.columns)
    assert groupby_kernels.factorized_codes(df, ["s"], plan) is None  # first: a groupby's
    plan = plan_outputs({"x": "mean"}, ["c"], df.columns)
    assert groupby_kernels.factorized_codes(df, ["c"], plan) is None  # categories: the same
    plan = plan_outputs({"x": "mean"}, ["s", "c"], df.columns)
    assert groupby_kernels.factorized_codes(df, ["s", "c"], plan) is None  # one of them
    assert groupby_kernels.factorized_codes(df, ["s", "s"], plan) is None  # a key twice


@pytest.mark.parametrize("sort", [True, False])  # True: int keys are their own numbers
@pytest.mark.parametrize("key", ["i", "s"])
def test_keys_pandas_rejects_are_rejected_as_pandas_does(key, sort):
    """A key that is also an index level name, or a column label twice: pandas' errors, not
    a quiet pick of one of them."""
    df = pd.DataFrame({"i": [1, 2, 1], "s": pd.Series(["a", "b", "a"], dtype="str"),
                       "x": [1.0, 2.0, 3.0]})
    agg = {"x": ["mean", "count"]}
    ambiguous = df.set_index(pd.Index([0, 1, 2], name=key))
    with pytest.raises(ValueError, match="ambiguous"):
        ambiguous.groupby(key, sort=sort).agg(agg)
    with pytest.raises(ValueError, match="ambiguous"):
        reduce_chunks(GroupBy(key, agg, sort=sort), ambiguous, 2)
    twice = pd.concat([df, df[[key]]], axis=1)
    with pytest.raises(ValueError, match="not 1-dimensional"):
        twice.groupby(key, sort=sort).agg(agg)
    with pytest.raises(ValueError, match="not 1-dimensional"):
        reduce_chunks(GroupBy(key, agg, sort=sort), twice, 2)


def test_labels_count_rows_of_groups_only():
    codes = np.array([0, 2, -1, 2, 2, -1], dtype=np.intp)
    assert Labels(codes, 4).size().tolist() == [1, 0, 3, 0]
    x = np.array([1.0, np.nan, 5.0, 2.0, np.inf, 1.0])
    labels = Labels(codes, 4)
    assert groupby_nogil.group_sum(labels, x).tolist() == [1.0, 0.0, np.inf, 0.0]
    assert groupby_nogil.count_valid(labels, x).tolist() == [1, 0, 2, 0]


def test_per_row_work_of_a_partial_releases_the_gil(monkeypatch):
    """The share of the per-row work's CPU time (group numbers, counts, mean and var by an int
    key with 10,000 values) with the GIL held while another thread waited for it, measured by
    gil.watch (load does not inflate it): the numpy path's bincounts hold it for their min/max
    pass, the kernels almost never. (The rest of a partial is per-group glue, < 1 ms.)"""
    rng = np.random.default_rng(0)
    n = 1_000_000
    chunk = pd.DataFrame({"k": rng.integers(0, 10_000, n), "x": rng.normal(0, 1, n)})
    plan = plan_outputs({"x": ["mean", "var"]}, ["k"], chunk.columns)

    def per_row(frame):
        labels = direct_codes(frame, ["k"], plan, True).labels
        column_moments(labels, frame["x"], True)
        return labels.size()

    kernels = groupby_nogil.KERNELS
    shares = {"kernels": [], "numpy": []}
    for _ in range(9):  # interleaved, so that both see the same load
        for path, lib in (("kernels", kernels), ("numpy", None)):
            monkeypatch.setattr(groupby_nogil, "KERNELS", lib)
            per_row(chunk)  # warm
            w = gil.watch(per_row, chunk)
            shares[path].append(w.held / w.ran if w.ran else 0.0)
    held = {path: statistics.median(s) for path, s in shares.items()}
    # Quiet: about 0.05 against 0.17-0.3. Beside other work the watcher's estimate blurs both
    # towards each other (0.17 against 0.26 with a second suite running), never past.
    assert held["kernels"] < held["numpy"], shares
