"""parquet_dictionaries: the categories a Parquet dataset's categorical columns have in pandas,
and the reading of one file's row groups. Layer: share (imports nothing of the package; pyarrow
inside the functions).

Each row group stores its own dictionary, so files written apart (a file per day) or row groups
written from different frames hold different categories; ``pd.read_parquet`` unites them, in the
order they come, and so must every chunk of a lazy source, or a chunk's codes would mean other
values than its neighbour's and results would lose the categorical dtype.
"""

from __future__ import annotations

from typing import Any


def fragment(path: str, filesystem: Any, partition: Any, ids: list[int]) -> Any:
    """The fragment of ``path`` holding row groups ``ids``.

    Built with ``subset`` on a fragment with its footer loaded: in pyarrow 26,
    ``make_fragment(..., row_groups=ids)`` returns the wrong rows for some runs of several row
    groups (e.g. 7 and 8 of 11), while ``subset`` reads exactly those asked for.
    """
    return file_fragment(path, filesystem, partition).subset(row_group_ids=ids)


def file_fragment(path: str, filesystem: Any, partition: Any) -> Any:
    """The whole file as a fragment, its footer read (once: subsets of it read no footer)."""
    import pyarrow.dataset as ds

    whole = ds.ParquetFileFormat().make_fragment(path, filesystem,
                                                 partition_expression=partition)
    whole.ensure_complete_metadata()
    return whole


def united_categories(row_groups: list, options: Any) -> dict:
    """Column -> the CategoricalDtype of the whole dataset, for the asked dictionary columns
    whose row groups' dictionaries differ. The footers do not hold dictionaries, so the caller
    reads those columns once, one row group at a time (nothing when there is one row group)."""
    import pyarrow as pa

    schema = options.schema
    names = options.columns if options.columns is not None else schema.names
    wanted = [name for name in names if name not in options.categories
              and pa.types.is_dictionary(schema.field(name).type)]
    if not wanted or len(row_groups) < 2:
        return {}
    dictionaries: dict = {name: [] for name in wanted}
    files: dict = {}  # path -> its whole fragment: one footer read per file
    for rg in row_groups:
        whole = files.get(rg.path)
        if whole is None:
            whole = files[rg.path] = file_fragment(rg.path, options.filesystem, rg.partition)
        table = whole.subset(row_group_ids=[rg.id]).to_table(schema=schema, columns=wanted,
                                                              use_threads=False)
        for name in wanted:
            dictionaries[name] += [chunk.dictionary for chunk in table.column(name).chunks]
    return {name: categories_dtype(schema.field(name).type, found)
            for name, found in dictionaries.items()
            if any(not d.equals(found[0]) for d in found[1:])}


def categories_dtype(dictionary_type: Any, dictionaries: list) -> Any:
    """The CategoricalDtype pandas gives a column whose chunks hold these ``dictionaries``:
    pyarrow's own unification (first seen first), converted as pandas converts it."""
    import pyarrow as pa

    empty = pa.array([], type=dictionary_type.index_type)
    chunks = [pa.DictionaryArray.from_arrays(empty, d, ordered=dictionary_type.ordered)
              for d in dictionaries]
    return pa.chunked_array(chunks, type=chunks[0].type).to_pandas().dtype
