"""Purchase propensity end to end: the training model's candidates, MLflow runs and registry,
the champion gate both ways, forward scores from the registry, and scoring alone after a
server restart. Uses the session's full `dbt build` (conftest.project_build) and the real
MLflow SQLite store in the test state folder. Retrains (forced): runs after the read-only
modules.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from conftest import TEST_VARS
from lakehouse.ml import drift, propensity, retraining, tracking
from lakehouse.ml.connect import release
from lakehouse.ml.connect import table_version as table_version_of
from lakehouse.platform import server

STAGE = 1
MODEL = "ecom_purchase_propensity"
EXPERIMENT = "ecom_lakehouse"
NOT_FEATURES = {
    "user_id",
    "split",
    "split_bucket",
    "label",
    "class_weight",
    "run_date",
    "features_start_date",
    "features_end_date",
    "features_definition",
    "label_start_date",
    "label_end_date",
    "favourite_category_id",
    "first_event_at",
    "last_event_at",
}


@pytest.fixture(scope="module")
def mlflow_client(project_build, settings):
    from mlflow import MlflowClient

    tracking.configure(settings, EXPERIMENT)
    return MlflowClient()


def _candidates(spark) -> list[dict]:
    return [r.asDict() for r in spark.table("gold.ml_propensity_candidates").collect()]


def _retrain(dbt, **run_vars):
    """A forced retraining of the session's run date (2019-11-30): decision, search, gate."""
    return dbt(["run", "-s", "ml_retraining_decisions", "ml_propensity_candidates", "--vars",
                json.dumps({"force_retrain": True, **run_vars})])  # fmt: skip


def _winner(spark):
    rows = [r for r in _candidates(spark) if r["registered_version"] is not None]
    return max(rows, key=lambda r: r["registered_version"])


def _searched(finals_by_date: dict, tuned_by_date: dict | None = None) -> list:
    """Earlier rows of ml_propensity_candidates: per run date, its finals as {algorithm:
    (validation AUC-PR, registered?)}, tuned on every algorithm unless `tuned_by_date` says."""
    from types import SimpleNamespace as Row

    rows = []
    for day, finals in finals_by_date.items():
        for algorithm in (tuned_by_date or {}).get(day, propensity.ALGORITHMS):
            rows.append(Row(run_date=day, algorithm=algorithm, stage="tuning", params="{}",
                            validation_auc_pr=0.4, registered_version=None))  # fmt: skip
        for version, (algorithm, (auc_pr, registered)) in enumerate(finals.items(), 1):
            rows.append(Row(run_date=day, algorithm=algorithm, stage="final",
                            params=json.dumps({"maxDepth": 8, "numTrees": 40}),
                            validation_auc_pr=auc_pr,
                            registered_version=version if registered else None))  # fmt: skip
    return rows


def test_a_retraining_searches_the_whole_grid_only_when_the_search_is_due():
    """Once the latest whole-grid search is propensity_search_every_days old (or there is none,
    or the var is 0) the whole grid is tuned; in between, that search's winner alone, with its
    parameters."""
    first, today = date(2019, 11, 30), date(2019, 12, 8)
    grids = {a: propensity.grid(TEST_VARS[f"{a}_grid"]) for a in propensity.ALGORITHMS}
    searched = _searched({first: {"logistic_regression": (0.41, False),
                                  "random_forest": (0.42, True)}})  # fmt: skip
    plan = propensity.plan_search
    assert plan([], today, 28, grids).grids == grids and plan([], today, 28, grids).full
    assert "no earlier retraining searched it" in plan([], today, 28, grids).reason
    kept = plan(searched, today, 28, grids)
    assert kept.grids == {"random_forest": [{"maxDepth": 8, "numTrees": 40}]} and not kept.full
    assert kept.reason == (
        'random_forest {"maxDepth": 8, "numTrees": 40} only: the grid was searched on '
        "2019-11-30, 8 days before (propensity_search_every_days 28), where it (0.4200 "
        "validation AUC-PR) beat logistic_regression 0.4100"
    )
    assert plan(searched, today, 8, grids).grids == grids
    assert "is 8 days old" in plan(searched, today, 8, grids).reason
    assert plan(searched, today, 0, grids).grids == grids
    # a refit of one algorithm is no search; the run date's own rows (a forced rerun of it) are
    # not earlier; a search that registered nothing (interrupted) is searched again
    refit = searched + _searched({date(2019, 12, 7): {"random_forest": (0.43, True)}},
                                 {date(2019, 12, 7): ("random_forest",)})  # fmt: skip
    assert plan(refit, date(2019, 12, 28), 28, grids).full
    assert not plan(refit, date(2019, 12, 27), 28, grids).full
    assert plan(searched, first, 28, grids).full
    unregistered = _searched({first: {"logistic_regression": (0.41, False),
                                      "random_forest": (0.42, False)}})  # fmt: skip
    assert "registered no model" in plan(unregistered, today, 28, grids).reason


