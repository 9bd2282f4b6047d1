"""Purchase propensity end to end: the training model's candidates, MLflow runs and registry,
the champion gate both ways, batch scores from the registry, and scoring alone after a
server restart. Uses the session's full `dbt build` (conftest.project_build) and the real
MLflow SQLite store in the test state folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import PROJECT_DIR, run_dbt
from lakehouse import propensity, server, tracking

MODEL = "ecom_purchase_propensity"
EXPERIMENT = "ecom_lakehouse"


@pytest.fixture(scope="module")
def mlflow_client(project_build, settings):
    from mlflow import MlflowClient

    tracking.configure(settings, EXPERIMENT)
    return MlflowClient()


def _candidates(spark) -> list[dict]:
    return [r.asDict() for r in spark.table("gold.ml_propensity_candidates").collect()]


def _retrain(tmp_path):
    return run_dbt(["run", "-s", "ml_propensity_candidates"], PROJECT_DIR, tmp_path)


def test_features_of_the_models_are_the_contract_columns(project_build):
    node = project_build["manifest"]["nodes"]["model.ecom_lakehouse.ml_user_training_set"]
    not_features = {"user_id", "split", "split_bucket", "label", "class_weight"}
    assert [c for c in node["columns"] if c not in not_features] == propensity.FEATURES


def test_candidates_cover_the_grids_finalists_and_baseline(project_build, spark):
    rows = _candidates(spark)
    by_stage = {s: [r for r in rows if r["stage"] == s] for s in ("tuning", "final", "baseline")}
    tuning = {a: [r for r in by_stage["tuning"] if r["algorithm"] == a] for a in
              propensity.ALGORITHMS}  # fmt: skip
    assert len(tuning["logistic_regression"]) == 3 and len(tuning["random_forest"]) == 4
    assert {r["algorithm"] for r in by_stage["final"]} == set(propensity.ALGORITHMS)
    baseline = by_stage["baseline"][0]
    assert baseline["test_auc_roc"] == pytest.approx(0.5)
    for final in by_stage["final"]:
        # the refit uses the best tuning parameters of its algorithm
        best = max(tuning[final["algorithm"]], key=lambda r: r["validation_auc_pr"])
        assert json.loads(final["params"]) == json.loads(best["params"])
        assert 0.5 < final["test_auc_roc"] <= 1
        assert final["test_auc_pr"] > baseline["test_auc_pr"], final["algorithm"]
    assert all(r["test_auc_pr"] is None for r in by_stage["tuning"])  # tuning never sees test
    winners = [r for r in rows if r["registered_version"] is not None]
    assert len(winners) == 1 and winners[0]["stage"] == "final"
    assert winners[0]["gate_decision"].startswith("promoted")


def test_every_candidate_run_logs_params_metrics_curves_and_data_version(
    project_build, spark, mlflow_client
):
    table_version = propensity.table_version(spark, "gold.ml_user_training_set")
    for row in _candidates(spark):
        run = mlflow_client.get_run(row["mlflow_run_id"])
        assert run.data.tags["training_table_version"] == str(table_version)
        if row["stage"] == "baseline":
            assert "test_auc_pr" in run.data.metrics
            continue
        assert set(json.loads(row["params"])) <= set(run.data.params)
        assert {"training_seconds"} <= set(run.data.metrics)
        artifacts = {a.path for a in mlflow_client.list_artifacts(row["mlflow_run_id"])}
        assert {"roc_curve.png", "pr_curve.png"} <= artifacts, artifacts
        assert {"feature_importances.json", "coefficients.json"} & artifacts, artifacts
        if row["stage"] == "final":
            assert tracking.MODEL_ARTIFACT in artifacts
            assert {"test_auc_roc", "test_auc_pr"} <= set(run.data.metrics)


def test_scores_come_from_the_registry_champion(project_build, spark, mlflow_client):
    champion = mlflow_client.get_model_version_by_alias(MODEL, "champion")
    scores = spark.table("gold.ml_user_purchase_scores")
    n_users = spark.table("gold.ml_user_training_set").count()
    stats = scores.selectExpr(
        "count(*) as n", "count(distinct user_id) as users", "min(purchase_probability) as lo",
        "max(purchase_probability) as hi", "min(purchase_rank) as first",
        "max(purchase_rank) as last", "count(distinct model_version) as versions",
        "max(model_version) as version",
    ).first()  # fmt: skip
    assert stats.n == stats.users == n_users
    assert 0 <= stats.lo < stats.hi <= 1
    assert (stats.first, stats.last) == (1, n_users)
    assert stats.versions == 1 and stats.version == int(champion.version)
    top = spark.table("gold.ml_top_buyers").orderBy("purchase_rank").collect()
    assert [r.purchase_rank for r in top] == list(range(1, len(top) + 1))
    assert top[0].purchase_probability == stats.hi


def test_an_equal_model_fails_the_gate_and_keeps_the_champion(project_build, spark,
                                                              mlflow_client, tmp_path):  # fmt: skip
    before = mlflow_client.get_model_version_by_alias(MODEL, "champion").version
    proc = _retrain(tmp_path)
    winner = next(r for r in _candidates(spark) if r["registered_version"] is not None)
    assert winner["registered_version"] > int(before)  # registered, as every build's winner
    assert not winner["is_champion"]
    assert winner["gate_decision"].startswith("kept champion")
    assert f"champion v{before}" in winner["gate_decision"]
    assert "kept champion" in proc.output  # said in the build log too
    assert mlflow_client.get_model_version_by_alias(MODEL, "champion").version == before
    version = mlflow_client.get_model_version(MODEL, str(winner["registered_version"]))
    assert version.tags["gate_decision"] == winner["gate_decision"]


def test_a_better_model_replaces_a_worse_champion(project_build, spark, mlflow_client,
                                                  settings, tmp_path):  # fmt: skip
    """Registers a deliberately bad champion (trained on inverted labels), then rebuilds:
    the new winner beats it on the test split and takes the alias."""
    import mlflow
    from pyspark.sql import functions as F

    data = propensity.assemble(spark.table("gold.ml_user_training_set").where("split = 'train'"))
    inverted = data.withColumn("label", (1 - F.col("label")).cast("double"))
    model = propensity.estimator("logistic_regression", {}, seed=1).fit(inverted)
    with mlflow.start_run(run_name="inverted labels (test)") as run:
        tracking.log_spark_model(model)
    propensity.release(model)
    bad = tracking.register(MODEL, run.info.run_id, {"algorithm": "logistic_regression"})
    tracking.promote(MODEL, bad.version)

    _retrain(tmp_path)
    winner = next(r for r in _candidates(spark) if r["registered_version"] is not None)
    assert winner["is_champion"], winner["gate_decision"]
    assert winner["gate_decision"].startswith("promoted")
    assert f"champion v{bad.version}" in winner["gate_decision"]
    champion = mlflow_client.get_model_version_by_alias(MODEL, "champion")
    assert int(champion.version) == winner["registered_version"]


def test_scoring_alone_after_a_restart_uses_the_registered_champion(
    project_build, spark, lakehouse, mlflow_client, tmp_path
):
    from pyspark.sql import SparkSession

    champion = mlflow_client.get_model_version_by_alias(MODEL, "champion").version
    spark.stop()
    server.down(lakehouse)
    server.up(lakehouse)
    proc = run_dbt(["run", "-s", "ml_user_purchase_scores"], PROJECT_DIR, tmp_path)
    assert "1 of 1 OK created python table model gold.ml_user_purchase_scores" in proc.output
    fresh = SparkSession.builder.remote(lakehouse.connect_url).create()
    try:
        versions = fresh.sql(
            "select distinct model_version from gold.ml_user_purchase_scores"
        ).collect()
        assert [r.model_version for r in versions] == [int(champion)]
    finally:
        fresh.stop()


def test_models_live_only_in_the_mlflow_artifact_store(project_build, settings, mlflow_client):
    """The server writes the champion straight into its run's artifacts (no copy through the
    dbt machine's disk): the registered source is under the artifact root and holds the saved
    Spark model, and no other model folder exists in the state folder."""
    from urllib.parse import urlparse

    champion = mlflow_client.get_model_version_by_alias(MODEL, "champion")
    source = mlflow_client.get_model_version_download_uri(MODEL, champion.version)
    assert source.startswith(settings.artifact_root + "/"), source
    saved = Path(urlparse(source).path)
    metadata = json.loads(next((saved / "metadata").glob("part-*")).read_text().splitlines()[0])
    assert metadata["class"].endswith(
        ("LogisticRegressionModel", "RandomForestClassificationModel")
    )
    assert not (settings.state_dir / "models").exists()


def test_an_artifact_location_spark_cannot_write_is_refused_with_advice():
    """A tracking server's proxied artifacts (`mlflow-artifacts:`) are reachable only through
    MLflow's client; the server cannot save a model there, so it is refused with what to set."""
    with pytest.raises(ValueError, match="LAKEHOUSE_ARTIFACT_ROOT"):
        tracking.spark_location("mlflow-artifacts:/1/abc/artifacts/spark_model")
    for usable in ("file:///tmp/mlflow/1/abc/artifacts/spark_model", "s3://bucket/mlflow/x"):
        assert tracking.spark_location(usable) == usable
