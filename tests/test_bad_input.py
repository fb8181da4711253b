"""Bad and unusual input: each gives a clear error or a documented behaviour (README "Decisions"),
on every local backend, with numpy as the oracle. Arrays come in two sizes: small ones travel
inside the batch, large ones (above plan.SHARE_MIN_BYTES) through shared memory."""

from __future__ import annotations

import contextlib
import pickle
import threading
import warnings

import numpy as np
import pandas as pd
import pytest

import parallel_analysis as par
from parallel_analysis.errors import PickleFallbackWarning, PicklingError
from parallel_analysis.reducers import Max, Mean, Min, Sum

BIG = 2**16  # rows: 512 KiB of float64, above SHARE_MIN_BYTES
SIZES = pytest.mark.parametrize("rows", [100, BIG], ids=["inline", "shared"])


@contextlib.contextmanager
def warns_like(numpy_call):
    """Expect a RuntimeWarning exactly when ``numpy_call()`` gives one (numpy's own rule)."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        numpy_call()
    if any(issubclass(w.category, RuntimeWarning) for w in seen):
        with pytest.warns(RuntimeWarning):
            yield
    else:
        yield


def roundtrip(pool, x, **kw):
    """map_chunks of the identity, concatenated: every byte the workers saw."""
    return np.concatenate(pool.map_chunks(lambda c: np.array(c), x, n=4, **kw))


# -- shapes and layouts ---------------------------------------------------------------------------

def test_empty_array(pool):
    x = np.empty((0, 3))
    assert pool.map_chunks(lambda c: c.sum(), x) == []
    assert pool.map_reduce(None, x, Sum()) == np.sum(x)
    with pytest.raises(ValueError):
        pool.map_reduce(None, x, Min())  # numpy's own answer: zero-size array has no minimum
    with pytest.raises(ValueError):
        np.min(x)
    assert pool.map_array(lambda c: c * 2, x).shape[0] == 0
    with pytest.raises(TypeError, match="empty"):
        pool.map_reduce(None, x, lambda a, b: a + b)  # like functools.reduce


def test_an_empty_list_of_chunks_reduces_as_numpy_reduces_an_empty_list(pool):
    assert pool.map_chunks(len, []) == []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for reducer, numpy_call in ((Sum(), np.sum), (Mean(), np.mean)):
            got, want = pool.map_reduce(None, [], reducer), numpy_call([])
            assert got == want or (np.isnan(got) and np.isnan(want))
    with pytest.raises(ValueError):
        pool.map_reduce(None, [], Max())  # numpy: zero-size array has no maximum


def test_zero_d_array(pool):
    with pytest.raises(ValueError, match="atleast_1d"):
        pool.map_chunks(lambda c: c, np.array(3.0))
    with pytest.raises(ValueError, match="atleast_1d"):
        par.split(np.array(3.0), 2)


def test_one_row(pool):
    x = np.arange(5.0).reshape(1, 5)
    assert pool.map_chunks(lambda c: c.shape, x, n=4) == [(1, 5)]
    assert pool.map_reduce(None, x, Sum()) == x.sum()


@pytest.mark.parametrize("n", [10, 101, 1000])
def test_more_chunks_than_rows(pool, n):
    x = np.arange(10.0)
    chunks = pool.map_chunks(lambda c: len(c), x, n=n)
    assert chunks == [1] * 10
    assert pool.map_reduce(None, x, Sum(), n=n) == x.sum()


@SIZES
def test_non_contiguous(pool, rows):
    base = np.arange(rows * 6, dtype=np.float64).reshape(rows * 2, 3)
    x = base[::2, ::-2]  # strided both ways
    assert not x.flags.c_contiguous
    np.testing.assert_array_equal(roundtrip(pool, x), x)
    assert pool.map_reduce(None, x, Sum()) == x.sum()
    np.testing.assert_array_equal(pool.map_array(lambda c: c + 1, x), x + 1)


@SIZES
def test_fortran_order(pool, rows):
    x = np.asfortranarray(np.arange(rows * 4, dtype=np.float64).reshape(rows, 4))
    np.testing.assert_array_equal(roundtrip(pool, x), x)
    np.testing.assert_array_equal(pool.map_reduce(None, x, Sum(axis=0)), x.sum(axis=0))


@SIZES
def test_read_only_input(pool, rows):
    x = np.arange(rows, dtype=np.float64)
    x.flags.writeable = False
    assert pool.map_reduce(None, x, Sum()) == x.sum()


@SIZES
def test_func_writing_to_its_input_gets_numpys_error(pool, rows):
    x = np.arange(rows, dtype=np.float64)
    before = x.copy()

    def scribble(chunk):
        chunk[:] = -1
        return 0

    with pytest.raises(ValueError, match="read-only"):
        pool.map_chunks(scribble, x, n=4)
    np.testing.assert_array_equal(x, before)
    with par.share(x) as handle:
        with pytest.raises(ValueError, match="read-only"):
            pool.map_chunks(scribble, handle, n=4)
        np.testing.assert_array_equal(handle.value, before)


# -- dtypes ---------------------------------------------------------------------------------------

@SIZES
def test_structured_dtype(pool, rows):
    x = np.zeros(rows, dtype=[("a", "<i4"), ("b", "<f8"), ("c", "S3")])
    x["a"] = np.arange(rows)
    x["b"] = np.arange(rows) / 2
    x["c"] = b"abc"
    np.testing.assert_array_equal(roundtrip(pool, x), x)
    assert sum(pool.map_chunks(lambda c: int(c["a"].sum()), x, n=4)) == x["a"].sum()


@SIZES
def test_object_dtype_travels_by_pickle_with_one_warning(pool, rows):
    x = np.array([{"v": i} for i in range(rows)], dtype=object)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        total = pool.map_reduce(lambda c: sum(d["v"] for d in c), x, lambda a, b: a + b, n=4)
    assert total == rows * (rows - 1) // 2
    fallbacks = [w for w in caught if issubclass(w.category, PickleFallbackWarning)]
    assert len(fallbacks) == (1 if pool.backend == "process" else 0), [str(w) for w in caught]


@pytest.mark.parametrize("bins", [5, "auto", "doane"])
def test_a_histogram_of_objects_warns_once_whatever_its_passes(pool, bins):
    x = np.arange(100, dtype=object)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        counts, edges = par.histogram(x, bins=bins, n=4, backend=pool.backend, workers=2)
    want = np.histogram(x, bins=bins)
    np.testing.assert_array_equal(counts, want[0])
    np.testing.assert_array_equal(edges, want[1])
    assert edges.dtype == want[1].dtype
    fallbacks = [w for w in caught if issubclass(w.category, PickleFallbackWarning)]
    assert len(fallbacks) == (1 if pool.backend == "process" else 0), [str(w) for w in caught]


def test_masked_arrays_are_refused_rather_than_unmasked(pool):
    """Shared memory, map_array's output and the reducers hold plain arrays: a masked array's
    mask would be dropped without a word (its mean was the mean of the masked values too), so
    every map refuses it and says what to pass instead. A list of masked chunks is the user's
    own objects, and goes as it is."""
    m = np.ma.masked_array([1.0, 2.0, 99.0, 99.0, 5.0, 6.0], mask=[0, 0, 1, 1, 0, 0])
    calls = [lambda: pool.map_reduce(None, m, par.reducers.Mean(), n=2),
             lambda: pool.map_chunks(len, m, n=2),
             lambda: pool.map_array(lambda c: c + 1, m, n=2),
             lambda: pool.map_overlap(lambda c: c, m, 1, n=2),
             lambda: par.rolling(m, 2, n=2, pool=pool).mean(),
             lambda: par.share(m)]
    for call in calls:
        with pytest.raises(TypeError, match=r"masked arrays are not supported.*m\.filled"):
            call()
    assert pool.map_chunks(lambda c: float(c.sum()), [m[:3], m[3:]]) == [3.0, 11.0]


def test_the_variance_of_strings_is_refused_also_when_empty(pool):
    for x in (np.empty(0, "U1"), np.array([b"a", b"b"], "S1")):
        with pytest.raises(TypeError, match="cannot compute the var"):
            pool.map_reduce(None, x, par.reducers.Var())
        with pytest.raises(TypeError), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # numpy warns of the empty one first
            np.var(x)


def test_longdouble_means_and_variances_keep_its_digits(pool):
    """numpy's mean and var of longdouble data accumulate in longdouble; a float64 accumulator
    gave 1.0 for a mean of 1 + 2**-60 and a variance 2.5 times too large (the dtype probe)."""
    x = np.longdouble(1) + np.arange(3, dtype=np.longdouble) * np.longdouble(2) ** -60
    for n in (1, 2, 3):
        assert pool.map_reduce(None, x, Mean(), n=n) == np.mean(x)
        var = par.var(x, n=n, backend=pool.backend, workers=2)
        assert var.dtype == np.longdouble
        np.testing.assert_allclose(var, np.var(x), rtol=1e-12)


@SIZES
@pytest.mark.parametrize("dtype", ["datetime64[ns]", "timedelta64[s]", "float16", "complex128",
                                   "complex64", "bool", "uint8", "int8"])
def test_other_dtypes_round_trip(pool, rows, dtype):
    x = (np.arange(rows) % 100).astype(dtype)
    got = roundtrip(pool, x)
    assert got.dtype == x.dtype
    np.testing.assert_array_equal(got, x)
    if np.issubdtype(x.dtype, np.number) or dtype == "bool":
        with warns_like(lambda: np.sum(x)):  # float16 overflows to inf, with numpy's warning
            assert pool.map_reduce(None, x, Sum()) == np.sum(x)
    assert pool.map_reduce(None, x, Max()) == np.max(x)


@SIZES
def test_float16_and_complex_reductions_match_numpy_dtype(pool, rows):
    for x in (np.ones(rows, np.float16), np.arange(rows) * (1 + 2j)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # float16 overflow: inf, as numpy
            expected_sum, expected_mean = np.sum(x), np.mean(x)
        with warns_like(lambda x=x: np.sum(x)):
            got = pool.map_reduce(None, x, Sum(), n=4)
        assert np.asarray(got).dtype == expected_sum.dtype
        np.testing.assert_allclose(got, expected_sum, rtol=1e-3)
        with warns_like(lambda x=x: np.mean(x)):
            mean = pool.map_reduce(None, x, Mean(), n=4)
        np.testing.assert_allclose(mean, expected_mean, rtol=1e-3)


@SIZES
def test_integer_overflow_wraps_like_numpy(pool, rows):
    x = np.full(rows, np.iinfo(np.int64).max // 7, dtype=np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's np.sum does not warn; neither may we
        assert pool.map_reduce(None, x, Sum(), n=4) == np.sum(x)
    y = np.full(rows, 200, dtype=np.uint8)
    assert pool.map_reduce(None, y, Sum(), n=4) == np.sum(y)  # numpy promotes to uint64
    assert np.asarray(pool.map_reduce(None, y, Sum(), n=4)).dtype == np.sum(y).dtype


@SIZES
def test_nan_and_inf_follow_numpy(pool, rows):
    x = np.arange(rows, dtype=np.float64)
    x[rows // 3] = np.nan
    assert np.isnan(pool.map_reduce(None, x, Sum(), n=4))
    assert np.isnan(pool.map_reduce(None, x, Max(), n=4))
    assert np.isnan(pool.map_reduce(None, x, Mean(), n=4))
    y = np.arange(rows, dtype=np.float64)
    y[1], y[-1] = np.inf, -np.inf
    with warns_like(lambda: np.sum(y)):  # inf + -inf: numpy warns "invalid value"
        assert np.isnan(pool.map_reduce(None, y, Sum(), n=4))
    assert pool.map_reduce(None, y, Max(), n=4) == np.inf
    assert pool.map_reduce(None, y, Min(), n=4) == -np.inf


# -- arguments ------------------------------------------------------------------------------------

@pytest.mark.parametrize("workers", [0, -1])
def test_workers_must_be_positive(workers):
    with pytest.raises(ValueError, match="workers must be a positive integer"):
        par.Pool(workers, "thread")


@pytest.mark.parametrize("workers", [1.5, "2", True])
def test_workers_must_be_an_integer(workers):
    with pytest.raises(TypeError, match="workers"):
        par.Pool(workers, "thread")


@pytest.mark.parametrize("timeout", ["x", 0, -1, True, float("nan")])
@pytest.mark.parametrize("backend", ["thread", "auto"])
def test_timeout_must_be_a_positive_number(timeout, backend):
    """A clear ValueError on every backend, before auto's decision (a string reached a raw
    TypeError of a comparison, or of auto's message)."""
    with pytest.raises(ValueError, match="timeout must be a positive number of seconds"):
        par.map_chunks(len, np.arange(10), n=2, timeout=timeout, backend=backend, workers=2)


