"""The ``df.par`` / ``s.par`` accessor as a user meets it: registration, options, the methods
not covered by ``test_exact_*`` (describe, agg, map_chunks, rolling), ``par.apply`` with and
without ``axis``, realistic frames through processes, how rows travel, ``backend="auto"``,
progress, timeouts and errors. pandas is the oracle (:mod:`pandas_oracle`).
"""

# ruff: noqa: B023  (the lambdas given to check() run at once, inside their loop)

from __future__ import annotations

import io
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal, assert_series_equal
from pandas_oracle import assert_same, check

import parallel_analysis as par
from parallel_analysis.errors import ChunkTimeoutError
from parallel_analysis.exact import assembly


def realistic(n: int = 3_000, seed: int = 0) -> pd.DataFrame:
    """Mixed dtypes with NaN on a DatetimeIndex: what the issue lists."""
    rng = np.random.default_rng(seed)
    miss = rng.random(n) < 0.1
    return pd.DataFrame({
        "x": np.where(miss, np.nan, rng.normal(size=n)),
        "i": rng.integers(0, 100, n),
        "n": pd.array(np.where(miss, None, rng.integers(0, 9, n)), dtype="Int64"),
        "s": pd.Series(np.where(miss, None, rng.choice(["a", "bb", "ccc"], n)), dtype="str"),
        "c": pd.Categorical(rng.choice(["lo", "hi"], n), categories=["lo", "hi", "none"]),
        "t": pd.date_range("2024-03-30", periods=n, freq="min", tz="Europe/Paris"),
        "k": rng.integers(0, 40, n),
    }, index=pd.date_range("2021-01-01", periods=n, freq="s", name="when"))


def score(row):
    """A pure-Python row function of the kind people hand to df.apply(axis=1)."""
    label = row["s"] if isinstance(row["s"], str) else "?"
    return (row["x"] if row["x"] == row["x"] else 0.0) * row["i"] + len(label)


def summary(row):
    return pd.Series({"total": row["x"] * 2, "tag": f"{row['s']}-{row['i']}"})


# -- registration and import costs --------------------------------------------------------------

def _python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_registration_needs_an_import_and_costs_numpy_nothing():
    assert _python("import pandas as pd, parallel_analysis\n"
                   "print(hasattr(pd.DataFrame, 'par'), hasattr(pd.Series, 'par'))") == \
        "False False"
    assert _python("import pandas as pd, parallel_analysis.pandas\n"
                   "print(hasattr(pd.DataFrame, 'par'), hasattr(pd.Series, 'par'))") == \
        "True True"
    assert _python("import pandas as pd, parallel_analysis as par\n"
                   "par.groupby_agg\nprint(hasattr(pd.DataFrame, 'par'))") == "True"
    assert _python("import pandas as pd, parallel_analysis as par\n"  # a shortcut on a frame
                   "par.mean(pd.DataFrame({'a': [1.0]}), backend='serial')\n"
                   "print(hasattr(pd.DataFrame, 'par'), hasattr(pd.Series, 'par'))") == \
        "True True"


def test_options_and_their_errors(pools):
    df = realistic(50)
    assert "default pool" in repr(df.par)
    assert "backend='thread'" in repr(df.par(backend="thread", workers=2))
    assert_series_equal(df.par(backend="thread", workers=2, n=3).apply(score, axis=1),
                        df.apply(score, axis=1))
    with pytest.raises(TypeError, match="not both"):
        df.par(pool=pools["thread"], backend="process").apply(score, axis=1)
    with pytest.raises(TypeError):
        df.par(chunks=3)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        df.par(pool=pools["serial"], n=0)
    with pytest.raises(ValueError, match="unknown backend|backend"):
        df.par(backend="gpu").apply(score, axis=1)


# -- par.apply: the two meanings ----------------------------------------------------------------

def test_par_apply_with_axis_is_the_accessor_without_it_chunks(pool):
    df = realistic(200)
    assert_same(par.apply(df, score, axis=1, pool=pool, n=4),
                df.par(pool=pool, n=4).apply(score, axis=1))
    assert_same(par.apply(df, score, axis=1, pool=pool), df.apply(score, axis=1))
    assert_same(par.apply(df, lambda c: c["x"] * 2, pool=pool, n=4), df["x"] * 2)
    with pytest.raises(TypeError, match="axis=1"):
        par.apply(df, score, raw=True, pool=pool)
    with pytest.raises(TypeError, match="s.par.apply"):
        par.apply(df["x"], abs, axis=0, pool=pool)
    with pytest.raises(TypeError, match="unexpected option"):
        par.apply(df, score, axis=1, size=10)


