"""``df.par.apply`` against pandas' ``df.apply``: rows, columns, raw, every result_type, empty
and one-row frames, duplicate and MultiIndex labels, attrs, and errors named by row label.

Every check runs on the serial, thread and process pools of the conftest, with several chunkings
(1 chunk, 2, 3, one row each, more chunks than rows) and every assembly route (pandas' private
hooks or the public replay; with and without the bulk payloads), and requires pandas' exact
result (:func:`pandas_oracle.check`).
"""

# ruff: noqa: B023  (the lambdas given to check() run at once, inside their loop)

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pandas_oracle import (
    BACKENDS,
    PROPERTY,
    ROUTES,
    _odd,
    _pos_odd,
    assert_same,
    check,
    chunkings,
    config,
    frames,
    par,
    using,
)

import parallel_analysis as par_
from parallel_analysis.exact import results

RESULT_TYPES = [None, "expand", "reduce", "broadcast"]


class Boom(Exception):
    def __init__(self, what, code):
        super().__init__(what, code)
        self.code = code


ROW_FUNCS = {
    "first": lambda r: r.iloc[0],
    "len": lambda r: len(r),
    "float": lambda r: float(len(str(r.iloc[0]))),
    "name": lambda r: str(r.name),
    "np_int": lambda r: r.isna().sum(),
    "np_bool": lambda r: r.isna().any(),
    "none_or_int": lambda r: None if r.isna().any() else 1,
    "int_or_float": lambda r: 1 if r.isna().any() else 2.5,
    "int_or_npint": lambda r: 1 if _pos_odd(r) else np.int64(2),
    "float_or_npfloat": lambda r: 1.5 if _pos_odd(r) else np.float64(2.5),
    "bool_or_npbool": lambda r: True if _pos_odd(r) else np.bool_(False),
    "bool_or_int": lambda r: True if _pos_odd(r) else 1,
    "npf32": lambda r: np.float32(1.5),
    "big": lambda r: 2 ** 63,
    "big_or_neg": lambda r: -1 if _pos_odd(r) else 2 ** 63,
    "huge": lambda r: 2 ** 70 if _pos_odd(r) else 1,
    "nan": lambda r: np.nan,
    "na": lambda r: pd.NA,
    "nat_or_ts": lambda r: pd.NaT if _pos_odd(r) else pd.Timestamp("2020-01-01", tz="UTC"),
    "ts": lambda r: pd.Timestamp("2020-01-01") + pd.Timedelta(days=len(str(r.name))),
    "list2": lambda r: [1, 2],
    "list_var": lambda r: [1] * (len(str(r.name)) % 3),
    "list_mixed": lambda r: [1, "x"] if _pos_odd(r) else [2.5, None],
    "tuple": lambda r: (str(r.iloc[0]), len(r)),
    "dict": lambda r: {"a": 1},
    "dict_var": lambda r: {"a": len(str(r.name))} if _pos_odd(r) else {"b": 1.5},
    "identity": lambda r: r,
    "head1": lambda r: r.iloc[:1],
    "isna": lambda r: r.isna(),
    "series_mixed": lambda r: pd.Series({"x": 1, "y": str(r.name)}),
    "series_union": lambda r: pd.Series({"x": 1}) if _pos_odd(r) else pd.Series({"y": 2.0}),
    "series_named": lambda r: pd.Series([1, 2], index=pd.Index(["p", "q"], name="nm"),
                                        name="ignored"),
    "series_or_scalar": lambda r: pd.Series({"z": 1}) if _pos_odd(r) else 3,
    "scalar_or_series": lambda r: 3 if _pos_odd(r) else pd.Series({"z": 1}),
    "ndarray": lambda r: np.array([1.0, 2.0]),
    "ndarray_var": lambda r: np.arange(len(str(r.name)) % 3),
    "str_num": lambda r: "a" if _pos_odd(r) else 1,
    "dates": lambda r: dt.date(2020, 1, 1 + len(str(r.name)) % 20),
    "cat_scalar": lambda r: pd.Categorical(["x"])[0],
    "probe": lambda r: repr((str(r.dtype), list(r.index), r.name, [type(v) for v in r])),
    "sum": lambda r: r.sum(),
    "raises_some": lambda r: 1 / 0 if _pos_odd(r) else 1,
}

