"""par.from_parquet: chunks are row groups read in the workers, on every backend.

Real Parquet files are written into a temporary folder once per module; each test compares what
the source yields with what pandas reads from the same files.
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import parallel_analysis as par

ROWS = 10_000
ROW_GROUP = 1_000


def _frame(seed: int, rows: int = ROWS) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "k": rng.integers(0, 7, rows),
        "v": rng.standard_normal(rows),
        "i": rng.integers(-1000, 1000, rows),
        "s": rng.choice(["x", "y", "zz"], rows),
    })


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """One file, a folder of three files, a hive-partitioned folder, and a stored index."""
    root = tmp_path_factory.mktemp("parquet")
    one = root / "one.parquet"
    _frame(0).to_parquet(one, row_group_size=ROW_GROUP)
    folder = root / "many"
    folder.mkdir()
    for i in range(3):
        _frame(i + 1, 3_000 + i).to_parquet(folder / f"part-{i}.parquet", row_group_size=700)
    hive = root / "hive"
    _frame(5, 2_000).to_parquet(hive, partition_cols=["s"], row_group_size=300)
    indexed = root / "indexed.parquet"
    _frame(6, 2_500).set_index("s").to_parquet(indexed, row_group_size=400)
    return {"one": one, "many": folder, "hive": hive, "indexed": indexed}


def _read_all(source, **chunking) -> pd.DataFrame:
    return pd.concat([spec.load() for spec in source.chunk_specs(**chunking)])


# -- metadata and chunking -------------------------------------------------------------------

def test_length_and_columns_come_from_the_footer(files):
    source = par.from_parquet(files["one"])
    assert len(source) == ROWS
    assert source.num_row_groups == ROWS // ROW_GROUP
    assert source.columns == ["k", "v", "i", "s"]
    assert par.from_parquet(files["one"], columns=["v", "k"]).columns == ["v", "k"]
    assert "10 row groups" in repr(source)


@pytest.mark.parametrize("chunking, expected", [
    ({}, None), ({"n": 3}, 3), ({"n": 100}, 10), ({"size": 2_500}, 5), ({"nbytes": 40_000}, None),
])
def test_chunks_are_whole_row_groups_covering_every_row(files, chunking, expected):
    specs = par.from_parquet(files["one"]).chunk_specs(**chunking)
    if expected is not None:
        assert len(specs) == expected
    assert [s.index for s in specs] == list(range(len(specs)))
    assert specs[0].out_start == 0 and specs[-1].out_stop == ROWS
    assert all(a.out_stop == b.out_start for a, b in zip(specs, specs[1:]))
    assert all((s.out_stop - s.out_start) % ROW_GROUP == 0 for s in specs)
    if "size" in chunking:
        assert max(s.out_stop - s.out_start for s in specs) <= chunking["size"]


def test_n_chunks_are_balanced_by_rows(files):
    sizes = [s.out_stop - s.out_start for s in par.from_parquet(files["one"]).chunk_specs(n=5)]
    assert sizes == [2_000] * 5


def test_at_most_one_chunking_option(files):
    with pytest.raises(ValueError, match="at most one"):
        par.from_parquet(files["one"]).chunk_specs(n=2, size=10)


def test_a_spec_carries_paths_not_data(files):
    spec = par.from_parquet(files["one"]).chunk_specs(n=1)[0]
    size = files["one"].stat().st_size
    # The schema (with pandas' metadata), a path and ten row-group ids: a few kB, whatever the
    # size of the row groups.
    assert len(pickle.dumps(spec)) < min(16_000, size / 10)


# -- what chunks contain: what pandas reads ----------------------------------------------------

@pytest.mark.parametrize("chunking", [{}, {"n": 3}, {"size": 1_000}])
def test_chunks_concatenate_to_read_parquet(files, chunking):
    got = _read_all(par.from_parquet(files["one"]), **chunking)
    pd.testing.assert_frame_equal(got, pd.read_parquet(files["one"]))


def test_a_folder_of_files_numbers_rows_across_files(files):
    source = par.from_parquet(files["many"])
    assert len(source) == 3_000 + 3_001 + 3_002
    got = _read_all(source, n=4)
    pd.testing.assert_frame_equal(got, pd.read_parquet(files["many"]))


def test_glob_and_list_of_files(files):
    paths = sorted(files["many"].glob("*.parquet"))
    by_glob = par.from_parquet(str(files["many"] / "part-*.parquet"))
    by_list = par.from_parquet(paths[:2])
    assert len(by_glob) == 9_003 and len(by_list) == 6_001
    pd.testing.assert_frame_equal(_read_all(by_list), pd.read_parquet(paths[:2]))


@pytest.mark.parametrize("filters", [
    [("k", ">=", 4)],
    [[("k", "==", 1)], [("s", "==", "zz"), ("v", ">", 0)]],
    pc.field("i") < 0,
])
def test_columns_and_filters_match_pandas(files, filters):
    source = par.from_parquet(files["one"], columns=["k", "v", "s"], filters=filters)
    expected = pd.read_parquet(files["one"], columns=["k", "v", "s"], filters=filters,
                               engine="pyarrow")
    assert len(source) == len(expected)
    pd.testing.assert_frame_equal(_read_all(source, n=4), expected)


def test_filters_skip_row_groups_ruled_out_by_statistics(tmp_path):
    frame = pd.DataFrame({"t": np.arange(5_000), "v": np.ones(5_000)})
    frame.to_parquet(tmp_path / "sorted.parquet", row_group_size=1_000)
    source = par.from_parquet(tmp_path / "sorted.parquet", filters=[("t", ">=", 3_500)])
    assert source.num_row_groups == 2 and len(source) == 1_500


def test_a_filter_that_keeps_nothing_gives_no_chunks(files):
    source = par.from_parquet(files["one"], filters=[("k", ">", 100)])
    assert len(source) == 0 and source.chunk_specs() == []
    assert par.map_chunks(len, source, backend="serial") == []


@pytest.mark.parametrize("which", ["filtered out", "empty file", "stored index"])
def test_a_source_without_rows_computes_as_pandas_on_the_empty_frame(pool, files, tmp_path,
                                                                      which):
    """No row passes: maps, reductions, groupby_agg and apply give pandas' answer on what
    pd.read_parquet reads (no error, and not the source object itself)."""
    if which == "empty file":
        path = tmp_path / "empty.parquet"
        _frame(0).iloc[:0].to_parquet(path)
        filters = None
    else:
        path = files["one" if which == "filtered out" else "indexed"]
        filters = [("k", ">", 99)]
    source = par.from_parquet(path, filters=filters)
    empty = pd.read_parquet(path, filters=filters)
    assert len(empty) == 0
    got = pool.map_reduce(lambda c: c["v"], source, par.reducers.Sum())
    assert got == empty["v"].sum() and type(got) is type(empty["v"].sum())
    pd.testing.assert_series_equal(par.mean(par.from_parquet(path, columns=["v", "i"],
                                                             filters=filters), pool=pool),
                                   empty[["v", "i"]].mean())
    pd.testing.assert_frame_equal(par.groupby_agg(source, "k", {"v": ["mean", "sum"]},
                                                  pool=pool),
                                  empty.groupby("k").agg({"v": ["mean", "sum"]}))
    pd.testing.assert_frame_equal(par.apply(source, lambda c: c[c["i"] > 0], pool=pool),
                                  empty[empty["i"] > 0])


def test_a_stored_index_round_trips(files):
    got = _read_all(par.from_parquet(files["indexed"], columns=["v"]), n=3)
    pd.testing.assert_frame_equal(got, pd.read_parquet(files["indexed"], columns=["v"]))


def test_a_stored_range_index_is_kept_as_pandas_keeps_it(tmp_path):
    """Rows read as many as the stored RangeIndex numbers keep it (start, step, name): a whole
    file, a filter that keeps every row, a folder of the file and an empty one; fewer or more
    (a filter, the files of a folder) are numbered 0..n-1, unnamed, as pd.read_parquet does."""
    df = pd.DataFrame({"k": np.arange(300) % 5, "x": np.arange(300.0)},
                      index=pd.RangeIndex(10, 910, 3, name="ri"))
    df.to_parquet(tmp_path / "one.parquet", row_group_size=50)
    (tmp_path / "two").mkdir()
    df.iloc[:100].to_parquet(tmp_path / "two" / "0.parquet")
    df.iloc[100:].to_parquet(tmp_path / "two" / "1.parquet")
    (tmp_path / "padded").mkdir()
    df.to_parquet(tmp_path / "padded" / "0.parquet", row_group_size=70)
    df.iloc[:0].to_parquet(tmp_path / "padded" / "1.parquet")
    for path, options in [(tmp_path / "one.parquet", {}),
                          (tmp_path / "one.parquet", {"filters": [("k", "<", 2)]}),
                          (tmp_path / "one.parquet", {"filters": [("k", "<", 5)]}),
                          (tmp_path / "two", {}), (tmp_path / "padded", {})]:
        want = pd.read_parquet(path, **options)
        got = pd.concat(par.map_chunks(lambda c: c, par.from_parquet(str(path), **options),
                                       n=3, backend="serial"))
        pd.testing.assert_frame_equal(got, want, check_index_type=False)
        assert got.index.name == want.index.name


def test_hive_partitions_are_categoricals_of_every_folder_value_as_pandas_reads_them(files):
    source = par.from_parquet(files["hive"])
    chunks = [spec.load() for spec in source.chunk_specs(n=4)]
    expected = pd.read_parquet(files["hive"])
    assert all(chunk["s"].dtype == expected["s"].dtype for chunk in chunks)  # every value, each
    pd.testing.assert_frame_equal(pd.concat(chunks), expected)
    filtered = [("s", "==", "zz")]
    got = _read_all(par.from_parquet(files["hive"], filters=filtered))
    pd.testing.assert_frame_equal(got, pd.read_parquet(files["hive"], filters=filtered))


def test_categories_of_files_written_apart_are_united_as_pandas_unites_them(tmp_path):
    for day, values in enumerate([["b", "a", "b"], ["c", "a"], ["a", "d", "d"]]):
        pd.DataFrame({"c": pd.Categorical(values), "x": np.arange(len(values), dtype=float)}) \
            .to_parquet(tmp_path / f"day-{day}.parquet")
    expected = pd.read_parquet(tmp_path)
    source = par.from_parquet(tmp_path)
    for backend in ("serial", "process"):
        chunks = par.map_chunks(lambda c: c, source, backend=backend, workers=2)
        assert all(c["c"].dtype == expected["c"].dtype for c in chunks)  # codes mean one thing
        pd.testing.assert_frame_equal(pd.concat(chunks), expected)
        pd.testing.assert_frame_equal(
            par.groupby_agg(source, "c", {"x": "sum"}, backend=backend),
            expected.groupby("c", observed=True).agg({"x": "sum"}))
    pd.testing.assert_series_equal(par.map_reduce(lambda c: c["c"], source,
                                                  par.reducers.ValueCounts(), backend="serial"),
                                   expected["c"].value_counts())


@pytest.mark.parametrize("filters", [None, [("f", ">", 0.5)], [("f", "<", 4.5)]])
def test_columns_with_nulls_in_some_row_groups_have_read_parquets_dtype_in_every_chunk(
        pool, tmp_path, filters):
    """An int (bool) column with a null in one row group is float64 (object) in pandas' whole
    read, so it is in every chunk, those without nulls too; a filter that drops the null rows
    leaves it int64 (bool), as pandas reads it. A file lacking the column reads it as nulls."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"i": pa.array([None, 2, 3, 4, 5, 6], pa.int64()),
                      "b": pa.array([True, False, True, None, True, False]),
                      "u": pa.array([1, 2, 3, 4, 5, 6], pa.uint8()),
                      "f": [0.5, 1, 2, 3, 4, 5.0]})
    pq.write_table(table, tmp_path / "a.parquet", row_group_size=2)
    pq.write_table(pa.table({"f": [7.0, 8.0], "b": [True, True], "u": pa.array([7, 8], pa.uint8()),
                             "i": pa.array([7, 8], pa.int64())}), tmp_path / "b.parquet")
    pq.write_table(pa.table({"f": [9.0], "b": [False], "i": pa.array([9], pa.int64())}),
                   tmp_path / "c.parquet")  # no "u" column: nulls there
    for path in (tmp_path / "a.parquet", tmp_path):
        expected = pd.read_parquet(path, filters=filters)
        source = par.from_parquet(path, filters=filters)
        chunks = pool.map_chunks(lambda c: c, source, n=3)
        assert [dict(c.dtypes) for c in chunks] == [dict(expected.dtypes)] * len(chunks)
        pd.testing.assert_frame_equal(pd.concat(chunks), expected)
        pd.testing.assert_series_equal(pool.map_reduce(None, source, par.reducers.Sum(), n=3),
                                       expected.sum())
        pd.testing.assert_series_equal(pool.map_reduce(None, source, par.reducers.Min(), n=3),
                                       expected.min())
        np.testing.assert_array_equal(pool.map_array(lambda c: c["i"].to_numpy(), source, n=3),
                                      expected["i"].to_numpy())