# -- realistic frames through every pool ------------------------------------------------------

def test_realistic_frame_every_method(pool):
    df = realistic()
    p = df.par(pool=pool)
    check(lambda: df.apply(score, axis=1), lambda: p.apply(score, axis=1))
    check(lambda: df.apply(summary, axis=1), lambda: p.apply(summary, axis=1))
    check(lambda: df.apply(lambda c: c.iloc[-1], axis=0), lambda: p.apply(lambda c: c.iloc[-1]))
    check(lambda: df.map(lambda v: str(v)[:3]), lambda: p.map(lambda v: str(v)[:3]))
    check(lambda: df["s"].map(lambda v: v.upper()), lambda: df["s"].par(pool=pool).map(
        lambda v: v.upper()))
    check(lambda: df["s"].map(lambda v: v.upper(), na_action="ignore"),
          lambda: df["s"].par(pool=pool).map(lambda v: v.upper(), na_action="ignore"))
    check(lambda: df["x"].apply(lambda v: v > 0), lambda: df["x"].par(pool=pool).apply(
        lambda v: v > 0))
    check(lambda: df["c"].map({"lo": 0, "hi": 1}), lambda: df["c"].par(pool=pool).map(
        {"lo": 0, "hi": 1}))
    by_k = p.groupby("k")
    check(lambda: df.groupby("k").apply(lambda g: g["x"].mean()),
          lambda: by_k.apply(lambda g: g["x"].mean()))
    check(lambda: df.groupby("k").apply(lambda g: g.nlargest(2, "i")),
          lambda: by_k.apply(lambda g: g.nlargest(2, "i")))
    check(lambda: df.groupby("k")[["x", "i"]].transform(lambda v: v - v.mean()),
          lambda: df[["k", "x", "i"]].par(pool=pool).groupby("k").transform(
              lambda v: v - v.mean()))
    check(lambda: df.describe(), lambda: p.describe())
    check(lambda: df.describe(include="all"), lambda: p.describe(include="all"))


def test_one_row_and_empty_frames(pool):
    for df in (realistic(1), realistic(0)):
        check(lambda: df.apply(score, axis=1), lambda: df.par(pool=pool).apply(score, axis=1))
        check(lambda: df.map(str), lambda: df.par(pool=pool).map(str))
        check(lambda: df["x"].map(abs), lambda: df["x"].par(pool=pool).map(abs))
        check(lambda: df.groupby("k").apply(len),
              lambda: df.par(pool=pool).groupby("k").apply(len))


def test_series_apply_by_row_false_hands_func_the_whole_series(pool):
    s = realistic(300)["x"]
    whole = lambda v: v - v.mean()  # noqa: E731  a function of the whole Series
    assert_series_equal(s.par(pool=pool).apply(whole, by_row=False),
                        s.apply(whole, by_row=False))
    assert_series_equal(s.par(pool=pool).apply(abs, by_row="compat"), s.apply(abs))
    with pytest.raises(ValueError, match="by_row=False or 'compat'"):
        s.par(pool=pool).apply(abs, by_row=True)


def test_agg_is_groupby_agg(pool):
    df = realistic(500)
    by_k = df.par(pool=pool).groupby("k")
    expected = df.groupby("k").agg({"x": ["mean", "sum"], "i": "max"})
    assert_frame_equal(by_k.agg({"x": ["mean", "sum"], "i": "max"}), expected)
    assert_frame_equal(by_k.aggregate({"x": ["mean", "sum"], "i": "max"}), expected)
    assert_frame_equal(by_k.agg(total=("x", "sum"), most=("i", "max"), again=("x", "sum")),
                       df.groupby("k").agg(total=("x", "sum"), most=("i", "max"),
                                           again=("x", "sum")))
    numeric = df[["k", "x", "i"]]
    assert_frame_equal(numeric.par(pool=pool).groupby("k").agg(["min", "count"]),
                       numeric.groupby("k").agg(["min", "count"]))
    spread = lambda v: v.max() - v.min()  # noqa: E731  a callable: pandas itself
    assert_frame_equal(numeric.par(pool=pool).groupby("k").agg(spread),
                       numeric.groupby("k").agg(spread))