COL_FUNCS = {
    "sum": lambda c: c.sum(),
    "len": lambda c: len(c),
    "nna": lambda c: c.isna().sum(),
    "head2": lambda c: c.iloc[:2],
    "identity": lambda c: c,
    "astype_str": lambda c: c.astype(str),
    "list": lambda c: list(c.iloc[:1]),
    "dict": lambda c: {"n": len(c)},
    "first": lambda c: c.iloc[0] if len(c) else None,
    "probe": lambda c: repr((str(c.dtype), c.name, list(c.index)[:3])),
    "series_or_scalar": lambda c: c.iloc[:1] if _odd(c.name) else 1,
    "union": lambda c: pd.Series({str(c.name): 1}),
    "mixed": lambda c: 1 if _odd(c.name) else "x",
}


@PROPERTY
@given(df=frames(min_rows=1), name=st.sampled_from(sorted(ROW_FUNCS)),
       result_type=st.sampled_from(RESULT_TYPES), cfg=config, data=st.data())
def test_apply_rows(pools, df, name, result_type, cfg, data):
    backend, route = cfg
    func = ROW_FUNCS[name]
    n = data.draw(st.sampled_from(chunkings(len(df))), label="n")
    with using(route):
        check(lambda: df.apply(func, axis=1, result_type=result_type),
              lambda: par(df, pools[backend], n).apply(func, axis=1, result_type=result_type))


GRID_FRAME = pd.DataFrame({"f": [1.5, np.nan, 3.0, 4.5, 5.0], "i": [1, 2, 3, 4, 5],
                           "s": pd.array(["a", None, "c", "d", "e"], dtype="str"),
                           "n": pd.array([1, None, 3, 4, 5], dtype="Int64")},
                          index=pd.Index(["v", "w", "xx", "y", "zzz"], name="k"))


@pytest.mark.parametrize("name", sorted(ROW_FUNCS))
@pytest.mark.parametrize("result_type", RESULT_TYPES)
def test_apply_rows_grid(pools, name, result_type):
    """Every row function x result_type on a mixed frame: every chunking and route serially,
    and once through processes."""
    df, func = GRID_FRAME, ROW_FUNCS[name]
    expected = lambda: df.apply(func, axis=1, result_type=result_type)  # noqa: E731
    for route in ROUTES:
        with using(route):
            for n in chunkings(len(df)):
                check(expected, lambda: par(df, pools["serial"], n).apply(
                    func, axis=1, result_type=result_type))
    check(expected, lambda: par(df, pools["process"], 3).apply(func, axis=1,
                                                               result_type=result_type))


@PROPERTY
@given(df=frames(min_rows=0, max_rows=6), name=st.sampled_from(sorted(COL_FUNCS)),
       result_type=st.sampled_from(RESULT_TYPES), cfg=config, data=st.data())
def test_apply_columns(pools, df, name, result_type, cfg, data):
    backend, route = cfg
    func = COL_FUNCS[name]
    n = data.draw(st.sampled_from(chunkings(df.shape[1])), label="n")
    with using(route):
        check(lambda: df.apply(func, axis=0, result_type=result_type),
              lambda: par(df, pools[backend], n).apply(func, axis=0, result_type=result_type))


