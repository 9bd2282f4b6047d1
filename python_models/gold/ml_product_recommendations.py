"""k new products for every user of the scoring snapshot, one row per user, rank and run date
(grain: run_date, user_id, recommendation_rank), kept for every run date.

On a run date that retrains the recommender (ml_retraining_decisions): takes the method that
was best on validation that date (`is_shipped` in ml_recommender_evaluation), logs it into a
new child run of that date's evaluation run (ALS: the model fitted on the interactions up to
the run date; a baseline: its description, as it learns from the interactions of the day it
recommends on), registers it and makes it the champion. Each version has its own run, so a
forced re-registration never writes over the files an earlier version points at. Every run
date recommends with the recommender of that date (the one just registered, else the champion
the decision kept): its method for the users it can serve, popular products (marked
`popular`) for the others and to fill short lists. Never a product the user touched up to
the run date. The work is in `lakehouse.ml.recommend`.

A user who did nothing since the run date before keeps that date's list, when the same
version made it with the same k (`recommend.lists_to_keep`; `listed_on` says which run date
computed a list): on a day without retrain, only the users who acted get new lists. Forcing a
retrain (var force_retrain) or a full refresh lists everyone again.
"""

import functools

from lakehouse.errors import DataConditionError
from lakehouse.ml import drift, recommend, retraining, tracking
from lakehouse.ml.connect import as_bool, progress
from lakehouse.ml.propensity import FEATURES
from lakehouse.platform.config import Settings

# the table's columns in its order; listed_on came last, so older tables gain it at the end
COLUMNS = ("run_date", "user_id", "recommendation_rank", "product_id", "score", "source",
           "model_name", "model_version", "recommended_at", "listed_on")  # fmt: skip


def _register_today(dbt, session, run_date, name, every_pair) -> int:
    """Logs and registers the recommender of `run_date`, the method shipped by that date's
    evaluation (or finds the one a first run of the date registered); returns its version.
    `every_pair()` gives the interactions an ALS fit reads."""
    import json

    import mlflow
    from pyspark.sql import functions as F

    earlier = tracking.versions_for_run_date(name, str(run_date))
    if earlier and not as_bool(dbt.config.meta_get("force_retrain")):
        progress("recommend", f"{name}: v{earlier[-1].version} already trained for {run_date}")
        return int(earlier[-1].version)
    evaluation = dbt.ref("ml_recommender_evaluation").where(
        (F.col("run_date") == F.lit(run_date)) & F.col("is_shipped")
        & (F.col("evaluation_period") == "validation")
    ).first()  # fmt: skip
    if evaluation is None:
        raise DataConditionError(f"no evaluation of the recommender for {run_date} to ship from: "
                                 "build ml_recommender_evaluation first")  # fmt: skip
    method, params = evaluation.method, json.loads(evaluation.parameters)
    with mlflow.start_run(run_name=f"recommender {method} {run_date}",
                          parent_run_id=evaluation.mlflow_run_id) as run:  # fmt: skip
        mlflow.log_params({"method": method, "run_date": str(run_date), **params})
        if method == "als":
            als, seconds = recommend.fit_als(every_pair(), params,
                                             seed=int(dbt.config.meta_get("seed")))  # fmt: skip
            mlflow.log_metric("final_training_seconds", seconds)
            tracking.log_spark_model(als)
            recommend.release(als)
            artifact = tracking.MODEL_ARTIFACT
        else:
            artifact = tracking.log_recommender_description(method, params)
        tracking.log_feature_reference(drift.reference(dbt.ref("ml_user_scoring_set"), FEATURES))
    version = tracking.register(name, run.info.run_id,
                                {"algorithm": method, "run_date": str(run_date)},
                                "Product recommender", artifact=artifact)  # fmt: skip
    tracking.promote(name, version.version, reason=f"shipped method {method} for {run_date}")
    progress("recommend", f"{name}: v{version.version} ({method}) for {run_date} is the champion")
    return int(version.version)


