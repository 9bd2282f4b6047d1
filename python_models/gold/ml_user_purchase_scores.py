"""Purchase probability of every user of the scoring snapshot, one row per user and run date
(grain: user_id, run_date), kept for every run date.

The scoring snapshot holds the features of the observation_days ending on the run date; the
probability is for a purchase in the prediction_days after it (prediction_start_date ..
prediction_end_date). Scores with the registered champion of the run date: the version this
date's search promoted (unless rolled back since), else the champion its decision kept
(ml_retraining_decisions), loaded from the MLflow registry, never the object trained in the
same build. A rerun of a date replaces its partition with the same scores.
"""

from lakehouse.errors import DataConditionError
from lakehouse.ml import propensity, retraining
from lakehouse.platform.config import Settings


def model(dbt, session):
    from pyspark.sql import functions as F

    dbt.config(
        materialized="incremental", incremental_strategy="insert_overwrite",
        partition_by=["run_date"],
    )  # fmt: skip
    name = dbt.config.meta_get("registered_model_name")
    windows = retraining.windows(dbt.ref("ml_run_windows"))
    run_date = windows["forecast"]["run_date"]
    promoted = (  # the last version this date's searches promoted, if any
        dbt.ref("ml_propensity_candidates")
        .where((F.col("run_date") == F.lit(run_date)) & F.col("is_champion"))
        .orderBy(F.desc("registered_version"))
        .first()
    )
    decision = retraining.decision_of(dbt.ref("ml_retraining_decisions"), run_date, name)
    config = {
        "experiment": dbt.config.meta_get("experiment"),
        "registered_model_name": name,
        "threshold": dbt.config.meta_get("threshold"),
    }
    version = propensity.scoring_version(config, Settings.from_env(),
                                         promoted.registered_version if promoted else None,
                                         decision.champion_version)  # fmt: skip
    if version is None:
        raise DataConditionError(f"no champion of {name} to score with: {decision.reason}")
    users = dbt.ref("ml_user_scoring_set")
    return propensity.score(session, users, config, Settings.from_env(), version,
                            windows["forecast"])  # fmt: skip