def test_features_of_the_models_are_the_contract_columns_of_both_snapshots(project_build):
    for name in ("ml_user_training_set", "ml_user_scoring_set"):
        node = project_build["manifest"]["nodes"][f"model.ecom_lakehouse.{name}"]
        assert [c for c in node["columns"] if c not in NOT_FEATURES] == propensity.FEATURES


def test_candidates_cover_the_grids_finalists_and_baseline(project_build, spark):
    rows = _candidates(spark)
    by_stage = {s: [r for r in rows if r["stage"] == s] for s in ("tuning", "final", "baseline")}
    tuning = {a: [r for r in by_stage["tuning"] if r["algorithm"] == a] for a in
              propensity.ALGORITHMS}  # fmt: skip
    sizes = {a: len(propensity.grid(TEST_VARS[f"{a}_grid"])) for a in propensity.ALGORITHMS}
    assert {a: len(rows) for a, rows in tuning.items()} == sizes
    assert {r["algorithm"] for r in by_stage["final"]} == set(propensity.ALGORITHMS)
    baseline = by_stage["baseline"][0]
    assert baseline["test_auc_roc"] == pytest.approx(0.5)
    for final in by_stage["final"]:
        # the finalist is the best tuning candidate of its algorithm
        best = max(tuning[final["algorithm"]], key=lambda r: r["validation_auc_pr"])
        assert json.loads(final["params"]) == json.loads(best["params"])
        assert final["test_auc_roc"] > 0.5
        assert final["test_auc_pr"] > baseline["test_auc_pr"], final["algorithm"]
    assert {r["run_date"] for r in rows} == {date(2019, 11, 30)}
    winners = [r for r in rows if r["registered_version"] is not None]
    assert len(winners) == 1 and winners[0]["stage"] == "final"
    assert winners[0]["gate_decision"].startswith("promoted")


