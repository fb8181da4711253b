"""``df.par.groupby(...).apply`` and ``.transform`` against pandas: keys of every kind (int,
str with NA, categorical, two keys), ``sort``, ``dropna``, ``group_keys``, results of every
shape (scalars, rows, frames, reordered or reindexed frames, ``None``), every index kind, and
errors named by group key. Serial, thread and process pools, every chunking and assembly route.
"""

# ruff: noqa: B023  (the lambdas given to check() run at once, inside their loop)

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st
from pandas_oracle import (
    BACKENDS,
    BYS,
    PROPERTY,
    ROUTES,
    check,
    chunkings,
    config,
    grouped,
    par,
    using,
)

from parallel_analysis.exact.running import group_chunks
from parallel_analysis.split import Groups

GROUP_FUNCS = {
    "len": lambda g: len(g),
    "first_row": lambda g: g.iloc[0],
    "identity": lambda g: g,
    "head1": lambda g: g.head(1),
    "reversed": lambda g: g.iloc[::-1],
    "none_if_single": lambda g: None if len(g) == 1 else len(g),
    "v_times_2": lambda g: g["v"] * 2,
    "v_sum": lambda g: g["v"].sum(),
    "summary": lambda g: pd.Series({"n": len(g), "name": str(g.name)}),
    "reset": lambda g: g.reset_index(drop=True),
    "describe": lambda g: g["v"].describe(),
    "name": lambda g: g.name,
    "array": lambda g: g["v"].to_numpy(),
    "frame_or_none": lambda g: g if len(g) > 1 else None,
    "float_or_int": lambda g: 1 if len(g) == 1 else 2.5,
    "str_frame": lambda g: pd.DataFrame({"s": [str(g.name)]}),
}


@PROPERTY
@given(df=grouped(), name=st.sampled_from(sorted(GROUP_FUNCS)),
       by=st.sampled_from(range(len(BYS))), sort=st.booleans(), dropna=st.booleans(),
       group_keys=st.booleans(), cfg=config, data=st.data())
def test_groupby_apply(pools, df, name, by, sort, dropna, group_keys, cfg, data):
    backend, route = cfg
    by = BYS[by]
    func = GROUP_FUNCS[name]
    n = data.draw(st.sampled_from(chunkings(len(df))), label="n")
    with using(route):
        check(lambda: df.groupby(by, sort=sort, dropna=dropna, group_keys=group_keys).apply(
                  func),
              lambda: par(df, pools[backend], n).groupby(by, sort=sort, dropna=dropna,
                                                         group_keys=group_keys).apply(func))


TRANSFORM_FUNCS = {
    "identity": lambda x: x,
    "reversed": lambda x: x.iloc[::-1],
    "len": lambda x: len(x),
    "isna": lambda x: x.isna(),
    "ffill": lambda x: x.ffill(),
    "shift": lambda x: x.shift(1),
    "frame_mean": lambda g: g.mean(numeric_only=True) if isinstance(g, pd.DataFrame) else 0.5,
    "first": lambda x: x.iloc[0],
    "str": lambda x: x.astype(str),
    "minus_first": lambda x: x - x.iloc[0] if x.dtype.kind in "if" else x,
    "reset": lambda x: x.reset_index(drop=True),
}


@PROPERTY
@given(df=grouped(), name=st.sampled_from(sorted(TRANSFORM_FUNCS)),
       by=st.sampled_from(range(len(BYS))), sort=st.booleans(), dropna=st.booleans(),
       cfg=config, data=st.data())
def test_groupby_transform(pools, df, name, by, sort, dropna, cfg, data):
    backend, route = cfg
    by = BYS[by]
    func = TRANSFORM_FUNCS[name]
    n = data.draw(st.sampled_from(chunkings(len(df))), label="n")
    with using(route):
        check(lambda: df.groupby(by, sort=sort, dropna=dropna).transform(func),
              lambda: par(df, pools[backend], n).groupby(by, sort=sort,
                                                         dropna=dropna).transform(func))


def test_groupby_apply_args_level_and_external_keys(pool):
    df = pd.DataFrame({"k": [2, 1, 2, 1], "v": [1.0, 2.0, 3.0, 4.0]},
                      index=pd.Index(["a", "b", "a", "c"], name="lvl"))
    key = pd.Series([1, 1, 2, 2], index=df.index)
    for n in (1, 2, 3):
        grouped_by = lambda by: par(df, pool, n).groupby(by)  # noqa: E731
        check(lambda: df.groupby("k").apply(lambda g, m: g["v"].sum() * m, 3),
              lambda: grouped_by("k").apply(lambda g, m: g["v"].sum() * m, 3))
        check(lambda: df.groupby("lvl").apply(lambda g: g["v"].max()),
              lambda: grouped_by("lvl").apply(lambda g: g["v"].max()))
        check(lambda: df.groupby(key).apply(len), lambda: grouped_by(key).apply(len))
        check(lambda: df.groupby("k").apply("sum"), lambda: grouped_by("k").apply("sum"))
        check(lambda: df.groupby("k").transform("cumsum"),
              lambda: grouped_by("k").transform("cumsum"))


