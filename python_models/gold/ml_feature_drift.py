"""Population stability index of every feature, per run date and registered model (grain:
run_date, registered_model_name, feature): today's scoring snapshot against the training data
of the champion the date's decision saw. The decision (ml_retraining_decisions) computes every
feature's PSI once and keeps them in `feature_psi`; this table lists them one row per feature,
for the report and for reading a drift. A model without a champion that date has no rows. A
rerun of a date replaces its rows with the recorded decision's.
"""


def model(dbt, session):
    from pyspark.sql import functions as F

    dbt.config(
        materialized="incremental",
        incremental_strategy="merge",
        unique_key=["run_date", "registered_model_name", "feature"],
    )
    decisions = dbt.ref("ml_retraining_decisions")
    run_date = dbt.ref("ml_run_windows").where("window_name = 'scoring_features'").first().end_date
    today = decisions.where((F.col("run_date") == F.lit(run_date))
                            & F.col("champion_version").isNotNull())  # fmt: skip
    return today.select(
        "run_date", "registered_model_name", "champion_version",
        F.explode("feature_psi").alias("feature", "psi"),
    )  # fmt: skip