def test_every_candidate_run_logs_params_metrics_curves_and_data_version(
    project_build, spark, mlflow_client
):
    table_version = table_version_of(spark, "gold.ml_user_training_set")
    train = spark.table("gold.ml_user_training_set").where("split = 'train'")
    n_train = train.count()
    n_validation = train.where(f"split_bucket % {propensity.VALIDATION_FOLD} = 0").count()
    for row in _candidates(spark):
        run = mlflow_client.get_run(row["mlflow_run_id"])
        assert run.data.tags["training_table_version"] == str(table_version)
        if row["stage"] == "baseline":
            assert "test_auc_pr" in run.data.metrics
            continue
        assert set(json.loads(row["params"])) <= set(run.data.params)
        assert {"training_seconds"} <= set(run.data.metrics)
        artifacts = {a.path for a in mlflow_client.list_artifacts(row["mlflow_run_id"])}
        if row["stage"] == "final":  # curves, importances and the model: finalists only
            assert {"roc_curve.png", "pr_curve.png"} <= artifacts, artifacts
            assert {"feature_importances.json", "coefficients.json"} & artifacts, artifacts
            assert tracking.MODEL_ARTIFACT in artifacts
            # below propensity_tuning_max_users: tuned and fitted on every user outside the fold
            assert run.data.metrics["n_fit_users"] == n_train - n_validation
            if row["algorithm"] == "logistic_regression":  # comparable across features
                assert "standardised_coefficients.json" in artifacts
            assert {"test_auc_roc", "test_auc_pr"} <= set(run.data.metrics)
        if row["stage"] == "tuning":  # fitted without the validation fold, scored on it only
            assert run.data.metrics["n_fit_users"] + run.data.metrics["n_scored_users"] == (n_train)
            assert run.data.metrics["n_scored_users"] == n_validation
            assert not {"roc_curve.png", "model"} & artifacts, artifacts
        if row["registered_version"] is not None:  # what drift is measured against
            assert tracking.FEATURE_REFERENCE in artifacts
            # with the day its features end: prediction_days before the run date, how long a
            # drift waits after a retraining that answered one (lakehouse.ml.retraining)
            reference = tracking.feature_reference(MODEL, row["registered_version"])
            ends = train.select(F.max("features_end_date")).first()[0]
            assert reference["features_end_date"] == ends.isoformat()
            lag = retraining.data_lag_days(reference, date(2019, 11, 30))
            assert lag == (date(2019, 11, 30) - ends).days > 0


def test_scores_predict_forward_from_the_scoring_snapshot_with_the_champion(
    project_build, spark, mlflow_client
):
    champion = mlflow_client.get_model_version_by_alias(MODEL, "champion")
    scores = spark.table("gold.ml_user_purchase_scores").where("run_date = date'2019-11-30'")
    n_users = spark.table("gold.ml_user_scoring_set").count()
    stats = scores.selectExpr(
        "count(*) as n", "count(distinct user_id) as users", "min(purchase_probability) as lo",
        "max(purchase_probability) as hi", "min(purchase_rank) as first",
        "max(purchase_rank) as last", "count(distinct model_version) as versions",
        "max(model_version) as version", "min(features_start_date) as features_start",
        "max(features_end_date) as features_end", "min(prediction_start_date) as start",
        "max(prediction_end_date) as end",
    ).first()  # fmt: skip
    assert stats.n == stats.users == n_users
    assert 0 <= stats.lo < stats.hi <= 1
    assert (stats.first, stats.last) == (1, n_users)
    assert stats.versions == 1 and stats.version == int(champion.version)
    # features up to the run date, a prediction for the 30 days after it
    assert (stats.features_start, stats.features_end) == (date(2019, 10, 31), date(2019, 11, 30))
    assert (stats.start, stats.end) == (date(2019, 12, 1), date(2019, 12, 30))
    top = spark.table("gold.ml_top_buyers").orderBy("purchase_rank").collect()
    assert [r.purchase_rank for r in top] == list(range(1, len(top) + 1))
    assert top[0].purchase_probability == stats.hi
    assert {r.run_date for r in top} == {date(2019, 11, 30)}


