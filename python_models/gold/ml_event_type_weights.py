"""Normalised implicit-feedback weights, one row per event type (grain: event_type).

Reads `slv_event_types` (built over Thrift by a SQL model) through Spark Connect and adds each
type's share of the total weight. It is the first slice's proof that a Python model shares the
SQL models' catalog; the recommendation models read their weights the same way.
"""

from pyspark.sql import functions as F


def model(dbt, session):
    dbt.config(materialized="table")
    event_types = dbt.ref("slv_event_types")
    total = event_types.agg(F.sum("interaction_weight").alias("total_weight"))
    return event_types.crossJoin(total).select(
        "event_type",
        "funnel_step",
        "interaction_weight",
        (F.col("interaction_weight") / F.col("total_weight")).alias("weight_share"),
        F.current_timestamp().alias("computed_at"),
    )
