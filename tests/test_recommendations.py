"""Recommendations end to end on the session's build (run date 2019-11-30): the evaluation
against popularity on a time split, one MLflow run holding the evaluation and the registered
model, k new products for every user of the scoring snapshot, and the cold-start fallback."""

from __future__ import annotations

from datetime import date

import pytest

from lakehouse.ml import tracking

MODEL = "ecom_product_recommender"
K = 5  # var recommendations_per_user


@pytest.fixture(scope="module")
def client(project_build, settings):
    from mlflow import MlflowClient

    tracking.configure(settings, "ecom_lakehouse")
    return MlflowClient()


def _evaluation(spark) -> dict:
    rows = spark.table("gold.ml_recommender_evaluation").where("run_date = date'2019-11-30'")
    return {r.method: r for r in rows.collect()}


def test_evaluation_compares_als_with_popularity(project_build, spark, settings):
    rows = _evaluation(spark)
    assert set(rows) == {"als", "popular"}
    assert {r.k for r in rows.values()} == {K}
    # both methods are scored on the users who carted or bought something new after the
    # cutoff, recounted here from the daily aggregate
    truth = spark.sql(
        "select count(distinct d.user_id) from silver.slv_user_product_daily as d "
        "left anti join silver.slv_user_product_interactions_before_cutoff as b "
        "on d.user_id = b.user_id and d.product_id = b.product_id "
        "where d.event_date between date'2019-11-16' and date'2019-11-30' "
        "and (d.n_carts > 0 or d.n_purchases > 0)"
    ).first()[0]
    assert rows["als"].users_evaluated == rows["popular"].users_evaluated == truth > 0
    # popularity recommends (nearly) the same products to everyone; ALS personalises
    assert rows["als"].coverage > rows["popular"].coverage
    assert rows["popular"].training_seconds == 0


def test_one_mlflow_run_holds_parameters_metrics_and_the_registered_model(
    project_build, spark, client
):
    run_id = _evaluation(spark)["als"].mlflow_run_id
    run = client.get_run(run_id)
    assert {"rank", "maxIter", "regParam", "alpha", "min_products", "k"} <= set(run.data.params)
    for method in ("als", "popular"):
        assert {f"{method}_precision_at_k", f"{method}_recall_at_k", f"{method}_coverage"} <= set(
            run.data.metrics
        )
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert {tracking.MODEL_ARTIFACT, tracking.FEATURE_REFERENCE} <= artifacts
    versions = spark.sql(
        "select distinct model_version from gold.ml_product_recommendations "
        "where run_date = date'2019-11-30'"
    ).collect()
    assert len(versions) == 1
    registered = client.get_model_version(MODEL, str(versions[0].model_version))
    assert registered.run_id == run_id and registered.tags["algorithm"] == "als"
    assert registered.tags["run_date"] == "2019-11-30"
    assert client.get_model_version_by_alias(MODEL, "champion").version == registered.version


def test_every_scored_user_gets_k_new_products(project_build, spark):
    recs = spark.table("gold.ml_product_recommendations").where("run_date = date'2019-11-30'")
    users = spark.table("gold.ml_user_scoring_set").select("user_id")
    assert recs.select("user_id").distinct().count() == users.count() > 1000
    per_user = recs.groupBy("user_id").count().select("count").distinct().collect()
    assert [r["count"] for r in per_user] == [K]
    seen = spark.table("silver.slv_user_product_daily").where(
        f"event_date <= '{date(2019, 11, 30)}'"
    )
    assert recs.join(seen, ["user_id", "product_id"]).count() == 0


def test_users_without_enough_history_get_popular_products(project_build, spark):
    history = spark.table("silver.slv_user_product_interactions").groupBy("user_id").count()
    recs = (
        spark.table("gold.ml_product_recommendations")
        .where("run_date = date'2019-11-30'")
        .join(history, "user_id")
    )
    cold = recs.where("count < 2").select("source").distinct().collect()
    assert [r.source for r in cold] == ["popular"]
    warm = {r.source for r in recs.where("count >= 2").select("source").distinct().collect()}
    assert "als" in warm
