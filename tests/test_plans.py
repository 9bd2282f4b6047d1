"""Query plans and partition pruning: the `explain` dbt operation, and a date filter on bronze
events that reads only that date's files of the table beneath (counted by Spark's own scan
metrics, as Spark Connect reports them for the query).
"""

from __future__ import annotations

import json
import re

DAY = "2019-10-05"
# count(distinct): Delta answers a plain count(*) from its log statistics, without a scan.
QUERY = f"select count(distinct user_id) from bronze.brz_events where event_date = date'{DAY}'"


def _scans_of_brz_event_lines(df) -> list[dict[str, int]]:
    """The metrics of each scan of brz_event_lines's data files in `df`'s execution, as Spark
    Connect reports them after a collect (not Delta's own log)."""
    _, nodes = df.executionInfo.metrics.extract_graph()
    return [
        {m.name: m.value for m in node.metrics}
        for node in nodes.values()
        if node.name.startswith("Scan parquet") and "brz_event_lines" in node.name
    ]


def test_explain_prints_the_physical_plan_of_a_model(project_build, dbt):
    out = dbt(["run-operation", "explain", "--args", "{model: ml_user_scoring_set}"]).output
    assert "== Physical Plan ==" in out
    assert "HashAggregate" in out and "silver.slv_user_session_daily" in out
    # the daily aggregates are read for the snapshot's dates only
    assert re.search(r"PartitionFilters: \[[^\]]*event_date", out), out[-3000:]


def test_a_date_filter_on_bronze_prunes_to_that_dates_files(project_build, spark, dbt):
    plan = dbt(["run-operation", "explain", "--args", json.dumps({"query": QUERY})]).output
    assert re.search(rf"PartitionFilters: \[[^\]]*event_date[^\]]*= {DAY}\)", plan), plan[-3000:]

    files_of_day = spark.sql(
        f"select count(distinct _metadata.file_path) from bronze.brz_event_lines "
        f"where event_date = date'{DAY}'"
    ).first()[0]
    all_files = spark.sql("describe detail bronze.brz_event_lines").first().numFiles
    assert 0 < files_of_day < all_files

    query = spark.sql(QUERY)
    assert query.collect()[0][0] > 0
    scans = _scans_of_brz_event_lines(query)
    assert scans, "no scan of brz_event_lines in the query's metrics"
    assert all(scan["numPartitions"] == 1 for scan in scans), scans
    assert all(scan["numFiles"] == files_of_day for scan in scans), scans
