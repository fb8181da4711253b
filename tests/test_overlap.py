"""par.map_overlap: chunks extended by their neighbours' rows, against numpy, pandas and dask.

The oracle is always the same computation on the whole data (padded with ``np.pad`` where a
boundary is given). The halo geometry runs over random uneven chunkings at the core level
(:mod:`parallel_analysis.halos`, the very steps a worker takes); the maps run on every local
backend over random chunk counts and depths, including depths larger than a chunk or than the
data. Hypothesis is seeded; ``PAR_HYPOTHESIS_SCALE=20`` runs 20 times the examples, unseeded.
"""

from __future__ import annotations

import asyncio
import os
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import parallel_analysis as par
from parallel_analysis.boundaries import check_boundary
from parallel_analysis.halos import coarsen, depth_pair, halo_slices, plan_halos

SCALE = int(os.environ.get("PAR_HYPOTHESIS_SCALE", "1"))


def examples(n: int) -> settings:
    return settings(max_examples=n * SCALE, derandomize=SCALE == 1, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


BOUNDARIES = [None, "reflect", "nearest", "periodic", 0.0, -7.0]
NP_MODE = {"reflect": "symmetric", "nearest": "edge", "periodic": "wrap"}


@st.composite
def chunkings(draw, n: int, max_chunks: int = 10) -> list[slice]:
    """1..10 uneven contiguous chunks covering range(n) (none for n == 0)."""
    if n == 0:
        return []
    k = draw(st.integers(1, min(max_chunks, n)))
    cuts = sorted(draw(st.sets(st.integers(1, n - 1), min_size=k - 1, max_size=k - 1))) \
        if k > 1 else []
    edges = [0, *cuts, n]
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]


@st.composite
def cases(draw, min_n: int = 1, max_n: int = 40):
    n = draw(st.integers(min_n, max_n))
    return n, draw(chunkings(n))


def int_valued(seed: int, shape: tuple) -> np.ndarray:
    """Small integers as floats: stencil sums are exact, so results compare bit for bit."""
    return np.random.default_rng(seed).integers(-20, 20, size=shape).astype(float)


def stencil(before: int, after: int):
    """out[i] = sum over k in [-before, after] of (k + before + 1) * c[i + k], rows beyond the
    chunk counted as 0: a local function whose halo rows come out wrong (and are trimmed)."""

    def f(c):
        out = np.zeros_like(c)
        n = len(c)
        for k in range(-before, after + 1):
            lo, hi = max(0, -k), min(n, n - k)
            if hi > lo:
                out[lo:hi] += (k + before + 1) * c[lo + k:hi + k]
        return out
    return f


def whole(x: np.ndarray, before: int, after: int, boundary) -> np.ndarray:
    """The stencil on the whole array, padded as np.pad pads it: the oracle."""
    f = stencil(before, after)
    if boundary is None or len(x) == 0:
        return f(x)
    widths = [(before, after)] + [(0, 0)] * (x.ndim - 1)
    if isinstance(boundary, str):
        padded = np.pad(x, widths, mode=NP_MODE[boundary])
    else:
        padded = np.pad(x, widths, mode="constant", constant_values=boundary)
    return f(padded)[before:before + len(x)]


def drive(func, data, slices, depth, boundary=None):
    """A map_overlap by hand over any chunking: exactly what each worker does with its chunk."""
    halos = plan_halos(data, slices, depth, boundary)
    pieces = []
    for i, h in enumerate(halos.halos):
        rows = slice(h.start, h.stop)
        chunk = data[rows] if isinstance(data, np.ndarray) else data.iloc[rows]
        pieces.append(halos.trim(i, func(halos.extend(i, chunk))))
    return np.concatenate(pieces) if isinstance(data, np.ndarray) else pd.concat(pieces)


# -- the geometry, over random uneven chunkings ------------------------------------------------

