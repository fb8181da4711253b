"""exact: pandas' own results for ``apply``, ``map`` and ``groupby``, computed in chunks. Layer:
API (its modules import pool, plan, split, cpus, map, worker, errors and backends.remote; pandas
at import, so the package loads them on first use of ``df.par`` or ``par.apply(..., axis=)``).

The scheme: **record in the workers, wrap once in the caller.** A worker calls ``func`` on
exactly what pandas would pass it (the same row, column, element or group objects, same dtype,
same name, same order) and sends back the *raw* results, before any inference. The caller then
hands the raw results of all chunks, in order, to pandas' own assembly code, so every decision
pandas takes over the whole object (the dtype of the result, its shape, the ``result_type``
rules, the union of Series indexes, the group-key concat, the row order) is taken once, over all
rows, exactly as pandas takes it. Running pandas per chunk and concatenating would be wrong in
many places (the first row's result decides the shape; ``None`` and ints give float64 only
together; a group's "mutated" flag is an OR over all groups)::

    caller                                         worker (any backend)
    ──────                                         ────────────────────
    cut: rows | columns | whole groups ──────────▶ func on each row/column/element/group,
                                                   through pandas' own iteration
    assemble with pandas (hooks or replay) ◀────── raw results: Typed | SeriesRows | list,
    re-raise the failure pandas meets first ◀───── or a Failure (exception, label, position)

======================  ==================================================================
module                  what it holds
======================  ==================================================================
:mod:`.results`         how raw results travel: one-dtype scalars as a numpy array, Series
                        rows as one 2-D block, else a list
:mod:`.failures`        a func error as a value, re-raised where pandas would raise it
:mod:`.assembly`        pandas' private assembly functions (pinned, tested) and the public
                        "replay" fallback that feeds recorded results to pandas' own method
:mod:`.running`         the bridge to the pool: options, chunk counts, column and group
                        chunks, the per-chunk job
:mod:`.elementwise`     ``Series.map``, ``Series.apply``, ``DataFrame.map``
:mod:`.rows`            ``DataFrame.apply`` (axis 0 and 1, raw, every ``result_type``)
:mod:`.groups`          ``DataFrameGroupBy.apply`` and ``.transform``
:mod:`.describe`        ``DataFrame.describe``, whole columns per worker
======================  ==================================================================
"""
