"""Query plans and partition pruning: the `explain` dbt operation, and a date filter on bronze
events that reads only that date's files of the table beneath (counted by Spark's own scan
metrics, from the UI's REST API).
"""

from __future__ import annotations

import json
import re
import urllib.request

from conftest import PROJECT_DIR, run_dbt

DAY = "2019-10-05"
# count(distinct): Delta answers a plain count(*) from its log statistics, without a scan.
QUERY = f"select count(distinct user_id) from bronze.brz_events where event_date = date'{DAY}'"


def _rest(settings, path: str):
    url = f"http://{settings.host}:{settings.ui_port}/api/v1/{path}"
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def _sql_execution_ids(settings) -> tuple[str, set[int]]:
    """The application and its SQL executions so far, without their plans: asking for every
    plan at once fails (404) once the server has evicted the graph of an old execution."""
    app = _rest(settings, "applications")[0]["id"]
    return app, {e["id"] for e in _rest(settings, f"applications/{app}/sql?length=100000")}


def _metric(node: dict, name: str) -> int:
    value = next(m["value"] for m in node["metrics"] if m["name"] == name)
    return int(value.replace(",", ""))


def test_explain_prints_the_physical_plan_of_a_model(project_build, tmp_path):
    out = run_dbt(
        ["run-operation", "explain", "--args", "{model: ml_user_scoring_set}"], PROJECT_DIR,
        tmp_path,
    ).output  # fmt: skip
    assert "== Physical Plan ==" in out
    assert "HashAggregate" in out and "silver.slv_user_session_daily" in out
    # the daily aggregates are read for the snapshot's dates only
    assert re.search(r"PartitionFilters: \[[^\]]*event_date", out), out[-3000:]


def test_a_date_filter_on_bronze_prunes_to_that_dates_files(project_build, spark, settings,
                                                             tmp_path):  # fmt: skip
    plan = run_dbt(
        ["run-operation", "explain", "--args", json.dumps({"query": QUERY})], PROJECT_DIR, tmp_path
    ).output
    assert re.search(rf"PartitionFilters: \[[^\]]*event_date[^\]]*= {DAY}\)", plan), plan[-3000:]

    files_of_day = spark.sql(
        f"select count(distinct _metadata.file_path) from bronze.brz_event_lines "
        f"where event_date = date'{DAY}'"
    ).first()[0]
    all_files = spark.sql("describe detail bronze.brz_event_lines").first().numFiles
    assert 0 < files_of_day < all_files

    app, seen = _sql_execution_ids(settings)
    assert spark.sql(QUERY).first()[0] > 0
    _, now = _sql_execution_ids(settings)
    scans = [
        node
        for execution in sorted(now - seen)
        for node in _rest(settings, f"applications/{app}/sql/{execution}?details=true")["nodes"]
        # the table's data files, not Delta's own log
        if node["nodeName"].startswith("Scan parquet") and "brz_event_lines" in node["nodeName"]
    ]
    assert scans, "no scan of brz_events in the new SQL executions"
    assert all(_metric(n, "number of partitions read") == 1 for n in scans)
    assert all(_metric(n, "number of files read") == files_of_day for n in scans)
