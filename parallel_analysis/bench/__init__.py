"""Benchmarks of serial, thread and process execution (and peers), and the reports of them.
Layer: faces (bench; imports the package and its own modules).

The pieces, in the order a run uses them:

- :mod:`.work`: the per-chunk functions (module-level, so every runner pickles them by name);
- :mod:`.workloads`, :mod:`.frames`, :mod:`.coldstart`: the workloads and their grid of cases;
- :mod:`.peers`: joblib, multiprocessing, ProcessPoolExecutor, dask and mpire behind one
  ``map(func, chunks)``;
- :mod:`.measure`: warm pools, a memory sampler over the process tree, statistics;
- :mod:`.runner`: builds data, warms and checks every case, times interleaved rounds;
- :mod:`.results`: pytest-benchmark's JSON format in and out;
- :mod:`.goals`, :mod:`.render`, :mod:`.plots`: the issue's goals, Markdown, PNGs.

``parallel-analysis bench`` (:mod:`parallel_analysis.cli`) drives it; ``benchmarks/`` holds the
pytest-benchmark suites over the same cases.
"""