@pytest.mark.parametrize("n", [0, -1, -10])
def test_negative_or_zero_n(pool, n):
    with pytest.raises(ValueError, match="n"):
        pool.map_chunks(lambda c: c, np.arange(10), n=n)


def test_unknown_backend():
    with pytest.raises(ValueError, match="unknown backend 'proces'"):
        par.Pool(2, "proces")
    with pytest.raises(ValueError, match="unknown backend"):
        par.map_reduce(None, np.arange(3), Sum(), backend="gpu")
    with pytest.raises(ValueError, match="unknown backend ''"):  # not the default, silently
        par.sum(np.arange(3), backend="")


def test_unknown_start_method():
    with pytest.raises(ValueError, match="start method"):
        par.Pool(1, "process", start_method="teleport").map_chunks(len, np.arange(3))


@pytest.mark.parametrize("backend", ["serial", "thread", "process", "auto"])
def test_a_pool_refuses_what_it_would_ignore_when_it_is_made(backend):
    """A typo (``timout=``) was dropped without a word; a bad progress= or timeout= waited for
    the first map."""
    with pytest.raises(TypeError, match="unexpected option.*timout"):
        par.Pool(2, backend, timout=1)
    with pytest.raises(ValueError, match="progress must be"):
        par.Pool(2, backend, progress="yes")
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        par.Pool(2, backend, timeout=-1)


