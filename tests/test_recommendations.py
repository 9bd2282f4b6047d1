"""Recommendations end to end: the time-split evaluation against the popularity baseline, the
MLflow run and registry version, and the shape of the gold table (five new products per
user, popular products for users without enough history). Uses the session's full build."""

from __future__ import annotations

import pytest

from lakehouse import tracking

MODEL = "ecom_product_recommender"


@pytest.fixture(scope="module")
def client(project_build, settings):
    from mlflow import MlflowClient

    tracking.configure(settings, "ecom_lakehouse")
    return MlflowClient()


def test_evaluation_compares_als_with_popularity_on_the_same_users(project_build, spark):
    rows = {r.method: r for r in spark.table("gold.ml_recommender_evaluation").collect()}
    assert set(rows) == {"als", "popular"}
    assert rows["als"].users_evaluated == rows["popular"].users_evaluated > 0
    for row in rows.values():
        assert 0 <= row.precision_at_5 <= 1 and 0 <= row.recall_at_5 <= 1
        assert 0 < row.coverage <= 1
    # popularity recommends (nearly) the same products to everyone; ALS personalises
    assert rows["als"].coverage > rows["popular"].coverage
    assert rows["als"].training_seconds > 0


def test_one_mlflow_run_holds_parameters_metrics_and_the_registered_model(
    project_build, spark, client
):
    run_id = spark.table("gold.ml_recommender_evaluation").first().mlflow_run_id
    run = client.get_run(run_id)
    assert {"rank", "maxIter", "regParam", "alpha", "min_products"} <= set(run.data.params)
    for method in ("als", "popular"):
        assert {f"{method}_precision_at_5", f"{method}_recall_at_5", f"{method}_coverage"} <= set(
            run.data.metrics
        )
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert tracking.MODEL_ARTIFACT in artifacts
    versions = spark.sql(
        "select distinct model_version from gold.ml_product_recommendations"
    ).collect()
    assert len(versions) == 1
    registered = client.get_model_version(MODEL, str(versions[0].model_version))
    assert registered.run_id == run_id and registered.tags["algorithm"] == "als"


def test_every_user_gets_five_new_products(project_build, spark):
    recs = spark.table("gold.ml_product_recommendations")
    users = spark.table("silver.slv_user_product_interactions").select("user_id").distinct()
    assert recs.select("user_id").distinct().count() == users.count()
    per_user = recs.groupBy("user_id").count().select("count").distinct().collect()
    assert [r["count"] for r in per_user] == [5]
    seen = spark.table("silver.slv_user_product_interactions")
    assert recs.join(seen, ["user_id", "product_id"]).count() == 0


def test_users_without_enough_history_get_popular_products(project_build, spark):
    history = spark.table("silver.slv_user_product_interactions").groupBy("user_id").count()
    recs = spark.table("gold.ml_product_recommendations").join(history, "user_id")
    cold = recs.where("count < 2").select("source").distinct().collect()
    assert [r.source for r in cold] == ["popular"]
    warm = {r.source for r in recs.where("count >= 2").select("source").distinct().collect()}
    assert "als" in warm
