"""The recommender methods compared, one row per run date that retrained the recommender,
period, method and user segment (grain: run_date, evaluation_period, method, user_segment).

On a run date whose decision (ml_retraining_decisions) is to retrain the recommender: every
method (popular, category_popular, item_knn, ALS at every point of var als_grid) is fitted on
the interactions before the validation period and scored on it; the best ALS settings and the
method with the best precision@k there are chosen (`is_shipped`). Within var
recommender_compare_every_days of the latest run date that compared every method, only the
baselines and the method the latest retraining shipped are validated (the node says why;
`recommend.methods_to_validate`). Then the shipped method and
the baselines (popular, category_popular) are fitted once on the interactions before
recommendation_cutoff and reported on the holdout after it; a learned method that lost on
validation is not refitted for a figure that chooses nothing (when a baseline ships, the
holdout learns popularity from the carted or bought pairs alone). Both periods report all users,
users with history and cold-start users; a period with more than var recommender_eval_max_users
users is evaluated on a seeded sample of that many. All of it lands in one MLflow run;
ml_product_recommendations adds the shipped method's final model to that run and registers it.
On other dates it adds nothing and says why. The work is in `lakehouse.ml.recommend`.
"""

import json

from lakehouse.errors import DataConditionError
from lakehouse.ml import recommend, retraining, tracking
from lakehouse.ml.connect import progress
from lakehouse.ml.propensity import grid
from lakehouse.platform.config import Settings

SCHEMA = """
    run_date date, evaluation_period string, method string, user_segment string, k int,
    precision_at_k double, precision_at_k_ci_low double, precision_at_k_ci_high double,
    recall_at_k double, coverage double, users_evaluated bigint, training_seconds double,
    parameters string, is_shipped boolean, mlflow_run_id string
"""


def _row(run_date, period, method, segment, k, found, seconds, params, shipped, run_id):
    return (
        run_date, period, method, segment, k, found["precision_at_k"],
        found["precision_ci_low"], found["precision_ci_high"], found["recall_at_k"],
        found["coverage"], int(found["users_evaluated"]), float(seconds),
        json.dumps(params, sort_keys=True), shipped, run_id,
    )  # fmt: skip


def model(dbt, session):
    import mlflow

    # a forced retraining of a date replaces that date's rows (its key stays unique)
    dbt.config(materialized="incremental", incremental_strategy="append", replace_on="run_date")
    name = dbt.config.meta_get("registered_model_name")
    windows = dbt.ref("ml_run_windows")
    run_date = retraining.date_to_train(
        dbt, session, windows, dbt.ref("ml_retraining_decisions"), name,
        dbt.config.meta_get("force_retrain"), "recommend",
    )  # fmt: skip
    if run_date is None:
        return session.createDataFrame([], SCHEMA)

    products = dbt.ref("slv_products")
    val_before = dbt.ref("slv_user_product_interactions_before_validation")
    val_truth = dbt.ref("slv_user_product_conversions_in_validation")
    before = dbt.ref("slv_user_product_interactions_before_cutoff")
    before_converted = dbt.ref("slv_user_product_conversions_before_cutoff")
    truth = dbt.ref("slv_user_product_conversions_after_cutoff")
    als_grid = grid(dbt.config.meta_get("als_grid"))
    min_products = int(dbt.config.meta_get("min_products"))
    k = int(dbt.config.meta_get("k"))
    seed = int(dbt.config.meta_get("seed"))
    max_users = int(dbt.config.meta_get("eval_max_users"))
    tracking.configure(Settings.from_env(), dbt.config.meta_get("experiment"))
    earlier = []
    if dbt.is_incremental:
        earlier = (
            session.table(str(dbt.this))
            .where("evaluation_period = 'validation' and user_segment = 'all'")
            .select("run_date", "method", "precision_at_k", "is_shipped")
            .collect()
        )
    every_days = int(dbt.config.meta_get("compare_every_days"))
    comparison = recommend.methods_to_validate(earlier, run_date, every_days)
    progress("recommend", f"validation: {comparison.reason}")
    # read once: the view anti-joins every pair before the period
    val_truth = val_truth.localCheckpoint(eager=True)
    if val_truth.limit(1).count() == 0:
        found = retraining.windows(windows)["recommendation_validation"]
        raise DataConditionError(
            f"no new carts or purchases from {found['start_date']} to {found['end_date']} (the "
            f"recommender's validation period of run date {run_date}) to choose a recommender "
            "on: choose another run_date, or change recommendation_holdout_days"
        )

    with mlflow.start_run(run_name=f"recommender {run_date}") as run:
        mlflow.set_tags({"pipeline": "product_recommendations", "stage": "evaluation",
                         "run_date": str(run_date)})  # fmt: skip
        chosen = recommend.validate(val_before, val_truth, products, als_grid, min_products, k,
                                    seed, max_users, comparison.methods)  # fmt: skip
        shipped = chosen["shipped"]
        progress("recommend", f"{shipped} is the best on validation: it ships")
        reported = recommend.reported_methods(shipped)
        progress("recommend", f"holdout: {', '.join(reported)} (the shipped method and the "
                              "baselines; the others lost on validation)")  # fmt: skip
        als_params = chosen["params"].get("als", {})
        held_out = recommend.report(before, truth, products, reported, als_params,
                                    min_products, k, seed, max_users,
                                    conversions=before_converted)  # fmt: skip
        mlflow.log_params({**als_params, "als_grid": json.dumps(als_grid),
                           "min_products": min_products, "k": k, "eval_max_users": max_users,
                           "validation_users_in_period": chosen["users_in_period"],
                           "holdout_users_in_period": held_out["users_in_period"],
                           "shipped_method": shipped,
                           "holdout_methods": ",".join(reported),
                           "validated_methods": ",".join(comparison.methods)})  # fmt: skip
        mlflow.log_dict({"als_search": chosen["als_search"]}, "als_search.json")
        rows = []
        for method in comparison.methods:
            params = chosen["params"][method]
            periods = {"validation": (chosen["figures"][method], 0.0)}
            if method in held_out["figures"]:
                periods["holdout"] = held_out["figures"][method]
            for period, (segments, seconds) in periods.items():
                for segment, found in segments.items():
                    prefix = f"{period}_{method}_{segment}"
                    mlflow.log_metrics({f"{prefix}_{key}": value for key, value in found.items()})
                    rows.append(_row(run_date, period, method, segment, k, found, seconds,
                                     params, method == shipped, run.info.run_id))  # fmt: skip
    return session.createDataFrame(rows, SCHEMA)