def _takes_a_lock(lock):
    return lock


def test_args_kwargs_and_submit_say_which_argument_is_wrong(pool):
    with pytest.raises(TypeError, match=r"args= must be a tuple.*args=\(5,\)"):
        pool.map_chunks(len, np.arange(4), args=5)
    with pytest.raises(TypeError, match="kwargs= must be a dict"):
        pool.map_chunks(len, np.arange(4), kwargs=[1])
    with pytest.raises(TypeError, match="submit needs a callable"):
        pool.submit(5)
    if pool.backend == "process":  # the error names the user's function, not our wrapper
        import threading

        with pytest.raises(PicklingError, match="function: <function _takes_a_lock"):
            pool.submit(_takes_a_lock, threading.Lock())
    assert pool.map_chunks(lambda c, a, b=0: a + b, np.arange(4), n=2, args=[1],
                           kwargs={"b": 2}) == [3, 3]


def test_unknown_option(pool):
    with pytest.raises(TypeError, match="unexpected option.*chunksize"):
        pool.map_chunks(lambda c: c, np.arange(10), chunksize=3)


def test_unknown_reducer_option():
    with pytest.raises(TypeError):
        Sum(skipna=True)
    with pytest.raises((ValueError, TypeError), match="axis"):
        Sum(axis=5.5)


