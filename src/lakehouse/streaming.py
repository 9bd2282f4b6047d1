"""Streaming ingestion: a folder that receives event files, and the streams that read it.

`drop_files` simulates arrivals: it generates the same event files as `lakehouse generate`
into a staging folder and moves them, one at a time and at a chosen pace, into the streaming
landing folder (a rename, so the stream never sees half a file). The dbt Python models with
`materialized='streaming'` (the adapter's streaming materialization: availableNow trigger, one
checkpoint per model) use `read_events` and `event_counts` below.

`read_events` reads the folder as CSV with an explicit schema (no inference, no header row),
keeps malformed lines with `reject_reason` set instead of dropping them, and removes exact
duplicate lines of a file. A file is never split across micro-batches and `event_id` includes
the file name, so the duplicate removal only needs to remember one micro-batch: its watermark
is on the ingestion time, not the event time. A file that arrives late (its events older than
events already streamed) is therefore kept whole in bronze; only the event-time aggregation
drops events behind its watermark, as Structured Streaming does. `event_counts` counts events
per hour, event type and category with a watermark, in append mode: a window is written
once, when the watermark has passed its end, and never changes afterwards.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from datetime import date
from pathlib import Path

from lakehouse import generate

# Kaggle columns as text: types are applied with explicit casts so a bad value is a reason,
# not a silent null.
RAW_SCHEMA = (
    "event_time string, event_type string, product_id string, category_id string, "
    "category_code string, brand string, price string, user_id string, user_session string, "
    "_corrupt_record string"
)
RAW_SCHEMA_COLUMNS = [c.split()[0] for c in RAW_SCHEMA.split(", ")][:-1]
WATERMARK = "2 hours"
DEDUP_WATERMARK = "10 minutes"  # on ingested_at: long enough to cover one micro-batch
WINDOW = "1 hour"


def drop_files(
    stream_dir: Path, staging_dir: Path, rows: int, start: date, end: date, seed: int,
    interval: float, max_files: int | None = None, progress: bool = True,
) -> list[Path]:  # fmt: skip
    """Moves generated day files into `stream_dir`, oldest first, `interval` seconds apart;
    files already there are skipped, so calling it again continues where it stopped. Returns
    the files dropped by this call."""
    stream_dir.mkdir(parents=True, exist_ok=True)
    staged = sorted(staging_dir.glob("events_*.csv"))
    if not staged:
        staged = generate.generate(
            staging_dir, rows=rows, start=start, end=end, seed=seed, progress=False
        )
    dropped: list[Path] = []
    for path in staged:
        target = stream_dir / path.name
        if target.exists():
            continue
        if max_files is not None and len(dropped) >= max_files:
            break
        if dropped and interval > 0:
            time.sleep(interval)
        tmp = stream_dir / f".{path.name}.part"  # hidden: the stream lists *.csv only
        shutil.copyfile(path, tmp)
        tmp.replace(target)
        dropped.append(target)
        if progress:
            print(f"dropped {target.name} into {stream_dir}", file=sys.stderr, flush=True)
    return dropped


def stream_folder(spark) -> str:
    """LAKEHOUSE_STREAM_DIR when set, else `stream/` beside the server's warehouse (asked of
    the server, so it is a path the server reads)."""
    folder = os.environ.get("LAKEHOUSE_STREAM_DIR", "").rstrip("/")
    if not folder:
        warehouse = spark.conf.get("spark.sql.warehouse.dir").rstrip("/")
        folder = warehouse.rsplit("/", 1)[0] + "/stream"
    if folder.startswith(("file:", "/")):  # a local folder: make sure the stream can list it
        Path(folder.removeprefix("file:")).mkdir(parents=True, exist_ok=True)
    return folder


def read_events(spark, folder: str, max_files_per_trigger: int | None = None):
    """The streaming folder as typed events: one row per distinct line of a file, with
    `reject_reason` null for valid events."""
    from pyspark.sql import functions as F

    reader = (
        spark.readStream.schema(RAW_SCHEMA)
        .option("header", "true")
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", "_corrupt_record")
        .option("pathGlobFilter", "*.csv")
    )
    if max_files_per_trigger:
        reader = reader.option("maxFilesPerTrigger", max_files_per_trigger)
    raw = reader.csv(folder).withColumn("source_file", F.col("_metadata.file_name"))
    event_time = F.try_to_timestamp(F.regexp_replace("event_time", " UTC$", ""))
    price = F.expr("try_cast(price as double)")
    ids = {c: F.expr(f"try_cast({c} as bigint)") for c in ("product_id", "category_id", "user_id")}
    reason = (
        F.when(F.col("_corrupt_record").isNotNull(), "malformed_line")
        .when(event_time.isNull(), "unparseable_event_time")
        .when(
            ~F.col("event_type").isin("view", "cart", "remove_from_cart", "purchase"),
            "unknown_event_type",
        )  # fmt: skip
        .when(
            ids["product_id"].isNull() | ids["user_id"].isNull() | ids["category_id"].isNull(),
            "missing_id",
        )  # fmt: skip
        .when(price.isNull(), "non_numeric_price")
        .when(price < 0, "negative_price")
    )
    line = F.concat_ws(",", *[F.coalesce(F.col(c), F.lit("")) for c in RAW_SCHEMA_COLUMNS])
    typed = raw.select(
        F.md5(F.concat_ws("|", "source_file", F.coalesce("_corrupt_record", line))).alias(
            "event_id"
        ),
        ids["user_id"].alias("user_id"),
        ids["product_id"].alias("product_id"),
        ids["category_id"].alias("category_id"),
        F.col("user_session"),
        F.col("event_type"),
        F.col("category_code"),
        F.col("brand"),
        price.alias("price"),
        # Malformed lines get the file's time of arrival, so the watermark can still pass them.
        F.coalesce(event_time, F.col("_metadata.file_modification_time")).alias("event_time"),
        reason.alias("reject_reason"),
        F.col("_corrupt_record").alias("rejected_line"),
        F.col("source_file"),
        # In a stream this is the micro-batch's timestamp: the same for every line of a file.
        F.current_timestamp().alias("ingested_at"),
    )
    return typed.withWatermark("ingested_at", DEDUP_WATERMARK).dropDuplicatesWithinWatermark(
        ["event_id"]
    )


def event_counts(events):
    """Events per hour window, event type and category of a stream of valid events."""
    from pyspark.sql import functions as F

    valid = events.where(F.col("reject_reason").isNull())
    return (
        valid.withWatermark("event_time", WATERMARK)
        .groupBy(F.window("event_time", WINDOW), "event_type", "category_id")
        .agg(F.count("*").alias("n_events"), F.sum("price").alias("total_price"))
        .select(
            F.col("window.start").alias("window_start"),
            F.col("window.end").alias("window_end"),
            "event_type",
            "category_id",
            "n_events",
            "total_price",
        )
    )
