"""parquet: lazy Parquet sources whose chunks are row groups, read inside the workers. Layer:
share (imports cuts, split, specs, errors, arrow_dtypes, parquet_dictionaries and parquet_nulls;
pyarrow and pandas inside the functions).

``par.from_parquet(path)`` (:mod:`.parquet_footers`) reads only the files' footers in the
caller (row counts, sizes, schema) and returns a lazy source. A map plans its chunks from that
metadata, and each chunk spec travels as a path and row-group ids; the worker reads those row
groups with pyarrow and hands ``func`` a pandas DataFrame::

    caller                                        worker (any backend: serial ... dask)
    ──────                                        ─────────────────────────────────────
    from_parquet(): footers → RowGroup list
    chunk_specs(n/size/nbytes): group row groups
        └─ ParquetChunk(path, row groups) ──────▶ load(): read those row groups (only the
                                                  asked columns, filter applied) → DataFrame

So nothing but paths is shipped, memory holds a few row groups per worker at a time, and the
data may be far larger than memory. A row group is the smallest chunk (a reader cannot start in
the middle of one); neighbouring row groups, even across files, are merged when fewer or larger
chunks are asked for.

Chunks are pandas DataFrames, as ``pd.read_parquet`` would give for those rows: dtypes from the
pandas metadata stored in the file, and the index labels of the whole dataset (a default index
numbers rows across all files and chunks), so concatenating the chunks gives
``pd.read_parquet(path, columns=..., filters=...)``. Categorical columns get the categories
pandas gives the whole dataset, in every chunk: hive partition columns (``key=value`` folders)
every value found in the folders' names, and dictionary columns the union of every row group's
dictionary (:meth:`ParquetSource.settle_dtypes`), so codes mean the same in every chunk. An
integer or boolean column holding a null anywhere in the rows read is float64 or object in
every chunk, as ``pd.read_parquet`` converts the whole (:mod:`.parquet_nulls`), even in a chunk
without nulls.

A file is read only as it was when ``from_parquet`` read its footer: its size and modification
time are checked before each read, and the rows read against the footer's counts, so a file
rewritten since raises :class:`~parallel_analysis.errors.SourceChangedError` instead of giving
other rows or a column of nulls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .arrow_dtypes import as_whole
from .cpus import available_cpus
from .cuts import balanced_cuts, capped_cuts
from .errors import SourceChangedError
from .parquet_dictionaries import fragment, united_categories
from .parquet_nulls import null_promotions
from .specs import Spec
from .split import Chunking


@dataclass(frozen=True)
class RowGroup:
    """One row group of one file: where it is and how big, from the file's footer."""

    path: str
    id: int
    num_rows: int
    nbytes: int  # uncompressed bytes of the selected columns
    partition: Any = None  # a pyarrow Expression for hive partition values, or None
    stamp: tuple | None = None  # the file's (size, mtime_ns) when its footer was read


@dataclass
class ParquetChunk(Spec):
    """Row groups (of one or more files) that make one chunk; read by :meth:`load`."""

    row_groups: tuple = ()
    source: ReadOptions | None = None

    def load(self) -> Any:
        """Read this chunk's row groups (asked columns only, filter applied) as a DataFrame."""
        return self.source.read(self.row_groups, self.out_start, self.out_stop - self.out_start)


