"""parquet_footers: ``par.from_parquet``, a dataset's footers read into a lazy source. Layer:
share (imports parquet; pyarrow inside the functions).

Only the footers are read in the caller: each row group's row count and the uncompressed size of
the asked columns (what chunks are balanced by), the schema, how the index is stored, so that
chunks read in the workers get the index ``pd.read_parquet`` would give them, and the nulls of
integer and boolean columns, which decide their dtype (:mod:`.parquet_nulls`).
"""

from __future__ import annotations

import glob
import os
from typing import Any

from .parquet import ParquetSource, ReadOptions, RowGroup
from .parquet_dictionaries import categories_dtype
from .parquet_nulls import footer_null_counts, leaf_columns, wanted_columns


def _expand(path: str | os.PathLike | list) -> list[str] | str:
    """A list of files for a glob or a list; a single path (file or folder) as it is. Local
    paths are made absolute: workers (and a later ``os.chdir``) must read the same files."""
    if isinstance(path, (list, tuple)):
        return [_absolute(os.fspath(p)) for p in path]
    path = _absolute(os.fspath(path))
    if glob.has_magic(path) and "://" not in path:
        files = sorted(glob.glob(path, recursive=True))
        if not files:
            raise FileNotFoundError(f"no file matches {path!r}")
        return files
    return path


def _absolute(path: str) -> str:
    return path if "://" in path else os.path.abspath(path)


def _filter_expression(filters: Any) -> Any:
    """A pyarrow Expression from pandas-style filters (tuples; a list of lists means OR)."""
    if filters is None:
        return None
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if isinstance(filters, pc.Expression):
        return filters
    return pq.filters_to_expression(filters)


def _column_bytes(metadata: Any, rg_id: int, columns: list | None) -> int:
    """Uncompressed bytes of ``columns`` (all when None) in one row group, from the footer."""
    group = metadata.row_group(rg_id)
    if columns is None:
        return group.total_byte_size
    wanted = set(columns)
    return sum(group.column(j).total_uncompressed_size for j in range(group.num_columns)
               if group.column(j).path_in_schema.split(".")[0] in wanted)


def from_parquet(path: str | os.PathLike | list, columns: list[str] | None = None,
                 filters: Any = None) -> ParquetSource:
    """A lazy Parquet source for any map: chunks are row groups, read inside the workers.

    ``path`` is a file, a folder (searched recursively; ``key=value`` folders become columns),
    a glob (``"data/*.parquet"``) or a list of files. ``columns`` reads only those columns;
    ``filters`` keeps the rows that pass, in pandas' form (``[("year", ">=", 2020)]``; a list of
    such lists means OR) or as a ``pyarrow.compute`` expression. Row groups whose statistics
    rule them out are never read. Only the footers are read here.

    >>> src = par.from_parquet("trips/", columns=["zone", "fare"])    # doctest: +SKIP
    >>> par.groupby_agg(src, "zone", {"fare": "mean"})                 # doctest: +SKIP
    """
    import pyarrow.dataset as ds

    expression = _filter_expression(filters)
    where = _expand(path)
    dataset = ds.dataset(where, format="parquet", partitioning="hive")
    if columns is not None:
        columns = list(columns)
        missing = [c for c in columns if c not in dataset.schema.names]
        if missing:
            raise KeyError(f"columns {missing} are not in the Parquet data; it has "
                           f"{dataset.schema.names}")
    row_groups, files, footers = [], [], []
    for fragment in dataset.get_fragments(filter=expression):
        files.append(fragment.path)
        info = dataset.filesystem.get_file_info(fragment.path)
        stamp = (info.size, info.mtime_ns)
        metadata = fragment.metadata
        pieces = (fragment.split_by_row_group(expression, schema=dataset.schema)
                  if expression is not None else [fragment])
        ids = [g.id for piece in pieces for g in piece.row_groups]
        footers.append((metadata, ids, fragment.physical_schema))
        for rg_id in ids:
            row_groups.append(RowGroup(fragment.path, rg_id, metadata.row_group(rg_id).num_rows,
                                       _column_bytes(metadata, rg_id, columns),
                                       fragment.partition_expression, stamp))
    options = ReadOptions(dataset.schema, dataset.filesystem, columns, expression,
                          categories=_partition_categories(where, dataset, columns))
    _index_options(options, dataset.schema, columns=columns)
    null_counts = _null_counts(footers, wanted_columns(options))
    return ParquetSource(row_groups, options, files, null_counts)


def _null_counts(footers: list, wanted: dict) -> list[dict]:
    """Each row group's nulls of the ``wanted`` columns, from the footers of each file
    (``footers``: its metadata, the ids of its row groups read, its schema); nothing to count,
    nothing read: most datasets' columns are floats and strings."""
    out = []
    for metadata, ids, schema in footers:
        if not wanted:
            out += [{} for _ in ids]
            continue
        leaves = leaf_columns(schema, wanted)
        out += [footer_null_counts(metadata, rg_id, leaves) for rg_id in ids]
    return out


def _partition_categories(paths: Any, dataset: Any, columns: list | None) -> dict:
    """The CategoricalDtype of each hive partition column, as ``pd.read_parquet`` gives it:
    every value in the folders' names, in the order found (pyarrow's dictionary discovery)."""
    import pyarrow.dataset as ds

    fragment = next(iter(dataset.get_fragments()), None)
    stored = set(fragment.physical_schema.names) if fragment is not None else set()
    fields = [name for name in dataset.schema.names
              if name not in stored and (columns is None or name in columns)]
    if not fields:
        return {}
    found = ds.dataset(paths, format="parquet",
                       partitioning=ds.HivePartitioning.discover(infer_dictionary=True))
    schema, values = found.partitioning.schema, found.partitioning.dictionaries
    return {name: categories_dtype(schema.field(name).type, [values[schema.names.index(name)]])
            for name in fields if name in schema.names and len(values) == len(schema.names)}


def _index_options(options: ReadOptions, schema: Any, columns: list | None) -> None:
    """How chunks get their index: stored index columns as pandas would, else row positions
    (a stored RangeIndex, its start, step and name, when the rows read are as many as it
    numbers, as pyarrow rebuilds it: else, a filter having dropped rows or other files adding
    some, they are numbered 0..n-1 without a name, as pandas numbers them)."""
    meta = schema.pandas_metadata or {}
    index_columns = meta.get("index_columns", [])
    stored = [c for c in index_columns if isinstance(c, str)]
    if stored:
        # pyarrow rebuilds a stored index from its columns; read them even when not asked for,
        # as pd.read_parquet does.
        options.range_index = False
        if columns is not None:
            options.columns = columns + [c for c in stored if c not in columns]
        return
    ranges = [c for c in index_columns if isinstance(c, dict) and c.get("kind") == "range"]
    if ranges:  # kept if the rows read number as many (ParquetSource.settle_dtypes checks)
        options.index_name = ranges[0].get("name")
        options.index_start = int(ranges[0].get("start", 0))
        options.index_step = int(ranges[0].get("step", 1)) or 1
        options.index_rows = len(range(options.index_start, int(ranges[0].get("stop", 0)),
                                       options.index_step))
