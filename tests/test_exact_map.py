"""``s.par.map``, ``s.par.apply`` and ``df.par.map`` against pandas: every dtype the issue lists
(numpy, nullable, categorical, tz-aware, str, objects), NaN and ``na_action``, results whose
types pandas infers over all elements, dict and Series mappers, and errors named by label.
Serial, thread and process pools, every chunking and assembly route (:mod:`pandas_oracle`).
"""

# ruff: noqa: B023  (the lambdas given to check() run at once, inside their loop)

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pandas_oracle import PROPERTY, check, chunkings, config, frames, par, stable_hash, using

ELEM_FUNCS = {
    "identity": lambda x: x,
    "str": str,
    "is_none": lambda x: x is None,
    "kind": lambda x: 1 if isinstance(x, str) else 2.0,
    "double": lambda x: x * 2,
    "isna": lambda x: pd.isna(x),
    "none": lambda x: None,
    "zerodim": lambda x: np.array(1.5),
    "tuple": lambda x: (x, 1),
    "list": lambda x: [x],
    "hash3": lambda x: stable_hash(x) % 3 == 0,
    "int_or_npint": lambda x: 1 if stable_hash(x) % 2 else np.int64(1),
    "float": lambda x: float(len(str(x))),
    "big": lambda x: 2 ** 64 if isinstance(x, str) else -1,
    "ts": lambda x: pd.Timestamp("2021-01-01") if pd.isna(x) else pd.Timestamp("2022-01-01"),
    "nan_or_int": lambda x: np.nan if pd.isna(x) else 1,
    "strlen_or_na": lambda x: pd.NA if pd.isna(x) else len(str(x)),
    "same_type_str": lambda x: str(x) if isinstance(x, str) else x,
}


@PROPERTY
@given(df=frames(min_rows=0, max_rows=9, min_cols=1), name=st.sampled_from(sorted(ELEM_FUNCS)),
       na_action=st.sampled_from([None, "ignore"]), cfg=config, data=st.data())
def test_series_map(pools, df, name, na_action, cfg, data):
    backend, route = cfg
    s = df.iloc[:, 0].rename(data.draw(st.sampled_from([None, "nm", 3]), label="name"))
    func = ELEM_FUNCS[name]
    n = data.draw(st.sampled_from(chunkings(len(s))), label="n")
    with using(route):
        check(lambda: s.map(func, na_action=na_action),
              lambda: par(s, pools[backend], n).map(func, na_action=na_action))


SERIES_APPLY_FUNCS = {**ELEM_FUNCS,
                      "series": lambda x: pd.Series([x, 1]),
                      "series_named": lambda x: pd.Series({"a": x, "b": str(x)}),
                      "series_or_scalar": lambda x: pd.Series([x]) if stable_hash(x) % 2 else 1}


@PROPERTY
@given(df=frames(min_rows=0, max_rows=9), name=st.sampled_from(sorted(SERIES_APPLY_FUNCS)),
       cfg=config, data=st.data())
def test_series_apply(pools, df, name, cfg, data):
    backend, route = cfg
    s = df.iloc[:, -1]
    func = SERIES_APPLY_FUNCS[name]
    n = data.draw(st.sampled_from(chunkings(len(s))), label="n")
    with using(route):
        check(lambda: s.apply(func), lambda: par(s, pools[backend], n).apply(func))


def test_series_apply_args_kwargs_and_ufunc(pool):
    s = pd.Series([1.0, 4.0, 9.0], index=pd.date_range("2020", periods=3, freq="h"), name="v")
    for n in (1, 2, 3, 5):
        check(lambda: s.apply(lambda x, a, b=0: x * a + b, args=(2,), b=1),
              lambda: par(s, pool, n).apply(lambda x, a, b=0: x * a + b, args=(2,), b=1))
        check(lambda: s.apply(np.sqrt), lambda: par(s, pool, n).apply(np.sqrt))
        check(lambda: s.apply("sum"), lambda: par(s, pool, n).apply("sum"))


class Default(dict):
    def __missing__(self, key):
        return "missing"