def test_agg_carries_what_pandas_carries(pool):
    """attrs, flags and a DatetimeIndex key's freq reach the result as in pandas; pandas' own
    forms (a named "ohlc") and its KeyError for missing columns are pandas'."""
    days = pd.date_range("2024-01-01", periods=6, freq="D", name="d")
    df = pd.DataFrame({"v": np.arange(6.0), "i": np.arange(6)}, index=days)
    df.attrs["source"] = {"file": "x.csv"}
    df = df.set_flags(allows_duplicate_labels=False)
    for frame in (df, df.iloc[::-1]):
        for sort in (True, False):
            grouped_by = frame.par(pool=pool, n=3).groupby("d", sort=sort)
            for agg in ("sum", ["sum", "max"], {"v": "max"}):
                got, want = grouped_by.agg(agg), frame.groupby("d", sort=sort).agg(agg)
                assert_frame_equal(got, want, check_exact=True)
                assert got.index.freq == want.index.freq and got.attrs == want.attrs
                assert got.flags.allows_duplicate_labels == want.flags.allows_duplicate_labels
            got = par.groupby_agg(frame, None, "sum", level=0, sort=sort, pool=pool)
            assert_frame_equal(got, frame.groupby(level=0, sort=sort).sum(), check_exact=True)
            assert got.index.freq == frame.groupby(level=0, sort=sort).sum().index.freq
    named = df.par(pool=pool).groupby("d").agg(o=("i", "ohlc"))
    assert_frame_equal(named, df.groupby("d").agg(o=("i", "ohlc")))
    for agg in ("count", "median", {"v": "nunique", "i": "first"}):  # pandas' mixed rules
        got, want = par.groupby_agg(df, "i", agg, pool=pool), df.groupby("i").agg(agg)
        assert_frame_equal(got, want, check_exact=True)
        assert got.attrs == want.attrs
    for by in (df["i"].to_numpy(), df.index, df.index.copy()):  # keys that are values
        got, want = par.groupby_agg(df, by, "sum", pool=pool), df.groupby(by).agg("sum")
        assert_frame_equal(got, want, check_exact=True)
        assert got.attrs == want.attrs
        assert getattr(got.index, "freq", None) == getattr(want.index, "freq", None)
    sizes: list = []
    par.groupby_agg(df, "i", lambda v: sizes.append(len(v)) or 0, backend="serial")
    assert sizes == [1] * 6  # no extra call on a probe's group
    renamed = df.par(pool=pool).groupby("i").agg(s=("v", "sum"))
    assert_frame_equal(renamed, df.groupby("i").agg(s=("v", "sum")))
    assert renamed.attrs == df.groupby("i").agg(s=("v", "sum")).attrs
    for agg in ({"x": "sum", "y": "max"}, {"v": "sum", "x": ["max"]}):
        with pytest.raises(KeyError) as ours:
            df.par(pool=pool).groupby("d").agg(agg)
        with pytest.raises(KeyError) as pandas:
            df.groupby("d").agg(agg)
        assert ours.value.args == pandas.value.args


def test_map_chunks_and_rolling(pool):
    df = realistic(100)
    assert df.par(pool=pool, n=4).map_chunks(len) == [25] * 4
    assert df["x"].par(pool=pool).map_chunks(len, n=2) == [50, 50]
    numeric = df[["x", "i"]]
    assert_series_equal(df["i"].par(pool=pool).rolling(7).max(), df["i"].rolling(7).max(),
                        check_exact=True)
    assert_frame_equal(numeric.par(pool=pool, n=3).rolling(5, min_periods=2).mean(),
                       numeric.rolling(5, min_periods=2).mean(), rtol=1e-10)
    assert_series_equal(df["x"].par(pool=pool).rolling("10s").count(),
                        df["x"].rolling("10s").count(), check_exact=True)


# -- how it runs -------------------------------------------------------------------------------

