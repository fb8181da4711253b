"""par.rolling against pandas' rolling on the whole data.

Exact (``check_exact``) where pandas' algorithm is exact: count, min, max, median, quantile,
apply. sum, mean, var and std agree to rounding (pandas' running sums depend on where its scan
starts): rtol 1e-10 plus an absolute term on the data's scale, the tolerance the module
docstring of :mod:`parallel_analysis.windows` documents. Hypothesis is seeded;
``PAR_HYPOTHESIS_SCALE=20`` runs 20 times the examples, unseeded.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import parallel_analysis as par
from parallel_analysis.cpus import available_cpus
from parallel_analysis.halos import index_halo_slices
from parallel_analysis.windows import MAX_CHUNK_ROWS, chunk_count, fixed_window_reach

SCALE = int(os.environ.get("PAR_HYPOTHESIS_SCALE", "1"))


def examples(n: int) -> settings:
    return settings(max_examples=n * SCALE, derandomize=SCALE == 1, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


EXACT = ["count", "min", "max", "median", ("quantile", 0.3), ("quantile", 0.5),
         ("apply", np.ptp), ("apply", lambda v: np.sort(v)[len(v) // 2] if len(v) else np.nan)]
APPROX = ["sum", "mean", "var", "std", ("var", 0), ("std", 2)]


def call(obj, method):
    if isinstance(method, str):
        return getattr(obj, method)()
    name, arg = method
    if name == "apply":
        return obj.apply(arg, raw=True)
    if name in ("var", "std"):
        return getattr(obj, name)(ddof=arg)
    return getattr(obj, name)(arg)


def expected(data, window, kw, method):
    """pandas on the whole data (arrays wrapped as a Series or DataFrame, answered as arrays)."""
    wrapped = data if not isinstance(data, np.ndarray) else (
        pd.Series(data) if data.ndim == 1 else pd.DataFrame(data))
    out = call(wrapped.rolling(window, **kw), method)
    return out.to_numpy() if isinstance(data, np.ndarray) else out


def assert_exact(got, ref):
    if isinstance(ref, np.ndarray):
        assert isinstance(got, np.ndarray) and got.shape == ref.shape
        np.testing.assert_array_equal(got, ref)
    elif isinstance(ref, pd.Series):
        pd.testing.assert_series_equal(got, ref, check_exact=True)
    else:
        pd.testing.assert_frame_equal(got, ref, check_exact=True)


def assert_close(got, ref, data, method, window):
    """rtol 1e-10, plus an absolute term on the data's scale S = max |finite x| (pandas'
    rounding is relative to the window's values, not to a result near 0); std via its square."""
    g, r = np.asarray(got, dtype=float), np.asarray(ref, dtype=float)
    assert g.shape == r.shape
    np.testing.assert_array_equal(np.isnan(g), np.isnan(r))
    x = np.asarray(data, dtype=float)
    x = x[np.isfinite(x)]
    scale = float(np.abs(x).max()) if x.size else 1.0
    name = method if isinstance(method, str) else method[0]
    w = max(1, window if isinstance(window, int) else len(data))
    if name == "std":
        g, r, name = g ** 2, r ** 2, "var"
    atol = {"sum": 1e-12 * w * scale, "mean": 1e-12 * scale, "var": 1e-12 * scale ** 2}[name]
    np.testing.assert_allclose(g, r, rtol=1e-10, atol=atol)
    if not isinstance(ref, np.ndarray):
        assert got.index.equals(ref.index) and type(got) is type(ref)


def check_all(r, data, window, kw, methods=EXACT + APPROX):
    for method in methods:
        try:
            ref = expected(data, window, kw, method)
        except Exception as err:  # e.g. np.ptp of an empty window: the same error
            with pytest.raises(type(err)):
                call(r, method)
            continue
        if method in APPROX:
            assert_close(call(r, method), ref, data, method, window)
        else:
            assert_exact(call(r, method), ref)