def test_extension_dtypes_and_dotted_names_keep_read_parquets_dtypes(tmp_path):
    """Int64, boolean and int64[pyarrow] columns keep their dtype whatever their nulls, as
    pandas' metadata makes them; a column named "a.b" is not the struct a's child b."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = pd.DataFrame({"I": pd.array([1, None, 3, 4], dtype="Int64"),
                          "B": pd.array([True, None, False, True], dtype="boolean"),
                          "P": pd.array([1, 2, None, 4], dtype="int64[pyarrow]")})
    frame.to_parquet(tmp_path / "ext.parquet", row_group_size=2)
    table = pa.table({"a": pa.array([{"b": None}, {"b": 2}, {"b": 3}, {"b": 4}],
                                    pa.struct([("b", pa.int64())])),
                      "a.b": pa.array([1, 2, 3, 4], pa.int64())})
    pq.write_table(table, tmp_path / "dotted.parquet", row_group_size=2)
    for name in ("ext.parquet", "dotted.parquet"):
        expected = pd.read_parquet(tmp_path / name)
        chunks = par.map_chunks(lambda c: c, par.from_parquet(tmp_path / name), backend="serial")
        assert [dict(c.dtypes) for c in chunks] == [dict(expected.dtypes)] * len(chunks)
        pd.testing.assert_frame_equal(pd.concat(chunks), expected)
    ext = pa.Table.from_pandas(frame, preserve_index=False)
    pd.testing.assert_series_equal(par.sum(ext, n=2, backend="serial"), frame.sum())


@pytest.mark.parametrize("n", [2, 3])
def test_a_tables_chunks_reduce_with_the_whole_tables_dtypes(pool, n):
    import pyarrow as pa

    table = pa.table({"i": pa.array([1, 2, 3, 4, None, 6], pa.int64()),
                      "b": pa.array([True, True, False, True, True, None]),
                      "f": [0.5, 1, 2, 3, 4, 5.0]})
    expected = table.to_pandas()
    for reducer, oracle in ((par.reducers.Sum(), expected.sum()),
                            (par.reducers.Min(), expected.min()),
                            (par.reducers.Max(), expected.max()),
                            (par.reducers.Mean(), expected[["i", "f"]].mean())):
        data = table.select(["i", "f"]) if isinstance(reducer, par.reducers.Mean) else table
        pd.testing.assert_series_equal(pool.map_reduce(None, data, reducer, n=n), oracle)


@pytest.mark.parametrize("method", ["sum", "mean", "min", "max", "var", "std"])
def test_axis_none_reduces_every_value_of_a_source_or_table_as_pandas_does(backend, tmp_path,
                                                                          method):
    """One scalar over every value, in pandas' common dtype (a Table's, and a Parquet file's,
    per-column answer was returned for axis=None), on each backend."""
    import pyarrow as pa

    frame = pd.DataFrame({"v": [0.5, 1.5, 2.5, 3.5, 9.0], "i": [10, 20, 30, 40, 50]})
    frame.to_parquet(tmp_path / "f.parquet", row_group_size=2)
    times = pd.DataFrame({"t": pd.date_range("2024-01-01", periods=5, freq="h")})
    times.to_parquet(tmp_path / "t.parquet", row_group_size=2)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    cases = [(par.from_parquet(tmp_path / "f.parquet"), frame), (table, frame)]
    if method in ("min", "max"):
        cases.append((par.from_parquet(tmp_path / "t.parquet"), times))
    for data, oracle in cases:
        got = getattr(par, method)(data, axis=None, backend=backend, workers=2)
        expected = getattr(oracle, method)(axis=None)
        assert np.isscalar(got) or isinstance(got, np.generic), (method, got)
        assert type(got) is type(expected), (type(got), type(expected))
        assert got == pytest.approx(expected, rel=1e-12) if method not in ("min", "max") \
            else got == expected


def test_axis_none_of_strings_of_a_source_goes_column_by_column_as_pandas(tmp_path):
    frame = pd.DataFrame({"a": list("abcdef"), "b": list("uvwxyz")})
    frame.to_parquet(tmp_path / "s.parquet", row_group_size=2)
    source = par.from_parquet(tmp_path / "s.parquet")
    assert par.sum(source, axis=None, backend="process", workers=2) == \
        frame.sum(axis=None) == "abcdefuvwxyz"


def test_pandas_options_on_a_source_are_a_clear_error_and_on_a_table_as_pandas(tmp_path):
    import pyarrow as pa

    frame = pd.DataFrame({"v": [0.5, None, 2.5], "s": ["a", "b", "c"]})
    frame.to_parquet(tmp_path / "f.parquet")
    with pytest.raises(TypeError, match=r"skipna= cannot be given for a lazy source.*columns="):
        par.sum(par.from_parquet(tmp_path / "f.parquet"), skipna=False)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pd.testing.assert_series_equal(par.sum(table, numeric_only=True, backend="serial"),
                                   frame.sum(numeric_only=True))
    pd.testing.assert_series_equal(par.mean(table.select(["v"]), skipna=False, backend="serial"),
                                   frame[["v"]].mean(skipna=False))


@pytest.mark.parametrize(("by", "agg"), [("k", {"v": "ohlc"}), ("k", {"v": "cumsum"}),
                                       ("nope", "sum"), ("k", {"nope": "sum"}),
                                       ("v", {"s": "mean"})])
def test_groupby_agg_of_a_source_or_table_gives_pandas_forms_and_errors(tmp_path, by, agg):
    """The forms only pandas computes, and pandas' own errors, for a source and a Table as for
    the frame they read as (pandas was called on the source object: AttributeError)."""
    import pyarrow as pa

    frame = pd.DataFrame({"k": [1, 2, 1, 3, 2, 1, 3, 3], "v": np.arange(8.0),
                          "s": list("abcdefgh")})
    frame.to_parquet(tmp_path / "f.parquet", row_group_size=3)
    expected = pd.read_parquet(tmp_path / "f.parquet")
    for data in (par.from_parquet(tmp_path / "f.parquet"),
                 pa.Table.from_pandas(expected, preserve_index=False)):
        try:
            want = expected.groupby(by).agg(agg)
        except Exception as theirs:
            with pytest.raises(type(theirs)) as ours:
                par.groupby_agg(data, by, agg, backend="process", workers=2)
            assert str(ours.value) == str(theirs)
        else:
            got = par.groupby_agg(data, by, agg, backend="process", workers=2)
            pd.testing.assert_frame_equal(got, want)


def test_a_relative_path_stays_the_file_whose_footers_were_read(tmp_path, monkeypatch):
    for name, value in (("a", 0.0), ("b", 1.0)):
        (tmp_path / name).mkdir()
        pd.DataFrame({"x": np.full(100, value)}).to_parquet(tmp_path / name / "data.parquet",
                                                           row_group_size=10)
    monkeypatch.chdir(tmp_path / "b")
    source = par.from_parquet("data.parquet")
    monkeypatch.chdir(tmp_path / "a")  # a notebook's %cd between the footers and the map
    assert source.paths == [str(tmp_path / "b" / "data.parquet")]
    assert par.map_reduce(lambda c: c["x"], source, par.reducers.Sum(), backend="serial") == 100


@pytest.mark.parametrize("rewrite", [
    lambda p: pd.DataFrame({"y": np.arange(1000.0)}).to_parquet(p, row_group_size=100),
    lambda p: pd.DataFrame({"x": np.arange(500.0)}).to_parquet(p, row_group_size=50),
], ids=["other column", "fewer rows"])
def test_a_file_rewritten_after_its_footers_were_read_is_an_error_not_other_rows(
        tmp_path, rewrite):
    import os

    path = tmp_path / "f.parquet"
    pd.DataFrame({"x": np.arange(1000.0)}).to_parquet(path, row_group_size=100)
    source = par.from_parquet(path)
    stat = path.stat()
    rewrite(path)
    # as a later write stamps it, on a file system with coarse timestamps too
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    for backend in ("serial", "process"):
        with pytest.raises(par.errors.SourceChangedError, match="changed since par.from_parquet"):
            par.map_reduce(lambda c: c["x"], source, par.reducers.Sum(), backend=backend)


def test_rows_that_differ_from_the_footers_counts_are_an_error(tmp_path):
    path = tmp_path / "f.parquet"
    pd.DataFrame({"x": np.arange(100.0)}).to_parquet(path, row_group_size=10)
    source = par.from_parquet(path)
    spec = source.chunk_specs(n=2)[0]
    with pytest.raises(par.errors.SourceChangedError, match="gave 50 rows .* counted 49"):
        source.options.read(spec.row_groups, 0, 49)


@pytest.mark.parametrize("filters", [[("s", "==", "zz")], [("s", "==", "zz"), ("v", ">", 0)]])
def test_filters_on_partition_columns_count_and_read_the_right_rows(files, filters):
    source = par.from_parquet(files["hive"], columns=["v", "s"], filters=filters)
    got = _read_all(source, n=2)
    expected = pd.read_parquet(files["hive"], columns=["v", "s"], filters=filters)
    assert len(source) == len(got) == len(expected)
    assert set(got["s"]) == {"zz"}
    np.testing.assert_array_equal(np.sort(got["v"].to_numpy()), np.sort(expected["v"].to_numpy()))


def test_missing_path_and_unknown_column_are_clear(files, tmp_path):
    with pytest.raises(FileNotFoundError):
        par.from_parquet(tmp_path / "nope.parquet")
    with pytest.raises(FileNotFoundError, match="no file matches"):
        par.from_parquet(str(tmp_path / "nope-*.parquet"))
    with pytest.raises(KeyError, match="nope"):
        par.from_parquet(files["one"], columns=["k", "nope"])


def test_what_needs_whole_groups_or_neighbours_refuses_a_source_clearly(files):
    source = par.from_parquet(files["one"])
    with pytest.raises(TypeError, match=r"groupby_apply takes .*pd\.read_parquet"):
        par.groupby_apply(source, "k", len)
    with pytest.raises(TypeError, match="rolling takes"):
        par.rolling(source, 3)
    with pytest.raises(TypeError, match="lazy sources have none"):
        par.map_overlap(lambda c: c, source, 1)


# -- every map, reducer and groupby_agg, on every local backend --------------------------------

def test_map_chunks_map_reduce_and_map_array(pool, files):
    source = par.from_parquet(files["one"])
    frame = pd.read_parquet(files["one"])
    assert sum(pool.map_chunks(len, source, n=4)) == ROWS
    total = pool.map_reduce(lambda c: c["i"], source, par.reducers.Sum(), n=4)
    assert total == frame["i"].sum()
    mean = pool.map_reduce(lambda c: c["v"].to_numpy(), source, par.reducers.Mean(), n=4)
    assert mean == pytest.approx(frame["v"].mean(), rel=1e-12)
    doubled = pool.map_array(lambda c: c["v"].to_numpy() * 2, source, n=3)
    np.testing.assert_array_equal(doubled, frame["v"].to_numpy() * 2)


def test_results_do_not_depend_on_the_backend(pools, files):
    source = par.from_parquet(files["many"])
    results = {name: p.map_reduce(lambda c: c["v"].to_numpy(), source, par.reducers.Var(), n=5)
               for name, p in pools.items()}
    assert len(set(results.values())) == 1  # bit-for-bit: the same chunking, the same tree


def test_groupby_agg_over_parquet_matches_pandas(backend, files):
    source = par.from_parquet(files["many"], columns=["k", "v", "i"])
    agg = {"v": ["sum", "mean"], "i": "max"}
    got = par.groupby_agg(source, "k", agg, backend=backend, workers=2)
    expected = pd.read_parquet(files["many"]).groupby("k").agg(agg)
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12)


@given(rows=st.lists(st.integers(0, 50), min_size=1, max_size=40), k=st.integers(1, 50))
@settings(max_examples=200, deadline=None)
def test_chunking_by_count_covers_every_row_group_once(rows, k):
    import pyarrow as pa

    from parallel_analysis.parquet import ParquetSource, ReadOptions, RowGroup

    groups = [RowGroup("f.parquet", i, r, 8 * r) for i, r in enumerate(rows)]
    source = ParquetSource(groups, ReadOptions(pa.schema([]), None))
    specs = source.chunk_specs(n=k)
    kept = [g for g in groups if g.num_rows]
    assert [g for s in specs for g in s.row_groups] == kept  # in order, each once, no empties
    assert len(specs) == min(k, len(kept))
    assert sum(s.out_stop - s.out_start for s in specs) == sum(rows)
    for size in (1, 10, 60):
        by_size = source.chunk_specs(size=size)
        assert [g for s in by_size for g in s.row_groups] == kept
        assert all(s.out_stop - s.out_start <= size or len(s.row_groups) == 1 for s in by_size)
