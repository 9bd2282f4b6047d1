"""Five new products for every user, one row per user and rank (grain: user_id, rank).

Fits ALS on all interactions, logs it into the evaluation's MLflow run, registers it as a new
version of the recommender model, and recommends: ALS for users with enough history, popular
products (marked `popular`) for the rest and to fill short lists. Never a product the user
already interacted with. The work is in `lakehouse.recommend`.
"""

from lakehouse import recommend, tracking
from lakehouse.config import Settings


def model(dbt, session):
    import mlflow
    from pyspark.sql import functions as F

    dbt.config(materialized="table")
    interactions = dbt.ref("slv_user_product_interactions")
    evaluation = dbt.ref("ml_recommender_evaluation")
    params = dbt.config.meta_get("als_params")
    min_products = dbt.config.meta_get("min_products")
    model_name = dbt.config.meta_get("registered_model_name")
    settings = Settings.from_env()
    tracking.configure(settings, dbt.config.meta_get("experiment"))

    als, seconds = recommend.fit_als(interactions, params, seed=42)
    run_id = evaluation.select("mlflow_run_id").first()[0]
    with mlflow.start_run(run_id=run_id):
        mlflow.log_metric("final_training_seconds", seconds)
        tracking.log_spark_model(als)
    version = tracking.register(model_name, run_id, {"algorithm": "als"}, "Product recommender")
    users = interactions.select("user_id").distinct()
    popular = recommend.popular_products(interactions, limit=100)
    recs = (
        recommend.recommend(als, interactions, users, popular, min_products)
        .withColumn("model_name", F.lit(model_name))
        .withColumn("model_version", F.lit(int(version.version)))
        .withColumn("recommended_at", F.current_timestamp())
        .localCheckpoint(eager=True)
    )
    recommend.release(als)
    return recs
