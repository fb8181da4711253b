"""``s.par.map`` / ``s.par.apply`` on process workers that write their results into one shared
buffer (:mod:`parallel_analysis.exact.outputs`): pandas' exact result whatever the chunks'
results are (one dtype, different dtypes in different chunks, bools, None, objects, ints beyond
int64, NaN kept by ``na_action``), errors named by the element's own label, and nothing pickled
back when every chunk wrote.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pandas_oracle import assert_same, check, par

import parallel_analysis
from parallel_analysis.exact import outputs

N = 40_000  # 4 chunks of 10,000


def _series(index: str) -> pd.Series:
    values = np.random.default_rng(3).random(N)
    if index == "str":
        return pd.Series(values, index=[f"r{i}" for i in range(N)], name="x")
    if index == "dates":
        return pd.Series(values, index=pd.date_range("2020", periods=N, freq="h"), name=7)
    return pd.Series(values)


FUNCS = {
    "float": lambda x: x * 2.0,
    "int": lambda x: int(x * 100),
    "bool": lambda x: x > 0.5,
    "npfloat": lambda x: np.float64(x),
    "float_or_npfloat": lambda x: float(x) if x < 0.5 else np.float64(x),
    "none_sometimes": lambda x: None if x > 0.999 else x,
    "object": lambda x: (x,) if x > 0.999 else x,
    "str": lambda x: "a" if x < 0.5 else "b",
    "big_int": lambda x: 2 ** 70 if x > 0.999 else 1,
    "zerodim": lambda x: np.array(x),
}


@pytest.mark.parametrize("index", ["range", "str", "dates"])
@pytest.mark.parametrize("name", sorted(FUNCS))
def test_written_results_equal_pandas(pools, name, index):
    s = _series(index)
    func = FUNCS[name]
    assert outputs.usable(s._values, "process", True)
    check(lambda: s.map(func), lambda: par(s, pools["process"], 4).map(func))
    check(lambda: s.apply(func), lambda: par(s, pools["process"], 4).apply(func))


#: Results of chunk 0 (x < 0.25 on a sorted series cut in 4) and of the other chunks: the
#: buffer holds two dtypes, or some chunks wrote and others sent their results back.
BY_CHUNK = {
    "int_then_float": (lambda x: 1, lambda x: x),
    "float_then_int": (lambda x: x, lambda x: 1),
    "bool_then_float": (lambda x: True, lambda x: x),
    "float_then_none": (lambda x: x, lambda x: None),
    "float_then_str": (lambda x: x, lambda x: "s"),
    "int_then_big_int": (lambda x: 1, lambda x: 2 ** 64),
    "npint_then_int": (lambda x: np.int64(1), lambda x: 2),
}


@pytest.mark.parametrize("name", sorted(BY_CHUNK))
def test_chunks_with_different_results(pools, name):
    first, later = BY_CHUNK[name]
    s = pd.Series(np.linspace(0, 1, N, endpoint=False), index=np.arange(N) * 2)

    def func(x):
        return first(x) if x < 0.25 else later(x)
    check(lambda: s.map(func), lambda: par(s, pools["process"], 4).map(func))
    got = par(s, pools["process"], 4).map(func)
    assert [type(v) for v in got.array[::997]] == [type(v) for v in s.map(func).array[::997]]


def test_element_types_come_back_as_func_returned_them(pools):
    s = _series("range")
    func = FUNCS["float_or_npfloat"]
    got = par(s, pools["process"], 4).map(func)
    assert [type(v) for v in got.array[:50]] == [type(v) for v in s.map(func).array[:50]]


def test_na_kept_by_na_action_ignore(pools):
    s = pd.Series(np.where(np.arange(N) % 3 == 0, np.nan, np.arange(N, dtype=float)))
    check(lambda: s.map(lambda x: x + 1, na_action="ignore"),
          lambda: par(s, pools["process"], 4).map(lambda x: x + 1, na_action="ignore"))
    check(lambda: s.map(lambda x: int(x), na_action="ignore"),
          lambda: par(s, pools["process"], 4).map(lambda x: int(x), na_action="ignore"))


def test_int_source_and_int_results(pools):
    s = pd.Series(np.arange(N, dtype=np.int64) - N // 2, index=np.arange(N)[::-1])
    check(lambda: s.map(lambda x: x * 3), lambda: par(s, pools["process"], 4).map(lambda x: x * 3))


def test_nothing_is_pickled_back_when_every_chunk_wrote(pools):
    s = _series("str")
    got = par(s, pools["process"], 4).map(FUNCS["float"])
    assert_same(got, s.map(FUNCS["float"]))
    received = parallel_analysis.last_run().as_dict()["bytes_received"]
    assert received < N * 8 // 10, received  # 320 KB of float64 results stayed in the buffer


def _fails_late(x):
    if x > 0.9999:
        raise ValueError(f"bad {x}")
    return x


def test_the_first_failing_element_is_named_by_its_label(pools):
    s = _series("str")
    first = next(label for label, v in s.items() if v > 0.9999)
    check(lambda: s.map(_fails_late), lambda: par(s, pools["process"], 4).map(_fails_late),
          expected_label=first)


def test_not_used_where_it_cannot_help():
    assert not outputs.usable(np.array(["a"], dtype=object), "process", True)
    assert not outputs.usable(np.arange(3), "thread", True)
    assert outputs.usable(np.arange(3), "auto", True)
    assert not outputs.usable(np.arange(3), "process", False)
    assert not outputs.usable(pd.array([1, None], dtype="Int64"), "process", True)
    assert not outputs.usable(np.arange(0), "process", True)


def _usable_here(_chunk):
    return outputs.usable(np.arange(3.0), "process", True)


def test_not_used_by_a_map_nested_in_a_worker(pools):
    # a nested map runs serially in the worker: no buffer to share with anyone
    assert pools["process"].map_chunks(_usable_here, [1, 2]) == [False, False]
    assert _usable_here(None)


def test_an_auto_pool_probes_the_spans_and_writes_the_buffer():
    """backend="auto" decides on the spans as on rows (a pure-Python function: processes), and
    its workers write the buffer: nothing pickled back, pandas' exact result."""
    s = _series("str")
    with parallel_analysis.Pool(workers=2, backend="auto") as pool:
        got = par(s, pool, 4).map(_slow_square)
        run = parallel_analysis.last_run().as_dict()
    assert_same(got, s.map(_slow_square))
    assert run["backend"] == "auto → process", run["reason"]
    assert run["bytes_received"] < N * 8 // 10, run["bytes_received"]


def _slow_square(x):
    total = 0.0
    for _ in range(20):
        total += x * x
    return total / 20


def test_a_span_is_cut_like_rows():
    span = outputs.Span(10, 30)
    assert (len(span), span.iloc[0:5].start, span.iloc[0:5].stop) == (20, 10, 15)
    assert (span.iloc[5:50].start, span.iloc[5:50].stop) == (15, 30)
