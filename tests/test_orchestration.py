"""The daily schedule on Dagster: the dbt DAG as assets with its lineage, and one scheduled run
executed in-process (conftest.project_build is that run: the session's build)."""

from __future__ import annotations

import pytest
from dagster import AssetKey, DagsterEventType, DagsterRunStatus

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
    # data tests are asset checks: every generic test, on the model it is declared on
    tests = [n for n in manifest["nodes"].values() if n["resource_type"] == "test"
             and n.get("attached_node")]  # fmt: skip
    assert len(list(assets.check_keys)) == len(tests) >= 60


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
