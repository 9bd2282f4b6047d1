"""Purchase-propensity candidates, one row per trained candidate (grain: mlflow_run_id), kept
for every run date that retrained.

On a run date whose decision (ml_retraining_decisions) is to retrain: tunes
LogisticRegression and RandomForestClassifier on the training split of that date's training
set (on a seeded sample of var propensity_tuning_max_users users when it has more than 1.5
times as many, the winner then refitted on all), keeps the best of each (fitted without the
validation fold), evaluates them and a constant baseline on the test split, logs every
candidate to MLflow, registers the winner and applies the champion gate (on the validation
fold). Within var propensity_search_every_days of the latest run date that searched the whole
grid, it refits only that search's winner, with its parameters (propensity.plan_search, read
from this table's earlier rows), and says so in one line. On other dates it adds nothing and
says why in one line. The work is in
`lakehouse.ml.propensity`; the grids and names come from this model's `meta` in the YAML.
"""

from lakehouse.errors import DataConditionError
from lakehouse.ml import propensity, retraining
from lakehouse.ml.connect import progress
from lakehouse.platform.config import Settings

SCHEMA = """
    run_date date, algorithm string, stage string, params string, validation_auc_roc double,
    validation_auc_pr double, test_auc_roc double, test_auc_pr double,
    training_seconds double, mlflow_run_id string, registered_version int,
    is_champion boolean, gate_decision string
"""


def model(dbt, session):
    from pyspark.sql import functions as F

    dbt.config(materialized="incremental", incremental_strategy="append")
    name = dbt.config.meta_get("registered_model_name")
    run_date = retraining.date_to_train(
        dbt, session, dbt.ref("ml_run_windows"), dbt.ref("ml_retraining_decisions"), name,
        dbt.config.meta_get("force_retrain"), "propensity",
    )  # fmt: skip
    if run_date is None:
        return session.createDataFrame([], SCHEMA)
    training_set = dbt.ref("ml_user_training_set").where(F.col("run_date") == F.lit(run_date))
    balance = training_set.where("split = 'train'").agg(
        F.count("*").alias("users"), F.sum("label").alias("buyers")
    ).first()  # fmt: skip
    if not balance.buyers:
        raise DataConditionError(
            f"the training split of run date {run_date} has {balance.users} users and no buyer: "
            "choose another run_date, or a longer prediction_days"
        )
    config = {
        "run_date": run_date,
        "experiment": dbt.config.meta_get("experiment"),
        "registered_model_name": name,
        "seed": dbt.config.meta_get("seed"),
        "logistic_regression_grid": dbt.config.meta_get("logistic_regression_grid"),
        "random_forest_grid": dbt.config.meta_get("random_forest_grid"),
        "tuning_max_users": dbt.config.meta_get("tuning_max_users"),
        "cache_training_data": dbt.config.meta_get("cache_training_data"),
        "force_promote": dbt.config.meta_get("force_promote"),
        "purchase_value": dbt.config.meta_get("purchase_value"),
        "contact_cost": dbt.config.meta_get("contact_cost"),
        "gate_min_improvement": dbt.config.meta_get("gate_min_improvement"),
    }
    earlier = []
    if dbt.is_incremental:
        earlier = session.table(str(dbt.this)).select(
            "run_date", "algorithm", "stage", "params", "validation_auc_pr", "registered_version"
        ).collect()  # fmt: skip
    grids = {a: propensity.grid(config[f"{a}_grid"]) for a in propensity.ALGORITHMS}
    every_days = int(dbt.config.meta_get("search_every_days"))
    plan = propensity.plan_search(earlier, run_date, every_days, grids)
    progress("propensity", f"search: {plan.reason}")
    # The training set lives in the same (gold) schema as this model.
    training_table = f"{dbt.this.schema}.ml_user_training_set"
    rows = propensity.train(session, training_set, training_table, config, Settings.from_env(),
                            plan)  # fmt: skip
    return session.createDataFrame([tuple(r.values()) for r in rows], SCHEMA)