def model(dbt, session):
    from pyspark.sql import functions as F

    dbt.config(
        materialized="incremental", incremental_strategy="insert_overwrite",
        partition_by=["run_date"], on_schema_change="append_new_columns",
    )  # fmt: skip
    # every row of the run date says it was written now; a later run date keeps a list only
    # when nothing about its user was loaded after this
    started = session.sql("select current_timestamp()").first()[0]
    name = dbt.config.meta_get("registered_model_name")
    k = int(dbt.config.meta_get("k"))
    tracking.configure(Settings.from_env(), dbt.config.meta_get("experiment"))
    run_date = dbt.ref("ml_run_windows").first().run_date
    decision = retraining.decision_of(dbt.ref("ml_retraining_decisions"), run_date, name)
    # Every user and product pair: a view summing every day of slv_user_product_daily, summed
    # at most once, and only when a fit reads every pair (ALS, item_knn) or every user gets a
    # new list from one of those. Popularity counts the carted or bought pairs alone
    # (slv_user_product_conversions).
    interactions = dbt.ref("slv_user_product_interactions")
    every_pair = functools.cache(lambda: recommend.interactions_once(interactions))
    conversions = dbt.ref("slv_user_product_conversions").localCheckpoint(eager=True)
    if decision.retrained:
        version = _register_today(dbt, session, run_date, name, every_pair)
    elif decision.champion_version is not None:
        version = decision.champion_version
    else:
        raise DataConditionError(f"no recommender to recommend with: {decision.reason}")
    method = tracking.version(name, version).tags.get("algorithm", "als")
    products = dbt.ref("slv_products")
    if method == "als":
        fitted = recommend.load(name, version)
    else:
        learn_from = conversions if method in recommend.FITTED_ON_CONVERSIONS else every_pair()
        fitted, _ = recommend.fit(method, learn_from, products, {}, 0)
    users = dbt.ref("ml_user_scoring_set").select("user_id")
    # the users who did nothing since the run date before keep its lists; the rest get new ones
    kept, why = None, "forced" if dbt.is_incremental else "a full rebuild"
    if dbt.is_incremental and not as_bool(dbt.config.meta_get("force_retrain")):
        kept, why = recommend.lists_to_keep(
            session.table(str(dbt.this)), dbt.ref("slv_user_product_daily"), users, run_date,
            int(version), k,
        )  # fmt: skip
    if kept is not None:
        kept = kept.localCheckpoint(eager=True)
        users = users.join(kept.select("user_id"), "user_id", "left_anti")
        # the history of the users who get a new list, read from their daily rows only
        interactions_of_users = recommend.for_users(interactions, users)
    elif method in recommend.FITTED_ON_CONVERSIONS:
        # a baseline reads a user's products as daily rows as well as summed (recommend)
        interactions_of_users = (
            dbt.ref("slv_user_product_daily")
            .where(F.col("event_date") <= F.lit(run_date))
            .select(*recommend.INTERACTION_COLUMNS)
        )
    else:
        interactions_of_users = every_pair()
    popular = recommend.popular_products(conversions, limit=recommend.POPULAR_POOL)
    recs = (
        recommend.recommend(
            method,
            fitted,
            interactions_of_users,
            products,
            users,
            popular,
            int(dbt.config.meta_get("min_products")),
            k,
        )
        .withColumn("model_name", F.lit(name))
        .withColumn("model_version", F.lit(int(version)))
        .withColumn("listed_on", F.lit(run_date).cast("date"))
    )
    if kept is not None:
        recs = recs.unionByName(kept.select(*recs.columns))
    recs = (
        recs.select(F.lit(run_date).cast("date").alias("run_date"), *recs.columns)
        .withColumn("recommended_at", F.lit(started))
        .select(*COLUMNS)
        .localCheckpoint(eager=True)
    )
    if method == "als":
        recommend.release(fitted)
    users_by_date = dict(recs.groupBy(F.col("listed_on") == F.lit(run_date))
                         .agg(F.countDistinct("user_id")).collect())  # fmt: skip
    progress(
        "recommend",
        f"{name}: v{version} ({method}) recommended for {run_date}: new lists "
        f"for {users_by_date.get(True, 0):,} users, "
        + (f"{why}: {users_by_date.get(False, 0):,} users" if kept else f"none kept ({why})"),
    )
    return recs
