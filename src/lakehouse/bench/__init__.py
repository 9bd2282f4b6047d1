"""`make bench`: the benchmark and its reference programs. Not imported by the runtime.

`run` runs the phases per data size and resumes finished ones, `plain` holds the notebook-style
PySpark script and the bare CSV-to-Delta copy, `duck` runs the compiled SQL on DuckDB, and
`report` writes `docs/benchmark/`.
"""
