"""Events streamed from the streaming landing folder, one row per distinct line of a file
(grain: event_id).

Structured Streaming over Spark Connect with the adapter's `streaming` materialization: an
availableNow trigger reads every file that arrived since the last build, through the
model's own checkpoint, and appends it to this Delta table exactly once. Lines are parsed by
the same rules as batch bronze (the var `event_parse`, passed in through `meta`); the reading
is in `lakehouse.streaming.streams.read_events`.
"""

from lakehouse.streaming import streams


def model(dbt, session):
    dbt.config(materialized="streaming")
    return streams.read_events(
        session,
        streams.stream_folder(session),
        parse=dbt.config.meta_get("event_parse"),
        event_types=dbt.config.meta_get("event_types"),
        header=dbt.config.meta_get("source_header"),
        max_files_per_trigger=dbt.config.meta_get("max_files_per_trigger"),
    )