@examples(80)
@given(cases(min_n=0), st.integers(0, 50), st.integers(0, 50), st.booleans())
def test_halo_geometry(nc, before, after, pad):
    n, slices = nc
    halos = halo_slices(n, slices, before, after, pad)
    for s, h in zip(slices, halos):
        assert h.core == s
        assert (h.start, h.stop) == (max(0, s.start - before), min(n, s.stop + after))
        assert h.length - h.trim_before - h.trim_after == s.stop - s.start
        if pad:  # every chunk sees the whole depth on both sides
            assert h.length == before + (s.stop - s.start) + after
            assert (h.pad_before, h.pad_after) == (max(0, before - s.start),
                                                   max(0, s.stop + after - n))
        else:
            assert h.pad_before == h.pad_after == 0


def test_a_halo_spans_as_many_neighbours_as_it_needs():
    slices = [slice(0, 1), slice(1, 2), slice(2, 3), slice(3, 10)]
    halos = halo_slices(10, slices, 5, 5)
    assert tuple(halos[1]) == (0, 7, 1, 5, 0, 0)  # chunks 0 and 2 and part of 3
    assert tuple(halos[3]) == (0, 10, 3, 0, 0, 0)
    assert tuple(halo_slices(10, slices, 5, 5, pad=True)[1]) == (0, 7, 5, 5, 4, 0)


@examples(80)
@given(cases(max_n=30), st.integers(0, 40), st.integers(0, 40), st.sampled_from(BOUNDARIES),
       st.integers(1, 3), st.integers(0, 2**32 - 1))
def test_any_chunking_and_depth_equals_the_whole_stencil(nc, before, after, boundary, ndim,
                                                         seed):
    """Asymmetric, larger than chunks or than the data, every boundary (np.pad's rows)."""
    n, slices = nc
    x = int_valued(seed, (n,) + (3,) * (ndim - 1))
    got = drive(stencil(before, after), x, slices, (before, after), boundary)
    np.testing.assert_array_equal(got, whole(x, before, after, boundary))


def _dask_map_overlap(func, x, slices, depth, boundary):
    import dask
    import dask.array as da

    chunks = (tuple(s.stop - s.start for s in slices),) + tuple((k,) for k in x.shape[1:])
    d = da.from_array(x, chunks=chunks)
    depths = {0: depth, **{i: 0 for i in range(1, x.ndim)}}
    bounds = {0: "none" if boundary is None else boundary,
              **{i: "none" for i in range(1, x.ndim)}}
    with dask.config.set(scheduler="sync"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dask's own deprecations are not under test
        return da.map_overlap(func, d, depth=depths, boundary=bounds, dtype=x.dtype).compute()


@examples(25)
@given(cases(min_n=2, max_n=30), st.integers(0, 12), st.sampled_from(BOUNDARIES),
       st.integers(1, 3), st.integers(0, 2**32 - 1))
def test_boundaries_are_dasks(nc, depth, boundary, ndim, seed):
    """Where dask accepts the call (a symmetric depth up to the data's length) the results are
    identical, although dask merges chunks shorter than the depth and we read further."""
    n, slices = nc
    depth = min(depth, n)
    x = int_valued(seed, (n,) + (2,) * (ndim - 1))
    f = stencil(depth, depth)
    np.testing.assert_array_equal(drive(f, x, slices, depth, boundary),
                                  _dask_map_overlap(f, x, slices, depth, boundary))


# -- the map, on every backend -----------------------------------------------------------------

@examples(12)
@given(n_rows=st.integers(1, 60), n=st.integers(1, 70), before=st.integers(0, 70),
       after=st.integers(0, 25), boundary=st.sampled_from(BOUNDARIES), ndim=st.integers(1, 2),
       seed=st.integers(0, 2**32 - 1))
def test_map_overlap_equals_the_whole_stencil(pool, n_rows, n, before, after, boundary, ndim,
                                             seed):
    x = int_valued(seed, (n_rows,) + (2,) * (ndim - 1))
    got = pool.map_overlap(stencil(before, after), x, (before, after), boundary=boundary, n=n)
    np.testing.assert_array_equal(got, whole(x, before, after, boundary))


@examples(12)
@given(n_rows=st.integers(1, 60), before=st.integers(0, 6), after=st.integers(0, 6),
       boundary=st.sampled_from(BOUNDARIES), seed=st.integers(0, 2**32 - 1))
def test_the_chunking_the_package_chooses_is_coarsened_right(pool, n_rows, before, after,
                                                             boundary, seed):
    """No n=: small data gets 1-row chunks, merged until each covers the halo's reach."""
    x = int_valued(seed, (n_rows,))
    got = pool.map_overlap(stencil(before, after), x, (before, after), boundary=boundary)
    np.testing.assert_array_equal(got, whole(x, before, after, boundary))
    series = pd.Series(x.astype(float), index=[f"r{i}" for i in range(n_rows)])
    pd.testing.assert_series_equal(pool.map_overlap(lambda c: c.diff(), series, (1, 0)),
                                   series.diff())


@given(sizes=st.lists(st.integers(1, 9), min_size=1, max_size=30), min_rows=st.integers(1, 40))
def test_coarsen_merges_neighbours_in_order(sizes, min_rows):
    bounds = np.r_[0, np.cumsum(sizes)]
    merged = coarsen([slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])], min_rows)
    assert merged[0].start == 0 and merged[-1].stop == bounds[-1]
    assert all(a.stop == b.start for a, b in zip(merged[:-1], merged[1:]))
    assert set(s.stop for s in merged) <= set(bounds.tolist())
    if len(merged) > 1:
        assert all(s.stop - s.start >= min_rows for s in merged)


