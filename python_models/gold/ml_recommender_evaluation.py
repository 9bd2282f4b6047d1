"""ALS against a popularity baseline on a time split, one row per method (grain: method).

Fits ALS on the interactions before `recommendation_cutoff`, recommends 5 new products to
every user who carted or bought a new product from the cutoff on, and scores precision@5,
recall@5 and catalogue coverage for ALS (with its popular fallback) and for popular products
alone. Both land in one MLflow run with the ALS parameters; ml_product_recommendations adds
the final model to that run and registers it. The work is in `lakehouse.recommend`.
"""

from lakehouse import recommend, tracking
from lakehouse.config import Settings

SCHEMA = """
    method string, precision_at_5 double, recall_at_5 double, coverage double,
    users_evaluated bigint, training_seconds double, mlflow_run_id string
"""


def model(dbt, session):
    import mlflow

    dbt.config(materialized="table")
    before = dbt.ref("slv_user_product_interactions_before_cutoff")
    truth = dbt.ref("slv_user_product_conversions_after_cutoff")
    params = dbt.config.meta_get("als_params")
    min_products = dbt.config.meta_get("min_products")
    settings = Settings.from_env()
    tracking.configure(settings, dbt.config.meta_get("experiment"))

    users = truth.select("user_id").distinct()
    popular = recommend.popular_products(before, limit=100)
    catalogue = before.select("product_id").distinct().count()
    als, seconds = recommend.fit_als(before, params, seed=42)
    rows = []
    with mlflow.start_run(run_name="als recommender") as run:
        mlflow.set_tags({"pipeline": "product_recommendations", "stage": "evaluation"})
        mlflow.log_params({**params, "min_products": min_products, "k": recommend.K})
        for method, fitted in (("als", als), ("popular", None)):
            recs = recommend.recommend(fitted, before, users, popular, min_products)
            found = recommend.evaluate(recs, truth, catalogue)
            mlflow.log_metrics({f"{method}_{name}": value for name, value in found.items()})
            rows.append((
                method, found["precision_at_5"], found["recall_at_5"], found["coverage"],
                int(found["users_evaluated"]), seconds if fitted else 0.0, run.info.run_id,
            ))  # fmt: skip
        mlflow.log_metric("evaluation_training_seconds", seconds)
    recommend.release(als)
    return session.createDataFrame(rows, SCHEMA)
