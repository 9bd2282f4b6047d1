"""The daily schedule on Dagster: the dbt DAG as assets with its lineage, and one scheduled run
executed in-process (conftest.project_build is that run: the session's build)."""

from __future__ import annotations

import json
import os

import pytest
from dagster import AssetKey, DagsterEventType, DagsterRunStatus

from lakehouse.orchestration.selection import DAILY_EXCLUDE

PYTHON_MODELS = ["ml_retraining_decisions", "ml_propensity_candidates",
                 "ml_user_purchase_scores", "ml_product_recommendations",
                 "brz_stream_events"]  # fmt: skip


@pytest.fixture(scope="module")
def orchestration(project_build):
    """Imported once the test environment is set (the module reads it when loaded)."""
    from lakehouse.orchestration import definitions as orchestration

    return orchestration


def _key(layer: str, name: str) -> AssetKey:
    return AssetKey([layer, name])


def test_every_model_and_seed_is_an_asset_with_dbt_lineage(project_build, orchestration):
    assets = orchestration.lakehouse_dbt
    manifest = project_build["manifest"]
    nodes = {
        n["name"]
        for n in manifest["nodes"].values()
        if n["resource_type"] in ("model", "seed") and n["package_name"] == "ecom_lakehouse"
    }
    assert {k.path[-1] for k in assets.keys} == nodes
    assert set(PYTHON_MODELS) <= nodes
    # the raw files are the first asset; the predictions are downstream of the features
    assert assets.asset_deps[_key("bronze", "brz_landing_files")] == {
        _key("landing", "event_files")
    }
    training = assets.asset_deps[_key("gold", "ml_propensity_candidates")]
    assert _key("gold", "ml_user_training_set") in training
    # data tests are asset checks: every generic test, on the model it is declared on, but
    # those the daily job leaves to `make test` (DAILY_EXCLUDE)
    left_out = DAILY_EXCLUDE.removeprefix("tag:")
    tests = [n for n in manifest["nodes"].values() if n["resource_type"] == "test"
             and n.get("attached_node") and left_out not in n["tags"]]  # fmt: skip
    assert len(list(assets.check_keys)) == len(tests) >= 55


def test_the_schedule_runs_daily_for_the_day_that_ended(orchestration):
    schedule = orchestration.defs.resolve_schedule_def("lakehouse_daily_schedule")
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.execution_timezone == "UTC"


def test_one_scheduled_run_built_the_whole_dag_for_its_run_date(project_build, orchestration):
    dagster = project_build["dagster"]
    assert dagster["run_date"] == "2019-11-30"
    result = dagster["result"]
    assert result.success
    run = dagster["instance"].get_run_by_id(result.run_id)
    assert run.status == DagsterRunStatus.SUCCESS
    assert run.tags["dagster/partition"] == "2019-11-30"
    assert run.tags["dagster/schedule_name"] == "lakehouse_daily_schedule"
    materialized = {
        e.asset_key
        for e in result.all_events
        if e.event_type == DagsterEventType.ASSET_MATERIALIZATION
    }
    assert materialized == set(orchestration.lakehouse_dbt.keys)
    checks = [
        e.event_specific_data
        for e in result.all_events
        if e.event_type == DagsterEventType.ASSET_CHECK_EVALUATION
    ]
    assert len(checks) == len(list(orchestration.lakehouse_dbt.check_keys))
    assert all(c.passed for c in checks)
    # the run date reached dbt as the var that sets the windows
    assert (
        "Run date 2019-11-30: training features from 2019-10-01 to 2019-10-31"
        in project_build["build"].output
    )


def test_the_scheduled_run_left_the_gold_tables_filled(project_build, spark):
    users = spark.table("gold.ml_user_scoring_set").count()
    assert users > 1000
    assert spark.table("gold.ml_user_purchase_scores").count() == users
    recommended = spark.table("gold.ml_product_recommendations")
    assert recommended.count() == 5 * users
    assert spark.table("gold.ml_top_buyers").count() == 100
    assert spark.table("gold.ml_retraining_decisions").count() == 2


