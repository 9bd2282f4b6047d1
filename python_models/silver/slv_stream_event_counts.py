"""Events per hour, event type and category from the stream, one row per window, type and
category (grain: window_start, event_type, category_id).

Reads brz_stream_events as a stream (in a streaming model `dbt.ref` returns a streaming
DataFrame), keeps valid events, and counts them per one-hour window with the watermark of
var stream_watermark (two hours). Append mode: a window is written once, after the watermark
passes its end, so the newest windows appear in a later build.
"""

from lakehouse.streaming import streams


def model(dbt, session):
    dbt.config(materialized="streaming")
    return streams.event_counts(dbt.ref("brz_stream_events"), dbt.config.meta_get("watermark"))