def test_probabilities_are_calibrated_and_the_threshold_comes_from_validation(
    project_build, spark, mlflow_client
):
    """The odds correction brings the finalists' test calibration error under 0.05 and below
    the uncorrected one; the winner's version carries its correction and the F1 threshold
    chosen on the validation fold, and scoring flags exactly the users at or above it."""
    finals = [r for r in _candidates(spark) if r["stage"] == "final"]
    for row in finals:
        found = mlflow_client.get_run(row["mlflow_run_id"]).data.metrics
        assert found["test_auc_roc"] >= 0.65, row["algorithm"]
        assert found["test_ece"] <= 0.05, (row["algorithm"], found)
        assert found["test_ece"] < found["test_ece_uncorrected"], (row["algorithm"], found)
        assert found["test_brier"] < found["test_brier_uncorrected"], (row["algorithm"], found)
        assert 0 < found["odds_correction"] < 1  # fewer buyers than non-buyers
        artifacts = {a.path for a in mlflow_client.list_artifacts(row["mlflow_run_id"])}
        assert {"reliability.png", "reliability.json", "decile_table.json"} <= artifacts
        for name in ("auc_roc", "auc_pr"):  # the interval holds the figure
            low, high = found[f"test_{name}_ci_low"], found[f"test_{name}_ci_high"]
            assert low < found[f"test_{name}"] < high, (name, found)
    champion = mlflow_client.get_model_version_by_alias(MODEL, "champion")
    run = mlflow_client.get_run(champion.run_id).data
    assert champion.tags["threshold_rule"] == run.tags["threshold_rule"] == "f1"
    threshold = float(champion.tags["threshold"])
    assert threshold == run.metrics["validation_threshold"]
    assert float(champion.tags["odds_correction"]) == run.metrics["odds_correction"]
    scores = spark.table("gold.ml_user_purchase_scores").where("run_date = date'2019-11-30'")
    wrong = scores.where(f"predicted_label != cast(purchase_probability >= {threshold!r} as int)")
    assert wrong.count() == 0
    # calibrated: the mean probability is near the buying rate, not near 0.5
    mean = scores.selectExpr("avg(purchase_probability)").first()[0]
    rate = spark.table("gold.ml_user_training_set").where("split = 'train'").selectExpr(
        "avg(label)").first()[0]  # fmt: skip
    assert abs(mean - rate) < 0.1, (mean, rate)


FRESH_PROCESS = """
import json, sys
import mlflow
model = mlflow.pyfunc.load_model(sys.argv[1])
example = model.input_example
out = model.predict(example)
print(json.dumps({"columns": list(example.columns), "rows": example.values.tolist(),
                  "probability": out["purchase_probability"].tolist(),
                  "label": out["predicted_label"].tolist()}))
"""