@dataclass
class ReadOptions:
    """What every chunk of a source shares: small, pickled with each batch of specs."""

    schema: Any  # pyarrow Schema of the dataset (with partition fields)
    filesystem: Any
    columns: list | None = None
    filter: Any = None  # pyarrow Expression or None
    index_start: int = 0  # a RangeIndex stored in the dataset's pandas metadata: start, step
    index_step: int = 1
    index_name: Any = None
    index_rows: int | None = None  # a stored RangeIndex numbers this many rows: kept if read
    range_index: bool = True  # True: number rows by their position in the dataset
    categories: dict = field(default_factory=dict)  # column -> the dataset's CategoricalDtype
    promoted: dict = field(default_factory=dict)  # int/bool column with nulls -> float64/object

    def read(self, row_groups: tuple, position: int, rows: int | None = None) -> Any:
        """The rows of ``row_groups`` as a DataFrame; ``rows``: how many the footers promised."""
        import pyarrow as pa

        tables = []
        for path, ids, partition, stamp in _by_file(row_groups):
            self._check_unchanged(path, stamp)
            piece = fragment(path, self.filesystem, partition, ids)
            tables.append(piece.to_table(schema=self.schema, columns=self.columns,
                                         filter=self.filter, use_threads=False))
        table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
        if rows is not None and table.num_rows != rows:
            raise SourceChangedError(
                f"{_files(row_groups)} gave {table.num_rows} rows where its footers, read by "
                f"par.from_parquet, counted {rows}: the data changed since; call "
                "par.from_parquet again")
        return self._to_pandas(table, position)

    def _check_unchanged(self, path: str, stamp: tuple | None) -> None:
        if stamp is None:
            return
        info = self.filesystem.get_file_info(path)
        now = (info.size, info.mtime_ns)
        if now != stamp and None not in now:
            how = (f"{stamp[0]} bytes then, {info.size} now" if info.size != stamp[0]
                   else "written again")
            raise SourceChangedError(
                f"{path} changed since par.from_parquet read its footer ({how}): its row "
                "groups may hold other rows or columns now; call par.from_parquet again")

    def _to_pandas(self, table: Any, position: int) -> Any:
        import pandas as pd

        rows = table.num_rows
        # Free Arrow buffers as columns convert: one copy of the chunk in memory, not two.
        frame = table.to_pandas(split_blocks=True, self_destruct=True)
        del table
        for name, dtype in self.categories.items():
            if name in frame.columns:
                frame[name] = frame[name].astype(dtype)
        as_whole(frame, self.promoted)
        if self.range_index:
            start = self.index_start + self.index_step * position
            frame.index = pd.RangeIndex(start, start + self.index_step * rows, self.index_step,
                                        name=self.index_name)
        return frame


def _by_file(row_groups: tuple) -> list[tuple[str, list[int], Any, tuple | None]]:
    """Consecutive row groups of the same file, so each file is opened once per chunk."""
    out: list = []
    for rg in row_groups:
        if out and out[-1][0] == rg.path:
            out[-1][1].append(rg.id)
        else:
            out.append((rg.path, [rg.id], rg.partition, rg.stamp))
    return out


def _files(row_groups: tuple) -> str:
    paths = list(dict.fromkeys(rg.path for rg in row_groups))
    return paths[0] if len(paths) == 1 else f"{len(paths)} files ({paths[0]}, ...)"


