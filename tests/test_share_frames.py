"""share.frames and share.arrow: what a shared frame's handle carries, and what its readers copy.

A handle pickles to metadata only, whatever the data (categories and MultiIndex levels live in
the segment, not the handle); numeric, bool, tz-aware and nullable columns are read as views of
the segment; pandas' ``attrs`` and ``flags`` and pyarrow's dictionaries come back as pandas keeps
them. pandas is the oracle; the conftest checks /dev/shm after every test.
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from pandas.testing import assert_frame_equal, assert_index_equal, assert_series_equal

import parallel_analysis as par
from parallel_analysis.share.frames import frame_rows_specs

N = 20_000


def _wide_metadata_frames() -> dict:
    """Frames whose categories or index levels grow with the rows."""
    labels = np.arange(N).astype(str)
    return {
        "categorical": pd.DataFrame({"a": pd.Categorical(labels), "x": np.arange(N)}),
        "multiindex": pd.DataFrame({"x": np.arange(N, dtype=float)},
                                   index=pd.MultiIndex.from_arrays([np.arange(N) * 1.5, labels],
                                                                   names=["f", "s"])),
        "categoricalindex": pd.DataFrame({"x": np.arange(N)},
                                         index=pd.CategoricalIndex(labels, name="c")),
        "series": pd.Series(pd.Categorical(labels, ordered=True), name="s"),
        "periods": pd.DataFrame({"p": pd.Categorical(pd.period_range("2000", periods=N,
                                                                     freq="D"))}),
        "intervals": pd.DataFrame({"i": pd.Categorical(pd.interval_range(0, N))}),
        "categoricallevel": pd.DataFrame({"x": np.arange(N)}, index=pd.MultiIndex.from_arrays(
            [pd.Categorical(labels), np.arange(N)], names=["c", "n"])),
    }


@pytest.mark.parametrize("kind", sorted(_wide_metadata_frames()))
def test_handle_stays_small_however_many_categories_and_levels(kind):
    frame = _wide_metadata_frames()[kind]
    equal = assert_series_equal if kind == "series" else assert_frame_equal
    with par.share(frame) as handle:
        assert len(pickle.dumps(handle)) < 4096
        equal(pickle.loads(pickle.dumps(handle)).value, frame, check_exact=True)
        for rows in (slice(0, 1), slice(7, 12_345), slice(N, N)):
            equal(frame_rows_specs(handle, [rows])[0].load(), frame.iloc[rows], check_exact=True)


def test_categories_and_levels_with_missing_values_round_trip():
    codes = pd.Categorical(["b", None, "a", "b"], categories=["b", "a", "unused"], ordered=True)
    index = pd.MultiIndex.from_arrays([[1.0, np.nan, 2.0, 1.0], ["x", "y", None, "x"]])
    frame = pd.DataFrame({"c": codes, "dates": pd.Categorical(pd.date_range("2020", periods=4)),
                          "ints": pd.Categorical([3, 1, 3, None])}, index=index)
    categorical_level = frame.set_index(pd.CategoricalIndex(["p", "q", "p", None]), append=True)
    odd_categories = pd.DataFrame({
        "period": pd.Categorical.from_codes([0, 1, 2, -1],
                                            categories=pd.period_range("2020", periods=3,
                                                                       freq="M")),
        "interval": pd.Categorical.from_codes([2, 1, -1, 0], categories=pd.interval_range(0, 3)),
        "named": pd.Categorical.from_codes([0, 1, 1, 0], dtype=pd.CategoricalDtype(
            pd.Index(["a", "b"], name="nm"))),
    })
    nan_level = pd.DataFrame({"x": range(4)}, index=pd.MultiIndex(
        levels=[[np.nan, 1.0], [1, 2]], codes=[[0, 1, 0, 1], [0, 0, 1, 1]]))
    period_level = pd.DataFrame({"x": range(6)}, index=pd.MultiIndex.from_product(
        [pd.period_range("2020", periods=3, freq="D"), [1, 2]]))
    for data in (frame, categorical_level, odd_categories, nan_level, period_level):
        with par.share(data) as handle:
            assert_frame_equal(handle.value, data, check_exact=True)
            assert_frame_equal(frame_rows_specs(handle, [slice(1, 3)])[0].load(), data.iloc[1:3],
                               check_exact=True)


def test_a_range_level_stays_a_range_and_gives_python_ints():
    series = pd.Series(np.arange(8.0), index=pd.MultiIndex.from_product([list("ab"), range(4)]))
    with par.share(series) as handle:
        for value in (handle.value, frame_rows_specs(handle, [slice(2, 6)])[0].load()):
            assert isinstance(value.index.levels[1], pd.RangeIndex)
            assert type(value.index[-1][1]) is int  # as pandas gives, so json.dumps takes it
        assert_series_equal(handle.value, series, check_exact=True)


def test_categories_of_python_objects_travel_by_pickle_with_the_warning():
    frame = pd.DataFrame({"c": pd.Categorical([1, "x", 1]), "x": [1.0, 2.0, 3.0]})
    with pytest.warns(par.errors.PickleFallbackWarning, match="by pickle"):
        handle = par.share(frame)
    with handle:
        assert_frame_equal(handle.value, frame, check_exact=True)


def test_categories_of_a_frame_without_rows_round_trip():
    codes = pd.Categorical(["a", "b"], categories=["z", "a", "b"], ordered=True)
    frame = pd.DataFrame({"c": codes, "x": [1.0, 2.0]})
    level = pd.MultiIndex.from_arrays([pd.Categorical(["p", "q"], categories=["q", "p", "r"]),
                                       [1, 2]])
    for data in (frame.iloc[:0], frame["c"].iloc[:0], frame.set_index("c").iloc[:0],
                 frame.set_index(level).iloc[:0]):
        equal = assert_series_equal if isinstance(data, pd.Series) else assert_frame_equal
        with par.share(data) as handle:
            equal(handle.value, data, check_exact=True)


@pytest.mark.parametrize("value", [pd.Index([1, 2]), pd.Categorical(["a"]), pd.array([1, None])],
                         ids=["index", "categorical", "array"])
def test_pandas_objects_that_are_not_frames_are_refused_with_what_to_pass(value):
    with pytest.raises(TypeError, match=r"cannot share .*pd\.Series\(\.\.\.\)"):
        par.share(value)


def test_a_process_reads_a_categorical_columns_categories_once():
    """Rebuilding categories (and checking them unique) for every chunk cost as much as the
    categories, however small the chunk: chunks of one handle share one dtype."""
    frame = pd.DataFrame({"c": pd.Categorical(np.arange(N).astype(str)), "x": np.arange(N)})
    with par.share(frame) as handle:
        first, second = (frame_rows_specs(handle, [s])[0].load() for s in (slice(0, 10),
                                                                            slice(10, 20)))
        assert first["c"].dtype is second["c"].dtype
        assert_frame_equal(second, frame.iloc[10:20], check_exact=True)


def test_attrs_that_do_not_travel_stay_behind_with_a_warning(pools):
    class Local:
        def __deepcopy__(self, memo):  # pandas copies attrs along; pickle cannot
            return self

        def __reduce__(self):
            raise TypeError("stays here")

    frame = pd.DataFrame({"x": np.arange(6)})
    frame.attrs["local"] = Local()
    with pytest.warns(UserWarning, match="attrs are not carried.*do not pickle"):
        total = pools["process"].map_reduce(None, frame, par.reducers.Sum(), n=2)
    assert total.tolist() == [15]
    frame.attrs = {"big": np.zeros(100_000)}
    with pytest.warns(UserWarning, match="attrs are not carried.*bytes"), \
            par.share(frame) as handle:
        assert len(pickle.dumps(handle)) < 4096


def _address_range(handle) -> tuple[int, int]:
    base = np.frombuffer(handle._segment.buf, np.uint8).__array_interface__["data"][0]
    return base, base + handle.meta.ref.size


def _address(values: np.ndarray) -> int:
    return values.__array_interface__["data"][0]


def test_bool_tz_and_nullable_columns_are_read_without_copies():
    frame = pd.DataFrame({
        "bool": np.arange(N) % 3 == 0,
        "tz": pd.date_range("2020", periods=N, freq="min", tz="Europe/Paris"),
        "Int64": pd.array(np.where(np.arange(N) % 5 == 0, None, np.arange(N)), dtype="Int64"),
        "Float64": pd.array(np.where(np.arange(N) % 5 == 0, None, np.arange(N) / 2),
                            dtype="Float64"),
        "boolean": pd.array(np.where(np.arange(N) % 5 == 0, None, np.arange(N) % 2 == 0),
                            dtype="boolean"),
    })
    with par.share(frame) as handle:
        low, high = _address_range(handle)
        for chunk in (handle.value, frame_rows_specs(handle, [slice(100, 900)])[0].load()):
            assert low <= _address(chunk["bool"].to_numpy()) < high
            assert low <= _address(chunk["tz"].array.asi8) < high
            for name in ("Int64", "Float64", "boolean"):
                masked = chunk[name].array
                assert low <= _address(masked._data) < high, name
                assert low <= _address(masked._mask) < high, name
        assert_frame_equal(handle.value, frame, check_exact=True)


def test_a_float64_column_keeps_nan_apart_from_na():
    values = pd.arrays.FloatingArray(np.array([1.5, 0.0, np.nan]),  # a NaN value, not missing
                                     np.array([False, True, False]))
    with par.share(pd.Series(values)) as handle:
        got = handle.value.array
        assert list(got.isna()) == list(values.isna())
        assert np.isnan(got._data[2]) and not got._mask[2]


@pytest.mark.parametrize("kind", ["frame", "series"])
def test_attrs_and_flags_travel_with_the_data(pool, kind):
    data = pd.DataFrame({"a": np.arange(10)}) if kind == "frame" else pd.Series(np.arange(10.0))
    data = data.set_flags(allows_duplicate_labels=False)
    data.attrs["unit"] = "m"
    with par.share(data) as handle:
        value = handle.value
        assert value.attrs == {"unit": "m"} and not value.flags.allows_duplicate_labels
    seen = pool.map_chunks(lambda c: (c.attrs, c.flags.allows_duplicate_labels), data, n=3)
    assert seen == [({"unit": "m"}, False)] * 3


def _pieces_with_own_dictionaries() -> pa.Table:
    return pa.concat_tables([
        pa.table({"c": pa.array(["a", "b", "a"]).dictionary_encode(), "x": [1.0, 2.0, 3.0]}),
        pa.table({"c": pa.array(["c", "c", "b"]).dictionary_encode(), "x": [4.0, 5.0, 6.0]}),
    ])


def test_table_pieces_with_their_own_dictionaries_reduce_as_to_pandas(pool):
    table = _pieces_with_own_dictionaries()
    frame = table.to_pandas()
    got = pool.map_reduce(None, table, par.reducers.GroupBy("c", {"x": "sum"}), n=2)
    assert_frame_equal(got, frame.groupby("c", observed=True).agg({"x": "sum"}))
    counts = pool.map_reduce(lambda t: t.column("c"), table, par.reducers.ValueCounts(), n=2)
    assert_index_equal(counts.sort_index().index,
                       frame["c"].value_counts().sort_index().index, exact=True)
    for chunk in pool.map_chunks(lambda t: t.to_pandas()["c"].dtype, table, n=2):
        assert chunk == frame["c"].dtype


def test_a_record_batch_is_taken_as_a_table(pool):
    batch = pa.record_batch({"a": [1, 2, 3], "b": ["x", None, "z"]})
    assert pool.map_chunks(lambda t: t.num_rows, batch, n=2) == [2, 1]
    with par.share(batch) as handle:
        assert handle.value.equals(pa.Table.from_batches([batch]))


@pytest.mark.parametrize("value", [pa.array([1, 2, None]), pa.chunked_array([[1], [2]])],
                         ids=["array", "chunked"])
def test_arrow_arrays_are_refused_with_what_to_pass(value):
    for call in (par.share, par.sum, lambda v: par.map_chunks(len, v)):
        with pytest.raises(TypeError, match=r"not a table of rows.*pa\.table"):
            call(value)


def test_long_double_columns_are_shared_as_raw_bytes(pool):
    """np.longdouble has no Arrow type: its columns are stored a value a slot, as complex."""
    values = np.arange(10, dtype=np.longdouble) / 3
    df = pd.DataFrame({"q": values, "x": np.arange(10.0)})
    with par.share(df) as handle:
        assert_frame_equal(handle.value, df, check_exact=True)
    with par.share(df["q"]) as handle:
        assert_series_equal(handle.value, df["q"], check_exact=True)
    chunks = pool.map_chunks(lambda c: c, df, n=3)
    assert_frame_equal(pd.concat(chunks), df, check_exact=True)
    np.testing.assert_array_equal(pool.map_array(lambda c: c.to_numpy() * 2, df["q"], n=3),
                                  values * 2)


def test_a_tables_pandas_extension_columns_keep_their_types_in_a_fresh_worker():
    """pandas registers its period and interval Arrow types only when its own Arrow I/O
    first needs them; a new worker had read such a Table's columns as their storage."""
    table = pa.Table.from_pandas(pd.DataFrame({
        "p": pd.period_range("2024-01-01", periods=6, freq="D"),
        "i": pd.interval_range(0, 6)}), preserve_index=False)
    with par.Pool(1, "process") as fresh:
        types = fresh.map_chunks(lambda c: [str(f.type) for f in c.schema], table, n=2)
        frames = fresh.map_chunks(lambda c: c.to_pandas(), table, n=2)
    assert types == [[str(f.type) for f in table.schema]] * 2
    assert_frame_equal(pd.concat(frames, ignore_index=True), table.to_pandas())
