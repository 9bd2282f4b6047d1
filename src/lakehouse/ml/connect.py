"""What every ML model of the project shares over Spark Connect.

A pyspark.ml model on a Connect client is a reference to an object cached in the server; it
releases that cache in `__del__`, which can hang at interpreter exit, so models are released
explicitly (`release`, or `fitted` as a context manager). `table_version` names the Delta
version a model read, and `training_fingerprint` its rows' count and checksum, for MLflow.
`progress` prints one line of what a long node is doing, so a build log shows each fit, phase
and its seconds as it happens.
"""

from __future__ import annotations

import contextlib
import time


def release(model) -> None:
    """Free the server's cached copy of a Connect model now, not at interpreter exit (which
    can hang); the object is unusable afterwards. A no-op for None or a local model."""
    from pyspark.ml.util import RemoteModelRef

    ref = getattr(model, "_java_obj", None)
    if isinstance(ref, RemoteModelRef):
        ref.release_ref()
        model._java_obj = None


@contextlib.contextmanager
def fitted(estimator, data):
    """Fits `estimator` on `data`, yields (model, seconds the fit took) and releases the model
    when the block ends."""
    started = time.perf_counter()
    model = estimator.fit(data)
    seconds = time.perf_counter() - started
    try:
        yield model, seconds
    finally:
        release(model)


def table_version(spark, table: str) -> int:
    """The latest Delta version of `table`."""
    return int(spark.sql(f"describe history {table} limit 1").first().version)


def training_fingerprint(spark, table: str, run_date, version: int) -> tuple[int, int]:
    """(rows, checksum) of `table`'s rows for `run_date` as of Delta `version`: the row count and
    the sum of a 64-bit hash of every row (order-free), which a training run records so that
    `lakehouse reproduce-run` can rebuild its training set by time travel and check it."""
    row = spark.sql(
        "select count(*) as n,"
        " coalesce(sum(cast(xxhash64(to_json(struct(*))) as decimal(38, 0))), 0) as checksum"
        f" from {table} version as of {int(version)}"
        f" where run_date = date'{run_date}'"
    ).first()
    return int(row.n), int(row.checksum)


def optional_float(value) -> float | None:
    """A number from a model's `meta`, where an unset var renders as None, "None" or ""."""
    if value is None or str(value).strip() in ("", "None", "none", "null"):
        return None
    return float(value)


def optional_int(value) -> int | None:
    """A whole number from a model's `meta` (optional_float's rules; 20000.0 reads 20000)."""
    found = optional_float(value)
    return None if found is None else int(found)


def as_bool(value) -> bool:
    """A config value (bool, or a string such as 'false' from a var) as a bool."""
    return str(value).strip().lower() not in ("false", "0", "no", "off", "")


def progress(component: str, message: str) -> None:
    """One progress line of a long-running node, in dbt's log as it happens, with the time of
    day (UTC, as dbt's own lines) so the phases of a node can be timed from the log."""
    import time

    print(f"{time.strftime('%H:%M:%S', time.gmtime())} [{component}] {message}", flush=True)