RAW_FUNCS = {
    "sum": lambda a: a.sum(),
    "len": lambda a: len(a),
    "first": lambda a: a[0],
    "head2": lambda a: a[:2],
    "str": lambda a: "x",
    "int_or_float": lambda a: 1 if pd.isna(a[0]) else 2.5,
    "float_or_int": lambda a: 2.5 if pd.isna(a[0]) else 1,
    "scalar_or_vec": lambda a: 1 if pd.isna(a[0]) else np.array([1, 2][:len(a) % 3]),
    "dtype": lambda a: str(a.dtype),
    "np_bool": lambda a: np.bool_(len(a) > 1),
}


@PROPERTY
@given(df=frames(min_rows=0, max_rows=7), name=st.sampled_from(sorted(RAW_FUNCS)),
       axis=st.sampled_from([0, 1]), result_type=st.sampled_from(RESULT_TYPES), cfg=config,
       data=st.data())
def test_apply_raw(pools, df, name, axis, result_type, cfg, data):
    backend, route = cfg
    func = RAW_FUNCS[name]
    n = data.draw(st.sampled_from(chunkings(df.shape[1 - axis])), label="n")
    with using(route):
        check(lambda: df.apply(func, axis=axis, raw=True, result_type=result_type),
              lambda: par(df, pools[backend], n).apply(func, axis=axis, raw=True,
                                                       result_type=result_type))


def test_apply_args_kwargs_and_axis_names(pool):
    df = pd.DataFrame({"a": [1, 2, 3], "b": [4.0, 5.0, 6.0]}, index=list("xyz"))

    def f(r, k, *, m=1):
        return r["a"] * k + m

    for n in (1, 2, 3):
        check(lambda: df.apply(f, axis="columns", args=(2,), m=3),
              lambda: par(df, pool, n).apply(f, axis="columns", args=(2,), m=3))
        check(lambda: df.apply(f, axis=1, args=(2,), m=3),
              lambda: par_.apply(df, f, axis=1, args=(2,), kwargs={"m": 3}, pool=pool, n=n))
        check(lambda: df.apply(lambda c, k: c.sum() * k, axis="index", args=(2,)),
              lambda: par(df, pool, n).apply(lambda c, k: c.sum() * k, axis="index",
                                             args=(2,)))


@pytest.mark.parametrize("shape", [(0, 0), (0, 3), (3, 0), (1, 3), (1, 1)])
@pytest.mark.parametrize("axis", [0, 1])
def test_apply_empty_and_one_row(pools, shape, axis):
    rows, cols = shape
    df = pd.DataFrame(np.arange(rows * cols, dtype=float).reshape(rows, cols),
                      columns=[f"c{j}" for j in range(cols)],
                      index=pd.Index([f"r{i}" for i in range(rows)], dtype=object))
    for backend in BACKENDS:
        for result_type in RESULT_TYPES:
            for func in (lambda x: x.sum(), lambda x: x, lambda x: [1, 2], lambda x: len(x)):
                for raw in (False, True):
                    check(lambda: df.apply(func, axis=axis, raw=raw, result_type=result_type),
                          lambda: par(df, pools[backend], 2).apply(
                              func, axis=axis, raw=raw, result_type=result_type))


def test_vectorised_funcs_delegate(pool):
    df = pd.DataFrame({"a": [1.0, 4.0], "b": [9.0, 16.0]})
    for func in (np.sqrt, "sum", ["sum", "max"], {"a": "sum"}):
        check(lambda: df.apply(func), lambda: par(df, pool, 2).apply(func))
    with pytest.raises(ValueError, match="invalid value for result_type"):
        df.par(pool=pool).apply(len, result_type="bogus")