def test_func_not_callable(pool):
    with pytest.raises(TypeError, match="callable"):
        pool.map_chunks(42, np.arange(10))


# -- pickling -------------------------------------------------------------------------------------

def test_unpicklable_function_names_pickling_and_the_object(pools):
    lock = threading.Lock()
    with pytest.raises(PicklingError) as info:
        pools["process"].map_chunks(lambda c: (lock, len(c))[1], np.arange(10), n=2)
    text = str(info.value)
    assert "pickle" in text and "lock" in text
    assert isinstance(info.value, pickle.PicklingError)
    assert pools["thread"].map_chunks(lambda c: (lock, len(c))[1], np.arange(10), n=2) == [5, 5]


def test_unpicklable_result_names_pickling_the_result_and_chunk(pools):
    with pytest.raises(PicklingError) as info:
        pools["process"].map_chunks(lambda c: threading.Lock(), np.arange(10), n=2)
    text = str(info.value)
    assert "pickle" in text and "result of chunk" in text and "lock" in text
    assert pools["process"].map_reduce(None, np.arange(10), Sum()) == 45


def test_unpicklable_argument(pools):
    with pytest.raises(PicklingError, match="args"):
        pools["process"].map_chunks(lambda c, a: 1, np.arange(10), args=(threading.Lock(),))


