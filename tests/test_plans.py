"""Query plans and partition pruning: the `explain` dbt operation, and a date filter on bronze
that reads only that date's files (counted by Spark's own scan metrics, from the UI's REST API).
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


def _sql_executions(settings) -> list[dict]:
    app = _rest(settings, "applications")[0]["id"]
    return _rest(settings, f"applications/{app}/sql?details=true&length=100000")


def _metric(node: dict, name: str) -> int:
    value = next(m["value"] for m in node["metrics"] if m["name"] == name)
    return int(value.replace(",", ""))


def test_explain_prints_the_physical_plan_of_a_model(project_build, tmp_path):
    out = run_dbt(
        ["run-operation", "explain", "--args", "{model: slv_user_features}"], PROJECT_DIR, tmp_path
    ).output
    assert "== Physical Plan ==" in out
    assert "HashAggregate" in out and "silver.slv_user_sessions" in out


def test_a_date_filter_on_bronze_prunes_to_that_dates_files(project_build, spark, settings,
                                                             tmp_path):  # fmt: skip
    plan = run_dbt(
        ["run-operation", "explain", "--args", json.dumps({"query": QUERY})], PROJECT_DIR, tmp_path
    ).output
    assert re.search(rf"PartitionFilters: \[[^\]]*event_date[^\]]*= {DAY}\)", plan), plan[-3000:]

    files_of_day = spark.sql(
        f"select count(distinct _metadata.file_path) from bronze.brz_events "
        f"where event_date = date'{DAY}'"
    ).first()[0]
    all_files = spark.sql("describe detail bronze.brz_events").first().numFiles
    assert 0 < files_of_day < all_files

    seen = {e["id"] for e in _sql_executions(settings)}
    assert spark.sql(QUERY).first()[0] > 0
    scans = [
        node
        for e in _sql_executions(settings)
        if e["id"] not in seen
        for node in e["nodes"]
        # the table's data files, not Delta's own log
        if node["nodeName"].startswith("Scan parquet") and "brz_events" in node["nodeName"]
    ]
    assert scans, "no scan of brz_events in the new SQL executions"
    assert all(_metric(n, "number of partitions read") == 1 for n in scans)
    assert all(_metric(n, "number of files read") == files_of_day for n in scans)
