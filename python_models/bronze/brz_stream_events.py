"""Events streamed from the streaming landing folder, one row per distinct line of a file
(grain: event_id).

Structured Streaming over Spark Connect with the adapter's `streaming` materialization: an
availableNow trigger reads every file that arrived since the last build, through the
model's own checkpoint, and appends it to this Delta table exactly once. The reading and
parsing are in `lakehouse.streaming.read_events` (explicit schema, malformed lines kept with a
reason, duplicate lines of a file removed within their micro-batch).
"""

from lakehouse import streaming


def model(dbt, session):
    dbt.config(materialized="streaming")
    folder = streaming.stream_folder(session)
    return streaming.read_events(session, folder, dbt.config.meta_get("max_files_per_trigger"))