def test_map_array_needs_one_output_row_per_input_row(pool):
    with pytest.raises(ValueError, match="one output row per input row"):
        pool.map_array(lambda c: c.sum(keepdims=True), np.arange(100.0), n=4)
    with pytest.raises(ValueError, match="map_array"):
        pool.map_array(lambda c: c[:1] if c[0] else c, np.arange(100.0), n=4)


def test_map_array_refuses_a_chunk_whose_values_its_output_cannot_hold(pool):
    """The output takes the first chunk's dtype: a later chunk's int64 into int8, or float64
    into float32, is a clear error (never wrapped or rounded values); int8 into int64 fits."""
    x = np.arange(12.0)
    for first, later in [(np.int8, np.int64), (np.float32, np.float64), (np.int64, np.float64)]:
        def f(c, first=first, later=later):
            return c.astype(first) if c[0] == 0 else c.astype(later) * 1000
        with pytest.raises(TypeError, match="return one dtype from every chunk"):
            pool.map_array(f, x, n=3)
    got = pool.map_array(lambda c: c.astype(np.int64 if c[0] == 0 else np.int8), x, n=3)
    assert got.dtype == np.int64 and got.tolist() == list(range(12))
    # casts numpy calls safe that still change values: big integers into float64 (rounded),
    # days into nanoseconds past 2262 (wrapped)
    big = np.array([0, 0, 2**53 + 1, 2**53 + 3])
    with pytest.raises(TypeError, match="does not hold these values exactly"):
        pool.map_array(lambda c: c.astype(float) if c[0] == 0 else c, big, n=2)
    days = np.array(["2000-01-01", "2000-01-02", "2500-01-01", "2600-01-01"], "M8[D]")
    with pytest.raises(TypeError, match="does not hold these values exactly"):
        pool.map_array(lambda c: c.astype("M8[ns]") if c[0] == days[0] else c, days, n=2)
    small = pool.map_array(lambda c: c.astype(float) if c[0] == 0 else c, np.arange(4), n=2)
    assert small.dtype == np.float64 and small.tolist() == [0, 1, 2, 3]


def test_map_array_checks_shape_and_its_options(pool):
    """shape= is checked against the first chunk too (it was broadcast into it), is an int or
    a tuple of sizes, never negative; pool= must be a Pool; args=/kwargs= need a func."""
    x = np.arange(6)
    with pytest.raises(ValueError, match="one output row per input row"):
        pool.map_array(lambda c: c[:, None], x, shape=(2,), n=1)
    assert pool.map_array(lambda c: np.c_[c, c], x, shape=2, n=2).shape == (6, 2)
    with pytest.raises(ValueError, match="cannot be negative"):
        pool.map_array(lambda c: c, x, shape=(-1,))
    with pytest.raises(TypeError, match="shape of one output row"):
        pool.map_array(lambda c: c, x, shape="2")
    with pytest.raises(TypeError, match="pool= takes a par.Pool"):
        par.map_chunks(len, x, pool="p")
    with pytest.raises(TypeError, match="with func=None"):
        pool.map_reduce(None, x, par.reducers.Sum(), args=(3,))


def test_map_array_of_an_empty_frame_has_funcs_dtype_and_row_shape(pool):
    frame = pd.DataFrame({"a": np.array([], np.int16), "b": np.array([], np.int16)})
    got = pool.map_array(lambda c: c.to_numpy(np.float32), frame)
    assert (got.dtype, got.shape) == (np.float32, (0, 2))
    got = pool.map_array(lambda c: c.to_numpy() > 0, frame["a"])
    assert (got.dtype, got.shape) == (np.bool_, (0,))


def test_groupby_agg_of_a_series_says_to_pass_a_frame():
    s = pd.Series([1.0, 2.0, 3.0], name="v")
    with pytest.raises(TypeError, match=r"not a Series: pass s\.to_frame\(\)"):
        par.groupby_agg(s, np.array([0, 1, 0]), "sum")
    pd.testing.assert_frame_equal(par.groupby_agg(s.to_frame(), s.to_frame()["v"] > 1, "sum"),
                                  s.to_frame().groupby(s > 1).agg("sum"))
