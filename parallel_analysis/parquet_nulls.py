"""parquet_nulls: which integer and boolean columns of a Parquet dataset hold a null, so that
every chunk gives them the dtype ``pd.read_parquet`` gives the whole dataset (float64, object;
see :mod:`.arrow_dtypes`). Layer: share (imports arrow_dtypes and parquet_dictionaries; pyarrow
inside the functions).

The footers count each column's nulls per row group, so this costs no read in the common case:
only a row group without statistics, or one whose nulls a filter may drop, is read (those
columns only), once per source, in the caller.
"""

from __future__ import annotations

from typing import Any

from .arrow_dtypes import candidates
from .parquet_dictionaries import file_fragment


def wanted_columns(options: Any) -> dict[str, str]:
    """The asked columns whose dtype depends on nulls (hive partition columns, categorical
    in pandas, excepted)."""
    return {name: dtype for name, dtype in candidates(options.schema, options.columns).items()
            if name not in options.categories}


def footer_null_counts(metadata: Any, rg_id: int, wanted: dict) -> dict[str, int | None]:
    """Nulls of each ``wanted`` column in one row group, from its footer: None where the
    footer has no count, all its rows where the file lacks the column (read as nulls)."""
    group = metadata.row_group(rg_id)
    stats = {}
    for j in range(group.num_columns):
        column = group.column(j)
        stats[column.path_in_schema] = column.statistics
    counts: dict[str, int | None] = {}
    for name in wanted:
        if name not in stats:
            counts[name] = group.num_rows
        else:
            found = stats[name]
            counts[name] = found.null_count if found is not None and found.has_null_count \
                else None
    return counts


def null_promotions(row_groups: list, null_counts: list, options: Any) -> dict[str, str]:
    """Column → the dtype the whole dataset converts it to, for the asked integer and boolean
    columns holding a null in the rows read (``null_counts``: :func:`footer_null_counts` of
    each row group)."""
    wanted = wanted_columns(options)
    found: dict[str, str] = {}
    files: dict = {}  # path -> its whole fragment: one footer read per file
    for rg, counts in zip(row_groups, null_counts):
        unsure = []
        for name in wanted:
            count = counts.get(name)
            if name in found or count == 0:
                continue
            if count is None or options.filter is not None:  # read: the filter may drop them
                unsure.append(name)
            else:
                found[name] = wanted[name]
        if unsure:
            whole = files.get(rg.path)
            if whole is None:
                whole = files[rg.path] = file_fragment(rg.path, options.filesystem,
                                                       rg.partition)
            table = whole.subset(row_group_ids=[rg.id]).to_table(
                schema=options.schema, columns=unsure, filter=options.filter, use_threads=False)
            found.update({name: wanted[name] for name in unsure
                          if table.column(name).null_count > 0})
        if len(found) == len(wanted):
            break
    return found