def test_numpy_oracles(pool):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(50_000)
    kernel = rng.standard_normal(9)
    for n in (1, 7, 40):
        got = pool.map_overlap(lambda c: np.convolve(c, kernel, "same"), x, 4, n=n)
        np.testing.assert_allclose(got, np.convolve(x, kernel, "same"), rtol=1e-12, atol=1e-12)
    y = rng.standard_normal((3001, 3))
    np.testing.assert_array_equal(pool.map_overlap(lambda c: np.gradient(c, axis=0), y, 1, n=9),
                                  np.gradient(y, axis=0))
    got = pool.map_overlap(lambda c: np.diff(c, axis=0, prepend=c[:1]), y, (1, 0), n=11)
    np.testing.assert_array_equal(got, np.diff(y, axis=0, prepend=y[:1]))


def test_chunks_shorter_than_the_depth(pool):
    """1-row chunks and a depth of several chunks: the halo comes from many neighbours."""
    x = np.arange(12.0) ** 2
    kernel = np.arange(1.0, 8.0)
    got = pool.map_overlap(lambda c: np.convolve(c, kernel, "full")[3:3 + len(c)], x, 3, n=12)
    np.testing.assert_array_equal(got, np.convolve(x, kernel, "same"))
    got = pool.map_overlap(stencil(30, 30), x, 30, boundary="periodic", n=12)
    np.testing.assert_array_equal(got, whole(x, 30, 30, "periodic"))


def _frame(seed: int, n: int, index: str) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    labels = {"str": pd.Index([f"r{i:03d}" for i in rng.permutation(n)]),
              "time": pd.date_range("2024-01-01", periods=n, freq="37s"),
              "int": pd.Index(rng.permutation(n) * 3 + 100)}[index]
    values = rng.standard_normal((n, 2))
    values[rng.random((n, 2)) < 0.1] = np.nan
    return pd.DataFrame(values, index=labels, columns=["a", "b"])