@pytest.mark.parametrize("n", [1, 2, 3, 7, 9])
def test_error_names_the_row_label_and_keeps_type(pool, n):
    idx = pd.MultiIndex.from_arrays([list("aabbccd"), range(7)])
    df = pd.DataFrame({"x": range(7), "y": list("pqrstuv")}, index=idx)

    def f(r):
        if r["x"] in (4, 5):  # pandas meets row ('c', 4) first
            raise Boom("bad row", r["x"])
        return r["x"]

    with pytest.raises(Boom) as info:
        par(df, pool, n).apply(f, axis=1)
    assert info.value.code == 4 and info.value.args == ("bad row", 4)
    notes = info.value.__notes__
    assert notes[0] == "raised by func on row with label ('c', 4)"
    chunk = {1: 0, 2: 1, 3: 1, 7: 4, 9: 4}[n]  # the chunk holding row 4
    assert notes[1] == f"raised by chunk {chunk} of {min(n, 7)} on the {pool.backend} backend"
    assert ", in f" in str(info.value.__cause__)  # the worker's traceback
    for route in ROUTES:
        with using(route):
            check(lambda: df.apply(f, axis=1), lambda: par(df, pool, n).apply(f, axis=1),
                  expected_label=("c", 4))


@pytest.mark.parametrize("n", [1, 2, 3, 6])
def test_errors_of_columns_raw_and_broadcast(pool, n):
    df = pd.DataFrame({"a": [1.0, 2.0, 0.0, 4.0, 0.0, 6.0], "b": [1, 0, 3, 4, 5, 6]},
                      index=pd.Index(list("uvwxyz"), name="L"))
    pinv = lambda x: 1 / float(x)  # noqa: E731
    check(lambda: df.apply(lambda c: pinv(c.min()), axis=0),
          lambda: par(df, pool, min(n, 2)).apply(lambda c: pinv(c.min()), axis=0),
          expected_label="a")
    check(lambda: df.apply(lambda r: pinv(r[1]), axis=1, raw=True),
          lambda: par(df, pool, n).apply(lambda r: pinv(r[1]), axis=1, raw=True),
          expected_label="v")
    # a func error on a later row loses to pandas' own check of an earlier row's result
    shape = lambda r: pinv(0) if r[0] == 6.0 else (r if r[0] != 2.0 else r[:0])  # noqa
    check(lambda: df.apply(shape, axis=1, raw=True),
          lambda: par(df, pool, n).apply(shape, axis=1, raw=True), expected_label="v")
    wide = lambda r: [1, 2, 3] if r.name == "x" else r  # noqa: E731
    check(lambda: df.apply(wide, axis=1, result_type="broadcast"),
          lambda: par(df, pool, n).apply(wide, axis=1, result_type="broadcast"),
          expected_label="x")


def test_fast_paths_taken_and_exact(pool, monkeypatch):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.random(50), "b": rng.integers(0, 9, 50)},
                      index=[f"r{i}" for i in range(50)])
    for fn in (lambda r: r["a"] + r["b"], lambda r: int(r["b"]), lambda r: r["b"] > 3,
               lambda r: np.float64(r["a"]) if r["b"] > 3 else float(r["a"])):
        for route in ROUTES:
            with using(route):
                check(lambda: df.apply(fn, axis=1), lambda: par(df, pool, 4).apply(fn, axis=1))
    seen = []
    real = results.concat_typed
    monkeypatch.setattr("parallel_analysis.exact.rows.concat_typed",
                        lambda payloads: seen.append(payloads) or real(payloads))
    par(df, pool, 3).apply(lambda r: r["a"] + r["b"], axis=1)
    assert len(seen) == 1 and all(isinstance(p, results.Typed) for p in seen[0])


def test_pack_roundtrip_keeps_exact_types():
    import pickle

    for values in ([1.5, 2.5], [np.float64(1.5)], [1, 2 ** 62], [True, False], [np.bool_(True)],
                   [np.int64(3)], [2 ** 63], [1, 1.5], [np.float32(1)], ["a"], []):
        got = results.unpack(pickle.loads(pickle.dumps(results.pack(values))))
        assert got == values and [type(v) for v in got] == [type(v) for v in values]


