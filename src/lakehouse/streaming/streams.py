"""The streams that the streaming dbt Python models return: typed events and windowed counts.

The models use the adapter's `streaming` materialization (availableNow trigger, one checkpoint
per model). `read_events` reads the streaming folder line by line, as batch bronze reads the
landing folder, and applies the same parser: the fields, the event date and the reject rules
of the dbt var `event_parse`, which the model passes in from its `meta` (`parse_lines` is the
DataFrame twin of the macro `parse_event_lines`). A malformed line stays in the table with its
reason instead of being dropped, header lines are skipped by value, and exact duplicate lines
of a file are removed. A file is never split across micro-batches and `event_id` includes the
file name, so the duplicate removal only needs to remember one micro-batch: its watermark is
on the ingestion time, not the event time. A file that arrives late (its events older than
events already streamed) is therefore kept whole in bronze; only the event-time aggregation
drops events behind its watermark, as Structured Streaming does. `event_counts` counts events
per hour, event type and category with a watermark, in append mode: a window is written once,
when the watermark has passed its end, and never changes afterwards.
"""

from __future__ import annotations

import os
from pathlib import Path

DEDUP_WATERMARK = "10 minutes"  # on ingested_at: long enough to cover one micro-batch
WINDOW = "1 hour"


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


def parse_lines(lines, parse: dict, event_types: list[str]):
    """The DataFrame twin of the macro `parse_event_lines`: `lines` (with a `line` column) plus
    the typed fields, `event_date` and `reject_reason`, as the var `event_parse` defines them."""
    from pyspark.sql import functions as F

    staged = lines.withColumn("f", F.split("line", ",", -1)).withColumn(
        "known_event_types", F.array(*[F.lit(t) for t in event_types])
    )
    fielded = staged.select(
        "*", *[F.expr(sql).alias(name) for name, sql in parse["fields"].items()]
    )
    reason = None
    for rule, condition in parse["reject_rules"]:
        when = F.expr(condition)
        reason = F.when(when, rule) if reason is None else reason.when(when, rule)
    return (
        fielded.withColumn("event_date", F.expr(parse["event_date"]))
        .withColumn("file_day", F.expr(parse["file_day"]))
        .withColumn("reject_reason", reason)
        .drop("f", "known_event_types", "file_day")
    )


def read_events(spark, folder: str, parse: dict, event_types: list[str], header: str,
                max_files_per_trigger: int | None = None):  # fmt: skip
    """The streaming folder as typed events: one row per distinct line of a file, with
    `reject_reason` null for valid events."""
    from pyspark.sql import functions as F

    reader = spark.readStream.option("pathGlobFilter", "*.csv")
    if max_files_per_trigger:
        reader = reader.option("maxFilesPerTrigger", max_files_per_trigger)
    lines = (
        reader.text(folder)
        .select(
            F.col("value").alias("line"),
            F.col("_metadata.file_name").alias("source_file"),
            F.col("_metadata.file_modification_time").alias("file_modified_at"),
        )
        .where((F.col("line") != header) & (F.trim("line") != ""))
    )
    parsed = parse_lines(lines, parse, event_types)
    typed = parsed.select(
        F.md5(F.concat_ws("|", "source_file", "line")).alias("event_id"),
        "user_id", "product_id", "category_id", "user_session", "event_type", "category_code",
        "brand", "price",
        # Lines without a time get the file's time of arrival, so the watermark can pass them.
        F.coalesce("event_time", "file_modified_at").alias("event_time"),
        "reject_reason",
        F.when(F.col("reject_reason").isNotNull(), F.col("line")).alias("rejected_line"),
        "source_file",
        # In a stream this is the micro-batch's timestamp: the same for every line of a file.
        F.current_timestamp().alias("ingested_at"),
    )  # fmt: skip
    return typed.withWatermark("ingested_at", DEDUP_WATERMARK).dropDuplicatesWithinWatermark(
        ["event_id"]
    )


def event_counts(events, watermark: str):
    """Events per hour window, event type and category of a stream of valid events; a window
    is written once the newest event is `watermark` (var stream_watermark) past its end."""
    from pyspark.sql import functions as F

    valid = events.where(F.col("reject_reason").isNull())
    return (
        valid.withWatermark("event_time", watermark)
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