def test_rows_travel_in_shared_memory_not_pickled(pools):
    df = realistic(40_000)
    frame_bytes = int(df.memory_usage(deep=True).sum())
    df.par(pool=pools["process"], n=8).apply(score, axis=1)
    stats = par.last_run()
    sent = sum(t.bytes_sent for t in stats.timings)
    assert stats.chunks == 8 and "process" in stats.backend
    assert sent < frame_bytes / 50, (sent, frame_bytes)  # handles and the job, not the rows
    df["x"].par(pool=pools["process"], n=8).map(abs)
    assert sum(t.bytes_sent for t in par.last_run().timings) < df["x"].nbytes / 20


def test_auto_picks_processes_for_python_row_functions():
    """auto's GIL probe (auto.py, gil.py) reads a pure-Python row function as holding the GIL,
    whatever else the machine runs."""
    df = realistic(30_000)
    with par.Pool(2, "auto") as pool:
        for _ in range(3):
            assert_series_equal(df.par(pool=pool).apply(score, axis=1), df.apply(score, axis=1))
            assert pool.last_reason.startswith("process"), pool.last_reason


def test_default_chunks_move_the_bar(pools, monkeypatch):
    terminal = type("Terminal", (io.StringIO,), {"isatty": lambda self: True})()
    monkeypatch.setattr(sys, "stderr", terminal)
    df = realistic(20_000)
    df.par(pool=pools["thread"], progress=True).apply(score, axis=1)
    text = terminal.getvalue()
    assert "score" in text and "/" in text
    assert par.last_run().chunks >= 4


def _sleepy(row):
    time.sleep(0.5)
    return 1


def test_timeout_reaches_the_chunks(pools):
    df = realistic(8)
    with pytest.raises(ChunkTimeoutError):
        df.par(pool=pools["process"], timeout=0.2, n=2).apply(_sleepy, axis=1)


class Holding(Exception):
    """An exception holding something that does not pickle (here a lock)."""


class Odd(Exception):
    """An exception whose constructor takes other arguments than its ``args``."""

    def __init__(self, row, lock):
        super().__init__(f"odd row {row}")
        self.lock = lock


