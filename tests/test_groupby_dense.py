"""GroupBy's dense partials (reducers.groupby_dense): integer keys in small ranges kept as
arrays by key and merged slot by slot, against pandas, where chunks' key ranges differ, do not
overlap, lie too far apart for arrays (tables from there on), and for one to three keys of
every integer dtype."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_groupby_agg import assert_same, reduce_chunks

import parallel_analysis as par
from parallel_analysis.reducers import GroupBy
from parallel_analysis.reducers import groupby_dense as dense

AGG = {"x": ["mean", "var", "std", "count", "size"], "y": ["mean", "count"]}


def _frame(keys: dict, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = len(next(iter(keys.values())))
    x = rng.normal(5, 3, n)
    x[rng.random(n) < 0.1] = np.nan
    # y is float64: pandas 3.1 gives float32 data a float64 mean when the key column is sorted
    # and a float32 one otherwise; the differential tests cover float32 on unsorted keys
    return pd.DataFrame({**keys, "x": x, "y": rng.integers(-9, 9, n).astype(np.float64)})


def _expected(df, by):
    return df.groupby(by).agg(AGG)


@pytest.mark.parametrize("chunks", [1, 2, 3, 7])
@pytest.mark.parametrize("layout", ["shuffled", "sorted", "shifted"])
def test_dense_partials_merge_as_pandas_groups(layout, chunks):
    rng = np.random.default_rng(1)
    k = rng.integers(-50, 150, 5_000)
    if layout == "sorted":  # every chunk a range of its own: each merge widens
        k = np.sort(k)
    elif layout == "shifted":  # ranges that overlap in part
        k = k + np.arange(k.size) // 100
    df = _frame({"k": k})
    reducer = GroupBy("k", AGG)
    state = reducer.partial(df.iloc[:1000])
    assert len(state.dense) == 1 and not state.tables  # the dense path is taken
    assert_same(reduce_chunks(reducer, df, chunks), _expected(df, "k"))


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "int32", "uint32", "int64",
                                   "uint64"])
def test_every_integer_key_dtype_and_several_keys(dtype):
    rng = np.random.default_rng(2)
    n = 6_000
    lows = {"int8": -128, "uint8": 200, "uint64": 2**63}.get(dtype, -3)
    keys = {name: (np.sort(rng.integers(0, span, n)) if name == "a" else
                   rng.integers(0, span, n)).astype(np.int64)
            for name, span in (("a", 40), ("b", 5), ("c", 3))}
    keys = {name: (np.asarray(v, dtype=np.uint64) + np.uint64(lows)).astype(dtype)
            if dtype == "uint64" else (v + lows).astype(dtype) for name, v in keys.items()}
    df = _frame(keys, seed=3)
    for by in (["a"], ["a", "b"], ["b", "a", "c"]):
        for chunks in (1, 4):
            got = reduce_chunks(GroupBy(by, AGG), df, chunks)
            assert_same(got, _expected(df, by))
            assert list(got.index.names) == by
            for level, name in zip(got.index.levels if len(by) > 1 else [got.index], by):
                assert level.dtype == df[name].dtype


def test_ranges_too_far_apart_for_arrays_become_tables():
    near = np.arange(2_000) % 10
    far = 10**9 + np.arange(2_000) % 10
    df = _frame({"k": np.concatenate([near, far, near])})
    reducer = GroupBy("k", AGG)
    parts = [reducer.partial(df.iloc[i: i + 2000]) for i in (0, 2000, 4000)]
    assert all(len(p.dense) == 1 for p in parts)
    assert dense.merge([parts[0].dense[0], parts[1].dense[0]]) is None  # 1e9 slots: no
    merged = dense.merge([parts[0].dense[0], parts[2].dense[0]])  # the same range: yes
    assert merged is not None and merged.rows == 4000
    state = parts[0]
    for part in parts[1:]:
        state = reducer.combine(state, part)
    tables, left = reducer._merged_dense(state.tables, state.dense)
    assert len(tables) == 3 and left == ()
    assert_same(reducer.finalize(state), _expected(df, "k"))
    assert_same(reduce_chunks(reducer, df, 3), _expected(df, "k"))


def test_the_caller_merges_in_batches():
    df = _frame({"k": np.random.default_rng(5).integers(0, 50, 3_000)})
    reducer = GroupBy("k", AGG)
    state = reducer.partial(df.iloc[:100])
    for start in range(100, 3_000, 100):
        state = reducer.combine(state, reducer.partial(df.iloc[start: start + 100]))
        assert len(state.dense) < dense.BATCH  # bounded: merged when a batch is full
    assert_same(reducer.finalize(state), _expected(df, "k"))


def test_groups_without_values_and_single_rows():
    k = np.array([0, 0, 5, 5, 9, 12, 12, 12])
    x = np.array([1.0, np.nan, np.nan, np.nan, 4.0, 1e9, 1e9 + 1, np.nan])
    df = pd.DataFrame({"k": k, "x": x, "y": np.ones(8)})
    for chunks in (1, 2, 4, 8):
        assert_same(reduce_chunks(GroupBy("k", AGG), df, chunks), _expected(df, "k"))


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_dense_partials_travel_on_pools(backend):
    rng = np.random.default_rng(4)
    df = _frame({"k": np.sort(rng.integers(0, 3_000, 40_000)), "j": rng.integers(0, 7, 40_000)})
    with par.Pool(workers=2, backend=backend) as pool:
        for by in ("k", ["k", "j"]):
            got = par.groupby_agg(df, by, AGG, pool=pool, n=6)
            assert_same(got, _expected(df, by))


def test_keys_from_zero_are_their_own_group_numbers_without_a_copy():
    from parallel_analysis.reducers.groupby_kernels import direct_codes
    from parallel_analysis.reducers.groupby_plan import plan_outputs

    df = _frame({"k": np.random.default_rng(6).integers(3, 90, 2_000)})
    direct = direct_codes(df, ["k"], plan_outputs(AGG, ["k"], df.columns), True)
    assert np.shares_memory(direct.labels.codes, df["k"].to_numpy())
    assert direct.lows == [0] and direct.spans == [int(df["k"].max()) + 1]
    strided = df.iloc[::2]  # rows of every other: not contiguous, so numbered by a copy
    assert_same(reduce_chunks(GroupBy("k", AGG), strided, 3), _expected(strided, "k"))
    assert_same(reduce_chunks(GroupBy("k", AGG), df, 3), _expected(df, "k"))