def test_the_dagster_instance_runs_one_run_at_a_time(tmp_path):
    """`make dagster` copies dagster.yaml into DAGSTER_HOME: its run queue lets one run go at
    a time, so the daily job never overlaps itself and a backfill's dates run in order."""
    import shutil
    from pathlib import Path

    from dagster import DagsterInstance

    import lakehouse.orchestration as package

    shutil.copy(Path(package.__file__).parent / "dagster.yaml", tmp_path / "dagster.yaml")
    coordinator = DagsterInstance.from_config(str(tmp_path)).run_coordinator
    assert type(coordinator).__name__ == "QueuedRunCoordinator"
    assert coordinator.get_run_queue_config().max_concurrent_runs == 1


def test_a_stale_source_a_failed_check_and_a_failed_run_raise_alerts(
    project_build, orchestration, settings, monkeypatch, webhook_receiver
):
    """The daily job of 2019-11-30 again, the load audit only (no new file: it loads nothing),
    with vars that make the landing folder stale at once and every file's reject rate too high:
    the freshness error, the failed check and the failed run each reach the webhook (a local
    HTTP server), the alerts log and the Dagster run's log."""
    from lakehouse.orchestration import alerts

    strict = {**json.loads(os.environ["LAKEHOUSE_DBT_VARS"]), "max_reject_rate": 0,
              "landing_error_after_hours": 0}  # fmt: skip
    monkeypatch.setenv("LAKEHOUSE_DBT_VARS", json.dumps(strict))
    monkeypatch.setenv(alerts.WEBHOOK_ENV, webhook_receiver.url)
    instance = project_build["dagster"]["instance"]
    before = len(alerts.alerts_log(settings).read_text().splitlines()) if alerts.alerts_log(
        settings).exists() else 0  # fmt: skip
    (result,) = orchestration.run_dates(["2019-11-30"], instance, models=["brz_file_loads"])
    assert not result.success
    received = [body for _, body in webhook_receiver.received]
    kinds = [(a["kind"], a["severity"]) for a in received]
    assert kinds[0] == ("source_stale", "error"), received
    assert ("check_failed", "error") in kinds and kinds[-1] == ("run_failed", "error"), received
    stale, failed = received[0], next(a for a in received if a["kind"] == "check_failed")
    assert stale["subject"] == "landing.event_files" and "newest file landed" in stale["message"]
    assert "reject_rate_at_most" in failed["subject"] and "brz_file_loads" in failed["subject"]
    assert "failing rows" in failed["message"]
    assert {a["run_date"] for a in received} == {"2019-11-30"}
    assert {a["run_id"] for a in received} == {result.run_id}
    logged = alerts.alerts_log(settings).read_text().splitlines()[before:]
    assert [json.loads(line) for line in logged] == received
    messages = [e.user_message for e in instance.all_logs(result.run_id)]
    assert any(m.startswith("[error] run_failed: lakehouse_daily 2019-11-30") for m in messages)