# -- integer windows ------------------------------------------------------------------------------

@pytest.mark.parametrize("center", [False, True])
@pytest.mark.parametrize("closed", [None, "right", "left", "both", "neither"])
def test_the_reach_covers_pandas_window_bounds(center, closed):
    from pandas.core.indexers.objects import FixedWindowIndexer

    rows = np.arange(40)
    for w in range(13):
        before, after = fixed_window_reach(w, center, closed)
        start, end = FixedWindowIndexer(window_size=w).get_window_bounds(40, None, center, closed)
        used = end > start
        assert np.all(start[used] >= rows[used] - before)
        assert np.all(end[used] <= rows[used] + after + 1)
        inner = used & (rows > 15) & (rows < 25)  # unclipped: the reach is tight
        if inner.any():
            assert before == 0 or (rows - start)[inner].max() == before
            assert after == 0 or (end - 1 - rows)[inner].max() == after


@st.composite
def rolling_cases(draw, max_n: int = 40):
    n_rows = draw(st.integers(1, max_n))
    kind = draw(st.sampled_from(["series", "frame", "array1", "array2"]))
    window = draw(st.integers(0, n_rows + 3))
    kw = dict(min_periods=draw(st.one_of(st.none(), st.integers(0, window))),
              center=draw(st.booleans()),
              closed=draw(st.sampled_from([None, None, "both", "left", "neither"])))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = rng.standard_normal((n_rows, 2)) * 10
    if draw(st.booleans()):
        values[rng.random((n_rows, 2)) < 0.15] = np.nan
    if draw(st.booleans()):
        values[rng.random((n_rows, 2)) < 0.1] = 3.25  # repeated values, constant runs
    df = pd.DataFrame(values, index=pd.Index([f"k{i}" for i in rng.permutation(n_rows)]),
                      columns=["x", "y"])
    data = {"series": df["x"], "frame": df, "array1": values[:, 0].copy(),
            "array2": values}[kind]
    return data, draw(st.integers(1, n_rows + 2)), window, kw


@examples(60)
@given(rolling_cases())
def test_rolling_equals_pandas(case):
    data, n, window, kw = case
    check_all(par.rolling(data, window, n=n, backend="serial", **kw), data, window, kw)


@examples(6)
@given(rolling_cases(max_n=30))
def test_rolling_on_every_backend(pool, case):
    data, n, window, kw = case
    r = par.rolling(data, window, n=n, pool=pool, **kw)
    check_all(r, data, window, kw, ["max", ("quantile", 0.5), "mean", "std",
                                    ("apply", np.ptp)])