def test_object_keys_name_groups_as_the_whole_frame_does(pools):
    """pandas infers an object key's group names from all its keys: a chunk holding only
    ``[1, None]`` of ``['a', 1, None]`` would name a group 1.0, and ``[np.int64(1)]`` of
    ``[np.int64(1), 'o2']`` would name it 1; func sees the whole frame's names."""
    frames = [
        pd.DataFrame({"k": np.array(["a", 1, None, "a", 2.5, 1], dtype=object),
                      "j": [1, 1, 2, 2, 1, 1], "v": np.arange(6.0)}),
        pd.DataFrame({"k": np.array(["o2", None, np.int64(1), "o2", np.int64(1)], dtype=object),
                      "j": [1, 2, 1, 2, 1], "v": np.arange(5.0)}),
        # equal hashes once a chunk infers Timestamps; Decimal beside an equal int
        pd.DataFrame({"k": np.array([np.datetime64("2020-01-01"), datetime(2020, 1, 1), "z"],
                                    dtype=object), "j": [1, 2, 1], "v": np.arange(3.0)}),
        pd.DataFrame({"k": np.array([Decimal("1"), np.int64(1), "z"], dtype=object),
                      "j": [1, 2, 1], "v": np.arange(3.0)}),
    ]
    name_of = lambda g: repr(g.name)  # noqa: E731
    is_float = lambda x: x * 0 + float(isinstance(x.name, float))  # noqa: E731
    for df in frames:
        for backend, route, sort, dropna in zip(BACKENDS * 2, ROUTES, (True, False) * 3,
                                                (False, True, False) * 2):
            with using(route):
                for n in chunkings(len(df)):
                    grouped_by = lambda by: par(df, pools[backend], n).groupby(  # noqa: E731
                        by, sort=sort, dropna=dropna)
                    for by in ("k", ["j", "k"]):
                        check(lambda: df.groupby(by, sort=sort, dropna=dropna).apply(name_of),
                              lambda: grouped_by(by).apply(name_of))
                    check(lambda: df.groupby("k", sort=sort, dropna=dropna).transform(is_float),
                          lambda: grouped_by("k").transform(is_float))


def test_errors_name_the_group(pool):
    g = pd.DataFrame({"a": [1.0, 2.0, 0.0, 4.0, 0.0, 6.0], "b": [1, 0, 3, 4, 5, 6],
                      "k": [1, 1, 2, 2, 3, 3]}, index=pd.Index(list("uvwxyz"), name="L"))
    pinv = lambda x: 1 / float(x)  # noqa: E731

    def raise_on(value, exc_type):
        def f(x):
            if (x == value).any().any() if isinstance(x, pd.DataFrame) else (x == value).any():
                raise exc_type(f"saw {value}")
            return x
        return f

    for n in (1, 2, 3, 6):
        grouped_by = par(g, pool, n).groupby("k")
        check(lambda: g.groupby("k").apply(lambda d: pinv(d["a"].min())),
              lambda: grouped_by.apply(lambda d: pinv(d["a"].min())), expected_label=2)
        # group 2 holds a == 4.0 (a later group: raised in a worker), group 1 holds 1.0 (the
        # first group: pandas chooses its path on it, here in the caller); a ValueError on the
        # first group becomes pandas' "transform must return a scalar value for each group"
        for value, key in ((4.0, 2), (1.0, 1)):
            for exc_type in (KeyError, ValueError):
                tr = raise_on(value, exc_type)
                check(lambda: g.groupby("k").transform(tr), lambda: grouped_by.transform(tr),
                      expected_label=key)
                check(lambda: g.groupby("k").apply(tr), lambda: grouped_by.apply(tr),
                      expected_label=key)


def test_group_chunks_whole_groups_balanced_in_order():
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"k": rng.integers(0, 50, 1000), "v": rng.random(1000)})
    df.loc[::7, "k"] = 7  # one big group
    for sort, hooks in ((True, True), (False, True), (True, False), (False, False)):
        gb = df.groupby("k", sort=sort)
        data, slices = group_chunks(df, Groups("k", sort, True), gb, 4, hooks)
        chunks = [data.iloc[s] for s in slices]
        assert len(chunks) == 4
        seen = [k for c in chunks for k in dict.fromkeys(c["k"])]
        assert seen == (list(gb.groups.keys()) if sort else list(dict.fromkeys(df["k"])))
        assert len(set(seen)) == len(seen)  # no group split across chunks
        sizes = [len(c) for c in chunks]
        assert max(sizes) - min(sizes) <= gb.size().max()