@dataclass
class ParquetSource:
    """A lazy Parquet dataset: the chunks of a map are its row groups, read in the workers.

    Made by :func:`~.parquet_footers.from_parquet`. ``len(source)`` is its number of rows (with
    ``filters``, the rows that pass them), from the footers and the filter columns only.
    """

    row_groups: list
    options: ReadOptions
    paths: list = field(default_factory=list)
    null_counts: list = field(default_factory=list)  # per row group: column -> nulls (footers)
    _counts: list | None = None
    _settled: bool = False

    # -- what the caller may ask without reading the data ----------------------------------
    @property
    def columns(self) -> list[str]:
        """Names of the columns each chunk has (index columns excepted)."""
        meta = self.options.schema.pandas_metadata or {}
        hidden = {c for c in meta.get("index_columns", []) if isinstance(c, str)}
        names = self.options.columns if self.options.columns is not None else \
            self.options.schema.names
        return [name for name in names if name not in hidden]

    @property
    def schema(self) -> Any:
        """The pyarrow schema of the dataset (partition fields included)."""
        return self.options.schema

    @property
    def num_row_groups(self) -> int:
        return len(self.row_groups)

    def __len__(self) -> int:
        return sum(self._row_counts())

    def __repr__(self) -> str:
        where = self.paths[0] if len(self.paths) == 1 else f"{len(self.paths)} files"
        cols = ", ".join(self.columns[:6]) + (", ..." if len(self.columns) > 6 else "")
        filt = f", filter {self.options.filter}" if self.options.filter is not None else ""
        return (f"<ParquetSource {where}: {self.num_row_groups} row groups, columns [{cols}]"
                f"{filt}>")

    # -- the lazy-source protocol (plan.make_plan) ------------------------------------------
    def empty_frame(self) -> Any:
        """The frame ``pd.read_parquet`` gives when no row passes (no file, every row group
        filtered out): the columns, dtypes and index kind, no rows. A map over a source without
        rows computes on it, as it would on an empty DataFrame."""
        self.settle_dtypes()
        table = self.options.schema.empty_table()
        if self.options.columns is not None:
            table = table.select(self.options.columns)
        return self.options._to_pandas(table, 0)

    def chunk_specs(self, n: int | None = None, size: int | None = None,
                    nbytes: int | None = None) -> list[ParquetChunk]:
        """Specs of chunks made of whole row groups: ``n`` of them, or at most ``size`` rows or
        ``nbytes`` (uncompressed) each; with none given, row groups merged up to the size
        :func:`~parallel_analysis.split.choose_n_chunks` aims for. A row group is never split,
        so a chunk may exceed ``size`` or ``nbytes`` when one row group does.
        """
        chunking = Chunking(n, size, nbytes)
        self.settle_dtypes()
        counts = self._row_counts()
        groups = [(rg, c) for rg, c in zip(self.row_groups, counts) if c > 0]
        if not groups:
            return []
        if size is not None or nbytes is not None:
            bounds = capped_cuts([c if size is not None else rg.nbytes for rg, c in groups],
                                 int(size or nbytes))
        else:
            total = sum(c for _, c in groups)
            row_nbytes = max(1, sum(rg.nbytes for rg, _ in groups) // max(1, total))
            k = chunking.count(total, row_nbytes, parallelism=available_cpus())
            bounds = balanced_cuts([c for _, c in groups], k)
        specs, row = [], 0
        for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
            rows = sum(c for _, c in groups[a:b])
            part = tuple(rg for rg, _ in groups[a:b])
            specs.append(ParquetChunk(i, row, row + rows, part, self.options))
            row += rows
        return specs

    def settle_dtypes(self) -> None:
        """Give every chunk the categories, the dtypes and the index ``pd.read_parquet`` gives
        the whole dataset (see :mod:`.parquet_dictionaries` and :mod:`.parquet_nulls`; a stored
        RangeIndex when the rows read are as many as it numbers); once per source, before its
        first chunks are planned."""
        if not self._settled:
            self._settled = True
            self.options.categories.update(united_categories(self.row_groups, self.options))
            self.options.promoted.update(
                null_promotions(self.row_groups, self.null_counts, self.options))
            options = self.options
            if options.index_rows is not None and len(self) != options.index_rows:
                options.index_start, options.index_step, options.index_name = 0, 1, None
            options.index_rows = None

    def _row_counts(self) -> list[int]:
        """Rows per row group; with a filter, the rows that pass it (reads the filter columns).

        Counted by scanning no column but the filter's, not with ``count_rows``: in pyarrow 26
        that returns the whole file's rows for one row group when a partition value alone
        decides the filter.
        """
        if self._counts is None:
            if self.options.filter is None:
                self._counts = [rg.num_rows for rg in self.row_groups]
            else:
                self._counts = [
                    fragment(rg.path, self.options.filesystem, rg.partition, [rg.id])
                    .to_table(schema=self.options.schema, filter=self.options.filter,
                              columns=[], use_threads=False).num_rows
                    for rg in self.row_groups
                ]
        return self._counts