@examples(10)
@given(n_rows=st.integers(1, 40), n=st.integers(1, 45), k=st.integers(1, 6),
       index=st.sampled_from(["str", "time", "int"]), series=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_pandas_oracles(pool, n_rows, n, k, index, series, seed):
    df = _frame(seed, n_rows, index)
    data = df["a"] if series else df
    check = pd.testing.assert_series_equal if series else pd.testing.assert_frame_equal
    check(pool.map_overlap(lambda c: c.diff(k), data, (k, 0), n=n), data.diff(k))
    check(pool.map_overlap(lambda c: c.shift(k), data, (k, 0), n=n), data.shift(k))
    check(pool.map_overlap(lambda c: c.shift(-k), data, (0, k), n=n), data.shift(-k))
    # the labels func returns do not matter: the input's index is put back
    got = pool.map_overlap(lambda c: c.rolling(k, min_periods=1).max().reset_index(drop=True),
                           data, (k - 1, 0), n=n)
    check(got, data.rolling(k, min_periods=1).max())


@examples(10)
@given(n_rows=st.integers(1, 80), n=st.integers(1, 20), alpha=st.floats(0.2, 0.9),
       adjust=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_ewm_with_a_depth_that_makes_it_exact(pool, n_rows, n, alpha, adjust, seed):
    """ewm remembers forever; a halo of d rows drops weights below (1 - alpha)**d = 1e-14."""
    s = _frame(seed, n_rows, "time")["a"]
    d = int(np.ceil(np.log(1e-14) / np.log(1 - alpha)))
    got = pool.map_overlap(lambda c: c.ewm(alpha=alpha, adjust=adjust).mean(), s, (d, 0), n=n)
    pd.testing.assert_series_equal(got, s.ewm(alpha=alpha, adjust=adjust).mean(), rtol=1e-10,
                                   atol=1e-12)


@examples(15)
@given(n_rows=st.integers(1, 40), n=st.integers(1, 12),
       depth=st.sampled_from(["1s", "40s", "3min", "1h"]), decreasing=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_a_depth_in_time(n_rows, n, depth, decreasing, seed):
    """depth="40s": the rows within 40 s of each chunk's edges, found on the index."""
    rng = np.random.default_rng(seed)
    steps = np.cumsum(rng.integers(0, 90, n_rows))  # irregular, with duplicate stamps
    index = pd.DatetimeIndex(pd.Timestamp("2024-01-01") + pd.to_timedelta(steps, "s"))
    s = pd.Series(rng.standard_normal(n_rows), index=index[::-1] if decreasing else index)
    got = par.map_overlap(lambda c: c.rolling(depth).max(), s, (depth, 0), n=n,
                          backend="serial")
    pd.testing.assert_series_equal(got, s.rolling(depth).max())


def test_func_reads_the_halo_in_place(pool):
    """No copy per chunk: func gets a view of the (shared) input, except chunks that need
    boundary rows, which get one array of before + len + after rows."""
    with par.share(np.arange(10_000.0)) as handle:
        owns = pool.map_overlap(lambda c: np.full(len(c), float(c.flags.owndata)), handle, 50,
                                n=8)
        assert not owns.any()
        owns = pool.map_overlap(lambda c: np.full(len(c), float(c.flags.owndata)), handle, 50,
                                boundary="reflect", n=8)
        chunk = 10_000 // 8
        assert owns[:chunk].all() and owns[-chunk:].all() and not owns[chunk:-chunk].any()
        rows = pool.map_overlap(lambda c: np.full(len(c), float(len(c))), handle, (7, 3),
                                boundary=0.0, n=8)
        assert (rows == chunk + 10).all()


def test_frames_give_frames_or_arrays():
    df = _frame(1, 23, "str")
    arr = par.map_overlap(lambda c: c.to_numpy() * 2, df, 1, n=4, backend="thread")
    np.testing.assert_array_equal(arr, df.to_numpy() * 2)
    sums = par.map_overlap(lambda c: c.sum(axis=1), df, 0, n=5, dtype="f8", backend="thread")
    assert isinstance(sums, np.ndarray)
    np.testing.assert_array_equal(sums, df.sum(axis=1).to_numpy())


def test_frame_boundaries_copy_rows_with_their_labels():
    df = pd.DataFrame({"a": np.arange(6.0)}, index=list("uvwxyz"))
    seen = []
    par.map_overlap(lambda c: seen.append(c) or c, df, 2, boundary="reflect", n=2,
                    backend="serial")
    assert seen[0]["a"].tolist() == [1, 0, 0, 1, 2, 3, 4]
    assert list(seen[0].index[:2]) == ["v", "u"]
    seen.clear()
    par.map_overlap(lambda c: seen.append(c) or c, df, 1, boundary=np.nan, n=1, backend="serial")
    assert np.isnan(seen[0]["a"].iloc[0]) and np.isnan(seen[0]["a"].iloc[-1])


def test_a_scalar_boundary_keeps_the_dtype_of_a_column_that_holds_it():
    """Padding with 0 leaves int8, float32 and Int64 columns as they are (the identity gives
    the input back); a value a column cannot hold takes pandas' promotion (NaN: float64)."""
    df = pd.DataFrame({"a": np.arange(6, dtype=np.int8), "f": np.arange(6, dtype=np.float32),
                       "n": pd.array(range(6), dtype="Int64")}, index=list("uvwxyz"))
    pd.testing.assert_frame_equal(par.map_overlap(lambda c: c, df, 1, boundary=0, n=2,
                                                  backend="serial"), df)
    pd.testing.assert_series_equal(par.map_overlap(lambda c: c, df["f"], 1, boundary=0, n=2,
                                                   backend="serial"), df["f"])
    seen = []
    par.map_overlap(lambda c: seen.append(c) or c, df, 1, boundary=np.nan, n=2,
                    backend="serial")
    assert seen[0].dtypes.astype(str).tolist() == ["float64", "float32", "Int64"]


def seen_chunk(seen: list):
    """A func for map_overlap that keeps each extended chunk it gets in ``seen``."""
    return lambda chunk: seen.append(chunk) or chunk


@pytest.mark.parametrize("dtype", ["datetime64[D]", "datetime64[ns]", "timedelta64[s]"])
def test_time_arrays_pad_with_nat_and_their_own_scalars_as_numpy_pads(dtype):
    x = np.arange(5).astype(dtype)
    stamp = np.datetime64("2020-01-02") if dtype[0] == "d" else np.timedelta64(7, "s")
    seen = []
    for value in (np.datetime64("NaT"), np.timedelta64("NaT"), pd.NaT, stamp,
                  pd.Timestamp(stamp) if dtype[0] == "d" else pd.Timedelta(stamp)):
        seen.clear()
        par.map_overlap(seen_chunk(seen), x, 2, boundary=value, n=2, backend="serial")
        pad = value.to_numpy() if hasattr(value, "to_numpy") else value
        expected = np.pad(x, 2, constant_values=np.array(pad).astype(dtype))
        np.testing.assert_array_equal(np.concatenate([seen[0][:2], seen[-1][-2:]]),
                                      np.concatenate([expected[:2], expected[-2:]]))
    wrong = np.timedelta64(1, "s") if dtype[0] == "d" else np.datetime64("2020-01-02")
    with pytest.raises(ValueError, match="not representable"):
        par.map_overlap(lambda c: c, x, 1, boundary=wrong, backend="serial")
    for numbers, time in ((np.arange(4), pd.Timedelta("7ms")), (np.arange(4.0), stamp),
                          (x, 7)):  # np.int64(7000000) == np.timedelta64(7000000, "us")
        with pytest.raises(TypeError, match="cannot pad"):
            par.map_overlap(lambda c: c, numbers, 1, boundary=time, backend="serial")


def test_empty_input_runs_nothing():
    out = par.map_overlap(lambda c: 1 / 0, np.empty((0, 3)), 2, boundary="reflect")
    assert out.shape == (0, 3)
    df = pd.DataFrame({"a": []})
    pd.testing.assert_frame_equal(par.map_overlap(lambda c: 1 / 0, df, 2), df)


def test_empty_input_gives_what_func_gives_on_it():
    """As func on the whole (empty) data would, and as map_array does: its dtype, row shape,
    columns and kind, where func runs on no rows; the input's otherwise."""
    x = np.array([], dtype=np.int64)
    assert par.map_overlap(lambda a: a / 2, x, 1, backend="serial").dtype == np.float64
    assert par.map_overlap(lambda a: np.stack([a, a], 1), x, 1).shape == (0, 2)
    assert par.map_overlap(lambda a: a / 2, x, 1, dtype=np.float32).dtype == np.float32
    df = pd.DataFrame({"a": pd.Series([], dtype="int64")})
    pd.testing.assert_frame_equal(par.map_overlap(lambda f: f.assign(b=f.a * 2), df, 1),
                                  df.assign(b=df.a * 2))
    pd.testing.assert_series_equal(par.map_overlap(lambda f: f.sum(axis=1), df, 1),
                                   df.sum(axis=1))
    s = pd.Series([], dtype="int64", name="s")
    pd.testing.assert_series_equal(par.map_overlap(lambda v: v / 2, s, 1), s / 2)


def test_async_twins():
    x = np.arange(100.0)

    async def main():
        with par.Pool(2, "thread") as pool:
            a = await pool.map_overlap_async(np.gradient, x, 1, n=5)
        b = await par.map_overlap_async(np.gradient, x, 1, n=5, backend="thread")
        return a, b

    a, b = asyncio.run(main())
    np.testing.assert_array_equal(a, np.gradient(x))
    np.testing.assert_array_equal(b, np.gradient(x))


# -- bad input -----------------------------------------------------------------------------------

def test_func_returning_the_wrong_rows(pool):
    x = np.arange(10.0)
    with pytest.raises(ValueError, match=r"returned 3 rows for chunk 0 but was given 6"):
        pool.map_overlap(lambda c: c[:3], x, 1, n=2)
    with pytest.raises(TypeError, match="scalar"):
        pool.map_overlap(lambda c: c.sum(), x, 1, n=2)
    with pytest.raises(ValueError, match="returned 1 rows for chunk"):
        pool.map_overlap(lambda c: c.iloc[:1], pd.Series(x), 1, n=2)


@pytest.mark.parametrize("depth, error, match", [
    (-1, ValueError, "non-negative"), (1.5, TypeError, "integer"), ((1, -2), ValueError, "after"),
    ((1, 2, 3), ValueError, "pair"), (True, TypeError, "integer"),
])
def test_bad_depth(depth, error, match):
    with pytest.raises(error, match=match):
        par.map_overlap(np.gradient, np.arange(10.0), depth, backend="serial")
    with pytest.raises(error, match=match):
        depth_pair(depth)


def test_bad_boundary_and_data():
    x = np.arange(10)
    with pytest.raises(ValueError, match="unknown boundary 'mirror'"):
        par.map_overlap(np.gradient, x, 1, boundary="mirror", backend="serial")
    with pytest.raises(ValueError, match="value itself"):
        check_boundary("constant")
    with pytest.raises(TypeError, match="per-axis"):
        check_boundary({0: "reflect"})
    for value in (np.nan, 1.5, 2**70):
        with pytest.raises(ValueError, match="not representable"):
            par.map_overlap(lambda c: c, x, 1, boundary=value, backend="serial")
    with pytest.raises(TypeError, match="numpy array, a pandas DataFrame or Series"):
        par.map_overlap(lambda c: c, [x, x], 1, backend="serial")
    with pytest.raises(ValueError, match="0-d"):
        par.map_overlap(lambda c: c, np.array(1.0), 1, backend="serial")
    with pytest.raises(TypeError, match="by="):
        par.map_overlap(lambda c: c, pd.DataFrame({"k": [1, 2]}), 1, by="k", backend="serial")


def test_bad_time_depth():
    s = pd.Series([1.0, 2.0, 3.0], index=pd.to_datetime(["2024-01-02", "2024-01-01",
                                                         "2024-01-03"]))
    with pytest.raises(ValueError, match="monotonic"):
        par.map_overlap(lambda c: c, s, "1D", backend="serial")
    with pytest.raises(TypeError, match="DatetimeIndex"):
        par.map_overlap(lambda c: c, pd.Series([1.0, 2.0]), "1D", backend="serial")
    with pytest.raises(TypeError, match="DatetimeIndex"):
        par.map_overlap(lambda c: c, np.arange(3.0), "1D", backend="serial")
    with pytest.raises(ValueError, match="boundary=None"):
        par.map_overlap(lambda c: c, s.sort_index(), "1D", boundary=0.0, backend="serial")
    with pytest.raises(ValueError, match="negative"):
        par.map_overlap(lambda c: c, s.sort_index(), "-1D", backend="serial")
    with pytest.raises(TypeError, match="times on both sides"):
        par.map_overlap(lambda c: c, s.sort_index(), ("1D", 2), backend="serial")