def test_errors_keep_their_type_and_name_label_and_chunk(pools):
    df = realistic(300)
    bad = df.index[217]

    def f(row):
        if row.name == bad:
            raise LookupError("no such score")
        return 1.0

    for backend, pool in pools.items():
        with pytest.raises(LookupError, match="no such score") as info:
            df.par(pool=pool, n=3).apply(f, axis=1)
        notes = info.value.__notes__
        assert notes[0] == f"raised by func on row with label {bad!r}"
        assert notes[1] == f"raised by chunk 2 of 3 on the {backend} backend"
        with pytest.raises(ZeroDivisionError) as info:
            df["i"].par(pool=pool, n=3).map(lambda v: 1 // (int(v) - int(df["i"].iloc[250])))
        assert repr(df.index[df["i"].eq(df["i"].iloc[250]).argmax()]) in info.value.__notes__[0]


def test_an_exception_that_does_not_pickle_travels_as_a_map_error_does(pools):
    """Its arguments and attributes that do not pickle become their repr, and one whose
    constructor takes other arguments than its args is rebuilt without it (as for any map)."""
    import threading

    df = realistic(10)

    def holding(row):
        raise Holding("no lock for", row.name, threading.Lock())

    def odd(row):
        raise Odd(row.name, threading.Lock())

    with pytest.raises(Holding) as info:
        df.par(pool=pools["process"], n=2).apply(holding, axis=1)
    assert info.value.args[:2] == ("no lock for", df.index[0])
    assert "raised by func on row with label" in info.value.__notes__[0]
    with pytest.raises(Odd, match="odd row") as info:
        df.par(pool=pools["process"], n=2).apply(odd, axis=1)
    assert str(info.value) == f"odd row {df.index[0]}" and "lock" in info.value.lock

    class Locked(Exception):  # local: travels by value, as a script's or notebook's own
        def __init__(self):
            super().__init__("locked")
            self.lock = threading.Lock()

    def locked(row):
        raise Locked()

    with pytest.raises(Exception, match="locked") as info:
        df.par(pool=pools["process"], n=2).apply(locked, axis=1)
    replaced = [n for n in info.value.__notes__ if "replaced by their repr" in n]
    assert len(replaced) == 1, info.value.__notes__  # it travels twice: said once


# -- pinned pandas internals -------------------------------------------------------------------

def test_the_private_pandas_names_are_pinned():
    """Fails on a pandas release not yet checked: run PAR_EXACT_EXAMPLES=1500 pytest
    tests/test_exact_*.py on it, then add it to assembly.PANDAS_TESTED."""
    assert assembly.missing_private_names() == []
    assert assembly.hooks_usable(), (pd.__version__, assembly.PANDAS_TESTED)


def test_pandas_keywords_of_apply_and_map_are_pandas_own():
    """df.apply's by_row= and engine= were passed on to func; s.map(func, **kwargs) was
    refused. by_row=False and other engines run as pandas runs them."""
    df = pd.DataFrame({"a": [1, 2, 3], "b": [4.0, 5, 6]})
    on = df.par(backend="thread", n=2)
    total = lambda x: x.sum()  # noqa: E731
    for kw in ({"by_row": "compat"}, {"engine": "python"}):
        pd.testing.assert_series_equal(on.apply(total, **kw), df.apply(total, **kw))
    pd.testing.assert_frame_equal(on.apply(["sum", np.mean], by_row=False),
                                  df.apply(["sum", np.mean], by_row=False))
    s = pd.Series([1.0, 2.0, None])
    times = lambda v, k: v * k  # noqa: E731
    pd.testing.assert_series_equal(s.par(backend="process", n=2).map(times, k=3),
                                   s.map(times, k=3))
    pd.testing.assert_series_equal(s.par(backend="thread").map(times, "ignore", k=3),
                                   s.map(times, "ignore", k=3))
    pd.testing.assert_series_equal(s.par(backend="thread").map(times, engine=None, k=3),
                                   s.map(times, engine=None, k=3))


def test_pandas_keywords_of_groupby_apply_transform_and_series_map():
    """include_groups= (pandas 3: only False), transform's engine= / engine_kwargs= and
    Series.map's func= (pandas 3.1's name of arg) had been handed on to func or refused."""
    df = pd.DataFrame({"k": [1, 1, 2, 2, 3], "v": [1.0, 2.0, 3.0, 5.0, 8.0]})
    on = df.par(backend="thread", n=2)
    spread = lambda g: g["v"].max() - g["v"].min()  # noqa: E731
    assert_series_equal(on.groupby("k").apply(spread, include_groups=False),
                        df.groupby("k").apply(spread, include_groups=False))
    check(lambda: df.groupby("k").apply(spread, include_groups=True),
          lambda: on.groupby("k").apply(spread, include_groups=True))
    centred = lambda g: g - g.mean()  # noqa: E731
    for kw in ({"engine": None}, {"engine_kwargs": None}, {"engine": "cython"}):
        assert_frame_equal(on.groupby("k").transform(centred, **kw),
                           df.groupby("k").transform(centred, **kw))
    twice = lambda x: x * 2  # noqa: E731
    assert_series_equal(df["v"].par(backend="thread", n=2).map(func=twice),
                        df["v"].map(func=twice))


def test_named_aggregations_of_multiindex_columns_are_pandas():
    df = pd.DataFrame({("g", "x"): [1, 1, 2, 2], ("v", "a"): [1.0, 2.0, 3.0, 4.0],
                       ("v", "b"): [5.0, 6.0, 7.0, 8.0]})
    on = df.par(backend="thread", n=2)
    assert_frame_equal(on.groupby(("g", "x")).agg(z=(("v", "a"), "max"), w=(("v", "b"), "sum")),
                       df.groupby(("g", "x")).agg(z=(("v", "a"), "max"), w=(("v", "b"), "sum")))
    flat = pd.DataFrame({"key": ["a", "a", "b"], ("t", 1): [1, 2, 3]})
    check(lambda: flat.groupby("key").agg(total=(("t", 1), "max")),
          lambda: flat.par(backend="thread").groupby("key").agg(total=(("t", 1), "max")))


def test_raw_rows_of_a_mixed_frame_on_processes_warn_nothing(pools):
    """The user gave a frame; its mixed .values (objects) travel by pickle by our choice."""
    import warnings

    df = pd.DataFrame({"i": [1, 2, 3, 4], "f": [0.5, 1.5, 2.5, 3.5],
                       "n": pd.array([1, None, 3, 4], dtype="Int64")})
    first = lambda r: r[0]  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = par.apply(df, first, axis=1, raw=True, pool=pools["process"], n=2)
    assert_series_equal(got, df.apply(first, axis=1, raw=True))
