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

from .arrow_dtypes import candidates, null_sensitive
from .parquet_dictionaries import file_fragment


def wanted_columns(options: Any) -> dict[str, str]:
    """The asked columns whose dtype depends on nulls (hive partition columns, categorical
    in pandas, excepted)."""
    return {name: dtype for name, dtype in candidates(options.schema, options.columns).items()
            if name not in options.categories}


def leaf_columns(physical_schema: Any, wanted: dict) -> dict[str, int | None]:
    """Where each ``wanted`` column is among a file's Parquet leaf columns (the footer's
    column chunks, depth first: a struct or list field holds several), None where the file
    lacks it. Found by position, not by dotted path: a column named ``"a.b"`` is not the child
    ``b`` of a struct ``a``."""
    found: dict[str, int | None] = dict.fromkeys(wanted)
    leaf = 0
    for field in physical_schema:
        if field.name in found and null_sensitive(field.type) is not None:
            found[field.name] = leaf
        leaf += _leaves(field.type)
    return found


def _leaves(arrow_type: Any) -> int:
    """How many Parquet leaf columns a field of ``arrow_type`` is stored as."""
    import pyarrow as pa

    if pa.types.is_struct(arrow_type):
        return sum(_leaves(arrow_type.field(i).type) for i in range(arrow_type.num_fields))
    if pa.types.is_map(arrow_type):
        return _leaves(arrow_type.key_type) + _leaves(arrow_type.item_type)
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type) or \
            pa.types.is_fixed_size_list(arrow_type):
        return _leaves(arrow_type.value_type)
    return 1


def footer_null_counts(metadata: Any, rg_id: int, leaves: dict) -> dict[str, int | None]:
    """Nulls of each column of ``leaves`` (:func:`leaf_columns`) in one row group, from its
    footer: None where the footer has no count, all its rows where the file lacks the column
    (read as nulls)."""
    group = metadata.row_group(rg_id)
    counts: dict[str, int | None] = {}
    for name, leaf in leaves.items():
        if leaf is None:
            counts[name] = group.num_rows
            continue
        stats = group.column(leaf).statistics
        counts[name] = stats.null_count if stats is not None and stats.has_null_count else None
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