def test_the_champion_is_an_mlflow_model_that_predicts_in_a_fresh_process(
    project_build, spark, settings, mlflow_client
):
    """`mlflow.pyfunc.load_model("models:/...@champion")` in a new Python process, with its own
    local Spark and no server, predicts on the logged input example what the server computes
    for those rows with the registered correction and threshold."""
    import os
    import subprocess
    import sys

    import mlflow

    from lakehouse.ml import pyfunc  # imports mlflow.pyfunc (seconds): not at collection

    uri = f"models:/{MODEL}@champion"
    info = mlflow.models.get_model_info(uri)
    assert info.signature.inputs.input_names() == propensity.FEATURES
    champion = mlflow_client.get_model_version_by_alias(MODEL, "champion")
    assert info.metadata["features"] == propensity.FEATURES
    assert info.metadata["training_table_version"] == champion.tags["training_table_version"]
    assert float(info.metadata["threshold"]) == float(champion.tags["threshold"])
    # the environment it declares is the one that logged it, not MLflow's fallback guess
    requirements = mlflow.pyfunc.get_model_dependencies(uri)
    pinned = Path(requirements).read_text().split()
    assert any(r.startswith("pyspark==") for r in pyfunc.requirements())
    assert set(pyfunc.requirements()) <= set(pinned), pinned
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPARK_")}
    env["MLFLOW_TRACKING_URI"] = settings.mlflow_tracking_uri
    proc = subprocess.run([sys.executable, "-c", FRESH_PROCESS, uri], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["columns"] == propensity.FEATURES and len(out["rows"]) == 5
    # the same rows scored on the server by the pipeline's own code
    model, _ = propensity.load(MODEL, uri)
    try:
        rows = spark.createDataFrame(
            [tuple(float(v) for v in r) for r in out["rows"]],
            ", ".join(f"{f} double" for f in propensity.FEATURES),
        ).withColumn("row", F.monotonically_increasing_id())
        served = (
            propensity.positive_probability(
                model, propensity.assemble(rows), float(champion.tags["odds_correction"])
            )
            .orderBy("row")
            .select("purchase_probability")
            .collect()
        )
    finally:
        release(model)
    assert out["probability"] == pytest.approx([r[0] for r in served], abs=1e-9)
    threshold = float(champion.tags["threshold"])
    assert out["label"] == [int(p >= threshold) for p in out["probability"]]


def test_the_decile_tables_are_a_gold_table(project_build, spark, mlflow_client):
    """gold.ml_propensity_deciles holds each finalist's logged decile table: ten deciles that
    add up to the test split, the most likely first."""
    import mlflow

    rows = spark.table("gold.ml_propensity_deciles").where("run_date = date'2019-11-30'")
    tabled = {r.mlflow_run_id for r in rows.select("mlflow_run_id").distinct().collect()}
    finals = [
        r
        for r in _candidates(spark)
        if r["stage"] == "final"
        and r["run_date"] == date(2019, 11, 30)
        and r["mlflow_run_id"] in tabled
    ]
    assert {r["algorithm"] for r in finals} == set(propensity.ALGORITHMS)
    test = spark.table("gold.ml_user_training_set").where(
        "split = 'test' and run_date = date'2019-11-30'"
    )
    users, buyers = test.count(), test.where("label = 1").count()
    for final in finals:
        deciles = sorted(rows.where(f"mlflow_run_id = '{final['mlflow_run_id']}'").collect(),
                         key=lambda r: r.decile)  # fmt: skip
        assert [r.decile for r in deciles] == list(range(1, 11))
        assert sum(r.users for r in deciles) == users
        assert sum(r.buyers for r in deciles) == buyers
        assert deciles[0].lift > 1 > deciles[-1].lift
        assert deciles[-1].cumulative_capture == pytest.approx(1.0)
        logged = mlflow.artifacts.load_dict(f"runs:/{final['mlflow_run_id']}/decile_table.json")
        assert [d["buyers"] for d in logged["deciles"]] == [r.buyers for r in deciles]


@pytest.mark.slow  # a retraining or restart story: `make test-all` and CI run it
def test_an_equal_model_fails_the_gate_and_keeps_the_champion(project_build, spark,
                                                              mlflow_client, dbt):  # fmt: skip
    before = mlflow_client.get_model_version_by_alias(MODEL, "champion").version
    proc = _retrain(dbt)
    winner = _winner(spark)
    assert winner["registered_version"] > int(before)  # registered, as every search's winner
    assert not winner["is_champion"]
    assert winner["gate_decision"].startswith("kept champion")
    assert f"champion v{before}" in winner["gate_decision"]
    assert "kept champion" in proc.output  # said in the build log too
    assert "forced by var force_retrain" in proc.output
    assert mlflow_client.get_model_version_by_alias(MODEL, "champion").version == before
    version = mlflow_client.get_model_version(MODEL, str(winner["registered_version"]))
    assert version.tags["gate_decision"] == winner["gate_decision"]
    # the kept champion records the retraining that kept it: the cadence counts from it
    kept = mlflow_client.get_model_version(MODEL, before)
    assert kept.tags[tracking.KEPT_FOR] == "2019-11-30"


@pytest.mark.slow  # a retraining or restart story: `make test-all` and CI run it
def test_a_better_model_replaces_a_worse_champion(project_build, spark, mlflow_client, dbt):
    """Registers a deliberately bad champion (trained on inverted labels), then retrains:
    the new winner beats it on the validation fold past the margin and takes the alias."""
    import mlflow
    from pyspark.sql import functions as F

    training = spark.table("gold.ml_user_training_set")
    data = propensity.assemble(training.where("split = 'train'"))
    inverted = data.withColumn("label", (1 - F.col("label")).cast("double"))
    model = propensity.estimator("logistic_regression", {}, seed=1).fit(inverted)
    with mlflow.start_run(run_name="inverted labels (test)") as run:
        tracking.log_spark_model(model)
        tracking.log_feature_reference(drift.reference(training, propensity.FEATURES))
    release(model)
    tags = {"algorithm": "logistic_regression", "run_date": "2019-11-30"}
    bad = tracking.register(MODEL, run.info.run_id, tags)
    tracking.promote(MODEL, bad.version)

    # tuned on a sample of a third of the users outside the validation fold: only the winner
    # is refitted on all of them
    fit_users = training.where(
        f"run_date = date'2019-11-30' and split = 'train' and "
        f"split_bucket % {propensity.VALIDATION_FOLD} != 0"
    ).count()
    earlier = {r["mlflow_run_id"] for r in _candidates(spark)}
    proc = _retrain(dbt, propensity_tuning_max_users=fit_users // 3)
    winner = _winner(spark)
    assert winner["is_champion"], winner["gate_decision"]
    assert winner["gate_decision"].startswith("promoted")
    assert f"champion v{bad.version}" in winner["gate_decision"]
    champion = mlflow_client.get_model_version_by_alias(MODEL, "champion")
    assert int(champion.version) == winner["registered_version"]

    def fitted_on(row) -> int:
        return int(mlflow_client.get_run(row["mlflow_run_id"]).data.metrics["n_fit_users"])

    this_search = [r for r in _candidates(spark) if r["mlflow_run_id"] not in earlier]
    sample = {fitted_on(r) for r in this_search if r["stage"] == "tuning"}
    assert len(sample) == 1 and 0.2 * fit_users < sample.pop() < 0.5 * fit_users
    assert f"refitted {winner['algorithm']} on all {fit_users:,} training users" in proc.output
    assert fitted_on(winner) == fit_users  # the refit; the other finalist is the sample's model
    finals = [r for r in this_search if r["stage"] == "final"]
    (other,) = [r for r in finals if r["mlflow_run_id"] != winner["mlflow_run_id"]]
    assert fitted_on(other) < fit_users


@pytest.mark.slow  # a retraining or restart story: `make test-all` and CI run it
def test_scoring_alone_after_a_restart_uses_the_run_dates_champion(
    project_build, spark, lakehouse, mlflow_client, dbt
):
    """A clean stop ends the JVM and frees every port; after `up`, scoring alone loads the
    champion of the run date from the registry."""
    from pyspark.sql import SparkSession

    champion = mlflow_client.get_model_version_by_alias(MODEL, "champion").version
    pid = server.read_pid(lakehouse)
    spark.stop()
    assert server.down(lakehouse) is True
    assert not server.pid_alive(pid)
    for port in lakehouse.ports.values():
        assert server.port_free(lakehouse.host, port), port
    assert server.up(lakehouse) != pid
    proc = dbt(["run", "-s", "ml_user_purchase_scores"])
    assert "1 of 1 OK created python incremental model gold.ml_user_purchase_scores" in (
        proc.output
    )
    fresh = SparkSession.builder.remote(lakehouse.connect_url).create()
    try:
        versions = fresh.sql(
            "select distinct model_version from gold.ml_user_purchase_scores "
            "where run_date = date'2019-11-30'"
        ).collect()
        assert [r.model_version for r in versions] == [int(champion)]
    finally:
        fresh.stop()


def test_models_live_only_in_the_mlflow_artifact_store(project_build, settings, mlflow_client):
    """The server writes the champion straight into its run's artifacts: the registered source
    (the MLflow model wrapping it) is under the artifact root and holds the saved Spark model
    where the version's tag says, and no other model folder exists in the state folder."""
    from urllib.parse import urlparse

    champion = mlflow_client.get_model_version_by_alias(MODEL, "champion")
    source = mlflow_client.get_model_version_download_uri(MODEL, champion.version)
    assert source.startswith(settings.artifact_root + "/"), source
    assert (Path(urlparse(source).path) / "MLmodel").exists()
    saved = Path(urlparse(tracking.model_location(MODEL, champion.version)).path)
    assert saved.is_relative_to(urlparse(source).path)
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