@examples(25)
@given(n_rows=st.integers(1, 60), n=st.integers(1, 20), window=st.integers(1, 20),
       center=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_sum_and_mean_are_exact_on_integers(n_rows, n, window, center, seed):
    """Integer-valued data keeps every partial sum exact: Kahan's correction stays 0."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-1000, 1000, n_rows).astype(float)
    x[rng.random(n_rows) < 0.1] = np.nan
    s = pd.Series(x)
    r = par.rolling(s, window, n=n, center=center, min_periods=1, backend="serial")
    for method in ("sum", "mean"):
        assert_exact(getattr(r, method)(),
                     getattr(s.rolling(window, center=center, min_periods=1), method)())


def test_large_data_default_chunking(pool):
    rng = np.random.default_rng(7)
    s = pd.Series(rng.standard_normal(300_000) * 5 + 2)
    r = par.rolling(s, 1000, pool=pool)
    assert_exact(r.max(), s.rolling(1000).max())
    assert_close(r.std(), s.rolling(1000).std(), s, "std", 1000)
    assert_close(r.mean(), s.rolling(1000).mean(), s, "mean", 1000)


# -- time windows ---------------------------------------------------------------------------------

@st.composite
def time_cases(draw):
    n_rows = draw(st.integers(1, 50))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    steps = rng.integers(0, 4, n_rows) * draw(st.sampled_from([1, 7]))  # duplicates, gaps
    index = pd.DatetimeIndex(pd.Timestamp("2024-03-01 12:00")
                             + pd.to_timedelta(np.cumsum(steps), "s"))
    if draw(st.booleans()):
        index = index[::-1]
    values = rng.standard_normal((n_rows, 2))
    values[rng.random((n_rows, 2)) < 0.1] = np.nan
    df = pd.DataFrame(values, index=index, columns=["p", "q"])
    data = df if draw(st.booleans()) else df["p"]
    window = draw(st.sampled_from(["1s", "3s", "10s", "25s", "2min", "1500ms"]))
    kw = dict(min_periods=draw(st.one_of(st.none(), st.integers(0, 3))),
              center=draw(st.booleans()),
              closed=draw(st.sampled_from([None, "right", "left", "both", "neither"])))
    return data, draw(st.integers(1, n_rows + 2)), window, kw


@examples(40)
@given(time_cases())
def test_time_windows(case):
    data, n, window, kw = case
    r = par.rolling(data, window, n=n, backend="serial", **kw)
    check_all(r, data, window, kw)
    if isinstance(data, pd.Series):  # raw=False: windows are Series with the data's labels
        def span(w):
            return (w.index.max() - w.index.min()).total_seconds() if len(w) else 0.0
        assert_exact(r.apply(span, raw=False), data.rolling(window, **kw).apply(span, raw=False))


def test_time_windows_on_processes(pools):
    rng = np.random.default_rng(11)
    index = pd.Timestamp("2024") + pd.to_timedelta(np.cumsum(rng.integers(0, 5, 4000)), "s")
    s = pd.Series(rng.standard_normal(4000), index=index)
    for center in (False, True):
        r = par.rolling(s, "30s", center=center, n=9, pool=pools["process"])
        assert_exact(r.max(), s.rolling("30s", center=center).max())
        assert_close(r.mean(), s.rolling("30s", center=center).mean(), s, "mean", "30s")


def test_a_time_halo_is_measured_in_time():
    index = pd.DatetimeIndex(["2024-01-01 00:00:00", "2024-01-01 00:00:01",
                              "2024-01-01 00:00:02", "2024-01-01 00:10:00",
                              "2024-01-01 00:10:01", "2024-01-01 00:10:05"])
    halos = index_halo_slices(index, [slice(0, 3), slice(3, 4), slice(4, 6)], "3s", 0)
    assert [(h.start, h.stop) for h in halos] == [(0, 3), (3, 4), (3, 6)]  # the gap: no halo
    s = pd.Series(np.arange(6.0), index=index)
    assert_exact(par.rolling(s, "3s", n=3, backend="serial").sum(), s.rolling("3s").sum())


# -- inputs, edges, errors ------------------------------------------------------------------------

def test_inputs_kinds(pools):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2000, 3))
    with par.share(x) as handle:
        got = par.rolling(handle, 20, n=6, pool=pools["process"]).median()
    assert_exact(got, pd.DataFrame(x).rolling(20).median().to_numpy())
    s = pd.Series(rng.integers(0, 9, 500), dtype="Int64")
    s[s == 3] = pd.NA
    assert_exact(par.rolling(s, 4, min_periods=2, n=5).sum(),
                 s.rolling(4, min_periods=2).sum())
    y = rng.standard_normal(300)  # raw=False on an array: windows labelled by position
    got = par.rolling(y, 5, n=4, backend="thread").apply(lambda w: w.index[-1], raw=False)
    assert_exact(got, pd.Series(y).rolling(5).apply(lambda w: w.index[-1], raw=False).to_numpy())


def test_default_chunking():
    """Memory caps the rows per chunk, apply gets more chunks, and no chunk is shorter than
    its halo (computed twice otherwise)."""
    assert chunk_count(20_000_000, 8, "mean", (999, 0)) == -(-20_000_000 // MAX_CHUNK_ROWS)
    assert chunk_count(200_000, 8, "apply", (99, 0)) == 8 * available_cpus()
    assert chunk_count(1000, 8, "max", (599, 0)) == 1
    assert chunk_count(1000, 8, "max", ("10s", 0)) == min(1000, 4 * available_cpus())
    x = np.random.default_rng(3).standard_normal(1000)
    assert_exact(par.rolling(x, 600).max(), pd.Series(x).rolling(600).max().to_numpy())


def test_edges():
    empty = pd.Series([], dtype=float)
    assert_exact(par.rolling(empty, 3).mean(), empty.rolling(3).mean())
    x = np.arange(7.0)
    assert_exact(par.rolling(x, 50, min_periods=1, n=7).max(),
                 pd.Series(x).rolling(50, min_periods=1).max().to_numpy())
    assert_exact(par.rolling(x, 0, n=3).sum(), pd.Series(x).rolling(0).sum().to_numpy())
    assert par.rolling(np.empty((0, 2)), 3).max().shape == (0, 2)


def test_bad_input():
    unsorted = pd.Series([1.0, 2.0, 3.0], index=pd.to_datetime(["2024-01-02", "2024-01-01",
                                                                "2024-01-03"]))
    with pytest.raises(ValueError, match="index values must be monotonic"):
        par.rolling(unsorted, "1D")
    with pytest.raises(ValueError):  # pandas' error type for a time window without a time index
        pd.Series([1.0, 2.0]).rolling("1D")
    with pytest.raises(ValueError, match="needs a DatetimeIndex or TimedeltaIndex, not a "
                                         "RangeIndex"):
        par.rolling(pd.Series([1.0, 2.0]), "1D")
    with pytest.raises(ValueError, match="to_timestamp"):
        par.rolling(pd.Series([1.0], index=pd.period_range("2024", periods=1)), "1D")
    with pytest.raises(ValueError, match="array takes an integer window"):
        par.rolling(np.arange(3.0), "1D")
    with pytest.raises(ValueError, match="min_periods 5 must be <= window 3"):
        par.rolling(pd.Series([1.0, 2.0]), 3, min_periods=5)
    with pytest.raises(ValueError, match="window must be an integer 0 or greater"):
        par.rolling(pd.Series([1.0, 2.0]), -1)
    with pytest.raises(ValueError, match="window must be an integer 0 or greater"):
        par.rolling(np.arange(3.0), 2.5)
    with pytest.raises(ValueError, match="1-d or 2-d"):
        par.rolling(np.zeros((3, 2, 2)), 2)
    with pytest.raises(TypeError, match="got list: wrap it first"):
        par.rolling([1.0, 2.0, 3.0], 2)
    with pytest.raises(TypeError, match="BaseIndexer"):
        par.rolling(pd.Series([1.0]), pd.api.indexers.FixedForwardWindowIndexer(window_size=2))
    with pytest.raises(TypeError, match="unexpected option"):
        par.rolling(pd.Series([1.0, 2.0]), 2, step=2).mean()
    for center in (1, "yes"):  # pandas' check sees the value given, not bool(center)
        with pytest.raises(ValueError, match="center must be a boolean"):
            par.rolling(pd.Series([1.0, 2.0]), 2, center=center)
    import parallel_analysis.pandas  # noqa: F401  the accessor
    with pytest.raises(ValueError, match="center must be a boolean"):
        pd.Series([1.0, 2.0]).par.rolling(2, center=1)
    for keyword in (dict(win_type="triang"), dict(on="x"), dict(step=2), dict(method="table")):
        with pytest.raises(TypeError, match=f"does not take {next(iter(keyword))}=.*pandas' own"):
            pd.DataFrame({"x": [1.0, 2.0]}).par.rolling(2, **keyword)


def test_a_frame_pandas_cannot_roll_gets_pandas_error_for_its_first_such_column():
    frame = pd.DataFrame({"a": np.arange(6.0), "s": list("abcdef"),
                          "t": pd.date_range("2020", periods=6)})
    with pytest.raises(pd.errors.DataError) as theirs:
        frame.rolling(2).mean()
    with pytest.raises(pd.errors.DataError) as ours:
        par.rolling(frame, 2, backend="thread").mean()
    assert str(ours.value) == str(theirs.value)  # the str column's, first in column order


def test_the_accessor_takes_pandas_parameters_by_position():
    import parallel_analysis.pandas  # noqa: F401  the accessor
    s = pd.Series(np.arange(40.0))  # whole numbers: sums exact in any order
    pd.testing.assert_series_equal(
        s.par(backend="thread", n=3).rolling(5, 2, True, closed="both").sum(),
        s.rolling(5, 2, True, closed="both").sum(), check_exact=True)  # (pandas 2: axis at 6)


def test_std_of_constant_windows_is_fragile_in_pandas_itself():
    """The documented limit: pandas' variance of a constant window is 0 or rounding noise
    depending on where its scan started, so a chunk's may land on the other."""
    x = np.random.default_rng(2).standard_normal(30_000) * 3.3
    x[20_000:] = 0.1
    s = pd.Series(x)
    whole = s.rolling(100).var().iloc[20_100:]
    later = s.iloc[10_000:].rolling(100).var().iloc[10_100:]
    assert (whole == 0).all() and (later > 0).all() and (later < 1e-12).all()


def test_apply_default_is_raw_here_and_series_on_the_accessor():
    """par.rolling(...).apply passes ndarrays unless told (DESIGN.md's raw=True); the accessor
    is pandas' own surface, so s.par.rolling(...).apply passes Series, as pandas does."""
    import parallel_analysis.pandas  # noqa: F401  (registers .par)

    s = pd.Series([1.0, 2.0, 3.0, 4.0], index=list("wxyz"))
    is_series = lambda w: float(isinstance(w, pd.Series))  # noqa: E731
    assert par.rolling(s, 2, backend="serial").apply(is_series).tolist()[1:] == [0.0] * 3
    assert_exact(s.par(backend="serial").rolling(2).apply(is_series),
                 s.rolling(2).apply(is_series))
    last_label = lambda w: float(ord(w.index[-1]))  # noqa: E731
    df = pd.DataFrame({"a": s, "b": -s})
    assert_exact(df.par(backend="thread", n=2).rolling(2, min_periods=1).apply(last_label),
                 df.rolling(2, min_periods=1).apply(last_label))
    assert_exact(s.par(backend="serial").rolling(2).apply(is_series, True),
                 s.rolling(2).apply(is_series, True))


def test_quantile_takes_interpolation_by_position():
    s = pd.Series(np.arange(9.0))
    for how in ("linear", "lower", "higher", "midpoint", "nearest"):
        assert_exact(par.rolling(s, 3, n=3, backend="serial").quantile(0.4, how),
                     s.rolling(3).quantile(0.4, how))


def test_an_array_rollings_job_imports_pandas_when_a_worker_unpickles_it(monkeypatch):
    """An array's rolling runs pandas in the workers: a fresh worker must import it (0.3-0.9 s)
    while unpickling the job, in the board's grace, not in a chunk's timeout= (a 0.5 s one
    had failed every cold map). The job, unpickled in a fresh interpreter, brings pandas."""
    import subprocess
    import sys

    import cloudpickle

    from parallel_analysis import windows

    sent = []

    def keep_the_job(func, data, depth, **options):
        sent.append(func)
        return np.zeros(len(data))

    monkeypatch.setattr(windows, "map_overlap", keep_the_job)
    par.rolling(np.arange(100.0), 3, timeout=0.5).max()
    payload = cloudpickle.dumps(sent[0])
    check = ("import pickle, sys; pickle.loads(sys.stdin.buffer.read()); "
             "print('pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", check], input=payload, capture_output=True,
                         timeout=60)
    assert out.stdout.strip() == b"True", out.stderr