@pytest.mark.parametrize("backend", BACKENDS)
def test_attrs_and_flags_reach_func(pools, backend):
    """pandas propagates attrs to every row/column/group it passes; a rebuilt chunk must too."""
    df = pd.DataFrame({"k": [1, 1, 2], "v": [1.0, 2.0, 3.0]}, index=list("abc"))
    df.attrs["unit"] = "m"
    df = df.set_flags(allows_duplicate_labels=False)
    pool = pools[backend]
    seen = lambda x: repr((dict(x.attrs), x.flags.allows_duplicate_labels))  # noqa: E731
    check(lambda: df.apply(seen, axis=1), lambda: par(df, pool, 3).apply(seen, axis=1))
    check(lambda: df.apply(seen, axis=0), lambda: par(df, pool, 2).apply(seen, axis=0))
    check(lambda: df.groupby("k").apply(seen), lambda: par(df, pool, 2).groupby("k").apply(seen))
    check(lambda: df["v"].apply(lambda x: 1.0), lambda: par(df["v"], pool, 2).apply(
        lambda x: 1.0))


@pytest.mark.parametrize("fn", [
    lambda r: r[["a", "b"]] * 2,                                  # float64 block
    lambda r: pd.Series({"x": r["a"], "y": str(r.name)}),         # object block -> infer_objects
    lambda r: pd.Series({"x": r["b"] > 3, "y": True}),            # object (np.bool_ / bool)
    lambda r: r.isna(),                                           # bool block
    lambda r: pd.Series([r["b"], 1], index=pd.Index(["p", "q"], name="nm"), name="z"),
])
@pytest.mark.parametrize("result_type", [None, "expand", "reduce"])
def test_series_rows_fast_expand(pools, fn, result_type):
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"a": rng.random(30), "b": rng.integers(0, 9, 30)},
                      index=pd.Index([f"r{i}" for i in range(30)], dtype="str"))
    packed = results.pack([fn(df.iloc[i]) for i in range(3)])
    assert isinstance(packed, results.SeriesRows)
    for fast_expand in (True, False):
        for backend in BACKENDS:
            with using((True, True, fast_expand)):
                check(lambda: df.apply(fn, axis=1, result_type=result_type),
                      lambda: par(df, pools[backend], 3).apply(fn, axis=1,
                                                               result_type=result_type))


def test_series_rows_roundtrip_exact():
    import pickle

    rows = [pd.Series([1, "a"], index=["x", "y"], name=i, dtype=object) for i in range(3)]
    block = results.pack(rows)
    assert isinstance(block, results.SeriesRows)
    for a, b in zip(results.unpack(pickle.loads(pickle.dumps(block))), rows):
        assert_same(a, b)
    # mixed dtypes or indexes stay a list
    assert isinstance(results.pack(rows + [pd.Series([1.0, 2.0], index=["x", "y"])]), list)
    assert isinstance(results.pack([pd.Series([1], index=["x"]), pd.Series([1], index=["y"])]),
                      list)
    assert isinstance(results.pack([pd.Series([1, 2], index=["x", "x"])]), list)


def test_duplicate_and_multiindex_columns(pools):
    dup = pd.DataFrame([[1, 2.5, "a"], [3, 4.5, None], [5, 6.5, "c"]], columns=["x", "x", 7],
                       index=pd.Index([10, 5, 10]))
    multi = pd.DataFrame(np.arange(12.0).reshape(3, 4),
                         columns=pd.MultiIndex.from_product([["a", "b"], [1, 2]],
                                                            names=["u", "v"]))
    funcs = [lambda r: r, lambda r: r.iloc[0], lambda r: len(r), lambda r: r.isna(),
             lambda r: [1, 2], lambda r: str(r.name)]
    for df in (dup, multi):
        for func in funcs:
            for axis in (0, 1):
                for rt in RESULT_TYPES:
                    for n, backend in ((1, "serial"), (2, "thread"), (3, "serial"),
                                       (2, "process")):
                        check(lambda: df.apply(func, axis=axis, result_type=rt),
                              lambda: par(df, pools[backend], n).apply(func, axis=axis,
                                                                       result_type=rt))