@pytest.mark.parametrize("na_action", [None, "ignore"])
def test_series_map_dict_and_series(pool, na_action):
    s = pd.Series(["a", "b", None, "c", "a"], dtype=object, index=list("vwxyz"))
    mappers = [{"a": 1, "b": 2}, {"a": 1, "b": 2, "c": 3}, {}, {None: "none", "a": "A"},
               pd.Series({"a": 1.5, "c": 2.5}), pd.Series([True, False], index=["a", "b"]),
               {"a": (1, 2), "b": (3, 4)}, Default(a=1)]
    for m in mappers:
        for n in (1, 2, 5):
            check(lambda: s.map(m, na_action=na_action),
                  lambda: par(s, pool, n).map(m, na_action=na_action))


@PROPERTY
@given(df=frames(min_rows=0, max_rows=8), name=st.sampled_from(sorted(ELEM_FUNCS)),
       na_action=st.sampled_from([None, "ignore"]), cfg=config, data=st.data())
def test_frame_map(pools, df, name, na_action, cfg, data):
    backend, route = cfg
    func = ELEM_FUNCS[name]
    n = data.draw(st.sampled_from(chunkings(len(df))), label="n")
    with using(route):
        check(lambda: df.map(func, na_action=na_action),
              lambda: par(df, pools[backend], n).map(func, na_action=na_action))


def test_frame_map_kwargs(pool):
    df = pd.DataFrame({"a": [1, 2], "b": [3.5, np.nan]})
    for n in (1, 2):
        check(lambda: df.map(lambda x, k: x * k, k=3),
              lambda: par(df, pool, n).map(lambda x, k: x * k, k=3))


@pytest.mark.parametrize("n", [1, 2, 3, 6])
def test_errors_name_the_element(pool, n):
    df = pd.DataFrame({"a": [1.0, 2.0, 0.0, 4.0, 0.0, 6.0], "b": [1, 0, 3, 4, 5, 6]},
                      index=pd.Index(list("uvwxyz"), name="L"))
    s = df["a"]
    inv = lambda x: 1 / x  # noqa: E731  ZeroDivisionError on 0 (Python float division)
    check(lambda: s.map(inv), lambda: par(s, pool, n).map(inv), expected_label="w")
    check(lambda: s.apply(inv), lambda: par(s, pool, n).apply(inv), expected_label="w")
    # DataFrame.map runs column by column: column "a" fails at "w" before column "b" at "v"
    check(lambda: df.map(inv), lambda: par(df, pool, n).map(inv), expected_label=("w", "a"))
    check(lambda: df[["b", "a"]].map(inv), lambda: par(df[["b", "a"]], pool, n).map(inv),
          expected_label=("v", "b"))


def test_na_action_error_position_skips_na(pool):
    s = pd.Series([np.nan, 1.0, np.nan, 0.0], index=list("abcd"))
    for n in (1, 2, 4):
        check(lambda: s.map(lambda x: 1 / x, na_action="ignore"),
              lambda: par(s, pool, n).map(lambda x: 1 / x, na_action="ignore"),
              expected_label="d")


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "complex64", "int8", "int64",
                                   "uint8", "uint64", "bool", "longdouble"])
def test_numeric_elements_boxed_as_pandas_boxes_them(dtype):
    """Workers box numeric elements with ``tolist()``: the same Python objects pandas'
    ``astype(object)`` gives, value and type."""
    from parallel_analysis.exact.elementwise import _boxed

    if dtype == "bool":
        values = np.array([True, False])
    elif dtype.startswith(("int", "uint")):
        info = np.iinfo(dtype)
        values = np.array([info.min, 0, 1, info.max], dtype=dtype)
    else:
        values = np.array([np.nan, -0.0, 1.5, np.inf, -np.inf], dtype=dtype)
    boxed, expected = _boxed(values), list(values.astype(object))
    assert [type(v) for v in boxed] == [type(v) for v in expected]
    assert [repr(v) for v in boxed] == [repr(v) for v in expected]
