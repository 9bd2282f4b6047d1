"""Population stability index of every feature, per run date and registered model (grain:
run_date, registered_model_name, feature): today's scoring snapshot against the training data
of the champion the date's decision saw (its `feature_reference.json` in MLflow).
ml_retraining_decisions keeps only the largest PSI; this table keeps each feature's, for the
report and for reading a drift. A model without a champion that date has no rows. A rerun of
a date replaces its rows.
"""

from lakehouse.ml import drift, tracking
from lakehouse.platform.config import Settings


def model(dbt, session):
    from pyspark.sql import functions as F

    dbt.config(
        materialized="incremental",
        incremental_strategy="merge",
        unique_key=["run_date", "registered_model_name", "feature"],
    )
    tracking.configure(Settings.from_env(), dbt.config.meta_get("experiment"))
    decisions = dbt.ref("ml_retraining_decisions")
    run_date = dbt.ref("ml_run_windows").where("window_name = 'scoring_features'").first().end_date
    scoring_set = dbt.ref("ml_user_scoring_set")
    rows = []
    for decision in decisions.where(F.col("run_date") == F.lit(run_date)).collect():
        if decision.champion_version is None:
            continue
        reference = tracking.feature_reference(decision.registered_model_name,
                                               decision.champion_version)  # fmt: skip
        for feature, value in sorted(drift.psi(reference, scoring_set).items()):
            rows.append((run_date, decision.registered_model_name,
                         int(decision.champion_version), feature, float(value)))  # fmt: skip
    schema = ("run_date date, registered_model_name string, champion_version int, "
              "feature string, psi double")  # fmt: skip
    return session.createDataFrame(rows, schema)
