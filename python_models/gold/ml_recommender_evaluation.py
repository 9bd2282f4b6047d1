"""ALS against a popularity baseline on a time split, one row per method and run date that
retrained the recommender (grain: run_date, method).

On a run date whose decision (ml_retraining_decisions) is to retrain the recommender: fits ALS
on the interactions before `recommendation_cutoff`, recommends k new products to every user who
carted or bought a new product from the cutoff to the run date, and scores precision@k,
recall@k and catalogue coverage for ALS (with its popular fallback) and for popular products
alone. Both land in one MLflow run with the ALS parameters; ml_product_recommendations adds the
final model to that run and registers it. On other dates it adds nothing and says why. The work
is in `lakehouse.ml.recommend`.
"""

from lakehouse.ml import recommend, retraining, tracking
from lakehouse.ml.connect import progress
from lakehouse.platform.config import Settings

SCHEMA = """
    run_date date, method string, k int, precision_at_k double, recall_at_k double,
    coverage double, users_evaluated bigint, training_seconds double, mlflow_run_id string
"""


def model(dbt, session):
    import mlflow

    dbt.config(materialized="incremental", incremental_strategy="append")
    name = dbt.config.meta_get("registered_model_name")
    run_date = retraining.date_to_train(
        dbt, session, dbt.ref("ml_run_windows"), dbt.ref("ml_retraining_decisions"), name,
        dbt.config.meta_get("force_retrain"), "recommend",
    )  # fmt: skip
    if run_date is None:
        return session.createDataFrame([], SCHEMA)

    before = dbt.ref("slv_user_product_interactions_before_cutoff")
    truth = dbt.ref("slv_user_product_conversions_after_cutoff")
    params = dbt.config.meta_get("als_params")
    min_products = dbt.config.meta_get("min_products")
    k = int(dbt.config.meta_get("k"))
    tracking.configure(Settings.from_env(), dbt.config.meta_get("experiment"))

    users = truth.select("user_id").distinct()
    popular = recommend.popular_products(before, limit=100)
    catalogue = before.select("product_id").distinct().count()
    als, seconds = recommend.fit_als(before, params, seed=int(dbt.config.meta_get("seed")))
    rows = []
    with mlflow.start_run(run_name=f"als recommender {run_date}") as run:
        mlflow.set_tags({"pipeline": "product_recommendations", "stage": "evaluation",
                         "run_date": str(run_date)})  # fmt: skip
        mlflow.log_params({**params, "min_products": min_products, "k": k})
        for method, fitted in (("als", als), ("popular", None)):
            recs = recommend.recommend(fitted, before, users, popular, min_products, k)
            found = recommend.evaluate(recs, truth, catalogue, k)
            progress(
                "recommend",
                f"evaluated {method}: precision@{k} "
                f"{found['precision_at_k']:.4f} over {int(found['users_evaluated'])} users",
            )
            mlflow.log_metrics({f"{method}_{key}": value for key, value in found.items()})
            rows.append((
                run_date, method, k, found["precision_at_k"], found["recall_at_k"],
                found["coverage"], int(found["users_evaluated"]), seconds if fitted else 0.0,
                run.info.run_id,
            ))  # fmt: skip
        mlflow.log_metric("evaluation_training_seconds", seconds)
    recommend.release(als)
    return session.createDataFrame(rows, SCHEMA)