def test_every_run_records_its_node_results_and_the_report_charts_them(
    project_build, spark, tmp_path
):
    """ops.node_results holds one row per node of the scheduled build (on-run-end), and of the
    failed run above too; `lakehouse report` draws its five charts from them."""
    from lakehouse.orchestration import report

    run_results = json.loads((project_build["build"].target / "run_results.json").read_text())
    invocation = run_results["metadata"]["invocation_id"]
    rows = spark.table("ops.node_results").where(f"invocation_id = '{invocation}'").collect()
    nodes = [r for r in run_results["results"] if not r["unique_id"].startswith("operation.")]
    assert len(rows) == len(nodes) > 100  # every node; the hooks themselves are not nodes
    by_node = {r.node: r for r in rows}
    for result in nodes:
        row = by_node[result["unique_id"]]
        assert row.status == result["status"] and row.command == "build"
        assert abs(row.seconds - result["execution_time"]) < 1e-6
        assert str(row.run_date) == "2019-11-30"
    model = by_node["model.ecom_lakehouse.brz_event_lines"]
    assert model.layer == "bronze" and model.started_at <= model.completed_at
    # what the build's commits to a table added (read from its Delta log in the warehouse
    # folder) is what its Delta history says: an append and a partitioned table
    for table in ("bronze.brz_event_lines", "silver.slv_product_daily"):
        model = by_node[f"model.ecom_lakehouse.{table.split('.')[1]}"]
        added = [h.operationMetrics for h in spark.sql(f"describe history {table}")
                 .where(f"timestamp between '{model.started_at}' and '{model.completed_at}'")
                 .collect()]  # fmt: skip
        assert model.bytes_written == sum(int(m["numOutputBytes"]) for m in added) > 0, added
        assert model.files_written == sum(int(m["numFiles"]) for m in added) > 0, added
    tests = [r for r in rows if r.resource_type == "test"]
    assert tests and all(r.status == "pass" and r.failures == 0 for r in tests)
    assert all(r.bytes_written is None for r in tests)
    failed = spark.table("ops.node_results").where(
        "status = 'fail' and name like 'reject_rate_at_most%'").collect()  # fmt: skip
    assert failed and failed[-1].failures > 0 and failed[-1].message
    # the failing rows themselves, one JSON object each, kept with their invocation
    stored = spark.table("audit.test_failures").where(
        f"invocation_id = '{failed[-1].invocation_id}'").collect()  # fmt: skip
    assert len(stored) == failed[-1].failures and {r.name for r in stored} == {failed[-1].name}
    loads = spark.table("bronze.brz_file_loads").where(
        "load_status = 'loaded' and rows_rejected > 0")  # fmt: skip
    assert {json.loads(r.failing_row)["source_file"] for r in stored} == {
        r.source_file for r in loads.collect()}  # fmt: skip
    charts = report.write(spark, tmp_path / "report")
    assert [c.name for c in charts] == [f"{name}.png" for name, *_ in report.CHARTS]
    assert all(c.stat().st_size > 10_000 for c in charts[:4])  # bars drawn
    page = (tmp_path / "report" / "index.html").read_text()
    assert "Slowest nodes" in page and "test results in" in page
    assert "Files and size" in page and "Delta tables" in page
    assert "no scored window has passed yet" in page  # 2019-11-30's window is in December


def test_a_rerun_of_a_date_that_would_change_nothing_builds_nothing(
    project_build, orchestration, settings, spark
):
    """The scheduled build recorded what it read; a run of one asset of 2019-11-30 (the landing
    listing) records its own; the same run again (no new file, the same code, vars, champions
    and tables) builds nothing and says why, leaving every table's version as it was; with
    --rebuild it builds."""
    from lakehouse.orchestration import reruns

    whole = reruns.last_build(settings, "2019-11-30", reruns.WHOLE_DAG)
    assert whole is not None and len(whole["tables"]) > 20
    assert any(name.startswith("landing/") for name in whole["files"])
    instance = project_build["dagster"]["instance"]

    def run(**kwargs):
        (result,) = orchestration.run_dates(["2019-11-30"], instance,
                                            models=["brz_landing_files"], **kwargs)  # fmt: skip
        assert result.success
        built = [e for e in result.all_events
                 if e.event_type == DagsterEventType.ASSET_MATERIALIZATION]  # fmt: skip
        said = [e.user_message for e in instance.all_logs(result.run_id)
                if e.user_message.startswith("run date 2019-11-30: ")]  # fmt: skip
        return built, said

    built, _ = run()
    assert built
    versions = reruns.table_versions(settings)
    # the versions read from the tables' logs are those the server reports
    for name in ("bronze.brz_landing_files", "silver.slv_user_daily_activity"):
        history = spark.sql(f"describe history {name} limit 1").first().version
        assert versions[name] == history, (name, versions[name], history)
    built, said = run()
    assert built == [] and reruns.table_versions(settings) == versions
    assert len(said) == 1 and said[0].startswith("run date 2019-11-30: nothing changed since"), said
    assert said[0].endswith("To build anyway: lakehouse backfill 2019-11-30 --rebuild")
    built, said = run(rebuild=True)
    assert built and reruns.table_versions(settings) != versions
